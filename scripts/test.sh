#!/usr/bin/env bash
# test.sh — the project's whole test run, as `make test` and .ci/run do it:
# local services up, test dependencies, go vet, go test -race on every
# package, then a short run of every fuzz target. Ends with one summary line
# "tests: N passed, N failed, N skipped".
#
# Where the time goes: README.md, "Developing". The run is shaped so: the slowest packages start first (ordered by the
# previous run's log), one more package runs than there are cores (the chaos
# package mostly waits on its child processes), and the fuzz stage is a
# smoke run (5 s per target; `make fuzz` explores longer).
#
# Environment: GO_TEST_TIMEOUT (default 12m, per test binary), GO_TEST_P
# (packages run at once, default cores + 1), FUZZTIME (default 5s per fuzz
# target), REPORTD_DEV_DIR (default <repo>/.dev).
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

# Longest package first: go test starts the packages in the order given, so
# the long poles (chaos, e2e) must not wait behind the short ones. The order
# comes from the previous run's "ok  <pkg>  12.3s" (and FAIL) lines; a
# package not in it (new, or the first run) goes after the known long poles,
# and one that no longer exists is dropped.
ordered_packages() {
	local prev=$DEV_DIR/go-test.log all
	all=$(go list ./...)
	{
		if [[ -f $prev ]]; then
			awk '($1 == "ok" || $1 == "FAIL") && $3 ~ /s$/ { sub(/s$/, "", $3); print $3, $2 }' "$prev" | sort -rn | awk '{ print $2 }'
		fi
		go list ./chaos ./e2e
		printf '%s\n' "$all"
	} | awk 'NR == FNR { exists[$0] = 1; next } exists[$0] && !seen[$0]++' <(printf '%s\n' "$all") -
}
mapfile -t packages < <(ordered_packages)
# One package more than cores: the chaos package holds a slot for its whole
# run while mostly waiting on its child processes.
jobs=${GO_TEST_P:-$(($(nproc) + 1))}

section "4/5 go test -race -count=1 -p $jobs, ${#packages[@]} packages, longest first  (full log: ${DEV_DIR#"$ROOT"/}/go-test.log)"
set +e
# -vet=off: step 3 has run the whole of go vet already; go test's own vet
# pass would check a subset of it again.
go test -race -count=1 -vet=off -p "$jobs" -timeout="${GO_TEST_TIMEOUT:-12m}" -v "${packages[@]}" 2>&1 | tee "$DEV_DIR/go-test.log.new"
rc=${PIPESTATUS[0]}
mv "$DEV_DIR/go-test.log.new" "$DEV_DIR/go-test.log"
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

# A smoke run: every target's seed and cached corpus plus 5 s of new inputs.
# make fuzz (10 s per target by default) is where longer runs belong.
export FUZZTIME=${FUZZTIME:-5s}
section "5/5 fuzz (scripts/fuzz.sh, $FUZZTIME per target)"
if ! bash scripts/fuzz.sh; then
	section "FAILED (fuzz)"
	printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" 1 "$skipped"
	exit 1
fi

section "done"
printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
