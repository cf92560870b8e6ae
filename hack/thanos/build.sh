#!/usr/bin/env bash
# Build Thanos (receive, query) for the remote-write e2e tests from the
# pinned wrapper module into the directory given as $1. The tags are
# upstream's release tags (.promu.yml): netgo and slicelabels.
set -euo pipefail
OUT=${1:?output dir}
W=$(cd "$(dirname "$0")/wrapper" && pwd)
TVER=$(awk '$1=="github.com/thanos-io/thanos"{print $2; exit}' "$W/go.mod")
LD="-s -w -X github.com/prometheus/common/version.Version=${TVER#v} -X github.com/prometheus/common/version.Branch=meshmon-test"
mkdir -p "$OUT"
(cd "$W" && CGO_ENABLED=0 go build -trimpath -tags netgo,slicelabels -ldflags "$LD" -o "$OUT/thanos" github.com/thanos-io/thanos/cmd/thanos)
