#!/usr/bin/env bash
# Build single-node VictoriaMetrics $VM_VERSION (the remote-write receiver
# and query API of the e2e tests) from the module proxy into the directory
# given as $1. The module has no replace directives, so `go install
# pkg@version` builds it against its own go.mod and go.sum: no wrapper
# module is needed. Pure Go (CGO_ENABLED=0), as upstream's release builds.
set -euo pipefail
OUT=${1:?output dir}
VM_VERSION=${VM_VERSION:?}
mkdir -p "$OUT"
GOBIN="$OUT" CGO_ENABLED=0 go install -trimpath \
  -ldflags="-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-$VM_VERSION" \
  "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$VM_VERSION"
