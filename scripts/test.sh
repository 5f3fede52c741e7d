#!/usr/bin/env bash
# test.sh — the project's whole test run, as `make test` and .ci/run do it:
# local services up, test dependencies, go vet, go test -race on every
# package, then a short run of every fuzz target. Ends with one summary line
# "tests: N passed, N failed, N skipped".
#
# Environment: GO_TEST_TIMEOUT (default 12m, per test binary), FUZZTIME
# (default 10s per fuzz target), REPORTD_DEV_DIR (default <repo>/.dev).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV_DIR=${REPORTD_DEV_DIR:-$ROOT/.dev}
export PATH="$PATH:/usr/local/go/bin"
PATH="$PATH:$(go env GOPATH)/bin"
cd "$ROOT"
mkdir -p "$DEV_DIR"

started=$SECONDS
section() { printf '\n==== %s  [%ds]\n' "$*" $((SECONDS - started)); }

section "1/5 local services (scripts/dev-services.sh up)"
bash scripts/dev-services.sh up

section "2/5 test dependencies (scripts/test-deps.sh)"
bash scripts/test-deps.sh

section "3/5 go vet ./... and the OpenAPI lint"
go vet ./...
bash scripts/lint-openapi.sh

section "4/5 go test -race -count=1 ./...  (full log: ${DEV_DIR#"$ROOT"/}/go-test.log)"
set +e
go test -race -count=1 -timeout="${GO_TEST_TIMEOUT:-12m}" -v ./... 2>&1 | tee "$DEV_DIR/go-test.log"
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -cE '^[[:space:]]*--- PASS: ' "$DEV_DIR/go-test.log" || true)
failed=$(grep -cE '^[[:space:]]*--- FAIL: ' "$DEV_DIR/go-test.log" || true)
skipped=$(grep -cE '^[[:space:]]*--- SKIP: ' "$DEV_DIR/go-test.log" || true)
if ((rc != 0)); then
	# A package that does not build or panics outside a test has no --- FAIL line.
	broken=$(grep -cE '^FAIL[[:space:]]+[^[:space:]]+' "$DEV_DIR/go-test.log" || true)
	((failed > 0)) || failed=$((broken > 0 ? broken : 1))
	section "FAILED"
	grep -E '^[[:space:]]*--- FAIL: |^FAIL[[:space:]]|^panic: |build failed|\[setup failed\]' "$DEV_DIR/go-test.log" || true
	printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
	exit "$rc"
fi

section "5/5 fuzz (scripts/fuzz.sh, ${FUZZTIME:-10s} per target)"
if ! bash scripts/fuzz.sh; then
	section "FAILED (fuzz)"
	printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" 1 "$skipped"
	exit 1
fi

section "done"
printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
