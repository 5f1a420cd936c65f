#!/usr/bin/env bash
# The benchmark suite in one go: every case on pxl-ws (examples/bench-server) and on the
# floor (bench-floor, bare axum), plus Node `ws` when bench/node is installed
# (`npm ci --prefix bench/node`), and the two-instance Redis cluster when redis-server is
# there. Server pinned to one core, load generator to the other, servers alternating in
# order from round to round, a fresh server process per run.
#
#   bench/run.sh                 # the full suite (about 5 minutes with ROUNDS=2)
#   QUICK=1 bench/run.sh         # a fraction of a second per case: checks the script
#   ROUNDS=3 CASES="echo connect" bench/run.sh
#
# Writes $OUT/results.jsonl (one line per run, as pxl-ws-bench printed it) and
# $OUT/results.md (medians per server and the pxl-ws / floor ratios), and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
QUICK=${QUICK:-}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PORT=${PORT:-19100}
OUT=${OUT:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
CASES=${CASES:-"connect echo echo-open broadcast-1room broadcast-100rooms cluster"}
# The open-loop echo's total request rate: about half of what the floor answers in the
# closed-loop echo on this machine (≈ 80 000/s, load generator bound).
OPEN_RATE=${OPEN_RATE:-40000}
PROFILE=${PROFILE:-release}

# name -> load generator arguments (issue 7's targets)
declare -A ARGS=(
  [connect]="connect -n 10000 --source-ips 8"
  [echo]="echo -n 1000 -k 4 -d 10"
  [echo-open]="echo -n 1000 --rate $OPEN_RATE -d 10"
  [broadcast-1room]="broadcast -n 1000 -r 1 -p 1 -k 4 -d 10"
  [broadcast-100rooms]="broadcast -n 10000 -r 100 -p 4 --rate 200 -d 10 --source-ips 8"
  [cluster]="cluster -n 1000 -r 1 -p 1 -k 4 -d 10"
)

mkdir -p "$OUT"
results="$OUT/results.jsonl"
: >"$results"

# 10 000 sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 20000 ]; then
  echo "warning: ulimit -n is $(ulimit -n); the connect case needs about 10 100 descriptors" >&2
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  if [ "$PROFILE" = release ]; then
    cargo build --release -p pxl-ws-bench -p example-bench-server
  else
    cargo build -p pxl-ws-bench -p example-bench-server
  fi
fi
bin=target/$PROFILE
[ "$PROFILE" = dev ] && bin=target/debug

servers="pxl-ws floor"
if [ -d bench/node/node_modules/ws ] && command -v node >/dev/null; then
  servers="$servers node-ws"
fi

server_cmd() {
  case "$1" in
    pxl-ws) echo "$bin/example-bench-server" ;;
    floor) echo "$bin/bench-floor" ;;
    node-ws) echo "node bench/node/server.js" ;;
  esac
}

pids=()
# start_server NAME PORT [VAR=value...] -> sets $server_pid
start_server() {
  local name=$1 port=$2
  shift 2
  local log="$OUT/server-$name-$port.log"
  # shellcheck disable=SC2046
  env PXL_WS_PORT="$port" "$@" taskset -c "$SERVER_CPU" $(server_cmd "$name") >"$log" 2>&1 &
  local launched=$!
  pids+=("$launched")
  for _ in $(seq 1 200); do
    grep -q '^pid ' "$log" 2>/dev/null && break
    sleep 0.05
  done
  server_pid=$(awk '/^pid /{print $2; exit}' "$log")
  [ -n "$server_pid" ] || { echo "server $name did not start:"; cat "$log"; exit 1; }
}

stop_all() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap stop_all EXIT

loadgen() {
  local label=$1
  shift
  # shellcheck disable=SC2086
  taskset -c "$LOADGEN_CPU" "$bin/pxl-ws-bench" "$@" ${QUICK:+--quick} --label "$label" | tee -a "$results"
}

port=$PORT
for round in $(seq 1 "$ROUNDS"); do
  order=$servers
  if [ $((round % 2)) -eq 0 ]; then order=$(echo "$servers" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for case in $CASES; do
    [ "$case" = cluster ] && continue
    # shellcheck disable=SC2206
    args=(${ARGS[$case]})
    for server in $order; do
      port=$((port + 1))
      start_server "$server" "$port"
      echo "# round $round, $case on $server (pid $server_pid)" >&2
      loadgen "$server/$case" "${args[@]}" --url "ws://127.0.0.1:$port/ws" --server-pid "$server_pid" \
        | sed "s/^/  /" >&2
      stop_all
      sleep 1
    done
  done
  if [[ " $CASES " == *" cluster "* ]]; then
    if ! command -v redis-server >/dev/null; then
      echo "# cluster skipped: no redis-server (apt-get install redis-server)" >&2
    else
      # shellcheck disable=SC2206
      args=(${ARGS[cluster]})
      rport=$((port + 1))
      redis_log="$OUT/redis-$rport.log"
      taskset -c "$SERVER_CPU" redis-server --port "$rport" --save '' --appendonly no >"$redis_log" 2>&1 &
      pids+=("$!")
      redis_pid=$!
      sleep 0.5
      a=$((port + 2)) b=$((port + 3))
      port=$b
      start_server pxl-ws "$a" REDIS_URL="redis://127.0.0.1:$rport"
      pid_a=$server_pid
      start_server pxl-ws "$b" REDIS_URL="redis://127.0.0.1:$rport"
      pid_b=$server_pid
      echo "# round $round, cluster on pxl-ws x2 + redis (pids $pid_a $pid_b $redis_pid)" >&2
      loadgen pxl-ws/cluster "${args[@]}" --url "ws://127.0.0.1:$a/ws" --url "ws://127.0.0.1:$b/ws" \
        --server-pid "$pid_a,$pid_b,$redis_pid" | sed "s/^/  /" >&2
      stop_all
      sleep 1
    fi
  fi
done

python3 bench/summarize.py "$results" >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT/results.jsonl, $OUT/results.md" >&2
