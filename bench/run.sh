#!/usr/bin/env bash
# The benchmark suite in one go: every case on pxl-ws (examples/bench-server) and on the
# floor (bench-floor, bare axum), plus Node `ws` when bench/node is installed
# (`npm ci --prefix bench/node`), and the Redis cluster when redis-server is there: two
# instances serving the room plus IDLE_INSTANCES (default 2) with no member of it, whose
# CPU per published message goes to $OUT/idle.jsonl. Server pinned to one core, load generator to the other, servers alternating in
# order from round to round, a fresh server process per run.
#
#   bench/run.sh                 # the full suite (about 5 minutes with ROUNDS=2)
#   QUICK=1 bench/run.sh         # a fraction of a second per case: checks the script
#   ROUNDS=3 CASES="echo connect" bench/run.sh
#   SERVERS="pxl-ws pxl-ws-metrics" CASES=echo bench/run.sh   # metrics on vs off
#   SERVERS="pxl-ws pxl-ws-mimalloc floor" CASES=echo bench/run.sh
#                                # also the same server on the floor's allocator (mimalloc)
#   SERVERS="pxl-ws pxl-ws-history" CASES="broadcast-1room cluster recover recover-redis" bench/run.sh
#                                # room history on vs off, and recovery on rejoin
#
# `cluster` runs once per pxl-ws server in SERVERS (the floor and node-ws have no bus).
# `recover` (memory engine, one instance) and `recover-redis` (two instances + Redis: the
# missed messages are published on one and recovered on the other) run a history server
# (PXL_WS_HISTORY_SIZE=RECOVER_HISTORY) whatever SERVERS says; see docs/performance.md.
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
IDLE_INSTANCES=${IDLE_INSTANCES:-2}
# Messages per room kept by the pxl-ws-history server and the recover cases.
HISTORY_SIZE=${HISTORY_SIZE:-1000}
RECOVER_HISTORY=${RECOVER_HISTORY:-2000}

# name -> load generator arguments (issue 7's targets)
declare -A ARGS=(
  [connect]="connect -n 10000 --source-ips 8"
  [echo]="echo -n 1000 -k 4 -d 10"
  [echo-open]="echo -n 1000 --rate $OPEN_RATE -d 10"
  [broadcast-1room]="broadcast -n 1000 -r 1 -p 1 -k 4 -d 10"
  [broadcast-100rooms]="broadcast -n 10000 -r 100 -p 4 --rate 200 -d 10 --source-ips 8"
  [cluster]="${CLUSTER_ARGS:-cluster -n 1000 -r 1 -p 1 -k 4 -d 10}"
  [recover]="recover --missed 1000 --recoveries 20 -k 16"
  [recover-redis]="recover --missed 1000 --recoveries 20 -k 16"
)

mkdir -p "$OUT"
results="$OUT/results.jsonl"
: >"$results"

# 10 000 sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 20000 ]; then
  echo "warning: ulimit -n is $(ulimit -n); the connect case needs about 10 100 descriptors" >&2
fi

servers=${SERVERS:-"pxl-ws floor"}
bin=target/$PROFILE
[ "$PROFILE" = dev ] && bin=target/debug
cargo_profile=()
[ "$PROFILE" = release ] && cargo_profile=(--release)
# build_variant FEATURE: the bench server with FEATURE, kept as example-bench-server-FEATURE
# (its server is pxl-ws-FEATURE) when SERVERS lists it.
build_variant() {
  if [[ " $servers " == *" pxl-ws-$1 "* ]]; then
    cargo build "${cargo_profile[@]}" -p example-bench-server --features "$1"
    cp "$bin/example-bench-server" "$bin/example-bench-server-$1"
  fi
}
if [ -z "${SKIP_BUILD:-}" ]; then
  build_variant mimalloc # on the floor's allocator
  build_variant metrics  # metrics recorded
  cargo build "${cargo_profile[@]}" -p pxl-ws-bench -p example-bench-server
fi

if [ -z "${SERVERS:-}" ] && [ -d bench/node/node_modules/ws ] && command -v node >/dev/null; then
  servers="$servers node-ws"
fi

server_cmd() {
  case "$1" in
    pxl-ws) echo "$bin/example-bench-server" ;;
    # Metrics recorded and served at /metrics (scraped by nobody: the recording cost).
    pxl-ws-metrics) echo "env PXL_WS_METRICS_PATH=/metrics $bin/example-bench-server-metrics" ;;
    # The same server with mimalloc as its allocator, as the floor has it.
    pxl-ws-mimalloc) echo "$bin/example-bench-server-mimalloc" ;;
    # Every room with a history of HISTORY_SIZE messages (the memory engine, or Redis
    # when REDIS_URL is set): each frame is stamped with `stream` and recorded.
    pxl-ws-history) echo "env PXL_WS_HISTORY_SIZE=$HISTORY_SIZE $bin/example-bench-server" ;;
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

# CPU nanoseconds used so far by every thread of process $1 (/proc/PID/task/*/schedstat).
cpu_ns() {
  local total=0 run _rest f
  for f in /proc/"$1"/task/*/schedstat; do
    read -r run _rest <"$f" 2>/dev/null || continue
    total=$((total + run))
  done
  echo "$total"
}

loadgen() {
  local label=$1
  shift
  # shellcheck disable=SC2086
  taskset -c "$LOADGEN_CPU" "$bin/pxl-ws-bench" "$@" ${QUICK:+--quick} --label "$label" | tee -a "$results"
}

# A redis-server on the next port, without persistence -> sets $rport and $redis_pid.
start_redis() {
  rport=$((port + 1))
  port=$rport
  local redis_log="$OUT/redis-$rport.log"
  taskset -c "$SERVER_CPU" redis-server --port "$rport" --save '' --appendonly no >"$redis_log" 2>&1 &
  pids+=("$!")
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
}

# The cluster case on server $1 (a pxl-ws variant): two instances serving the room,
# IDLE_INSTANCES more with no member of it, and redis-server.
run_cluster() {
  # shellcheck disable=SC2206
  args=(${ARGS[cluster]})
  start_redis
  a=$((port + 1)) b=$((port + 2))
  port=$b
  start_server "$1" "$a" REDIS_URL="redis://127.0.0.1:$rport"
  pid_a=$server_pid
  start_server "$1" "$b" REDIS_URL="redis://127.0.0.1:$rport"
  pid_b=$server_pid
  # Instances with no member of the room: they should hear none of its traffic.
  idle_pids=()
  for _ in $(seq 1 "$IDLE_INSTANCES"); do
    port=$((port + 1))
    start_server "$1" "$port" REDIS_URL="redis://127.0.0.1:$rport"
    idle_pids+=("$server_pid")
  done
  # Their CPU with no traffic at all first (timers, heartbeats), over BASELINE_S.
  baseline_s=${BASELINE_S:-5}
  [ -n "$QUICK" ] && baseline_s=${BASELINE_S:-1}
  idle_before=()
  for pid in "${idle_pids[@]}"; do idle_before+=("$(cpu_ns "$pid")"); done
  sleep "$baseline_s"
  idle_base=()
  for i in "${!idle_pids[@]}"; do
    idle_base+=("$(($(cpu_ns "${idle_pids[$i]}") - ${idle_before[$i]}))")
  done
  idle_before=()
  for pid in "${idle_pids[@]}"; do idle_before+=("$(cpu_ns "$pid")"); done
  started_ns=$(date +%s%N)
  echo "# round $round, cluster on $1 x2 (+${#idle_pids[@]} idle) + redis (pids $pid_a $pid_b $redis_pid; idle ${idle_pids[*]})" >&2
  loadgen "$1/cluster" "${args[@]}" --url "ws://127.0.0.1:$a/ws" --url "ws://127.0.0.1:$b/ws" \
    --server-pid "$pid_a,$pid_b,$redis_pid" | sed "s/^/  /" >&2
  idle_ns=()
  for i in "${!idle_pids[@]}"; do
    idle_ns+=("$(($(cpu_ns "${idle_pids[$i]}") - ${idle_before[$i]}))")
  done
  window_ns=$(($(date +%s%N) - started_ns))
  published=$(tail -n 1 "$results" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("published", 0))')
  python3 - "$round" "$published" "$window_ns" "$baseline_s" "${idle_base[*]}" "${idle_ns[*]}" "$1" \
    >>"$OUT/idle.jsonl" <<'PY'
import json, sys
rnd, published, window_ns, base_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
base = [int(v) for v in sys.argv[5].split()]
ns = [int(v) for v in sys.argv[6].split()]
# The traffic's share: CPU in the window minus the no-traffic rate over the same time.
extra = [n - b * window_ns / (base_s * 1e9) for n, b in zip(ns, base)]
print(json.dumps({"label": sys.argv[7] + "/cluster-idle", "round": rnd, "published": published,
              "window_s": window_ns / 1e9, "baseline_cpu_ms_per_s": [b / 1e6 / base_s for b in base],
              "window_cpu_ms_per_s": [n / 1e6 / (window_ns / 1e9) for n in ns],
              "idle_cpu_us_per_msg": [max(e, 0) / 1e3 / max(published, 1) for e in extra]}))
PY
  tail -n 1 "$OUT/idle.jsonl" >&2
  stop_all
  sleep 1
}

port=$PORT
for round in $(seq 1 "$ROUNDS"); do
  order=$servers
  if [ $((round % 2)) -eq 0 ]; then order=$(echo "$servers" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for case in $CASES; do
    case $case in cluster | recover | recover-redis) continue ;; esac
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
      for server in $order; do
        if [[ $server == pxl-ws* ]]; then run_cluster "$server"; fi
      done
    fi
  fi
  if [[ " $CASES " == *" recover "* ]]; then
    # shellcheck disable=SC2206
    args=(${ARGS[recover]})
    port=$((port + 1))
    start_server pxl-ws "$port" PXL_WS_HISTORY_SIZE="$RECOVER_HISTORY"
    echo "# round $round, recover on pxl-ws (memory history, pid $server_pid)" >&2
    loadgen pxl-ws-history/recover "${args[@]}" --url "ws://127.0.0.1:$port/ws" --server-pid "$server_pid" \
      | sed "s/^/  /" >&2
    stop_all
    sleep 1
  fi
  if [[ " $CASES " == *" recover-redis "* ]]; then
    if ! command -v redis-server >/dev/null; then
      echo "# recover-redis skipped: no redis-server (apt-get install redis-server)" >&2
    else
      # shellcheck disable=SC2206
      args=(${ARGS[recover-redis]})
      start_redis
      a=$((port + 1)) b=$((port + 2))
      port=$b
      start_server pxl-ws "$a" REDIS_URL="redis://127.0.0.1:$rport" PXL_WS_HISTORY_SIZE="$RECOVER_HISTORY"
      pid_a=$server_pid
      start_server pxl-ws "$b" REDIS_URL="redis://127.0.0.1:$rport" PXL_WS_HISTORY_SIZE="$RECOVER_HISTORY"
      pid_b=$server_pid
      echo "# round $round, recover-redis: publish on $pid_a, recover on $pid_b (redis $redis_pid)" >&2
      loadgen pxl-ws-history/recover-redis "${args[@]}" --url "ws://127.0.0.1:$a/ws" --url "ws://127.0.0.1:$b/ws" \
        --server-pid "$pid_a,$pid_b,$redis_pid" | sed "s/^/  /" >&2
      stop_all
      sleep 1
    fi
  fi
done

python3 bench/summarize.py "$results" >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT/results.jsonl, $OUT/results.md" >&2
