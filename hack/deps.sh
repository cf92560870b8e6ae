#!/usr/bin/env bash
# Install the Debian packages the tests and the local cluster need. Quick
# when everything is already there (no apt-get update).
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v setsid >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "[deps] installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The prometheus package's service cannot start here (no systemd); tests
  # run the binary by hand on loopback.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
/usr/bin/prometheus --version 2>&1 | head -n 1 >&2
