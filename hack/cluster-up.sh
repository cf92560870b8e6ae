#!/usr/bin/env bash
# Start the local test control plane -- etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (the fake kubelet) --
# inside a loopback-only network namespace it creates, so nothing the
# cluster or the tests do can reach beyond this machine's namespace.
#
# usage: hack/cluster-up.sh [--linkerd]
#   --linkerd   also apply the Linkerd fixtures (CRDs, control plane, meshed viz)
# env:  MESHMON_NETNS        namespace name            (default meshmon)
#       MESHMON_CLUSTER_RUN  state dir: pki, etcd, logs, pids
#       MESHMON_PVS          pre-created PersistentVolumes (default 8)
#       MESHMON_APISERVER_ARGS extra kube-apiserver flags, split on spaces
#                            (make bench-scale: an audit log)
# Prints the kubeconfig path as the last line of stdout. Run commands
# against the cluster with hack/in-cluster.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
WITH_LINKERD=0
for a in "$@"; do
  case $a in
    --linkerd) WITH_LINKERD=1 ;;
    *) die "unknown argument $a (usage: cluster-up.sh [--linkerd])" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root: it creates a network namespace (ip netns add)"
command -v ip >/dev/null || die "'ip' is missing (Debian package iproute2): run hack/deps.sh"
command -v openssl >/dev/null || die "'openssl' is missing: run hack/deps.sh"

NS=$CLUSTER_NETNS
RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster-$NS}
BIN=$("$HACK/provision.sh")
IP=127.0.0.1
ETCD_C=16440 ETCD_P=16441 API=16443 KCM=16444 SCHED=16445 KUBELET=10250
T0=$(date +%s%N)
say() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[cluster-up %d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*" >&2; }

if [ -s "$RUN/pids" ]; then
  die "a cluster is already recorded in $RUN; run hack/cluster-down.sh first"
fi
if ip netns list | awk '{print $1}' | grep -qx "$NS"; then
  die "network namespace $NS already exists; run hack/cluster-down.sh (or MESHMON_NETNS=<other>)"
fi
rm -rf "$RUN"; mkdir -p "$RUN/logs"; : > "$RUN/pids"
echo "$NS" > "$RUN/netns"
trap 'rc=$?; if [ $rc -ne 0 ]; then say "FAILED (rc=$rc); logs kept in $RUN/logs"; MESHMON_KEEP=1 MESHMON_CLUSTER_RUN=$RUN "$HACK/cluster-down.sh"; fi' EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

"$HACK/gen-certs.sh" "$RUN/pki"
PKI=$RUN/pki

start() { # name cmd... : background, own session, inside the namespace, PID recorded
  local name=$1; shift
  setsid ip netns exec "$NS" "$@" >"$RUN/logs/$name.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$name $pid" >> "$RUN/pids"
  sleep 0.05
  kill -0 "$pid" 2>/dev/null || { say "$name exited at once:"; tail -n 20 "$RUN/logs/$name.log" >&2; exit 1; }
}
wait_for() { # what timeout_s cmd...
  local what=$1 t=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      say "timed out waiting for $what"; tail -n 20 "$RUN"/logs/*.log >&2; exit 1
    fi
    sleep 0.2
  done
  say "$what ready"
}
kubeconfig() { # file user cert
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: meshmon-test
  cluster:
    server: https://$IP:$API
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$3.crt
    client-key: $PKI/$3.key
contexts:
- name: meshmon-test
  context: {cluster: meshmon-test, user: $2}
current-context: meshmon-test
KC
}
kubeconfig "$RUN/admin.kubeconfig" admin admin
kubeconfig "$RUN/limited.kubeconfig" limited-user limited
kubeconfig "$RUN/kcm.kubeconfig" system:kube-controller-manager kube-controller-manager
kubeconfig "$RUN/scheduler.kubeconfig" system:kube-scheduler kube-scheduler
kubeconfig "$RUN/kwok.kubeconfig" kwok kwok

start etcd "$BIN/etcd" --name meshmon --data-dir "$RUN/etcd" \
  --listen-client-urls "http://$IP:$ETCD_C" --advertise-client-urls "http://$IP:$ETCD_C" \
  --listen-peer-urls "http://$IP:$ETCD_P" --initial-advertise-peer-urls "http://$IP:$ETCD_P" \
  --initial-cluster "meshmon=http://$IP:$ETCD_P" --initial-cluster-state new \
  --unsafe-no-fsync --log-level warn
wait_for etcd 30 in_ns curl -fsS "http://$IP:$ETCD_C/health"

start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "http://$IP:$ETCD_C" \
  --bind-address $IP --advertise-address $IP --secure-port $API \
  --endpoint-reconciler-type none \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --requestheader-client-ca-file "$PKI/ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode RBAC --allow-privileged=true --profiling=false \
  ${MESHMON_APISERVER_ARGS:-}
wait_for kube-apiserver 120 in_ns curl -fsS --cacert "$PKI/ca.crt" "https://$IP:$API/readyz"

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$RUN/kcm.kubeconfig" \
  --authentication-kubeconfig "$RUN/kcm.kubeconfig" --authorization-kubeconfig "$RUN/kcm.kubeconfig" \
  --bind-address $IP --secure-port $KCM --leader-elect=false --controllers '*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range 10.96.0.0/16 --profiling=false
start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig "$RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig "$RUN/scheduler.kubeconfig" --authorization-kubeconfig "$RUN/scheduler.kubeconfig" \
  --bind-address $IP --secure-port $SCHED --leader-elect=false --profiling=false
# The container log of every pod's prometheus-server container (pods/log) is
# the file where a test writes the log of the real Prometheus playing that
# pod, in the CRI log format (e2e/sim PodLog); the previous container's log
# is the file before its last restart. A missing file is an error, as for a
# container that has not started.
mkdir -p "$RUN/pod-logs"
cat > "$RUN/kwok-logs.yaml" <<EOF2
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: prometheus-server
spec:
  logs:
  - containers: [prometheus-server]
    logsFile: $RUN/pod-logs/prometheus-server.log
    previousLogsFile: $RUN/pod-logs/prometheus-server.previous.log
    follow: true
EOF2
# kwok's kubelet-like server (port-forward, logs) listens on the namespace's
# loopback only; the API server dials it at the node's InternalIP.
start kwok "$BIN/kwok" --kubeconfig "$RUN/kwok.kubeconfig" --config "$HACK/kwok.yaml" --config "$RUN/kwok-logs.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --server-address "$IP:$KUBELET" --node-port "$KUBELET" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key"

export KUBECONFIG=$RUN/admin.kubeconfig
K() { in_ns "$BIN/kubectl" "$@"; }
wait_for kube-controller-manager 60 in_ns curl -fsS -k "https://$IP:$KCM/healthz"
wait_for kube-scheduler 60 in_ns curl -fsS -k "https://$IP:$SCHED/healthz"
# Pods are rejected until the ServiceAccount controller made "default".
wait_for "default serviceaccount" 60 K get serviceaccount default -n default

K apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    type: kwok
spec:
  podCIDR: 10.244.0.0/24
EOF2
wait_for "kwok node Ready" 60 K wait --for=condition=Ready node --all --timeout=1s
"$HACK/storage.sh" "$RUN" "${MESHMON_PVS:-8}"
say "default StorageClass standard and ${MESHMON_PVS:-8} PersistentVolumes created"
if [ "$WITH_LINKERD" = 1 ]; then
  "$HACK/apply-linkerd.sh" "$RUN"
  say "Linkerd fixtures applied"
fi
say "control plane up in network namespace $NS"
echo "$RUN/admin.kubeconfig"
