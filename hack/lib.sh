# Sourced by the hack/ scripts: shared locations and helpers.
# Everything that is built or downloaded lives outside the clone, under
# $MESHMON_CACHE, keyed by content, so a fresh checkout on the same machine
# reuses it.
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
export PATH=/usr/local/go/bin:$PATH
export GOFLAGS=${GOFLAGS:--buildvcs=false}
MESHMON_CACHE=${MESHMON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshmon}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

# The control-plane binaries are keyed by what decides their content: the
# pinned wrapper module, the build script and the kwok version.
k8s_key() {
  cat "$HACK/k8s/wrapper/go.mod" "$HACK/k8s/wrapper/go.sum" "$HACK/k8s/build.sh" \
    | { cat; echo "kwok=$KWOK_VERSION"; } | sha256sum | cut -c1-16
}
K8S_BIN=${MESHMON_K8S_BIN:-$MESHMON_CACHE/k8s-$(k8s_key)/bin}

# The Prometheus server for tests (Debian's 2.42 has no kubernetes_sd).
prom_key() {
  cat "$HACK/prometheus/wrapper/go.mod" "$HACK/prometheus/wrapper/go.sum" "$HACK/prometheus/build.sh" \
    | sha256sum | cut -c1-16
}
PROM_BIN=${MESHMON_PROM_BIN:-$MESHMON_CACHE/prometheus-$(prom_key)/bin}

# Test cluster state (pki, etcd data, logs, pids) and its network namespace.
CLUSTER_RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster}
CLUSTER_NETNS=${MESHMON_NETNS:-meshmon}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
