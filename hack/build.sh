#!/usr/bin/env bash
# Builds one product binary with the flags the images use too.
# Usage: hack/build.sh webhook|scaler OUTPUT
# MEMHPA_BUILD_TAGS (empty: the product) adds build tags: make bench's scaler
# is built with MEMHPA_BUILD_TAGS=memhpabench for its comparison mode.
# The Dockerfiles run this same script, so CI tests the binary an image contains.
# Says on stderr what it does, with a heartbeat while go runs: the first run
# fetches the Go toolchain and builds every dependency, minutes of silence else.
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
name=$1 out=$2
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
case $name in webhook|scaler) ;; *) echo "usage: $0 webhook|scaler OUTPUT" >&2; exit 2 ;; esac
shown=$out
case $out in /*) ;; *) out=$PWD/$out ;; esac
heartbeat=${MEMHPA_BUILD_HEARTBEAT:-15}
tags=${MEMHPA_BUILD_TAGS:-}

start=$(date +%s)
say() { printf '[build %4ss] %s\n' "$(( $(date +%s) - start ))" "$*" >&2; }
# run WHAT DONE CMD...: runs CMD, saying every $heartbeat s that WHAT goes on,
# then DONE and how long it took; go's own output goes through as it comes.
# go stays in the foreground and the heartbeat beside it: a background job
# would ignore Ctrl-C. sleep gets no stderr, so no pipe waits for it.
run() {
  local what=$1 done=$2 t0 status=0; shift 2
  t0=$(date +%s)
  (while sleep "$heartbeat" </dev/null >/dev/null 2>&1 && kill -0 $$ 2>/dev/null; do
    say "still $what ($(( $(date +%s) - t0 ))s so far)"
  done) &
  beat=$!
  "$@" || status=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  beat=
  if [ "$status" != 0 ]; then say "$what FAILED after $(( $(date +%s) - t0 ))s"; return "$status"; fi
  say "$done in $(( $(date +%s) - t0 ))s"
}
beat=
trap '[ -z "$beat" ] || kill "$beat" 2>/dev/null' EXIT

# The go command fetches GOTOOLCHAIN into its module cache the first time it
# runs; fetch it here, on its own line, instead of inside the build's silence.
case $GOTOOLCHAIN in
  go[0-9]*)
    want=${GOTOOLCHAIN%%+*}
    { read -r have; read -r modcache; read -r goos; read -r goarch; } < <(GOTOOLCHAIN=local go env GOVERSION GOMODCACHE GOOS GOARCH)
    if [ "$have" != "$want" ] && [ ! -d "$modcache/golang.org/toolchain@v0.0.1-$want.$goos-$goarch" ]; then
      say "fetching go toolchain $want (first time only) ..."
      run "fetching go toolchain $want" "fetched go toolchain $want" go version >/dev/null
    fi ;;
esac

cd "$root/$name"
say "building $name (go build ./cmd/$name, version $version${tags:+, tags $tags}) ..."
export CGO_ENABLED=${CGO_ENABLED:-0}
run "building $name" "built $shown" go build -trimpath -tags "$tags" \
  -ldflags "-s -w -X main.version=$version" \
  -o "$out" "./cmd/$name"
