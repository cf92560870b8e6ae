#!/usr/bin/env bash
# Throwaway PKI for the loopback-only test control plane (ECDSA P-256: key
# generation is ~50x faster than RSA). usage: gen-certs.sh DIR
set -euo pipefail
D=${1:?usage: gen-certs.sh DIR}
mkdir -p "$D"; cd "$D"
[ -f ca.crt ] && exit 0
q() { openssl "$@" 2>/dev/null; }
q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=meshmon-test-ca"
# Serving cert for the API server and for kwok's kubelet-like server.
printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' > srv.ext
q req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
q x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile srv.ext
# Client certs: CN is the user, O the group.
client() { # file CN [O]
  echo "extendedKeyUsage=clientAuth" > c.ext
  q req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2${3:+/O=$3}"
  q x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile c.ext
}
client admin admin system:masters
client kube-controller-manager system:kube-controller-manager
client kube-scheduler system:kube-scheduler
client kwok kwok-controller system:masters
client front-proxy-client front-proxy-client
# An unprivileged user for RBAC tests: it can do only what a test grants it.
client limited limited-user meshmon:limited
q ecparam -name prime256v1 -genkey -noout -out sa.key
q ec -in sa.key -pubout -out sa.pub
rm -f ./*.csr ./*.ext ca.srl
