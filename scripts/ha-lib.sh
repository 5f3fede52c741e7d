# shellcheck shell=bash
# ha-lib.sh — helpers shared by scripts/ha-sentinel.sh and scripts/ha-cluster.sh,
# sourced after they set HA_NAME (the prefix of messages), HA_DIR (one
# directory per port, holding its config and pid file), PASSWORD and WAIT.

die() {
	echo "$HA_NAME: $*" >&2
	exit 1
}

cli() { # cli PORT ARGS...: redis-cli on loopback, with the password if any
	local port=$1
	shift
	if [[ -n $PASSWORD ]]; then
		REDISCLI_AUTH=$PASSWORD redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
	else
		redis-cli -h 127.0.0.1 -p "$port" "$@"
	fi
}

pidof_port() { cat "$HA_DIR/$1/pid" 2>/dev/null || true; }

alive() { # alive PORT: the process of that port runs
	local pid
	pid=$(pidof_port "$1")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

wait_for() { # wait_for WHAT COMMAND...: retry COMMAND until it succeeds or WAIT passes
	local what=$1 deadline=$((SECONDS + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out after ${WAIT}s waiting for $what"
		sleep 0.1
	done
}
