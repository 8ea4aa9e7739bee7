# agentledger developer tasks. `make help` lists them.

GO ?= go
# staticcheck is pinned; `go run` fetches and caches it on first use.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
AGENTLEDGER_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export AGENTLEDGER_TEST_DATABASE_URL

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## build ./agentledger
	$(GO) build -o agentledger ./cmd/agentledger

.PHONY: test
test: lint ## vet, staticcheck and run every test with the race detector (needs Postgres; see .ci/run)
	$(GO) test -race -count=1 -timeout 30m ./...
	cd ingest/secrets/internal/gitleakscheck && $(GO) test -count=1 ./...
	cd policy/internal/opacheck && $(GO) test -count=1 ./...
	cd policy/internal/cedarcheck && $(GO) test -count=1 ./...

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

.PHONY: bench
bench: ## run the benchmarks, each beside its baseline
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 60m ./...

.PHONY: fuzz
fuzz: ## run each fuzz test for a short while
	$(GO) test -run '^$$' -fuzz FuzzDecodeLeaf -fuzztime 30s ./ledger/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./ledger/layout/
