#!/usr/bin/env bash
# Regenerate the wrapper module that pins the Prometheus server built for
# tests (the same release line as the chart's appVersion). `go install
# …@version` refuses Prometheus because its go.mod has a replace directive,
# so a wrapper module re-declares it and records the binary as a tool.
# usage: hack/prometheus/gen-wrapper.sh [MODULE_VERSION]   (v0.314.0 = Prometheus v3.14.0)
set -euo pipefail
PVER=${1:-v0.314.0}
W=$(cd "$(dirname "$0")" && pwd)/wrapper
mkdir -p "$W"; cd "$W"
rm -f go.mod go.sum
go mod init meshmon.local/prometheus-wrapper >/dev/null 2>&1
GOMOD=$(go list -m -f '{{.GoMod}}' "github.com/prometheus/prometheus@$PVER")
# Carry over upstream's replace directives (ignored for dependencies).
awk '$1=="replace" {print "-replace=" $2 "=" $4 "@" $5}' "$GOMOD" | xargs -r go mod edit
go mod edit -go="$(awk '$1=="go"{print $2; exit}' "$GOMOD")"
go get -tool "github.com/prometheus/prometheus/cmd/prometheus@$PVER"
go mod tidy
echo "wrapper ready: prometheus $PVER" >&2
