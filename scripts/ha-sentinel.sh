#!/usr/bin/env bash
# A Redis Sentinel set-up on loopback for trying and testing failover: one
# master, one replica and three sentinels (quorum 2), each a redis-server
# process of its own with its files under HA_DIR. The chaos suite
# (chaos/sentinel_test.go) drives it through this script.
#
#   scripts/ha-sentinel.sh up            start everything, wait until the sentinels
#                                        agree, print REDIS_URL=redis-sentinel://…
#   scripts/ha-sentinel.sh down          stop everything and delete HA_DIR
#   scripts/ha-sentinel.sh status        each node's role and the sentinels' master
#   scripts/ha-sentinel.sh url           print the REDIS_URL for reportd
#   scripts/ha-sentinel.sh master        print the port of the current master
#   scripts/ha-sentinel.sh kill-master   SIGKILL the current master, print its port
#   scripts/ha-sentinel.sh start PORT    start a killed node again (it rejoins as a replica)
#   scripts/ha-sentinel.sh wait-replicas N
#                                        wait until the sentinels see N healthy replicas
#
# Settings (environment):
#   HA_DIR                  where configs, logs, pid files live (default /tmp/reportd-ha-sentinel)
#   HA_MASTER_NAME          the monitored name, ?master= in the URL (default reportd)
#   HA_REDIS_PORTS          data nodes, the first starts as master (default 16379,16380)
#   HA_SENTINEL_PORTS       the sentinels (default 26379,26380,26381)
#   HA_REDIS_PASSWORD       when set, requirepass on every node and sentinel, in the URL
#   HA_DOWN_AFTER_MS        sentinel down-after-milliseconds (default 1000)
#   HA_FAILOVER_TIMEOUT_MS  sentinel failover-timeout (default 5000)
#   HA_WAIT_SECONDS         how long up and wait-replicas wait (default 60)
#
# Example:
#   eval "$(scripts/ha-sentinel.sh up | grep ^REDIS_URL=)"; export REDIS_URL
#   scripts/ha-sentinel.sh kill-master; scripts/ha-sentinel.sh status
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/reportd-ha-sentinel}
NAME=${HA_MASTER_NAME:-reportd}
IFS=, read -r -a REDIS_PORTS <<<"${HA_REDIS_PORTS:-16379,16380}"
IFS=, read -r -a SENTINEL_PORTS <<<"${HA_SENTINEL_PORTS:-26379,26380,26381}"
PASSWORD=${HA_REDIS_PASSWORD:-}
DOWN_AFTER=${HA_DOWN_AFTER_MS:-1000}
FAILOVER_TIMEOUT=${HA_FAILOVER_TIMEOUT_MS:-5000}
WAIT=${HA_WAIT_SECONDS:-60}

HA_NAME=ha-sentinel
# shellcheck source=scripts/ha-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/ha-lib.sh"

node_conf() { # node_conf PORT [MASTER_PORT]
	local port=$1 master=${2:-} dir=$HA_DIR/$1
	mkdir -p "$dir"
	{
		echo "port $port"
		echo "bind 127.0.0.1"
		echo "daemonize yes"
		echo "pidfile $dir/pid"
		echo "logfile $dir/log"
		echo "dir $dir"
		# No persistence: a restarted node resyncs from the master.
		echo 'save ""'
		echo "appendonly no"
		echo "maxmemory-policy noeviction"
		if [[ -n $PASSWORD ]]; then
			echo "requirepass $PASSWORD"
			echo "masterauth $PASSWORD"
		fi
		if [[ -n $master ]]; then echo "replicaof 127.0.0.1 $master"; fi
	} >"$dir/redis.conf"
}

sentinel_conf() { # sentinel_conf PORT MASTER_PORT
	local port=$1 master=$2 dir=$HA_DIR/$1
	mkdir -p "$dir"
	{
		echo "port $port"
		echo "bind 127.0.0.1"
		echo "daemonize yes"
		echo "pidfile $dir/pid"
		echo "logfile $dir/log"
		echo "dir $dir"
		echo "sentinel monitor $NAME 127.0.0.1 $master 2"
		echo "sentinel down-after-milliseconds $NAME $DOWN_AFTER"
		echo "sentinel failover-timeout $NAME $FAILOVER_TIMEOUT"
		echo "sentinel parallel-syncs $NAME 1"
		if [[ -n $PASSWORD ]]; then
			echo "requirepass $PASSWORD"
			echo "sentinel auth-pass $NAME $PASSWORD"
			echo "sentinel sentinel-pass $PASSWORD"
		fi
	} >"$dir/sentinel.conf"
}

start_port() { # start_port PORT: start the node or sentinel whose config is in HA_DIR/PORT
	local port=$1 dir=$HA_DIR/$1
	alive "$port" && return 0
	if [[ -f $dir/sentinel.conf ]]; then
		redis-server "$dir/sentinel.conf" --sentinel
	elif [[ -f $dir/redis.conf ]]; then
		redis-server "$dir/redis.conf"
	else
		die "no node or sentinel on port $port under $HA_DIR"
	fi
	wait_for "port $port to answer PING" cli "$port" ping
}

sentinel_field() { # sentinel_field SENTINEL_PORT FIELD: one field of SENTINEL MASTER
	cli "$1" sentinel master "$NAME" 2>/dev/null | awk -v f="$2" 'prev == f { print; exit } { prev = $0 }'
}

agreed() { # every sentinel knows the master, the others and at least N replicas
	local want=$1 s
	for s in "${SENTINEL_PORTS[@]}"; do
		[[ $(sentinel_field "$s" num-other-sentinels) == $((${#SENTINEL_PORTS[@]} - 1)) ]] || return 1
		healthy_replicas "$s" "$want" || return 1
	done
}

healthy_replicas() { # healthy_replicas SENTINEL_PORT N: the sentinel sees N replicas up and linked
	local n
	n=$(cli "$1" sentinel replicas "$NAME" 2>/dev/null | awk '
		prev == "flags" { bad = ($0 ~ /s_down|o_down|disconnected/) }
		prev == "master-link-status" { if ($0 == "ok" && !bad) n++ }
		{ prev = $0 } END { print n + 0 }')
	((n >= $2))
}

master_port() {
	local s addr
	for s in "${SENTINEL_PORTS[@]}"; do
		if addr=$(cli "$s" sentinel get-master-addr-by-name "$NAME" 2>/dev/null) && [[ -n $addr ]]; then
			sed -n 2p <<<"$addr"
			return 0
		fi
	done
	die "no sentinel answered"
}

url() {
	local hosts="" s auth=""
	for s in "${SENTINEL_PORTS[@]}"; do hosts+="${hosts:+,}127.0.0.1:$s"; done
	[[ -n $PASSWORD ]] && auth=":$PASSWORD@"
	echo "redis-sentinel://${auth}${hosts}/0?master=$NAME"
}

up() {
	command -v redis-server >/dev/null || die "redis-server is not installed: run scripts/dev-services.sh up"
	mkdir -p "$HA_DIR"
	local master=${REDIS_PORTS[0]} p
	for p in "${REDIS_PORTS[@]}"; do
		if [[ $p == "$master" ]]; then node_conf "$p"; else node_conf "$p" "$master"; fi
		start_port "$p"
	done
	for p in "${SENTINEL_PORTS[@]}"; do
		# Sentinels rewrite their config with what they learn; keep it on a restart.
		[[ -f $HA_DIR/$p/sentinel.conf ]] || sentinel_conf "$p" "$master"
		start_port "$p"
	done
	wait_for "the sentinels to agree on master $master and $((${#REDIS_PORTS[@]} - 1)) replica(s)" agreed $((${#REDIS_PORTS[@]} - 1))
	echo "REDIS_URL=$(url)"
}

down() {
	local p pid
	for p in "${SENTINEL_PORTS[@]}" "${REDIS_PORTS[@]}"; do
		pid=$(pidof_port "$p")
		if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
	rm -rf "$HA_DIR"
}

status() {
	local p
	for p in "${REDIS_PORTS[@]}"; do
		if alive "$p"; then
			echo "redis $p: $(cli "$p" info replication | tr -d '\r' | grep -E '^(role|master_port|master_link_status|connected_slaves)' | paste -sd' ')"
		else
			echo "redis $p: down"
		fi
	done
	for p in "${SENTINEL_PORTS[@]}"; do
		if alive "$p"; then
			echo "sentinel $p: master $(cli "$p" sentinel get-master-addr-by-name "$NAME" | paste -sd:), $(sentinel_field "$p" num-slaves) replica(s), $(sentinel_field "$p" num-other-sentinels) other sentinel(s), flags $(sentinel_field "$p" flags)"
		else
			echo "sentinel $p: down"
		fi
	done
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
url) url ;;
master) master_port ;;
kill-master)
	port=$(master_port)
	pid=$(pidof_port "$port")
	[[ -n $pid ]] || die "no pid file for master $port"
	kill -KILL "$pid"
	echo "$port"
	;;
start)
	[[ -n ${2:-} ]] || die "usage: $0 start PORT"
	start_port "$2"
	;;
wait-replicas)
	[[ -n ${2:-} ]] || die "usage: $0 wait-replicas N"
	wait_for "the sentinels to see $2 healthy replica(s)" agreed "$2"
	;;
*)
	echo "usage: $0 up|down|status|url|master|kill-master|start PORT|wait-replicas N" >&2
	exit 2
	;;
esac
