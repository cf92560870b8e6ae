#!/usr/bin/env bash
# Print where the cached binaries live, as KEY=VALUE lines (for the e2e
# harness): K8S_BIN (control plane, kubectl, kwok), PROM_BIN (prometheus),
# GORELEASER_BIN and KREW_BIN (the release tools).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
echo "K8S_BIN=$K8S_BIN"
echo "PROM_BIN=$PROM_BIN"
echo "GORELEASER_BIN=$GORELEASER_BIN"
echo "KREW_BIN=$KREW_BIN"
