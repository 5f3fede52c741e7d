#!/usr/bin/env bash
# dev-services.sh up|down|status — the local services reportd needs, all on
# 127.0.0.1: Redis :6379, PostgreSQL :5432 (trust auth, database reportd),
# the Versity S3 gateway :7070 (bucket $S3_BUCKET) and NATS with JetStream
# :4222 (for EVENTS_NATS_URL).
#
# `up` is idempotent: services that answer are left alone, missing ones are
# installed (Debian packages, go install) and started. `down` stops only what
# this script started (the S3 gateway). `status` prints each service's state.
# Progress goes to stderr.
#
# Environment: REPORTD_DEV_DIR (default <repo>/.dev), S3_BUCKET (reportd),
# AWS_ACCESS_KEY_ID (reportd), AWS_SECRET_ACCESS_KEY (reportd-secret-key),
# SERVICE_TIMEOUT seconds to wait for each service (60).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV_DIR=${REPORTD_DEV_DIR:-$ROOT/.dev}
TIMEOUT=${SERVICE_TIMEOUT:-60}

REDIS_PORT=6379
PG_PORT=5432
PG_DB=reportd
S3_ADDR=127.0.0.1:7070
S3_DIR=$DEV_DIR/s3
VGW_VERSION=v1.8.0
VGW_LOG=$DEV_DIR/versitygw.log
VGW_PID=$DEV_DIR/versitygw.pid

export S3_BUCKET=${S3_BUCKET:-reportd}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-reportd}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-reportd-secret-key}

# Go may not be on PATH on a fresh machine or under CI.
export PATH="$PATH:/usr/local/go/bin"
if command -v go >/dev/null; then
	PATH="$PATH:$(go env GOPATH)/bin"
fi

# fd 9 is the script's stderr, so messages get out of redirected checks too.
exec 9>&2
log() { printf 'dev-services: %s\n' "$*" >&9; }
die() {
	printf 'dev-services: ERROR: %s\n' "$*" >&9
	exit 1
}

# wait_for NAME HINT CMD... retries CMD until it succeeds or TIMEOUT passes.
wait_for() {
	local name=$1 hint=$2
	shift 2
	local deadline=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			die "$name did not answer within ${TIMEOUT}s${hint:+ ($hint)}"
		fi
		sleep 0.5
	done
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

apt_install() {
	[[ $(id -u) == 0 ]] || die "need root to apt-get install $*; install them yourself and re-run"
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "$@" >&2
	fi
}

# ---------------------------------------------------------------- Redis

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
	command -v redis-cli >/dev/null || apt_install redis-tools
	if ! redis_ping; then
		command -v redis-server >/dev/null || apt_install redis-server
	fi
	# The package's own init script may have started it just now.
	if ! redis_ping; then
		log "starting Redis on 127.0.0.1:$REDIS_PORT"
		mkdir -p /var/lib/redis /var/log/redis
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
			--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2
		wait_for Redis "log: /var/log/redis/ci.log" redis_ping
	fi
	# asynq loses tasks if Redis evicts keys under memory pressure.
	[[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set maxmemory-policy noeviction) == OK ]] ||
		die "Redis: CONFIG SET maxmemory-policy noeviction refused"
	log "Redis ready on 127.0.0.1:$REDIS_PORT (maxmemory-policy noeviction)"
}

# ----------------------------------------------------------- PostgreSQL

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
pg_sql() { psql -X -w -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At -v ON_ERROR_STOP=1 -c "$1"; }
# shellcheck disable=SC2012 # version directories are plain numbers
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

pg_up() {
	if ! pg_ready; then
		if ! command -v pg_ctlcluster >/dev/null || [[ -z $(pg_version) ]]; then
			apt_install postgresql
		fi
		local v
		v=$(pg_version)
		[[ -n $v ]] || die "PostgreSQL: no cluster under /etc/postgresql after installing"
		[[ -d /etc/postgresql/$v/main ]] || pg_createcluster "$v" main >&2
		if ! pg_ready; then
			log "starting PostgreSQL $v on 127.0.0.1:$PG_PORT"
			pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 ||
				pg_ready || die "PostgreSQL: pg_ctlcluster $v main start failed (log: /var/log/postgresql/postgresql-$v-main.log)"
		fi
		wait_for PostgreSQL "log: /var/log/postgresql/postgresql-$v-main.log" pg_ready
	fi
	if ! pg_sql 'select 1' >/dev/null 2>&1; then
		pg_trust_loopback
	fi
	if [[ -z $(pg_sql "select 1 from pg_database where datname = '$PG_DB'") ]]; then
		log "creating database $PG_DB"
		pg_sql "create database $PG_DB" || [[ -n $(pg_sql "select 1 from pg_database where datname = '$PG_DB'") ]]
	fi
	log "PostgreSQL ready on 127.0.0.1:$PG_PORT (user postgres, database $PG_DB)"
}

# pg_trust_loopback lets user postgres in over TCP from loopback without a
# password, as the fresh Debian install wants one.
pg_trust_loopback() {
	local v hba
	v=$(pg_version)
	hba=/etc/postgresql/$v/main/pg_hba.conf
	[[ -w $hba ]] || die "PostgreSQL refuses user postgres on 127.0.0.1 without a password, and $hba is not writable"
	log "allowing trust auth from 127.0.0.1 and ::1 in $hba"
	local tmp
	tmp=$(mktemp)
	{
		echo '# Added by reportd scripts/dev-services.sh: local development only.'
		echo 'host    all    all    127.0.0.1/32    trust'
		echo 'host    all    all    ::1/128         trust'
		cat "$hba"
	} >"$tmp"
	cat "$tmp" >"$hba"
	rm -f "$tmp"
	pg_ctlcluster --skip-systemctl-redirect "$v" main reload >&2
	wait_for "PostgreSQL (trust auth for postgres@127.0.0.1)" "$hba" pg_sql 'select 1'
}

# ------------------------------------------------------ Versity S3 gateway

vgw_bin() {
	if command -v versitygw >/dev/null; then
		command -v versitygw
	else
		echo "$(go env GOPATH)/bin/versitygw"
	fi
}

# vgw_pid prints the pid from the pid file if that process is still our gateway.
vgw_pid() {
	[[ -f $VGW_PID ]] || return 1
	local pid
	pid=$(<"$VGW_PID")
	[[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q versitygw || return 1
	echo "$pid"
}

# vgw_started succeeds once the gateway answers, and ends the script if it died.
vgw_started() {
	if ! kill -0 "$1" 2>/dev/null; then
		tail -n 20 "$VGW_LOG" >&9 || true
		die "S3 gateway (versitygw) exited at start-up; see $VGW_LOG"
	fi
	tcp_open 127.0.0.1 "${S3_ADDR#*:}"
}

s3_up() {
	command -v go >/dev/null || die "Go is not installed (looked in PATH and /usr/local/go/bin)"
	if ! tcp_open 127.0.0.1 "${S3_ADDR#*:}"; then
		local bin
		bin=$(vgw_bin)
		if [[ ! -x $bin ]]; then
			log "installing versitygw $VGW_VERSION with go install (takes a few minutes)"
			(cd / && go install "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION") >&2 ||
				die "versitygw: go install failed"
			bin=$(vgw_bin)
		fi
		mkdir -p "$S3_DIR"
		log "starting versitygw on $S3_ADDR (data: $S3_DIR, log: $VGW_LOG)"
		# Keys go through the environment, not argv, so ps does not show them.
		# setsid and the redirections detach it from this shell and its pipes.
		ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
			setsid nohup "$bin" --port "$S3_ADDR" --quiet posix "$S3_DIR" \
			</dev/null >>"$VGW_LOG" 2>&1 &
		local pid=$!
		echo "$pid" >"$VGW_PID"
		wait_for "S3 gateway (versitygw) on $S3_ADDR" "log: $VGW_LOG" vgw_started "$pid"
	fi
	log "ensuring bucket $S3_BUCKET"
	(cd "$ROOT" && S3_ENDPOINT=http://$S3_ADDR go run ./scripts/s3bucket -wait "${TIMEOUT}s") ||
		die "S3 gateway on $S3_ADDR: could not create bucket $S3_BUCKET (log: $VGW_LOG)"
	log "S3 gateway ready on http://$S3_ADDR (bucket $S3_BUCKET)"
}

s3_down() {
	local pid
	if ! pid=$(vgw_pid); then
		rm -f "$VGW_PID"
		log "versitygw: not started by this script; nothing to stop"
		return 0
	fi
	log "stopping versitygw (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "versitygw did not exit after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$VGW_PID"
}

# ------------------------------------------------------- NATS JetStream

NATS_PORT=4222
NATS_DIR=$DEV_DIR/nats
NATS_LOG=$DEV_DIR/nats-server.log
NATS_PID=$DEV_DIR/nats-server.pid

nats_open() { tcp_open 127.0.0.1 "$NATS_PORT"; }

nats_up() {
	if ! nats_open; then
		[[ -x /usr/sbin/nats-server ]] || apt_install nats-server
		mkdir -p "$NATS_DIR"
		log "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (store: $NATS_DIR, log: $NATS_LOG)"
		# The pid file makes start-stop-daemon look for this server only, not
		# any nats-server (a test's own on another port would satisfy --oknodo).
		start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$NATS_PID" \
			--exec /usr/sbin/nats-server -- \
			-a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" -l "$NATS_LOG" >&2
		wait_for "NATS on 127.0.0.1:$NATS_PORT" "log: $NATS_LOG" nats_open
	fi
	log "NATS ready on nats://127.0.0.1:$NATS_PORT"
}

# nats_jetstream prints the server's INFO line's jetstream flag.
nats_jetstream() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT && head -n 1 <&3" 2>/dev/null |
		grep -o '"jetstream":[a-z]*' | cut -d: -f2
}

# ----------------------------------------------------------------- main

status() {
	local state
	if redis_ping; then
		state="up ($(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get maxmemory-policy | tail -n 1))"
	else
		state=down
	fi
	printf '%-12s 127.0.0.1:%-6s %s\n' redis "$REDIS_PORT" "$state"

	if pg_ready; then
		if [[ -n $(pg_sql "select 1 from pg_database where datname = '$PG_DB'" 2>/dev/null) ]]; then
			state="up (database $PG_DB exists)"
		else
			state="up (database $PG_DB missing)"
		fi
	else
		state=down
	fi
	printf '%-12s 127.0.0.1:%-6s %s\n' postgres "$PG_PORT" "$state"

	local pid
	if tcp_open 127.0.0.1 "${S3_ADDR#*:}"; then
		if pid=$(vgw_pid); then state="up (versitygw pid $pid, started by this script)"; else state="up (not started by this script)"; fi
	else
		state=down
	fi
	printf '%-12s %-16s %s\n' s3 "$S3_ADDR" "$state"

	if nats_open; then
		state="up (jetstream $(nats_jetstream || echo unknown))"
	else
		state=down
	fi
	printf '%-12s 127.0.0.1:%-6s %s\n' nats "$NATS_PORT" "$state"
}

usage() { echo "usage: $0 up|down|status" >&2; }

mkdir -p "$DEV_DIR"
case ${1:-} in
up)
	redis_up
	pg_up
	s3_up
	nats_up
	log "all services up"
	;;
down) s3_down ;;
status) status ;;
*)
	usage
	exit 2
	;;
esac
