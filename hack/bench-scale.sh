#!/usr/bin/env bash
# make bench-scale: meshmon's cost as the mesh grows, on the real local
# control plane with the real Prometheus (issue 11). It starts the control
# plane with the Linkerd fixtures in its own network namespace (an audit log
# on, to count meshmon's API requests by User-Agent), installs meshmon's
# release, runs meshsim (a fake linkerd2-proxy with BENCH_SERIES series on
# every pod IP; the release's Prometheus v3.14 run for real, scraping through
# Kubernetes discovery), then for each N in BENCH_N fills the cluster up to N
# meshed kwok pods and measures BENCH_RUNS runs of check, install (up to
# date), status and linkerd-meshmon check as linkerd check calls it. Once, it
# compares meshmon's fresh install with a plain Helm SDK install
# (hack/tools/plainhelm) of the same chart and values. Prints a markdown table
# (medians) and tears everything down.
#
# env: BENCH_N (default "100 1000 5000"; ascending), BENCH_RUNS (3),
#      BENCH_SERIES (series per proxy, 150), BENCH_SCRAPE_INTERVAL (30s),
#      BENCH_OUT (bin/bench-scale: samples.jsonl, table.md, logs),
#      BENCH_KEEP=1 keeps the cluster up afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export MESHMON_NETNS=${MESHMON_NETNS:-meshmon-bench}
export MESHMON_CLUSTER_RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster-$MESHMON_NETNS}
RUN=$MESHMON_CLUSTER_RUN
BENCH_N=${BENCH_N:-100 1000 5000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SERIES=${BENCH_SERIES:-150}
BENCH_SCRAPE_INTERVAL=${BENCH_SCRAPE_INTERVAL:-30s}
OUT=${BENCH_OUT:-$ROOT/bin/bench-scale}
CHART=$ROOT/e2e/testdata/charts/prometheus
T0=$(date +%s)
say() { printf '[bench-scale %4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }
cd "$ROOT"

rm -rf "$OUT"; mkdir -p "$OUT"
SAMPLES=$OUT/samples.jsonl
# The audit log lives outside the cluster's state dir, which cluster-up.sh
# recreates. Only requests from the admin user are logged (meshmon, meshsim
# and this script use it); the control plane's own components and
# ServiceAccounts (Prometheus) are not, to keep the file small.
cat > "$OUT/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [admin]
- level: None
EOF
AUDIT=$OUT/audit.log
export MESHMON_APISERVER_ARGS="--audit-policy-file=$OUT/audit-policy.yaml --audit-log-path=$AUDIT --audit-log-maxbackup=0 --audit-log-mode=blocking"
export MESHMON_PVS=$(( 2 + 2 * BENCH_RUNS ))

say "building meshmon, meshsim, benchscale and plainhelm"
make --no-print-directory build >/dev/null
go build -o "$OUT/" ./hack/tools/meshsim ./hack/tools/benchscale ./hack/tools/plainhelm

"$HACK/cluster-down.sh"
teardown() {
  rc=$?
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    say "cluster kept (BENCH_KEEP=1): MESHMON_NETNS=$MESHMON_NETNS hack/in-cluster.sh …; stop with MESHMON_NETNS=$MESHMON_NETNS hack/cluster-down.sh"
  else
    "$HACK/cluster-down.sh"
  fi
  [ $rc = 0 ] || say "FAILED (rc=$rc); logs in $OUT and $RUN/logs"
}
trap teardown EXIT
"$HACK/cluster-up.sh" --linkerd >/dev/null
say "control plane up"

IC() { "$HACK/in-cluster.sh" "$@"; }
INSTALL=(kubectl-meshmon install --chart "$CHART" --cluster-name bench --scrape-interval "$BENCH_SCRAPE_INTERVAL")
IC "${INSTALL[@]}" --skip-check >"$OUT/install.log" 2>&1
say "meshmon's release installed"

FIRST_N=${BENCH_N%% *}
IC "$OUT/benchscale" populate -n "$FIRST_N"

setsid "$HACK/in-cluster.sh" "$OUT/meshsim" up --kubeconfig "$RUN/admin.kubeconfig" \
  --state "$RUN/meshsim" --prometheus-bin "$PROM_BIN/prometheus" \
  --proxy-series "$BENCH_SERIES" --refresh 5s --ready-timeout 15m \
  >"$OUT/meshsim.log" 2>&1 </dev/null &
echo "meshsim $!" >> "$RUN/pids"
end=$(( $(date +%s) + 900 ))
until [ -f "$RUN/meshsim/ready" ]; do
  kill -0 "$(awk '$1=="meshsim"{print $2}' "$RUN/pids" | tail -n1)" 2>/dev/null || { tail -n 20 "$OUT/meshsim.log" >&2; die "meshsim exited"; }
  [ "$(date +%s)" -lt "$end" ] || { tail -n 20 "$OUT/meshsim.log" >&2; die "meshsim not ready after 900s"; }
  sleep 1
done
say "meshsim ready"

M() { # label n [measure flags...] -- cmd...
  local label=$1 n=$2; shift 2
  IC "$OUT/benchscale" measure -out "$SAMPLES" -audit "$AUDIT" -log "$OUT/commands.log" -label "$label" -n "$n" "$@"
}
LINKERD_ARGS=(check --as-group=[] --context=meshmon-test --linkerd-namespace=linkerd --verbose=false --wait=5m0s --proxy=false --output=json)

release_vs_helm() { # n: meshmon's fresh install against a plain Helm SDK install, same chart and values
  local n=$1 r ns
  for r in $(seq "$BENCH_RUNS"); do
    ns=bench-release-$r
    IC kubectl create namespace "$ns" >/dev/null
    # The release step alone: no viz rewiring, no policy, no checks (which a
    # plain Helm install does not do either).
    M "release: meshmon install, fresh (--skip-viz --skip-policy --skip-check)" "$n" -- \
      kubectl-meshmon install --skip-viz --skip-policy --skip-check -n "$ns" --chart "$CHART" --cluster-name bench --scrape-interval "$BENCH_SCRAPE_INTERVAL"
    IC "$OUT/plainhelm" values -n "$ns" --release prometheus >"$OUT/values-$r.json"
    # --skip-viz --skip-policy: uninstall would otherwise restore linkerd-viz
    # to its own Prometheus, though viz never pointed at this release.
    IC kubectl-meshmon uninstall -n "$ns" --delete-data --yes --skip-viz --skip-policy >>"$OUT/commands.log" 2>&1
    M "release: plain Helm SDK install, same chart and values" "$n" -user-agent plainhelm/ -- \
      "$OUT/plainhelm" install -n "$ns" --release prometheus --chart "$CHART" --values "$OUT/values-$r.json"
    IC "$OUT/plainhelm" uninstall -n "$ns" --release prometheus
    IC kubectl delete namespace "$ns" --wait=false >/dev/null
  done
}

prev=0
for n in $BENCH_N; do
  [ "$n" -gt "$prev" ] || die "BENCH_N must ascend (got $BENCH_N)"
  prev=$n
  IC "$OUT/benchscale" populate -n "$n"
  IC "$OUT/benchscale" wait-targets -n "$n" -timeout 15m
  say "N=$n: every bench pod scraped; measuring"
  for _ in $(seq "$BENCH_RUNS"); do
    M check "$n" -- kubectl-meshmon check
    M "install (up to date, --skip-check)" "$n" -- "${INSTALL[@]}" --skip-check
    M status "$n" -- kubectl-meshmon status
    M "linkerd-meshmon check --output=json (as linkerd check)" "$n" -- linkerd-meshmon "${LINKERD_ARGS[@]}"
  done
  if [ "$n" = "$FIRST_N" ]; then release_vs_helm "$n"; fi
done

# Where the time and memory of check go at the largest N: one more run with
# Go profiles (pkg/cli MESHMON_CPUPROFILE / MESHMON_MEMPROFILE), not counted
# in the table.
IC env MESHMON_CPUPROFILE="$OUT/check-$n.cpu.pprof" MESHMON_MEMPROFILE="$OUT/check-$n.allocs.pprof" \
  kubectl-meshmon check >/dev/null 2>&1 || true
go tool pprof -top -nodecount=40 bin/kubectl-meshmon "$OUT/check-$n.cpu.pprof" >"$OUT/check-$n.cpu.top" 2>&1 || true
go tool pprof -top -nodecount=40 -sample_index=alloc_space bin/kubectl-meshmon "$OUT/check-$n.allocs.pprof" >"$OUT/check-$n.allocs.top" 2>&1 || true

"$OUT/benchscale" table -in "$SAMPLES" | tee "$OUT/table.md"
say "done; samples in $SAMPLES, command output in $OUT/commands.log"
