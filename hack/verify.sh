#!/usr/bin/env bash
# Fails when generated files are stale, Go code is unformatted, vet finds
# something, a pure package imports I/O, or a dependency has a known
# vulnerability that our code reaches (govulncheck, offline database).
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${MEMHPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhpa}
fail=0
say() { printf '== %s\n' "$*"; }

say "gofmt"
bad=$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l)
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; fail=1; fi

say "generated code and CRD are up to date"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for p in webhook/pkg/generated webhook/pkg/apis/autoscaling/v1alpha1/zz_generated.deepcopy.go charts/memhpa/crds; do
  mkdir -p "$tmp/$(dirname "$p")"; cp -r "$p" "$tmp/$p"
done
hack/update-codegen.sh
for p in webhook/pkg/generated webhook/pkg/apis/autoscaling/v1alpha1/zz_generated.deepcopy.go charts/memhpa/crds; do
  if ! diff -r "$tmp/$p" "$p" >/dev/null; then
    echo "stale: $p (run 'make generate' and commit the result)"; diff -r "$tmp/$p" "$p" | head -20 || true; fail=1
  fi
done

for m in webhook scaler test; do
  say "go vet ($m)"
  (cd "$m" && go vet ./...) || fail=1
  say "builds alone with GOWORK=off ($m)"
  (cd "$m" && GOWORK=off go build ./...) || fail=1
done

say "pure packages import no I/O and read no clock"
# The decision, PromQL building, validation and defaulting take plain inputs
# (STYLE.md rule 1): their own imports name no client, logger, network or file
# package, and they never call time.Now (a clock is injected).
forbidden='^(k8s.io/client-go(/.*)?|k8s.io/klog/v2|net|net/http|os|os/exec|github.com/prometheus/client_golang(/.*)?)$'
for p in scaler/internal/calc scaler/internal/promquery webhook/pkg/apis/autoscaling/validation; do
  [ -d "$p" ] || continue
  mod=${p%%/*}; rel=./${p#*/}
  hits=$(cd "$mod" && go list -f '{{join .Imports "\n"}}' "$rel" | grep -E "$forbidden" || true)
  if [ -n "$hits" ]; then echo "$p must stay pure but imports:"; echo "$hits"; fail=1; fi
  # Code lines only: a comment may say "no time.Now()".
  if grep -nE '^[^/]*time\.Now\(\)' "$p"/*.go 2>/dev/null | grep -v '_test.go:'; then echo "$p calls time.Now: inject a clock"; fail=1; fi
done

hack/tools.sh govulncheck vulndb
say "govulncheck (offline database $(readlink "$cache/vulndb"))"
for m in webhook scaler; do
  (cd "$m" && "$cache/bin/govulncheck" -db "file://$cache/vulndb" ./...) || fail=1
done

[ $fail = 0 ] && say "verify: OK" || { say "verify: FAILED"; exit 1; }
