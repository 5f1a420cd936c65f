#!/bin/sh
# Per-shard ceiling of the Redis bus: one Redis node's throughput for the commands the
# bus sends, with S subscriber connections (S instances serving the room), measured with
# redis-benchmark. A cluster-enabled node owning all 16384 slots stands for one shard.
# Run under `flock /work/bench.lock`. Prints one line per case:
#   <mode> <command> subscribers=<S> rps=<requests/s>
# Usage: bench/redis-shard-ceiling.sh [requests] [payload bytes]
set -eu
N=${1:-200000}
SIZE=${2:-200}
PAYLOAD=$(head -c "$SIZE" /dev/zero | tr '\0' x)
DIR=$(mktemp -d)
trap 'kill $(cat "$DIR"/pids 2>/dev/null) 2>/dev/null; rm -rf "$DIR"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_case() { # mode port cmd subscribers
  mode=$1; port=$2; cmd=$3; subs=$4
  : > "$DIR/subpids"
  i=0
  while [ "$i" -lt "$subs" ]; do
    if [ "$cmd" = SPUBLISH ]; then s=SSUBSCRIBE; else s=SUBSCRIBE; fi
    redis-cli -p "$port" "$s" "b:{room:r}:send" > /dev/null &
    echo $! >> "$DIR/subpids"
    i=$((i + 1))
  done
  sleep 0.3
  rps=$(redis-benchmark -p "$port" -n "$N" -c 50 -P 16 -q "$cmd" "b:{room:r}:send" "$PAYLOAD" \
        | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
  if [ -s "$DIR/subpids" ]; then
    kill $(cat "$DIR/subpids") 2>/dev/null || true
    wait $(cat "$DIR/subpids") 2>/dev/null || true
  fi
  echo "$mode $cmd subscribers=$subs rps=$rps"
}

P1=$(free_port)
redis-server --port "$P1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$DIR" > /dev/null & echo $! >> "$DIR/pids"
P2=$(free_port); B2=$(free_port)
mkdir "$DIR/c"
redis-server --port "$P2" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --cluster-enabled yes --cluster-port "$B2" --dir "$DIR/c" --cluster-config-file nodes.conf \
  > /dev/null & echo $! >> "$DIR/pids"
sleep 0.5
redis-cli -p "$P2" CLUSTER ADDSLOTSRANGE 0 16383 > /dev/null
until redis-cli -p "$P2" CLUSTER INFO | grep -q cluster_state:ok; do sleep 0.1; done

for subs in 0 1 4; do
  run_case single "$P1" PUBLISH "$subs"
  run_case shard "$P2" SPUBLISH "$subs"
done
