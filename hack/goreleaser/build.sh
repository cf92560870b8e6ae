#!/usr/bin/env bash
# Build goreleaser $GORELEASER_VERSION from the module proxy into the
# directory given as $1. The module has no replace directives, so
# `go install pkg@version` builds it against its own go.mod and go.sum and
# the version pins every dependency: no wrapper module is needed.
set -euo pipefail
OUT=${1:?output dir}
GORELEASER_VERSION=${GORELEASER_VERSION:?}
mkdir -p "$OUT"
GOBIN="$OUT" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
  "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
