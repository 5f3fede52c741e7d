#!/usr/bin/env bash
# test-deps.sh — installs what the tests need besides the services:
# pdftotext (poppler-utils) and qpdf for the PDF tests, promtool (prometheus)
# for the alert rules' unit tests, Node.js for the
# webhook conformance test and the XLSX reader, and the npm packages of every
# node project under a testdata folder (from its package-lock.json: e.g.
# exceljs in internal/report/testdata/xlsxread). Idempotent; progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'test-deps: %s\n' "$*" >&2; }
die() {
	printf 'test-deps: ERROR: %s\n' "$*" >&2
	exit 1
}

missing=()
command -v pdftotext >/dev/null || missing+=(poppler-utils)
command -v qpdf >/dev/null || missing+=(qpdf)
command -v promtool >/dev/null || missing+=(prometheus)
# Debian's npm only goes with Debian's nodejs; a nodejs from elsewhere brings its own npm.
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
	[[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}; install them yourself and re-run"
	log "installing ${missing[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
fi

# node_modules is not committed: restore it exactly from each lock file.
mapfile -t locks < <(find "$ROOT" -path "$ROOT/.git" -prune -o -path '*/node_modules' -prune -o \
	-path '*/testdata/*' -name package-lock.json -print)
for lock in "${locks[@]}"; do
	dir=$(dirname "$lock")
	if [[ -d $dir/node_modules ]] && [[ $dir/node_modules/.package-lock.json -nt $lock ]]; then
		continue
	fi
	command -v npm >/dev/null || die "npm is missing beside node $(node --version)"
	log "npm ci in ${dir#"$ROOT"/}"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in $dir failed"
done

log "pdftotext $(pdftotext -v 2>&1 | head -n 1 | grep -o '[0-9][0-9.]*' | head -n 1), $(qpdf --version | head -n 1), $(promtool --version 2>&1 | head -n 1 | cut -d" " -f1-3), node $(node --version)"
