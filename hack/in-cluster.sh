#!/usr/bin/env bash
# Run a command against the local test cluster: inside its network
# namespace, with KUBECONFIG set and the built meshmon binaries, kubectl
# and kwok's tools first on PATH.
# usage: hack/in-cluster.sh kubectl meshmon check
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NS=$CLUSTER_NETNS
RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster-$NS}
[ -f "$RUN/admin.kubeconfig" ] || die "no cluster is running (state dir $RUN); start one with 'make cluster-up'"
[ $# -gt 0 ] || die "usage: hack/in-cluster.sh COMMAND [ARGS...]"
exec ip netns exec "$(cat "$RUN/netns")" env KUBECONFIG="$RUN/admin.kubeconfig" \
  PATH="$ROOT/bin:$K8S_BIN:$PATH" "$@"
