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

# golangci-lint, for `make lint`. The Go toolchain is part of the key: the
# linter type-checks with the go/types it was built with, so it must not be
# older than the Go the code is written for.
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:-v2.15.0}
lint_key() {
  cat "$HACK/golangci-lint/build.sh" \
    | { cat; echo "version=$GOLANGCI_LINT_VERSION go=$(go env GOVERSION)"; } | sha256sum | cut -c1-16
}
LINT_BIN=${MESHMON_LINT_BIN:-$MESHMON_CACHE/golangci-lint-$(lint_key)/bin}

# Test cluster state (pki, etcd data, logs, pids) and its network namespace.
CLUSTER_RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster}
CLUSTER_NETNS=${MESHMON_NETNS:-meshmon}

# The release tools: goreleaser (make release, make lint) and krew (the
# e2e test that installs the release with it). `go install pkg@version`
# builds each against its own go.mod and go.sum, so the version, the build
# script and the Go toolchain decide the content.
export GORELEASER_VERSION=${GORELEASER_VERSION:-v2.15.1}
export KREW_VERSION=${KREW_VERSION:-v0.4.3}
tool_key() { # build-script version
  { cat "$1"; echo "version=$2 go=$(go env GOVERSION)"; } | sha256sum | cut -c1-16
}
GORELEASER_BIN=${MESHMON_GORELEASER_BIN:-$MESHMON_CACHE/goreleaser-$(tool_key "$HACK/goreleaser/build.sh" "$GORELEASER_VERSION")/bin}
KREW_BIN=${MESHMON_KREW_BIN:-$MESHMON_CACHE/krew-$(tool_key "$HACK/krew/build.sh" "$KREW_VERSION")/bin}

# The remote-write receivers of the e2e tests: single-node VictoriaMetrics
# (`go install pkg@version`, no replace directives, so the version decides
# the content) and Thanos (replace directives: a pinned wrapper module).
export VM_VERSION=${VM_VERSION:-v1.151.0}
VM_BIN=${MESHMON_VM_BIN:-$MESHMON_CACHE/victoriametrics-$(tool_key "$HACK/victoriametrics/build.sh" "$VM_VERSION")/bin}
thanos_key() {
  cat "$HACK/thanos/wrapper/go.mod" "$HACK/thanos/wrapper/go.sum" "$HACK/thanos/build.sh" \
    | { cat; echo "go=$(go env GOVERSION)"; } | sha256sum | cut -c1-16
}
THANOS_BIN=${MESHMON_THANOS_BIN:-$MESHMON_CACHE/thanos-$(thanos_key)/bin}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# cache_build DIR BUILDER CHECK-FILE: run BUILDER into a temporary directory
# beside DIR and move it into place, unless DIR/CHECK-FILE already exists.
# The move makes an interrupted build leave nothing that looks complete.
cache_build() {
  local dir=$1 builder=$2 check=$3
  [ -x "$dir/$check" ] && return 0
  local tmp="$dir.tmp.$$"
  trap 'rm -rf "$tmp"' RETURN
  log "building $(basename "$(dirname "$dir")") into $dir"
  local t0; t0=$(date +%s)
  KWOK_VERSION=$KWOK_VERSION GOLANGCI_LINT_VERSION=$GOLANGCI_LINT_VERSION "$builder" "$tmp"
  rm -rf "$dir"; mkdir -p "$(dirname "$dir")"; mv "$tmp" "$dir"
  log "built in $(( $(date +%s) - t0 ))s"
}
