#!/usr/bin/env bash
# Build the Prometheus server for tests from the pinned wrapper module into
# the directory given as $1. Only Kubernetes (and the always-present file
# and static) service discovery is compiled in, which cuts the cloud SDKs
# out of the build. The web UI assets are not embedded; the API is complete.
set -euo pipefail
OUT=${1:?output dir}
W=$(cd "$(dirname "$0")/wrapper" && pwd)
PVER=$(awk '$1=="github.com/prometheus/prometheus"{print $2; exit}' "$W/go.mod")
# v0.314.0 is Prometheus v3.14.0.
minor=${PVER#v0.}; minor=${minor%%.*}; patch=${PVER##*.}
VERSION="3.$((10#${minor:1})).$patch"
LD="-s -w -X github.com/prometheus/common/version.Version=$VERSION -X github.com/prometheus/common/version.Branch=meshmon-test"
mkdir -p "$OUT"
(cd "$W" && go build -trimpath -tags remove_all_sd,enable_kubernetes_sd -ldflags "$LD" -o "$OUT/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
