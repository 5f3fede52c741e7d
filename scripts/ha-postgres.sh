#!/usr/bin/env bash
# A Postgres primary and a streaming replica on loopback, for trying
# READ_DATABASE_URL and for the chaos suite (chaos/replica_test.go drives it
# through this script). Trust authentication, fsync off: for tests only.
#
#   scripts/ha-postgres.sh up               initdb the primary, pg_basebackup -R the replica,
#                                           start both, wait until the replica streams, print
#                                           DATABASE_URL=… and READ_DATABASE_URL=…
#   scripts/ha-postgres.sh down             stop both (immediate) and delete HA_DIR
#   scripts/ha-postgres.sh status           role, LSNs and replay state of each
#   scripts/ha-postgres.sh pause-replay     SELECT pg_wal_replay_pause() on the replica
#   scripts/ha-postgres.sh resume-replay    SELECT pg_wal_replay_resume() on the replica
#   scripts/ha-postgres.sh wait-caught-up   wait until the replica has replayed the primary's WAL
#   scripts/ha-postgres.sh stop primary|replica [fast|immediate]
#   scripts/ha-postgres.sh start primary|replica
#   scripts/ha-postgres.sh promote          pg_ctl promote the replica (it becomes a primary)
#
# Settings (environment):
#   HA_DIR               data dirs, logs, sockets (default /tmp/reportd-ha-postgres)
#   HA_PG_PRIMARY_PORT   default 15432
#   HA_PG_REPLICA_PORT   default 15433
#   HA_PG_DATABASE       created on the primary, named in the URLs (default reportd)
#   HA_PG_BINDIR         default: the newest /usr/lib/postgresql/*/bin
#   HA_WAIT_SECONDS      how long up and wait-caught-up wait (default 60)
#
# As root the server tools run as the postgres user (initdb refuses root),
# and HA_DIR is handed to that user.
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/reportd-ha-postgres}
PRIMARY_PORT=${HA_PG_PRIMARY_PORT:-15432}
REPLICA_PORT=${HA_PG_REPLICA_PORT:-15433}
DB=${HA_PG_DATABASE:-reportd}
WAIT=${HA_WAIT_SECONDS:-60}
BINDIR=${HA_PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}

die() {
	echo "ha-postgres: $*" >&2
	exit 1
}

[[ -x $BINDIR/initdb ]] || die "no initdb in '$BINDIR': run scripts/dev-services.sh up (it installs PostgreSQL) or set HA_PG_BINDIR"

as_pg() { # run a server tool as the owner of the data dirs
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_of() {
	case $1 in
	primary) echo "$PRIMARY_PORT" ;;
	replica) echo "$REPLICA_PORT" ;;
	*) die "unknown node '$1' (primary or replica)" ;;
	esac
}

sql() { # sql NODE QUERY: one value, unaligned
	"$BINDIR/psql" -X -qAt -h 127.0.0.1 -p "$(port_of "$1")" -U postgres -d postgres -c "$2"
}

wait_for() { # wait_for WHAT COMMAND...
	local what=$1 deadline=$((SECONDS + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out after ${WAIT}s waiting for $what"
		sleep 0.1
	done
}

start() { # start NODE
	local node=$1
	as_pg "$BINDIR/pg_ctl" -D "$HA_DIR/$node" -l "$HA_DIR/$node.log" -w -t "$WAIT" start >/dev/null
}

stop() { # stop NODE [MODE]
	as_pg "$BINDIR/pg_ctl" -D "$HA_DIR/$1" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true
}

streaming() {
	[[ $(sql primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") -ge 1 ]]
}

caught_up() {
	local lsn
	lsn=$(sql primary "SELECT pg_current_wal_lsn()")
	[[ $(sql replica "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") == t ]]
}

url() { echo "postgres://postgres@127.0.0.1:$1/$DB?sslmode=disable"; }

up() {
	[[ -d $HA_DIR/primary ]] && die "$HA_DIR/primary exists: run down first"
	mkdir -p "$HA_DIR"
	((EUID == 0)) && chown postgres: "$HA_DIR"
	as_pg "$BINDIR/initdb" -D "$HA_DIR/primary" -A trust -U postgres --no-sync >"$HA_DIR/initdb.log"
	cat >>"$HA_DIR/primary/postgresql.conf" <<-EOF
		# scripts/ha-postgres.sh
		listen_addresses = '127.0.0.1'
		port = $PRIMARY_PORT
		unix_socket_directories = '$HA_DIR'
		fsync = off
		max_connections = 200
		wal_level = replica
		max_wal_senders = 10
		hot_standby = on
	EOF
	# initdb -A trust already allows it; say it, since the replica depends on it.
	echo "host replication all 127.0.0.1/32 trust" >>"$HA_DIR/primary/pg_hba.conf"
	start primary
	sql primary "CREATE DATABASE $DB" >/dev/null
	as_pg "$BINDIR/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$HA_DIR/replica" -R -X stream -c fast --no-sync
	echo "port = $REPLICA_PORT" >>"$HA_DIR/replica/postgresql.conf"
	start replica
	wait_for "the replica to stream from the primary" streaming
	echo "DATABASE_URL=$(url "$PRIMARY_PORT")"
	echo "READ_DATABASE_URL=$(url "$REPLICA_PORT")"
}

down() {
	local n
	for n in replica primary; do
		[[ -d $HA_DIR/$n ]] && stop "$n" immediate
	done
	rm -rf "$HA_DIR"
}

status() {
	local n
	for n in primary replica; do
		if ! "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$(port_of "$n")"; then
			echo "$n $(port_of "$n"): down"
		elif [[ $(sql "$n" "SELECT pg_is_in_recovery()") == t ]]; then
			echo "$n $(port_of "$n"): standby, $(sql "$n" "SELECT 'replayed ' || pg_last_wal_replay_lsn() || ', received ' || coalesce(pg_last_wal_receive_lsn()::text, '-') || ', replay paused: ' || pg_is_wal_replay_paused()")"
		else
			echo "$n $(port_of "$n"): primary, wal at $(sql "$n" "SELECT pg_current_wal_lsn()"), $(sql "$n" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") streaming replica(s)"
		fi
	done
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
pause-replay) sql replica "SELECT pg_wal_replay_pause()" >/dev/null ;;
resume-replay) sql replica "SELECT pg_wal_replay_resume()" >/dev/null ;;
wait-caught-up) wait_for "the replica to replay the primary's WAL" caught_up ;;
stop) stop "${2:?usage: $0 stop primary|replica [fast|immediate]}" "${3:-fast}" ;;
start) start "${2:?usage: $0 start primary|replica}" ;;
promote) as_pg "$BINDIR/pg_ctl" -D "$HA_DIR/replica" -w promote >/dev/null ;;
*)
	echo "usage: $0 up|down|status|pause-replay|resume-replay|wait-caught-up|stop NODE [MODE]|start NODE|promote" >&2
	exit 2
	;;
esac
