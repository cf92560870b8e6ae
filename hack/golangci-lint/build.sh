#!/usr/bin/env bash
# Build golangci-lint $GOLANGCI_LINT_VERSION from the module proxy into the
# directory given as $1. `go install pkg@version` builds against the
# module's own go.mod and go.sum (it has no replace directives), so the
# version pins every dependency and no wrapper module is needed.
set -euo pipefail
OUT=${1:?output dir}
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:?}
mkdir -p "$OUT"
GOBIN="$OUT" go install -trimpath -ldflags='-s -w' \
  "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
