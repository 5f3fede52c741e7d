#!/usr/bin/env bash
# fuzz.sh — runs every Go fuzz target in the module for a short while
# (FUZZTIME, default 10s each). Targets are found by grepping *_test.go for
# `func FuzzXxx(`, so new ones are picked up without editing this file.
# scripts/test.sh runs it with FUZZTIME=5s as a smoke run (each target's
# seed and cached corpus, then 5 s of new inputs); `make fuzz` runs 10 s.
# go test caches the linked test binary, so one `go test -fuzz` per target
# costs about 2 s beyond FUZZTIME.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZTIME=${FUZZTIME:-10s}
export PATH="$PATH:/usr/local/go/bin"
cd "$ROOT"

# "file:func FuzzName(" lines, outside testdata, node_modules and .dev.
mapfile -t hits < <(grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir=node_modules \
	--exclude-dir=.dev --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
if ((${#hits[@]} == 0)); then
	echo "fuzz: no fuzz targets found" >&2
	exit 0
fi

n=0
for hit in "${hits[@]}"; do
	file=${hit%%:*}
	name=${hit#*:func }
	name=${name%(}
	pkg=./$(dirname "${file#./}")
	n=$((n + 1))
	printf '\n--- fuzz %d/%d: %s in %s for %s\n' "$n" "${#hits[@]}" "$name" "$pkg" "$FUZZTIME" >&2
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg"
done
printf 'fuzz: %d targets ran for %s each without a failure\n' "$n" "$FUZZTIME" >&2
