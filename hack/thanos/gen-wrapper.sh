#!/usr/bin/env bash
# Regenerate the wrapper module that pins the Thanos binary built for the
# remote-write e2e tests. `go install …@version` refuses Thanos because its
# go.mod has replace directives, so a wrapper module re-declares them and
# records the binary as a tool.
# v0.42.4, not v0.42.5: v0.42.5's go.mod needs go 1.26.10, newer than the
# toolchain the project builds with (GOTOOLCHAIN=local).
# usage: hack/thanos/gen-wrapper.sh [VERSION]
set -euo pipefail
TVER=${1:-v0.42.4}
W=$(cd "$(dirname "$0")" && pwd)/wrapper
mkdir -p "$W"; cd "$W"
rm -f go.mod go.sum
go mod init meshmon.local/thanos-wrapper >/dev/null 2>&1
GOMOD=$(go list -m -f '{{.GoMod}}' "github.com/thanos-io/thanos@$TVER")
# Carry over upstream's replace directives (ignored for dependencies), both
# the one-line form and the block form.
awk '$1=="replace" && $3=="=>" {print "-replace=" $2 "=" $4 "@" $5}
     $1=="replace" && $2=="(" {inb=1; next}
     inb && $1==")" {inb=0}
     inb && $2=="=>" {print "-replace=" $1 "=" $3 "@" $4}' "$GOMOD" | xargs -r go mod edit
go mod edit -go="$(awk '$1=="go"{print $2; exit}' "$GOMOD")"
go get -tool "github.com/thanos-io/thanos/cmd/thanos@$TVER"
go mod tidy
echo "wrapper ready: thanos $TVER" >&2
