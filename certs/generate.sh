#!/usr/bin/env bash
# Writes a development CA and a webhook serving certificate into certs/out
# (gitignored). Run again to rotate the serving certificate under the same CA.
# Extra arguments go to the tool, e.g.:
#   certs/generate.sh --dns localhost --dns memhpa-webhook.memhpa.svc --ip 127.0.0.1
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}/webhook"
exec go run ./cmd/devcerts --out "${root}/certs/out" "$@"
