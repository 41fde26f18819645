#!/usr/bin/env bash
# Builds (once) the pinned binaries that the local control plane, the tests and
# `make verify` need, into a cache outside the clone so that the next clean clone
# on the same machine reuses them. Prints progress: a cold build takes tens of
# minutes on 2 cores, and nobody should stare at a silent terminal.
#
# Usage: hack/tools.sh [component ...]   (default: all)
# Prints nothing on stdout but progress; the binaries land in $MEMHPA_BIN.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${MEMHPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhpa}
bin=${MEMHPA_BIN:-$cache/bin}
mkdir -p "$bin" "$cache/logs"
export GOWORK=off GOFLAGS=-mod=mod
# The control plane, etcd, kwok and helm are test fixtures, built by the
# machine's own Go (>= 1.26; the cache was verified with go1.26.8). govulncheck
# alone must be built by the product's toolchain: it type-checks our code with
# its own go/types, which refuses files newer than the Go that built it.
export GOTOOLCHAIN=local

start=$(date +%s)
step() { printf '[tools %4ss] %s\n' "$(( $(date +%s) - start ))" "$*" >&2; }

# build NAME VERSION-KEY CMD...: skips when $bin/NAME-KEY exists; otherwise runs
# CMD with $out set to the target path, with a heartbeat every 30 s.
build() {
  local name=$1 key=$2; shift 2
  local out="$bin/$name-$key"
  if [ -x "$out" ]; then
    ln -sfn "$name-$key" "$bin/$name"
    step "$name $key: cached"
    return 0
  fi
  step "$name $key: building (first time only; cached afterwards) ..."
  local log="$cache/logs/build-$name.log" t0; t0=$(date +%s)
  ( out="$out.tmp" "$@" ) >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && step "$name: still building ($(( $(date +%s) - t0 ))s so far, log $log)"
  done
  if ! wait "$pid"; then
    step "$name: BUILD FAILED; last lines of $log:"
    tail -20 "$log" >&2
    return 1
  fi
  mv "$out.tmp" "$out"
  ln -sfn "$name-$key" "$bin/$name"
  step "$name $key: built in $(( $(date +%s) - t0 ))s"
}

kver=$KUBERNETES_VERSION
kminor=$(echo "$kver" | cut -d. -f2)
kldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kver -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/client-go/pkg/version.gitVersion=$kver -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kminor"
# The tools module's go.sum pins the whole dependency graph; hash it into the key
# so a change of pin rebuilds.
tkey=$kver-$( (cat "$root/test/tools/go.mod" "$root/test/tools/go.sum") | sha256sum | cut -c1-8)

kube() { (cd "$root/test/tools" && go build -trimpath -ldflags "$kldflags" -o "$out" "k8s.io/kubernetes/cmd/$1"); }
goinstall() { # goinstall PKG@VERSION: go install into a temp GOBIN, then move.
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w ${2:-}" "$1")
  mv "$tmp"/bin/* "$out"; rm -rf "$tmp"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl helm prometheus)
for c in "${want[@]}"; do
  case $c in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build "$c" "$tkey" kube "$c" ;;
    etcd) build etcd "$ETCD_VERSION-${tkey#*-}" bash -c "cd '$root/test/tools' && go build -trimpath -ldflags '-s -w' -o \"\$out\" go.etcd.io/etcd/server/v3" ;;
    kwok) build kwok "$KWOK_VERSION" goinstall "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
    kwokctl) build kwokctl "$KWOK_VERSION" goinstall "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
    helm)
      # Stamped as helm's own Makefile does (K8S_MODULES_VER): the Kubernetes
      # version of its client-go (v0.37 -> 1.37) is the default of `helm
      # template` and lint; unstamped, helm assumes v1.20 and refuses our
      # chart's kubeVersion. The stamp is in the cache key, so a change rebuilds.
      hmod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
      cgo=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$hmod")
      IFS=. read -r cmajor hminor _ <<<"${cgo#v}"
      [ -n "$hminor" ] || { step "helm: no k8s.io/client-go version in $hmod"; exit 1; }
      hmajor=$((cmajor + 1))
      hflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
      for p in pkg/lint/rules pkg/chartutil; do
        hflags+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=$hmajor -X helm.sh/helm/v3/$p.k8sVersionMinor=$hminor"
      done
      build helm "$HELM_VERSION-k8s$hmajor.$hminor" goinstall "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$hflags" ;;
    govulncheck) GOTOOLCHAIN=$GO_TOOLCHAIN build govulncheck "$GOVULNCHECK_VERSION-$GO_TOOLCHAIN" goinstall "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" ;;
    vulndb)
      # No internet here: build govulncheck's database from the OSV files that the
      # golang.org/x/vulndb module carries (served by the module proxy).
      db="$cache/vulndb-$VULNDB_VERSION"
      if [ -f "$db/index/db.json" ]; then step "vulndb $VULNDB_VERSION: cached"; else
        build indexdb "$VULNDB_VERSION" goinstall "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
        src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        step "vulndb: indexing $(ls "$src/data/osv" | wc -l) OSV entries ..."
        rm -rf "$db.tmp" && "$bin/indexdb" -vulns "$src/data/osv" -out "$db.tmp" && mv "$db.tmp" "$db"
      fi
      ln -sfn "vulndb-$VULNDB_VERSION" "$cache/vulndb" ;;
    prometheus)
      if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
        step "prometheus: installing Debian package (apt-get) ..."
        if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
        $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >&2
        # The package starts a system service on loopback:9090; the harness runs its own.
        $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || $SUDO service prometheus stop >/dev/null 2>&1 || pkill -x prometheus || true
      fi
      step "prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1)" ;;
    *) echo "unknown component $c" >&2; exit 2 ;;
  esac
done
step "all requested tools ready in $bin"
