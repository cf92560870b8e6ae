#!/usr/bin/env bash
# Run the pinned goreleaser ($GORELEASER_VERSION, configured by
# .goreleaser.yaml) from the repository root, building it into the cache
# first if it is missing (cold: see docs/distribution.md; warm: instant).
#   hack/goreleaser.sh check
#   hack/goreleaser.sh release --clean [--snapshot]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cache_build "$GORELEASER_BIN" "$HACK/goreleaser/build.sh" goreleaser
cd "$ROOT"
# goreleaser reads the commit, its date and the tag only when the clone has
# a remote; without one (a local clone, a CI checkout made by path) a
# snapshot would say "none" and lose the commit time the archives are
# stamped with. The module path is the repository's address.
if ! git remote get-url origin >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url
  GIT_CONFIG_VALUE_0=https://$(awk '$1=="module"{print $2; exit}' go.mod).git
  export GIT_CONFIG_VALUE_0
fi
exec "$GORELEASER_BIN/goreleaser" "$@"
