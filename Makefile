# meshmon -- see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null)
LDFLAGS := -X github.com/meshmon/meshmon/pkg/version.version=$(VERSION) \
           -X github.com/meshmon/meshmon/pkg/version.gitCommit=$(COMMIT)
E2E_TIMEOUT ?= 45m

.PHONY: all build test unit fuzz e2e bench bench-scale lint demo cluster-up cluster-down deps provision release clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/kubectl-meshmon ./cmd/linkerd-meshmon
	cp plugins/kubectl/kubectl_complete-meshmon $(BIN)/

## test: lint, unit tests, a bounded run of every fuzz target, then e2e tests against the real local control plane
test: lint unit fuzz e2e

## fuzz: run every native fuzz target (func FuzzX in a _test.go file) for FUZZTIME each;
## -fuzz takes one target of one package at a time, so the list is read from the code
FUZZTIME ?= 10s
FUZZ_TARGETS = $(shell grep -rl --include='*_test.go' '^func Fuzz' pkg cmd hack 2>/dev/null | \
  xargs -r grep -o '^func Fuzz[A-Za-z0-9_]*' /dev/null | sed -E 's|^(.*)/[^/]*:func (Fuzz.*)|\1:\2|' | sort -u)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name ./$$pkg ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ >/tmp/meshmon-fuzz.$$$$.log 2>&1 || \
	    { cat /tmp/meshmon-fuzz.$$$$.log; rm -f /tmp/meshmon-fuzz.$$$$.log; echo "fuzz target $$name failed: the crasher is in ./$$pkg/testdata/fuzz/$$name/ (commit it as a regression seed once fixed)"; exit 1; }; \
	  rm -f /tmp/meshmon-fuzz.$$$$.log; done

unit:
	$(GO) test -race -count=1 ./...

e2e: deps provision
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...

## docs: regenerate the command reference in docs/commands from the cobra tree, and the
## least-privilege roles in docs/rbac from the permission lists in the code
docs:
	$(GO) run ./hack/tools/gendocs -out docs/commands
	$(GO) run ./hack/tools/genrbac -out docs/rbac

## docs-check: fail when docs/commands or docs/rbac differs from what `make docs` writes
docs-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  $(GO) run ./hack/tools/gendocs -out "$$tmp" || exit 1; \
	  diff -ru docs/commands "$$tmp" || { echo "docs/commands is stale: run 'make docs'"; exit 1; }; \
	  mkdir "$$tmp/rbac" && $(GO) run ./hack/tools/genrbac -out "$$tmp/rbac" || exit 1; \
	  diff -ru docs/rbac "$$tmp/rbac" || { echo "docs/rbac is stale: run 'make docs'"; exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-scale: meshmon's cost at BENCH_N meshed pods (default "100 1000 5000") on the real
## control plane and the real Prometheus; prints a markdown table (docs/performance.md). Not in
## make test. Needs root (a network namespace) and the provisioned caches.
bench-scale: deps provision
	hack/bench-scale.sh

## lint: gofmt, go vet (both builds), golangci-lint (.golangci.yml, built into the cache on first use) and the docs drift check
.PHONY: docs docs-check
lint: docs-check
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	hack/lint.sh
	hack/goreleaser.sh check

## demo: build, start the local control plane with Linkerd, run meshmon against it
demo: build deps
	hack/demo.sh

cluster-up: build deps
	hack/cluster-up.sh --linkerd

cluster-down:
	hack/cluster-down.sh

deps:
	hack/deps.sh

provision:
	hack/provision.sh >/dev/null

## release: archives, checksums and krew manifest in dist/ through goreleaser
## (a snapshot unless HEAD is tagged; publishing needs GITHUB_TOKEN)
release:
	hack/goreleaser.sh release --clean $(if $(shell git describe --tags --exact-match 2>/dev/null),,--snapshot)

clean:
	rm -rf $(BIN) dist
