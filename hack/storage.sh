#!/usr/bin/env bash
# Give the test cluster a default StorageClass and static PersistentVolumes,
# so PVCs bind as they would with a real provisioner.
# usage: storage.sh RUN_DIR COUNT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUN=${1:?run dir}; N=${2:-8}
NS=$(cat "$RUN/netns")
{
cat <<EOF2
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: Immediate
EOF2
for i in $(seq 0 $((N-1))); do
cat <<EOF2
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: meshmon-pv-$i
  labels: {meshmon.test/pool: standard}
spec:
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  hostPath: {path: /var/lib/meshmon-test/pv-$i}
EOF2
done
} | KUBECONFIG=$RUN/admin.kubeconfig ip netns exec "$NS" "$K8S_BIN/kubectl" apply -f - >/dev/null
