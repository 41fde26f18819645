#!/usr/bin/env bash
# Fails when Go code is unformatted, vet finds something, generated files are
# stale, a pure package imports I/O, a module does not build alone, or a
# dependency has a known vulnerability that our code reaches (govulncheck,
# offline database). Each failure says the command that fixes it.
#
# Usage: hack/verify.sh [fast]
#   fast  gofmt, go vet of every module, generated code and CRD, the purity
#         fences: what `make test` runs before the tests (seconds on a warm
#         cache). Without it also GOWORK=off builds and govulncheck, which
#         needs a tool built by hack/tools.sh.
# Never changes the tree: the generators write into a temporary copy.
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${MEMHPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhpa}
case ${1:-all} in fast|all) mode=${1:-all} ;; *) echo "usage: $0 [fast]" >&2; exit 2 ;; esac
modules=(webhook scaler test)
fail=0
t0=$(date +%s)
say() { printf '== %s\n' "$*"; }
# failed FIX WHAT...: reports one failed check and the command that fixes it.
failed() { local fix=$1; shift; printf 'FAILED: %s\n  fix: %s\n' "$*" "$fix"; fail=1; }

say "gofmt"
# The gofmt of the product's toolchain (GO_TOOLCHAIN), not whichever is first
# on PATH: their formatting differs (go1.27 aligns long map keys otherwise
# than go1.26), and `go test` puts the toolchain's own first on PATH.
gofmt=$(go env GOROOT)/bin/gofmt
bad=$(git ls-files -co --exclude-standard -- '*.go' | xargs -r "$gofmt" -l)
[ -z "$bad" ] || failed "make fmt" "gofmt would change:"$'\n'"$bad"

for m in "${modules[@]}"; do
  say "go vet ($m)"
  (cd "$m" && go vet ./...) || failed "the code go vet names above (cd $m && go vet ./... repeats it)" "go vet ($m)"
done
# make bench's comparison mode builds only with this tag: vet it too.
say "go vet -tags memhpabench (scaler)"
(cd scaler && go vet -tags memhpabench ./...) || failed "the code go vet names above (cd scaler && go vet -tags memhpabench ./... repeats it)" "go vet -tags memhpabench (scaler)"

say "generated code and CRD are up to date"
# The generators run in a copy: the webhook module as it is in the working
# tree, the scripts, and the workspace's go.mod files (so that the workspace
# resolves the generators' versions as it does here).
generated=(webhook/pkg/generated webhook/pkg/apis/autoscaling/v1alpha1/zz_generated.deepcopy.go charts/memhpa/files/crds)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
{ git ls-files -co --exclude-standard -- webhook hack charts/memhpa/files/crds; \
  printf '%s\n' go.work go.work.sum scaler/go.mod scaler/go.sum test/go.mod test/go.sum; } |
  while read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done | tar -cf - -T - | tar -xf - -C "$tmp"
if ! "$tmp/hack/update-codegen.sh" >"$tmp/codegen.log" 2>&1; then
  cat "$tmp/codegen.log"; failed "the error above, then make generate" "hack/update-codegen.sh"
else
  for p in "${generated[@]}"; do
    if ! diff -r "$p" "$tmp/$p" >"$tmp/diff" 2>&1; then
      failed "make generate, and commit the result" "stale: $p"; head -20 "$tmp/diff"
    fi
  done
fi

say "pure packages import no I/O and read no clock"
# The decision, PromQL building, validation and defaulting take plain inputs
# (STYLE.md rule 1): their own imports name no client, logger, network or file
# package, and they never call time.Now (a clock is injected).
forbidden='^(k8s.io/client-go(/.*)?|k8s.io/klog/v2|net|net/http|os|os/exec|github.com/prometheus/client_golang(/.*)?)$'
for p in scaler/internal/calc scaler/internal/promquery webhook/pkg/apis/autoscaling/validation; do
  [ -d "$p" ] || continue
  mod=${p%%/*}; rel=./${p#*/}
  hits=$(cd "$mod" && go list -f '{{join .Imports "\n"}}' "$rel" | grep -E "$forbidden" || true)
  [ -z "$hits" ] || failed "move the I/O to the shell that calls $p (STYLE.md rule 1)" "$p must stay pure but imports:"$'\n'"$hits"
  # Code lines only: a comment may say "no time.Now()".
  if grep -nE '^[^/]*time\.Now\(\)' "$p"/*.go 2>/dev/null | grep -v '_test.go:'; then
    failed "take a clock.Clock and call its Now" "$p calls time.Now"
  fi
done

if [ "$mode" = all ]; then
  for m in "${modules[@]}"; do
    say "builds alone with GOWORK=off ($m)"
    (cd "$m" && GOWORK=off go build ./...) || failed "add the missing requirement to $m/go.mod (cd $m && GOWORK=off go mod tidy)" "GOWORK=off go build ($m)"
  done
  hack/tools.sh govulncheck vulndb
  say "govulncheck (offline database $(readlink "$cache/vulndb"))"
  for m in webhook scaler; do
    (cd "$m" && "$cache/bin/govulncheck" -db "file://$cache/vulndb" ./...) || failed "upgrade the module govulncheck names in $m/go.mod" "govulncheck ($m)"
  done
fi

took=$(( $(date +%s) - t0 ))s
if [ $fail = 0 ]; then say "verify $mode: OK in $took"; else say "verify $mode: FAILED in $took (each FAILED line above says its fix)"; exit 1; fi
