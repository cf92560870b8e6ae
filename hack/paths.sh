#!/usr/bin/env bash
# Print where the cached binaries live, as KEY=VALUE lines (for the e2e
# harness): K8S_BIN (control plane, kubectl, kwok), PROM_BIN (prometheus),
# GORELEASER_BIN and KREW_BIN (the release tools), VM_BIN (victoria-metrics)
# and THANOS_BIN (thanos), the remote-write receivers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
echo "K8S_BIN=$K8S_BIN"
echo "PROM_BIN=$PROM_BIN"
echo "GORELEASER_BIN=$GORELEASER_BIN"
echo "KREW_BIN=$KREW_BIN"
echo "VM_BIN=$VM_BIN"
echo "THANOS_BIN=$THANOS_BIN"
