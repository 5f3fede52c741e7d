#!/usr/bin/env bash
# bench.sh — the end-to-end benchmarks: builds the binaries, runs the Go
# harness in ./bench against the local services and writes BENCHMARKS.md
# (intake, submit-to-webhook, webhook delivery, projection, a million-event
# projection rebuild, one huge PDF and XLSX, each next to its ceiling measured
# in the same run). Takes about 8 minutes.
# Its last stage, capacity, measures the costs per report and per event on
# a private Redis, PostgreSQL and S3 gateway, saves them as
# bench/capacity.json and writes docs/capacity.md from them (about 3 more
# minutes; BENCH_ARGS="-only capacity" runs it alone and leaves
# BENCHMARKS.md as it is).
#
# Environment: BENCH_OUT (default BENCHMARKS.md), BENCH_ARGS (extra flags
# for go run ./bench, e.g. "-reports 500").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
PATH="$PATH:$(go env GOPATH)/bin"
cd "$ROOT"

bash scripts/dev-services.sh up
[[ -x /usr/bin/time ]] || { echo "bench: installing GNU time for peak RSS" >&2; apt-get install -y -q time >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "bench: building api, worker and measure into $tmp" >&2
go build -o "$tmp/" ./cmd/api ./cmd/worker ./internal/report/internal/measure
mkdir -p .dev/bench-logs
# What docs/capacity.md says it was measured by (make bench and make capacity set it).
if [[ -z ${BENCH_COMMAND:-} ]]; then
	export BENCH_COMMAND="${BENCH_ARGS:+BENCH_ARGS=\"$BENCH_ARGS\" }bash scripts/bench.sh"
fi
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
go run ./bench -api "$tmp/api" -worker "$tmp/worker" -measure "$tmp/measure" \
	-logs .dev/bench-logs -out "${BENCH_OUT:-BENCHMARKS.md}" ${BENCH_ARGS:-}
