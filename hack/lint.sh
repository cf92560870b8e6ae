#!/usr/bin/env bash
# Run golangci-lint (configured in .golangci.yml) on the whole module,
# building the pinned version into the cache first if it is missing
# (cold: 1-4 min on 2 busy cores; warm: instant; a warm lint run takes
# seconds, a first one about a minute). Extra arguments go to `run`,
# e.g. `hack/lint.sh --fix` or `hack/lint.sh ./pkg/ui/...`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cache_build "$LINT_BIN" "$HACK/golangci-lint/build.sh" golangci-lint
cd "$ROOT"
exec "$LINT_BIN/golangci-lint" run "$@"
