#!/usr/bin/env bash
# Instructions per echo, counted by callgrind (repeatable under load, unlike CPU time;
# `perf stat -e instructions` needs hardware counters, which this machine's VM lacks),
# for the bench server with the `metrics` feature compiled out, compiled in but not
# served (nothing installs a recorder: every handle is a no-op), and served at /metrics
# (pxl-ws's Prometheus recorder records; nobody scrapes).
#
#   bench/instructions.sh          # after bench/run.sh built both servers (release)
#   ROUNDS=2 RATE=400 SHORT=3 LONG=6 bench/instructions.sh
#
# Each run serves an open-loop echo (N sockets, RATE requests/s in total, a fixed
# schedule, 1 s warm-up) for SHORT and for LONG seconds; the server runs under
# `valgrind --tool=callgrind` from start to exit (user-space instructions, all
# threads). RATE stays low enough for the server to keep up under valgrind. The fixed costs
# (start-up, connecting, warm-up, shutdown) are the same in both runs, so
#   instructions per echo = (I_long - I_short) / (requests_long - requests_short),
# requests being the replies the load generator counted in the measured window.
# Variants alternate in order from round to round. Writes $OUT/instructions.jsonl (one
# line per run) and prints the per-echo figures per round.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
RATE=${RATE:-400}
CONNS=${CONNS:-50}
SHORT=${SHORT:-3}
LONG=${LONG:-6}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PORT=${PORT:-19400}
OUT=${OUT:-target/bench/instructions-$(date -u +%Y%m%dT%H%M%SZ)}
bin=target/release
mkdir -p "$OUT"
jsonl="$OUT/instructions.jsonl"
: >"$jsonl"

for b in example-bench-server example-bench-server-metrics pxl-ws-bench; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: run bench/run.sh (SERVERS=\"pxl-ws pxl-ws-metrics\") first" >&2; exit 1; }
done

# name -> environment and binary
server_cmd() {
  case "$1" in
    off) echo "PXL_WS_BENCH_VARIANT=off $bin/example-bench-server" ;;
    compiled) echo "PXL_WS_BENCH_VARIANT=compiled $bin/example-bench-server-metrics" ;;
    served) echo "PXL_WS_METRICS_PATH=/metrics $bin/example-bench-server-metrics" ;;
  esac
}

# run VARIANT SECONDS -> appends one JSON line
run() {
  local variant=$1 secs=$2
  PORT=$((PORT + 1))
  local log="$OUT/server-$variant-$secs-$PORT.log" stat="$OUT/callgrind-$variant-$secs-$PORT.out"
  # shellcheck disable=SC2046
  local cmd
  read -r -a cmd <<<"$(server_cmd "$variant")"
  env PXL_WS_PORT="$PORT" "${cmd[0]}" taskset -c "$SERVER_CPU" valgrind -q --tool=callgrind \
    --callgrind-out-file="$stat" "${cmd[1]}" >"$log" 2>&1 &
  local perf_pid=$!
  local pid=""
  for _ in $(seq 1 1200); do
    pid=$(awk '/^pid /{print $2; exit}' "$log" 2>/dev/null || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || { echo "server $variant did not start:"; cat "$log"; exit 1; }
  local result
  result=$(taskset -c "$LOADGEN_CPU" "$bin/pxl-ws-bench" echo -n "$CONNS" --rate "$RATE" \
    --warmup 1 -d "$secs" --url "ws://127.0.0.1:$PORT/ws" --server-pid "$pid" \
    --label "$variant/echo-open-${secs}s")
  kill -TERM "$pid"
  wait "$perf_pid" || true
  local user
  user=$(awk '/^(summary|totals):/ {print $2; exit}' "$stat")
  [ -n "$user" ] || { echo "no instruction total in $stat" >&2; exit 1; }
  python3 - "$result" "$variant" "$secs" "$user" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$jsonl" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
r.update(variant=sys.argv[2], window_s=float(sys.argv[3]),
         instructions=int(sys.argv[4]), loadavg=sys.argv[5], counter="callgrind Ir")
print(json.dumps(r, sort_keys=True))
EOF
  tail -n 1 "$jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  %-9s %.0fs: %d requests, %d instructions, runq %.2f, load %s" % (r["variant"], r["window_s"], r["requests"], r["instructions"], r["server_runq_wait_util"], r["loadavg"]))' >&2
}

variants="off compiled served"
for round in $(seq 1 "$ROUNDS"); do
  order=$variants
  if [ $((round % 2)) -eq 0 ]; then order=$(echo "$variants" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  echo "# round $round: $order" >&2
  for v in $order; do
    run "$v" "$SHORT"
    run "$v" "$LONG"
  done
done

python3 - "$jsonl" <<'EOF'
import json, sys
from collections import defaultdict
runs = [json.loads(l) for l in open(sys.argv[1])]
# Pair each variant's short and long run, in order: one pair per round.
pairs = defaultdict(list)
pending = {}
for r in runs:
    v = r["variant"]
    if v in pending:
        s = pending.pop(v)
        dr = r["requests"] - s["requests"]
        pairs[v].append(((r["instructions"] - s["instructions"]) / dr,))
    else:
        pending[v] = r
print("| variant | instructions per echo, per round | ÷ off (round by round) |")
print("|---|---|---|")
for v in ["off", "compiled", "served"]:
    u = ", ".join(f"{p[0]:,.0f}" for p in pairs[v])
    q = ", ".join(f"{p[0] / o[0]:.3f}" for p, o in zip(pairs[v], pairs["off"]))
    print(f"| {v} | {u} | {q} |")
EOF
