#!/usr/bin/env bash
# make demo: start the local control plane with the Linkerd fixtures (in the
# network namespace "meshmon") and run meshmon against it. The cluster stays
# up afterwards; explore it with hack/in-cluster.sh, stop it with
# `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MESHMON_NETNS=meshmon
"$HACK/cluster-down.sh"
"$HACK/cluster-up.sh" --linkerd >/dev/null
run() { printf '\n$ %s\n' "$*"; "$HACK/in-cluster.sh" "$@"; }
run kubectl get pods -n linkerd-viz
run kubectl meshmon version
run linkerd-meshmon _extension-metadata
cat <<MSG

The cluster is still running in network namespace meshmon. Try:
  hack/in-cluster.sh kubectl meshmon --help
  hack/in-cluster.sh kubectl get pods -A
Stop it with: make cluster-down
MSG
