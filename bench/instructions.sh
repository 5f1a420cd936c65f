#!/usr/bin/env bash
# Instructions per message, counted by callgrind (repeatable under load, unlike CPU time;
# `perf stat -e instructions` needs hardware counters, which this machine's VM lacks).
#
# Variants (VARIANTS, alternating in order from round to round):
#   pxl-ws    the bench server as bench/run.sh runs it
#   floor     the bare axum floor (bench-floor)
#   off       the bench server with the `metrics` feature compiled out,
#   compiled  compiled in but not served (nothing installs a recorder: every handle is
#             a no-op),
#   served    served at /metrics (pxl-ws's Prometheus recorder records; nobody scrapes).
# Scenarios (SCENARIO):
#   echo       open-loop echo: CONNS sockets, RATE requests/s in total (per request)
#   broadcast  one room of CONNS subscribers, one publisher at RATE messages/s (per
#              delivery; the publish and its reply are shared by the room's deliveries)
#
#   bench/instructions.sh                                   # metrics: off, compiled, served
#   VARIANTS="pxl-ws floor" SCENARIO=broadcast CONNS=200 RATE=20 bench/instructions.sh
#
# Each run serves the scenario for SHORT and for LONG seconds (1 s warm-up for echo);
# the server runs under `valgrind --tool=callgrind` from start to exit (user-space
# instructions, all threads). RATE stays low enough for the server to keep up under
# valgrind. The fixed costs (start-up, connecting, warm-up, shutdown) are the same in
# both runs, so
#   instructions per message = (I_long - I_short) / (messages_long - messages_short),
# messages being the replies (echo) or deliveries (broadcast) the load generator
# counted in the measured window. Writes $OUT/instructions.jsonl (one line per run) and
# prints the per-message figures per round, with each variant's ratio to the first one.
# The builds: bench/run.sh (release) builds pxl-ws-bench, the bench server and the
# floor; SERVERS="pxl-ws pxl-ws-metrics" bench/run.sh also the metrics build. BIN names
# another directory of the same binaries (e.g. a build with line tables for
# callgrind_annotate: CARGO_PROFILE_RELEASE_DEBUG=line-tables-only, its own target dir).
# CALLGRIND_OPTS adds options to callgrind's (e.g. --cache-sim=yes: cache misses per
# message, in the same output files).
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
bin=${BIN:-target/release}
mkdir -p "$OUT"
jsonl="$OUT/instructions.jsonl"
: >"$jsonl"

VARIANTS=${VARIANTS:-"off compiled served"}
SCENARIO=${SCENARIO:-echo}
case "$SCENARIO" in
  echo) unit=echo ;;
  broadcast) unit=delivery ;;
  *) echo "SCENARIO must be echo or broadcast, not $SCENARIO" >&2; exit 2 ;;
esac
needed=pxl-ws-bench
for v in $VARIANTS; do
  case "$v" in
    pxl-ws | off) needed="$needed example-bench-server" ;;
    compiled | served) needed="$needed example-bench-server-metrics" ;;
    floor) needed="$needed bench-floor" ;;
    *) echo "unknown variant $v (pxl-ws, floor, off, compiled, served)" >&2; exit 2 ;;
  esac
done
for b in $needed; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: run bench/run.sh (SERVERS=\"pxl-ws pxl-ws-metrics\") first" >&2; exit 1; }
done

# name -> environment and binary
server_cmd() {
  case "$1" in
    pxl-ws) echo "PXL_WS_BENCH_VARIANT=pxl-ws $bin/example-bench-server" ;;
    floor) echo "PXL_WS_BENCH_VARIANT=floor $bin/bench-floor" ;;
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
  env PXL_WS_PORT="$PORT" "${cmd[0]}" taskset -c "$SERVER_CPU" valgrind -q --tool=callgrind ${CALLGRIND_OPTS:-} \
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
  local scenario=(echo -n "$CONNS" --rate "$RATE" --warmup 1)
  [ "$SCENARIO" = broadcast ] && scenario=(broadcast -n "$CONNS" -r 1 -p 1 --rate "$RATE")
  result=$(taskset -c "$LOADGEN_CPU" "$bin/pxl-ws-bench" "${scenario[@]}" -d "$secs" \
    --url "ws://127.0.0.1:$PORT/ws" --server-pid "$pid" --label "$variant/$SCENARIO-${secs}s")
  kill -TERM "$pid"
  wait "$perf_pid" || true
  local user
  user=$(awk '/^(summary|totals):/ {print $2; exit}' "$stat")
  [ -n "$user" ] || { echo "no instruction total in $stat" >&2; exit 1; }
  python3 - "$result" "$variant" "$secs" "$user" "$(cut -d' ' -f1-3 /proc/loadavg)" "$SCENARIO" >>"$jsonl" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
scenario = sys.argv[6]
r.update(variant=sys.argv[2], window_s=float(sys.argv[3]), scenario=scenario,
         messages=r["requests"] if scenario == "echo" else r["deliveries"],
         instructions=int(sys.argv[4]), loadavg=sys.argv[5], counter="callgrind Ir")
print(json.dumps(r, sort_keys=True))
EOF
  tail -n 1 "$jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  %-9s %.0fs: %d messages, %d instructions, runq %.2f, load %s" % (r["variant"], r["window_s"], r["messages"], r["instructions"], r.get("server_runq_wait_util", float("nan")), r["loadavg"]))' >&2
}

for round in $(seq 1 "$ROUNDS"); do
  order=$VARIANTS
  if [ $((round % 2)) -eq 0 ]; then order=$(echo "$VARIANTS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  echo "# round $round: $order" >&2
  for v in $order; do
    run "$v" "$SHORT"
    run "$v" "$LONG"
  done
done

python3 - "$jsonl" "$unit" $VARIANTS <<'EOF'
import json, sys
from collections import defaultdict
runs = [json.loads(l) for l in open(sys.argv[1])]
unit, variants = sys.argv[2], sys.argv[3:]
# Pair each variant's short and long run, in order: one pair per round.
pairs = defaultdict(list)
pending = {}
for r in runs:
    v = r["variant"]
    if v in pending:
        s = pending.pop(v)
        dm = r["messages"] - s["messages"]
        pairs[v].append((r["instructions"] - s["instructions"]) / dm)
    else:
        pending[v] = r
base = variants[0]
print(f"| variant | instructions per {unit}, per round | ÷ {base} (round by round) |")
print("|---|---|---|")
for v in variants:
    u = ", ".join(f"{p:,.0f}" for p in pairs[v])
    q = ", ".join(f"{p / o:.3f}" for p, o in zip(pairs[v], pairs[base]))
    print(f"| {v} | {u} | {q} |")
EOF
