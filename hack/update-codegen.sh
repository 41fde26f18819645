#!/usr/bin/env bash
# Regenerates the deep-copy functions, the typed clientset, listers, informers
# and the CRD of the MemHpa API. The generators are pinned as `tool` entries in
# webhook/go.mod, so this needs nothing but Go.
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/webhook"
mod=github.com/memhpa/memhpa/webhook
api=$mod/pkg/apis/autoscaling/v1alpha1
hdr=$root/hack/boilerplate.go.txt
out=pkg/generated

go tool deepcopy-gen --go-header-file "$hdr" --output-file zz_generated.deepcopy.go ./pkg/apis/autoscaling/v1alpha1
rm -rf "$out"
go tool client-gen --go-header-file "$hdr" --clientset-name versioned --input-base "" \
  --input "$api" --output-pkg "$mod/$out/clientset" --output-dir "$out/clientset"
go tool lister-gen --go-header-file "$hdr" --output-pkg "$mod/$out/listers" --output-dir "$out/listers" "$api"
go tool informer-gen --go-header-file "$hdr" --versioned-clientset-package "$mod/$out/clientset/versioned" \
  --listers-package "$mod/$out/listers" --output-pkg "$mod/$out/informers" --output-dir "$out/informers" "$api"

# The CRD, from the kubebuilder markers on the types. The chart's
# templates/crds.yaml renders this file (files/, not crds/: Helm never upgrades
# crds/), and the test harness applies it as it is.
go tool controller-gen crd:crdVersions=v1 paths=./pkg/apis/... output:crd:dir="$root/charts/memhpa/files/crds"
