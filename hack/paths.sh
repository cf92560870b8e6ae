#!/usr/bin/env bash
# Print where the cached binaries live, as KEY=VALUE lines (for the e2e
# harness): K8S_BIN (control plane, kubectl, kwok) and PROM_BIN (prometheus).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
echo "K8S_BIN=$K8S_BIN"
echo "PROM_BIN=$PROM_BIN"
