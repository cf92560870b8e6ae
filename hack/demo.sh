#!/usr/bin/env bash
# make demo: start the local control plane with the Linkerd fixtures (in the
# network namespace "meshmon"), install meshmon's Prometheus with the fixture
# chart, play the data plane (hack/tools/meshsim: fake proxies on the pod
# IPs, the release's Prometheus run for real, a stand-in viz dashboard) and
# run meshmon's checks against it. The cluster and the simulated data plane
# stay up afterwards; explore them with hack/in-cluster.sh, stop both with
# `make cluster-down`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MESHMON_NETNS=meshmon
RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster-$MESHMON_NETNS}
# pkg/ui already drops colour on a non-terminal; tools that only look at
# NO_COLOR follow suit in a captured run.
[ -t 1 ] || export NO_COLOR=1
T0=$(date +%s)
cd "$ROOT"

"$HACK/cluster-down.sh"
"$HACK/cluster-up.sh" --linkerd >/dev/null
if [ ! -x bin/kubectl-meshmon ] || [ ! -x bin/linkerd-meshmon ]; then
  make --no-print-directory build >/dev/null
fi
mkdir -p "$RUN/meshsim"
go build -o "$RUN/meshsim/meshsim" ./hack/tools/meshsim

run() { printf '\n$ %s\n' "$*"; "$HACK/in-cluster.sh" "$@"; }
CHART=e2e/testdata/charts/prometheus # the fixture chart: no chart repository is reachable here
INSTALL=(kubectl meshmon install --chart "$CHART" --cluster-name demo --scrape-interval 5s)

run kubectl get pods -n linkerd-viz
# Nothing plays Prometheus yet (meshsim needs the release's ConfigMap and
# ServiceAccount first), so the checks install ends with could only fail:
# skip them here; check and the second install run them below.
run "${INSTALL[@]}" --skip-check

printf '\n$ meshsim up --kubeconfig %s --state %s &\n' "$RUN/admin.kubeconfig" "$RUN/meshsim"
setsid "$HACK/in-cluster.sh" "$RUN/meshsim/meshsim" up --kubeconfig "$RUN/admin.kubeconfig" \
  --state "$RUN/meshsim" --prometheus-bin "$PROM_BIN/prometheus" \
  >"$RUN/logs/meshsim.log" 2>&1 </dev/null &
SIM=$!
echo "meshsim $SIM" >> "$RUN/pids"
end=$(( $(date +%s) + 240 ))
until [ -f "$RUN/meshsim/ready" ]; do
  if ! kill -0 "$SIM" 2>/dev/null; then
    cat "$RUN/logs/meshsim.log" >&2
    die "meshsim exited before the data plane was ready (log above, Prometheus' in $RUN/meshsim/prometheus.log)"
  fi
  if [ "$(date +%s)" -ge "$end" ]; then
    cat "$RUN/logs/meshsim.log" >&2
    die "the simulated data plane was not ready after 240s (log above)"
  fi
  sleep 0.5
done
sed 's/^/  /' "$RUN/logs/meshsim.log"

run kubectl meshmon check
# Installing again over a healthy setup changes nothing and ends with the checks.
run "${INSTALL[@]}"
run linkerd-meshmon check -o short
run kubectl meshmon status
run kubectl meshmon policy show

# Spell out the namespace where hack/ scripts would not pick it by default.
ENVP=$(unset MESHMON_NETNS; . "$HACK/lib.sh"; [ "$CLUSTER_NETNS" = meshmon ] || echo "MESHMON_NETNS=meshmon ")
cat <<MSG

Demo finished in $(( $(date +%s) - T0 ))s. The cluster is still running in network namespace
meshmon, with the simulated data plane (meshsim, pid $SIM; log $RUN/logs/meshsim.log). Try:
  ${ENVP}hack/in-cluster.sh kubectl meshmon --help
  ${ENVP}hack/in-cluster.sh kubectl rollout restart deployment/web -n linkerd-viz
  ${ENVP}hack/in-cluster.sh kubectl meshmon check --wait 1m   # meshsim serves the new pod too
Stop both with: ${ENVP}make cluster-down
MSG
