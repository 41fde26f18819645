#!/usr/bin/env bash
# Runs every `go test -fuzz` target of the product modules for a budget of
# FUZZTIME each and prints executions, wall time and findings per target. The
# default budget is a count, 10 million executions per target (Go's `Nx`
# form), so that every target gets the same coverage whatever its speed; a
# duration works too (FUZZTIME=10m). A finding (a crash or hang) is written by
# Go under the package's testdata/fuzz and fails the run.
# Usage: hack/fuzz.sh, or FUZZTIME=1000000x hack/fuzz.sh
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
fuzztime=${FUZZTIME:-10000000x}
status=0
for m in webhook scaler; do
  cd "$root/$m"
  for pkg in $(go list ./...); do
    for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      echo "== $pkg $target for $fuzztime"
      log=$(mktemp)
      t0=$(date +%s)
      if go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log" | grep -E 'fuzz: elapsed|FAIL|panic|--- ' | tail -3; then :; fi
      # Go prints "fuzz: elapsed: …, execs: N (…/sec)" lines; keep the last.
      execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
      took=$(( $(date +%s) - t0 ))
      if grep -q '^ok' "$log"; then echo "   $target: ${execs:-?} executions in ${took}s, no finding"
      else echo "   $target: FINDING (see above; the input is under testdata/fuzz/$target)"; status=1; fi
      rm -f "$log"
    done
  done
done
exit $status
