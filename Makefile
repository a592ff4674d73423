# Claude Token Monitor. `make run` starts the server, `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO ?= go

.PHONY: build run test lint bench bench-api bench-live fuzz clean

build: ## static binary in bin/ctm (no cgo: the SQLite driver is pure Go)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ctm ./cmd/ctm

run: ## the server, with the embedded SQLite database
	$(GO) run ./cmd/ctm serve

test: ## every test, with the race detector, and the coverage total
	$(GO) test -race -count=1 -timeout 30m -coverpkg=./internal/...,./cmd/... -coverprofile=coverage.out ./...
	@$(GO) tool cover -func=coverage.out | tail -n 1

lint: ## vet, gofmt and staticcheck
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## ctm against ccusage: both data shapes at 100 MB, 512 MB and 2 GB, one summary table, then the API and live bars
	bash bench/all.sh

bench-api: ## API latency at 1,000 req/s for 30 s (/stats and /stats/daily)
	$(GO) run ./internal/server/loadtest

bench-live: ## append-to-WebSocket latency with 100 clients, 200 appends
	$(GO) run ./cmd/ctm-livebench -seed 100000

fuzz: ## 30 s of each fuzz target (plain go test runs their seeds)
	$(GO) test ./internal/ingest -run '^$$' -fuzz '^FuzzParseLine$$' -fuzztime 30s
	$(GO) test ./internal/ingest -run '^$$' -fuzz '^FuzzIngestFile$$' -fuzztime 30s
	$(GO) test ./internal/ingest -run '^$$' -fuzz '^FuzzStatsCache$$' -fuzztime 30s
	$(GO) test ./internal/ingest -run '^$$' -fuzz '^FuzzReadHistory$$' -fuzztime 30s
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzRouter$$' -fuzztime 30s
	$(GO) test ./internal/sqlite -run '^$$' -fuzz '^FuzzSnapshotDecode$$' -fuzztime 30s
	$(GO) test ./internal/views -run '^$$' -fuzz '^FuzzReportJSONStrings$$' -fuzztime 30s
	$(GO) test ./internal/jsontext -run '^$$' -fuzz '^FuzzWriter$$' -fuzztime 30s
	$(GO) test ./internal/team -run '^$$' -fuzz '^FuzzOTLPDecoders$$' -fuzztime 30s

clean:
	rm -rf bin coverage.out
