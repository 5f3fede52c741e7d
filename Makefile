# reportd — run `make help` for the list of targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Go may be installed but not on PATH (fresh machines, CI).
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
GOBIN := $(shell PATH="$(PATH)" $(GO) env GOPATH 2>/dev/null)/bin
export PATH := $(PATH):$(GOBIN)

BINARIES := api worker reportctl
GOLANGCI_LINT_VERSION := v2.15.0
FUZZTIME ?= 10s

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "; printf "Usage: make <target>\n"} \
		/^## ---- / {printf "\n%s:\n", substr($$0, 9)} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- run locally

.PHONY: run
run: ## Start services, build, migrate, seed a demo client, run API + worker + webhook receiver; print curl lines.
	@bash scripts/run-dev.sh start

.PHONY: stop
stop: ## Stop the API, worker and webhook receiver started by `make run`.
	@bash scripts/run-dev.sh stop

.PHONY: status
status: ## Show the local services and the processes started by `make run`.
	@bash scripts/dev-services.sh status
	@bash scripts/run-dev.sh status

.PHONY: services
services: ## Start (or install and start) Redis, PostgreSQL and the S3 gateway on 127.0.0.1.
	@bash scripts/dev-services.sh up

.PHONY: services-down
services-down: ## Stop the S3 gateway started by `make services` (Redis and PostgreSQL stay up).
	@bash scripts/dev-services.sh down

## ---- build

.PHONY: build
build: ## Build bin/api, bin/worker and bin/reportctl.
	$(GO) build -trimpath -o bin/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: docker
docker: ## Build the container image reportd:dev (needs a Docker engine).
	docker build -t reportd:dev .

## ---- test and check

.PHONY: test
test: ## The whole test run (CI runs this): services, test deps, vet, go test -race, short fuzz runs.
	@bash scripts/test.sh

.PHONY: browser-check
browser-check: ## Load /monitoring/ of `make run`'s API in headless Chromium and screenshot it to docs/monitoring.png.
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	@bash scripts/run-dev.sh start >/dev/null
	@cd scripts/browser-check && npm ci --no-audit --no-fund >/dev/null && node check-monitoring.mjs ../../docs/monitoring.png

.PHONY: test-deps
test-deps: ## Install what the tests need: pdftotext, qpdf, node packages of testdata.
	@bash scripts/test-deps.sh

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each.
	@FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

.PHONY: bench
bench: services ## Measure intake, end to end, delivery, projection and the 200k PDF and XLSX against their ceilings; rewrites BENCHMARKS.md and docs/capacity.md.
	@BENCH_COMMAND="make bench$${BENCH_ARGS:+ BENCH_ARGS=\"$$BENCH_ARGS\"}" bash scripts/bench.sh

.PHONY: capacity
capacity: services ## Measure only the capacity model's inputs (bench/capacity.json) and rewrite docs/capacity.md.
	@BENCH_COMMAND="make capacity$${BENCH_ARGS:+ BENCH_ARGS=\"$$BENCH_ARGS\"}" BENCH_ARGS="-only capacity $${BENCH_ARGS:-}" bash scripts/bench.sh

.PHONY: chaos
chaos: services ## The full fault-injection suite (kill the worker, restart Redis/Postgres, stop S3, ...); prints the table.
	@bash scripts/chaos.sh

.PHONY: lint
lint: ## Run golangci-lint (install it with `make tools`).
	@command -v golangci-lint >/dev/null || { echo "golangci-lint is not installed: run make tools" >&2; exit 1; }
	golangci-lint run ./...

.PHONY: fmt
fmt: ## Format the code with gofmt.
	gofmt -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.dev/*')

.PHONY: tools
tools: ## Install the developer tools (golangci-lint).
	cd / && $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: clean
clean: ## Remove bin/ (the .dev/ data of the services stays; delete it by hand).
	rm -rf bin/
