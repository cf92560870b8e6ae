#!/usr/bin/env bash
# Make sure the binaries the local cluster and the tests need exist in the
# content-keyed cache, building what is missing, and print the directory of
# the control-plane binaries. Cold: ~12-20 min on 2 cores. Warm: instant.
#   $K8S_BIN:  etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok
#   $PROM_BIN: prometheus (v3, with kubernetes_sd)
#   $GORELEASER_BIN, $KREW_BIN: the release tools the krew e2e test runs
#   $VM_BIN, $THANOS_BIN: victoria-metrics and thanos, the remote-write receivers
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cache_build "$K8S_BIN" "$HACK/k8s/build.sh" kwok
[ -x "$K8S_BIN/kube-apiserver" ] && [ -x "$K8S_BIN/etcd" ] || die "incomplete control-plane build in $K8S_BIN; delete it and rerun"
cache_build "$PROM_BIN" "$HACK/prometheus/build.sh" prometheus
cache_build "$GORELEASER_BIN" "$HACK/goreleaser/build.sh" goreleaser
cache_build "$KREW_BIN" "$HACK/krew/build.sh" krew
cache_build "$VM_BIN" "$HACK/victoriametrics/build.sh" victoria-metrics
cache_build "$THANOS_BIN" "$HACK/thanos/build.sh" thanos
echo "$K8S_BIN"
