#!/usr/bin/env bash
# Apply the Linkerd edge-26.8.3 fixtures (policy CRDs, control plane, viz
# with proxies injected) to the test cluster, minus the objects that would
# make the API server dial out: admission webhooks and APIServices
# (see hack/tools/linkerd-fixtures).
# usage: apply-linkerd.sh RUN_DIR [FIXTURES_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUN=${1:?run dir}
FIX=${2:-${MESHMON_SHARED:-$ROOT/../shared}/fixtures/linkerd}
[ -f "$FIX/crds.yaml" ] || die "Linkerd fixtures not found in $FIX (expected ../shared next to the clone, or set MESHMON_SHARED)"
NS=$(cat "$RUN/netns")
K() { KUBECONFIG=$RUN/admin.kubeconfig ip netns exec "$NS" "$K8S_BIN/kubectl" "$@"; }
go build -C "$ROOT" -o "$RUN/linkerd-fixtures" ./hack/tools/linkerd-fixtures
# Server-side apply: the CRDs are too large for the last-applied annotation.
"$RUN/linkerd-fixtures" "$FIX" crds | K apply --server-side --field-manager=linkerd-fixtures -f - >/dev/null
K wait --for=condition=Established crd --all --timeout=60s >/dev/null
for part in control-plane viz; do
  "$RUN/linkerd-fixtures" "$FIX" "$part" | K apply --server-side --field-manager=linkerd-fixtures -f - >/dev/null
done
K -n linkerd rollout status deploy --timeout=120s >/dev/null
K -n linkerd-viz rollout status deploy --timeout=120s >/dev/null
