#!/usr/bin/env bash
# Runs every `go test -fuzz` target of the product modules for FUZZTIME each
# (default 5m) and prints executions and findings per target. A finding (a
# crash or hang) is written by Go under the package's testdata/fuzz and fails
# the run. Usage: FUZZTIME=10m hack/fuzz.sh
set -euo pipefail
# shellcheck source=goenv.sh
. "$(dirname "$0")/goenv.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
fuzztime=${FUZZTIME:-5m}
status=0
for m in webhook scaler; do
  cd "$root/$m"
  for pkg in $(go list ./...); do
    for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      echo "== $pkg $target for $fuzztime"
      log=$(mktemp)
      if go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log" | grep -E 'fuzz: elapsed|FAIL|panic|--- ' | tail -3; then :; fi
      # Go prints "fuzz: elapsed: …, execs: N (…/sec)" lines; keep the last.
      execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
      if grep -q '^ok' "$log"; then echo "   $target: ${execs:-?} executions, no finding"
      else echo "   $target: FINDING (see above; the input is under testdata/fuzz/$target)"; status=1; fi
      rm -f "$log"
    done
  done
done
exit $status
