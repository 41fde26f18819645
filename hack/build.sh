#!/usr/bin/env bash
# Builds one product binary with the flags the images use too.
# Usage: hack/build.sh webhook|scaler OUTPUT
# The Dockerfiles run this same script, so CI tests the binary an image contains.
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
name=$1 out=$2
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
case $name in webhook|scaler) ;; *) echo "usage: $0 webhook|scaler OUTPUT" >&2; exit 2 ;; esac
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$root/$name"
CGO_ENABLED=${CGO_ENABLED:-0} go build -trimpath \
  -ldflags "-s -w -X main.version=$version" \
  -o "$out" "./cmd/$name"
