#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kubectl from the pinned wrapper module, and kwok from the module proxy,
# into the directory given as $1.
set -euo pipefail
OUT=${1:?output dir}
W=$(cd "$(dirname "$0")/wrapper" && pwd)
KWOK_VERSION=${KWOK_VERSION:?}
KVER=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$W/go.mod")
MINOR=$(echo "$KVER" | cut -d. -f2)
# Without a stamped version the servers report v0.0.0-master, which breaks
# chart kubeVersion constraints and kubectl's skew check.
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitVersion=$KVER"
  LD="$LD -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$OUT"
(cd "$W" && go build -trimpath -ldflags "$LD" -o "$OUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3)
mv -f "$OUT/v3" "$OUT/etcd" 2>/dev/null || mv -f "$OUT/server" "$OUT/etcd"
GOBIN="$OUT" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
