#!/usr/bin/env bash
# Renders the chart into one install manifest for `kubectl apply`, as a
# release ships it: the namespace, the MemHpa CRD and every object of the
# default values (TLS by cert-manager, which must run in the cluster).
#
# Usage: hack/manifests.sh OUT [helm template flags...]
#   NAMESPACE       namespace of the install (default memhpa-system)
#   HELM            the helm binary (default $MEMHPA_BIN/helm, the pinned one)
# Extra flags go to `helm template`, e.g. --set webhook.image.tag=v0.1.0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: $0 OUT [helm template flags...]}
shift
ns=${NAMESPACE:-memhpa-system}
helm=${HELM:-${MEMHPA_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/memhpa/bin}/helm}
[ -x "$helm" ] || { echo "$0: no helm at $helm: run hack/tools.sh helm" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
# helm must not read or write the user's configuration.
home=$(mktemp -d); trap 'rm -rf "$home"' EXIT
tmp=$out.tmp
{
  cat <<YAML
# memhpa install manifest, rendered from charts/memhpa by hack/manifests.sh
# (make manifests). Needs cert-manager in the cluster. kubectl apply -f this file.
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
YAML
  HELM_CACHE_HOME=$home/cache HELM_CONFIG_HOME=$home/config HELM_DATA_HOME=$home/data \
    "$helm" template memhpa "$root/charts/memhpa" --namespace "$ns" "$@"
} >"$tmp"
mv "$tmp" "$out"
echo "wrote $out" >&2
