#!/usr/bin/env bash
# run-dev.sh [start|stop|status] — the local quick start behind `make run`.
#
# start (default): local services up, build bin/*, migrate, start the worker
# and the API, create a demo client with 5 customers × 20 orders (kept in
# .dev/demo-client.json and .dev/demo-seed.json, reused while its key still
# works), start a webhook receiver on 127.0.0.1:9999, and print working curl
# lines on stdout. Logs go to .dev/<name>.log, pids to .dev/<name>.pid;
# running it again restarts the processes cleanly.
# stop: stops the webhook receiver, the API and the worker (not the services).
#
# The usual environment (API_ADDR, DATABASE_URL, …) is passed through;
# WEBHOOK_ALLOW_PRIVATE_NETWORKS is forced to true so webhooks reach the
# local receiver. OPERATOR_TOKEN defaults to dev-operator-token here, and
# WEBHOOK_KEY_ENCRYPTION_KEY to a published dev key (never use it elsewhere).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV_DIR=${REPORTD_DEV_DIR:-$ROOT/.dev}
BIN=$ROOT/bin
export PATH="$PATH:/usr/local/go/bin"

export API_ADDR=${API_ADDR:-127.0.0.1:8080}
export OPERATOR_TOKEN=${OPERATOR_TOKEN:-dev-operator-token}
export WEBHOOK_ALLOW_PRIVATE_NETWORKS=true
# Seals webhook signing keys at rest; base64 of "reportd dev/test key: not secret".
export WEBHOOK_KEY_ENCRYPTION_KEY=${WEBHOOK_KEY_ENCRYPTION_KEY:-cmVwb3J0ZCBkZXYvdGVzdCBrZXk6IG5vdCBzZWNyZXQ=}
HOOK_ADDR=${WEBHOOK_LISTEN_ADDR:-127.0.0.1:9999}
API=http://$API_ADDR
CLIENT_JSON=$DEV_DIR/demo-client.json
SEED_JSON=$DEV_DIR/demo-seed.json
TIMEOUT=${SERVICE_TIMEOUT:-60}

log() { printf 'run-dev: %s\n' "$*" >&2; }
die() {
	printf 'run-dev: ERROR: %s\n' "$*" >&2
	exit 1
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# json_str FILE KEY prints the string value of "KEY" in a small JSON file.
json_str() { tr -d '\n' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"; }
# first_customer FILE prints the first id of the "customers" array.
first_customer() { tr -d '\n' <"$1" | sed -n 's/.*"customers"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p'; }

# proc_pid NAME prints the pid of our process NAME if it is still running.
proc_pid() {
	local file=$DEV_DIR/$1.pid pid
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	# Only a process running one of our binaries: pids get reused.
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$BIN/" || return 1
	echo "$pid"
}

stop_proc() {
	local name=$1 pid
	if ! pid=$(proc_pid "$name"); then
		rm -f "$DEV_DIR/$name.pid"
		return 0
	fi
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	# The services drain for up to SHUTDOWN_TIMEOUT (30s) before exiting.
	local deadline=$((SECONDS + 40))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "$name did not exit after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$DEV_DIR/$name.pid"
}

# start_proc NAME CMD... runs CMD detached, logging to .dev/NAME.log.
start_proc() {
	local name=$1
	shift
	stop_proc "$name"
	log "starting $name (log: ${DEV_DIR#"$ROOT"/}/$name.log)"
	printf '\n=== %s: %s\n' "$(date -Is)" "$*" >>"$DEV_DIR/$name.log"
	setsid nohup "$@" </dev/null >>"$DEV_DIR/$name.log" 2>&1 &
	echo $! >"$DEV_DIR/$name.pid"
}

# wait_http NAME URL waits for a 2xx from URL while every started process lives.
wait_http() {
	local name=$1 url=$2 deadline=$((SECONDS + TIMEOUT)) p
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
		for p in worker api; do
			if ! proc_pid "$p" >/dev/null; then
				tail -n 30 "$DEV_DIR/$p.log" >&2 || true
				die "$p exited during start-up; see ${DEV_DIR#"$ROOT"/}/$p.log"
			fi
		done
		((SECONDS < deadline)) || die "$name did not answer $url within ${TIMEOUT}s; see ${DEV_DIR#"$ROOT"/}/api.log"
		sleep 0.5
	done
}

# key_works KEY tells whether the API still knows KEY (the database may
# have been reset since the demo client was made).
key_works() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $1" "$API/v1/reports?limit=1")
	[[ $code == 2* ]]
}

demo_client() {
	local key=
	if [[ -s $CLIENT_JSON && -s $SEED_JSON ]]; then
		key=$(json_str "$CLIENT_JSON" api_key)
		if [[ -n $key ]] && key_works "$key"; then
			log "reusing the demo client in ${CLIENT_JSON#"$ROOT"/}"
			return 0
		fi
	fi
	log "creating a demo client"
	"$BIN/reportctl" client create --name "demo-$(date +%Y%m%d-%H%M%S)" \
		--webhook-url "http://$HOOK_ADDR/hooks" --scopes reports,events:write >"$CLIENT_JSON.tmp"
	mv "$CLIENT_JSON.tmp" "$CLIENT_JSON"
	local id
	id=$(json_str "$CLIENT_JSON" client_id)
	[[ -n $id ]] || die "reportctl client create printed no client_id: $(cat "$CLIENT_JSON")"
	log "seeding 5 customers x 20 orders for $id"
	"$BIN/reportctl" seed --client "$id" --customers 5 --orders 20 >"$SEED_JSON.tmp"
	mv "$SEED_JSON.tmp" "$SEED_JSON"
}

# build compiles bin/*, showing progress: a cold build (empty Go cache)
# compiles a few hundred packages and takes a minute or two on two cores.
build() {
	local pkgs=(./cmd/api ./cmd/worker ./cmd/reportctl) total
	total=$(cd "$ROOT" && go list -deps "${pkgs[@]}" | wc -l)
	log "building bin/api bin/worker bin/reportctl ($total packages; a cold build takes a minute or two)"
	# go build -v names each package as it compiles it (cached ones are not
	# named); anything that is not a package path is an error and is shown.
	local n=0 line
	set +e
	(cd "$ROOT" && go build -v -trimpath -o "$BIN/" "${pkgs[@]}" 2>&1) | while IFS= read -r line; do
		if [[ $line =~ ^[A-Za-z0-9._~/-]+$ ]]; then
			n=$((n + 1))
			((n % 25 == 0)) && log "building: $n of at most $total packages compiled"
		else
			printf '%s\n' "$line" >&2
		fi
	done
	local rc=${PIPESTATUS[0]}
	set -e
	((rc == 0)) || die "go build failed"
	log "build done"
}

start() {
	command -v go >/dev/null || die "Go is not installed (looked in PATH and /usr/local/go/bin)"
	command -v curl >/dev/null || die "curl is needed: apt-get install curl"
	bash "$ROOT/scripts/dev-services.sh" up
	mkdir -p "$DEV_DIR" "$BIN"

	build
	log "applying migrations"
	"$BIN/reportctl" migrate >&2

	stop_proc webhook
	stop_proc api
	stop_proc worker
	if tcp_open "${API_ADDR%:*}" "${API_ADDR##*:}"; then
		die "$API_ADDR is already in use by a process this script did not start"
	fi
	start_proc worker "$BIN/worker"
	start_proc api "$BIN/api"
	log "waiting for $API/readyz"
	wait_http API "$API/readyz"

	demo_client
	local key secret customer
	key=$(json_str "$CLIENT_JSON" api_key)
	secret=$(json_str "$CLIENT_JSON" webhook_secret)
	customer=$(first_customer "$SEED_JSON")
	[[ -n $key && -n $secret && -n $customer ]] ||
		die "could not read api_key, webhook_secret and a customer from ${CLIENT_JSON#"$ROOT"/} and ${SEED_JSON#"$ROOT"/}"
	# The secret goes through the environment, so it never lands in a log line.
	REPORTD_WEBHOOK_SECRET=$secret start_proc webhook "$BIN/reportctl" webhook listen --addr "$HOOK_ADDR"

	cat <<EOF

reportd is running. Logs: ${DEV_DIR#"$ROOT"/}/{api,worker,webhook}.log   Stop: make stop
  API          $API   (spec: $API/openapi.yaml, metrics: $API/metrics)
  monitoring   $API/monitoring/   (operator token: $OPERATOR_TOKEN)
  webhooks     POSTed to http://$HOOK_ADDR/hooks, verified and printed in ${DEV_DIR#"$ROOT"/}/webhook.log
  demo client  ${CLIENT_JSON#"$ROOT"/}

Request a report (the same lines as the README's quick start):
  export REPORTD_KEY=$key
  curl -s -X POST $API/v1/reports \\
    -H "Authorization: Bearer \$REPORTD_KEY" -H 'Content-Type: application/json' \\
    -H 'Idempotency-Key: q1-statement-$customer' \\
    -d '{"type":"order_history","format":"pdf",
         "params":{"customer_id":"$customer","from":"2026-01-01","to":"2026-03-31"}}'
  # 202 {"id":"rep_…","status":"queued",…}   then: GET /v1/reports/rep_…?wait=30s

Wait for it and fetch the download link (put the "id" from the answer in place of REPORT_ID):
  curl -s "$API/v1/reports/REPORT_ID?wait=30s" -H "Authorization: Bearer \$REPORTD_KEY"
EOF
}

status() {
	local name pid
	for name in worker api webhook; do
		if pid=$(proc_pid "$name"); then
			printf '%-8s running (pid %s)\n' "$name" "$pid"
		else
			printf '%-8s stopped\n' "$name"
		fi
	done
}

mkdir -p "$DEV_DIR"
case ${1:-start} in
start) start ;;
stop)
	stop_proc webhook
	stop_proc api
	stop_proc worker
	log "stopped"
	;;
status) status ;;
*)
	echo "usage: $0 [start|stop|status]" >&2
	exit 2
	;;
esac
