#!/usr/bin/env bash
# A Redis Cluster on loopback for trying and testing reportd on a cluster:
# three masters and three replicas (one each), every node a redis-server
# process of its own with its files under HA_DIR. The chaos suite
# (chaos/cluster_test.go) drives it through this script.
#
#   scripts/ha-cluster.sh up             start the nodes, create the cluster, wait until every
#                                        node agrees, print REDIS_URL=redis-cluster://…
#   scripts/ha-cluster.sh down           stop everything and delete HA_DIR
#   scripts/ha-cluster.sh status         each node's role, its master and its slots
#   scripts/ha-cluster.sh url            print the REDIS_URL for reportd
#   scripts/ha-cluster.sh master-of KEY  print the port of the master that owns KEY's slot
#                                        (an asynq queue's key: 'asynq:{reports:0}:pending')
#   scripts/ha-cluster.sh kill PORT      SIGKILL the node on PORT
#   scripts/ha-cluster.sh start PORT     start a killed node again (a killed master rejoins
#                                        as a replica of the node that replaced it)
#   scripts/ha-cluster.sh wait-ok        wait until every live node says cluster_state:ok and
#                                        every slot has a live master
#
# Each node listens on PORT and the cluster bus on PORT+10000, so keep ports below 55536.
#
# Settings (environment):
#   HA_DIR              where configs, logs, pid files live (default /tmp/reportd-ha-cluster)
#   HA_CLUSTER_PORTS    six or more nodes; the first half start as masters (default 17000,…,17005)
#   HA_REDIS_PASSWORD   when set, requirepass and masterauth on every node, in the URL
#   HA_NODE_TIMEOUT_MS  cluster-node-timeout: how long a master may be silent before its
#                       replica takes over (default 2000)
#   HA_WAIT_SECONDS     how long up and wait-ok wait (default 60)
#
# Example:
#   eval "$(scripts/ha-cluster.sh up | grep ^REDIS_URL=)"; export REDIS_URL REDIS_QUEUE_SHARDS=6
#   scripts/ha-cluster.sh kill "$(scripts/ha-cluster.sh master-of 'asynq:{reports:0}:pending')"
#   scripts/ha-cluster.sh wait-ok; scripts/ha-cluster.sh status
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/reportd-ha-cluster}
IFS=, read -r -a PORTS <<<"${HA_CLUSTER_PORTS:-17000,17001,17002,17003,17004,17005}"
PASSWORD=${HA_REDIS_PASSWORD:-}
NODE_TIMEOUT=${HA_NODE_TIMEOUT_MS:-2000}
WAIT=${HA_WAIT_SECONDS:-60}

HA_NAME=ha-cluster
# shellcheck source=scripts/ha-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/ha-lib.sh"

node_conf() { # node_conf PORT
	local port=$1 dir=$HA_DIR/$1
	((port + 10000 <= 65535)) || die "port $port: its cluster bus port $((port + 10000)) is out of range"
	mkdir -p "$dir"
	{
		echo "port $port"
		echo "bind 127.0.0.1"
		echo "daemonize yes"
		echo "pidfile $dir/pid"
		echo "logfile $dir/log"
		echo "dir $dir"
		echo "cluster-enabled yes"
		# Kept across restarts: a restarted node knows its cluster.
		echo "cluster-config-file $dir/nodes.conf"
		echo "cluster-node-timeout $NODE_TIMEOUT"
		# A replica takes over however long it was cut off from its master.
		echo "cluster-replica-validity-factor 0"
		# The other masters' slots keep serving while one master fails over.
		echo "cluster-require-full-coverage no"
		# No persistence: a restarted node resyncs from its master.
		echo 'save ""'
		echo "appendonly no"
		echo "maxmemory-policy noeviction"
		if [[ -n $PASSWORD ]]; then
			echo "requirepass $PASSWORD"
			echo "masterauth $PASSWORD"
		fi
	} >"$dir/redis.conf"
}

start_port() { # start_port PORT: start the node whose config is in HA_DIR/PORT
	local port=$1 dir=$HA_DIR/$1
	alive "$port" && return 0
	[[ -f $dir/redis.conf ]] || die "no node on port $port under $HA_DIR"
	redis-server "$dir/redis.conf"
	wait_for "port $port to answer PING" cli "$port" ping
}

field() { # field PORT NAME: one line of CLUSTER INFO
	cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

healthy() { # every live node says ok, knows every node, and every slot has a live master
	local p n=0
	for p in "${PORTS[@]}"; do
		alive "$p" || continue
		[[ $(field "$p" cluster_state) == ok ]] || return 1
		[[ $(field "$p" cluster_slots_ok) == 16384 ]] || return 1
		[[ $(field "$p" cluster_known_nodes) == "${#PORTS[@]}" ]] || return 1
		n=$((n + 1))
	done
	((n > 0)) || return 1
	# Every node agrees on who serves what, and no master is marked failing.
	p=$(first_alive)
	! cli "$p" cluster nodes | awk '$3 ~ /master/ && $3 ~ /fail/ && NF > 8 { found = 1 } END { exit !found }'
}

first_alive() {
	local p
	for p in "${PORTS[@]}"; do
		if alive "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no node runs"
}

url() {
	local hosts="" p auth=""
	for p in "${PORTS[@]}"; do hosts+="${hosts:+,}127.0.0.1:$p"; done
	[[ -n $PASSWORD ]] && auth=":$PASSWORD@"
	echo "redis-cluster://${auth}${hosts}"
}

master_of() { # master_of KEY: the port of the master that owns KEY's slot
	local p slot
	p=$(first_alive)
	slot=$(cli "$p" cluster keyslot "$1")
	# CLUSTER NODES: id addr flags master ping pong epoch link slot-ranges...
	cli "$p" cluster nodes | awk -v s="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
		for (i = 9; i <= NF; i++) {
			n = split($i, r, "-"); lo = r[1]; hi = (n > 1) ? r[2] : r[1]
			if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
		}
	}'
}

up() {
	command -v redis-server >/dev/null || die "redis-server is not installed: run scripts/dev-services.sh up"
	((${#PORTS[@]} >= 6 && ${#PORTS[@]} % 2 == 0)) || die "HA_CLUSTER_PORTS needs an even count, at least 6 (masters and their replicas)"
	mkdir -p "$HA_DIR"
	local p created=1 addrs=()
	for p in "${PORTS[@]}"; do
		[[ -f $HA_DIR/$p/nodes.conf ]] || created=0
		node_conf "$p"
		start_port "$p"
		addrs+=("127.0.0.1:$p")
	done
	if ((created == 0)); then
		local auth=()
		[[ -n $PASSWORD ]] && auth=(-a "$PASSWORD" --no-auth-warning)
		redis-cli "${auth[@]}" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$HA_DIR/create.log" 2>&1 ||
			die "redis-cli --cluster create failed: $(tail -5 "$HA_DIR/create.log")"
	fi
	wait_for "the cluster to be ok on every node" healthy
	wait_for "every replica to sync with its master" replicas_synced
	echo "REDIS_URL=$(url)"
}

replicas_synced() { # every live replica's link to its master is up
	local p
	for p in "${PORTS[@]}"; do
		alive "$p" || continue
		if cli "$p" info replication | tr -d '\r' | grep -q '^role:slave'; then
			cli "$p" info replication | tr -d '\r' | grep -q '^master_link_status:up' || return 1
		fi
	done
}

down() {
	local p pid
	for p in "${PORTS[@]}"; do
		pid=$(pidof_port "$p")
		if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
	rm -rf "$HA_DIR"
}

status() {
	local p
	for p in "${PORTS[@]}"; do
		if alive "$p"; then
			echo "node $p: state $(field "$p" cluster_state), epoch $(field "$p" cluster_current_epoch)"
		else
			echo "node $p: down"
		fi
	done
	p=$(first_alive)
	echo "cluster nodes as $p sees them:"
	cli "$p" cluster nodes | awk '{ split($2, a, "[:@]"); m = ($4 == "-") ? "" : " of " $4; s = ""
		for (i = 9; i <= NF; i++) s = s " " $i
		print "  " a[2] " " $3 m s }'
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
url) url ;;
master-of)
	[[ -n ${2:-} ]] || die "usage: $0 master-of KEY"
	port=$(master_of "$2")
	[[ -n $port ]] || die "no live master owns the slot of $2"
	echo "$port"
	;;
kill)
	[[ -n ${2:-} ]] || die "usage: $0 kill PORT"
	pid=$(pidof_port "$2")
	[[ -n $pid ]] || die "no pid file for node $2"
	kill -KILL "$pid"
	;;
start)
	[[ -n ${2:-} ]] || die "usage: $0 start PORT"
	start_port "$2"
	;;
wait-ok) wait_for "the cluster to be ok on every live node" healthy ;;
*)
	echo "usage: $0 up|down|status|url|master-of KEY|kill PORT|start PORT|wait-ok" >&2
	exit 2
	;;
esac
