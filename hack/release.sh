#!/usr/bin/env bash
# Build release archives and the krew manifest.
# usage: hack/release.sh VERSION [--platforms "linux/amd64 darwin/arm64 ..."] [--out DIR]
# Each archive holds kubectl-meshmon, linkerd-meshmon (the same program under
# the Linkerd extension name), the kubectl completion helper and LICENSE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: release.sh VERSION [--platforms LIST] [--out DIR]}; shift
PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"
OUT=$ROOT/dist
while [ $# -gt 0 ]; do
  case $1 in
    --platforms) PLATFORMS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ $VERSION == v* ]] || die "VERSION must start with v (krew requires semver with a leading v)"
mkdir -p "$OUT"
COMMIT=$(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null) || COMMIT=unknown
LD="-s -w -X github.com/meshmon/meshmon/pkg/version.version=$VERSION -X github.com/meshmon/meshmon/pkg/version.gitCommit=$COMMIT"
for p in $PLATFORMS; do
  os=${p%/*}; arch=${p#*/}; ext=""; [ "$os" = windows ] && ext=.exe
  stage=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -C "$ROOT" -trimpath -ldflags "$LD" -o "$stage/kubectl-meshmon$ext" ./cmd/kubectl-meshmon
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -C "$ROOT" -trimpath -ldflags "$LD" -o "$stage/linkerd-meshmon$ext" ./cmd/linkerd-meshmon
  cp "$ROOT/LICENSE" "$ROOT/plugins/kubectl/kubectl_complete-meshmon" "$stage/"
  # Reproducible archive: fixed order, owner and mtime.
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -czf "$OUT/meshmon_${VERSION}_${os}_${arch}.tar.gz" \
    LICENSE kubectl-meshmon$ext linkerd-meshmon$ext kubectl_complete-meshmon
  rm -rf "$stage"
  log "built $OUT/meshmon_${VERSION}_${os}_${arch}.tar.gz"
done
go run -C "$ROOT" ./hack/tools/krew-manifest "$VERSION" "$OUT" > "$OUT/meshmon.yaml"
log "wrote $OUT/meshmon.yaml"
