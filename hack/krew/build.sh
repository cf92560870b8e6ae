#!/usr/bin/env bash
# Build krew $KREW_VERSION from the module proxy into the directory given
# as $1, for the e2e test that installs meshmon's release with the real
# krew. Like goreleaser, the module builds from its own go.mod and go.sum.
set -euo pipefail
OUT=${1:?output dir}
KREW_VERSION=${KREW_VERSION:?}
mkdir -p "$OUT"
GOBIN="$OUT" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
  "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION"
