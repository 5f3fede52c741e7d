#!/usr/bin/env bash
# lint-openapi.sh — lints openapi.yaml with a pinned Redocly CLI (rules in
# redocly.yaml). Installs Node.js and npm with apt-get when they are missing
# (needs root) and keeps npm's cache under .dev/, so it runs on a fresh machine.
set -euo pipefail

REDOCLY_VERSION=2.77.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
	printf 'lint-openapi: ERROR: %s\n' "$*" >&2
	exit 1
}

if ! command -v npx >/dev/null; then
	[[ $(id -u) == 0 ]] || die "npx is missing; install Node.js and npm (apt-get install nodejs npm) and re-run"
	printf 'lint-openapi: installing nodejs and npm with apt-get\n' >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends nodejs npm >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends nodejs npm >&2
	fi
fi

# npm refuses some operations as root without a writable cache of its own;
# a project-local cache also keeps the pinned CLI across runs.
export npm_config_cache="$ROOT/.dev/npm-cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
mkdir -p "$npm_config_cache"

exec npx --yes "@redocly/cli@$REDOCLY_VERSION" lint --config redocly.yaml openapi.yaml "$@"
