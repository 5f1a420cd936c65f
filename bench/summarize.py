#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into a Markdown table: the median of each metric per
server and case over the rounds, and the ratio pxl-ws / floor (and pxl-ws / node-ws)."""
import json
import statistics
import sys
from collections import defaultdict

METRICS = {
    "connect": [
        ("connections/s", "connections_per_s", "higher"),
        ("server RSS per idle connection (KiB)", "rss_per_connection_kib", "lower"),
        ("kernel TCP buffer memory per connection, both ends (KiB)", "kernel_tcp_mem_per_connection_kib", "lower"),
        ("kernel socket objects per connection, both ends (KiB)", "kernel_socket_slab_per_connection_kib", "lower"),
        ("server CPU per connection (µs)", "server_cpu_us_per_msg", "lower"),
        ("load generator CPU busy", "loadgen_cpu_util", None),
        ("load generator waiting for a CPU", "loadgen_runq_wait_util", None),
        ("server waiting for a CPU", "server_runq_wait_util", None),
    ],
    "echo": [
        ("requests/s", "requests_per_s", "higher"),
        ("server CPU per request (µs)", "server_cpu_us_per_msg", "lower"),
        ("latency p50 (µs)", "latency_us.p50", "lower"),
        ("latency p99 (µs)", "latency_us.p99", "lower"),
        ("latency p99.9 (µs)", "latency_us.p999", "lower"),
        ("unanswered (open loop)", "unanswered", "lower"),
        ("server CPU busy", "server_cpu_util", None),
        ("load generator CPU busy", "loadgen_cpu_util", None),
        ("load generator waiting for a CPU", "loadgen_runq_wait_util", None),
        ("server waiting for a CPU", "server_runq_wait_util", None),
    ],
    "broadcast": [
        ("deliveries/s", "deliveries_per_s", "higher"),
        ("server CPU per delivery (µs)", "server_cpu_us_per_msg", "lower"),
        ("loss", "loss", "lower"),
        ("latency p50 (µs)", "latency_us.p50", "lower"),
        ("latency p99 (µs)", "latency_us.p99", "lower"),
        ("server CPU busy", "server_cpu_util", None),
        ("load generator CPU busy", "loadgen_cpu_util", None),
        ("load generator waiting for a CPU", "loadgen_runq_wait_util", None),
        ("server waiting for a CPU", "server_runq_wait_util", None),
    ],
}
METRICS["cluster"] = METRICS["broadcast"]
METRICS["recover"] = [
    ("rejoin to reply with all missed, p50 (ms)", "recover_ms.p50", "lower"),
    ("rejoin to reply with all missed, p99 (ms)", "recover_ms.p99", "lower"),
    ("rejoin to reply with all missed, max (ms)", "recover_ms.max", "lower"),
    ("messages missed per rejoin", "missed", None),
    ("reply size (bytes)", "reply_bytes", None),
    ("server CPU per recovery (µs)", "server_cpu_us_per_recovery", "lower"),
    ("server waiting for a CPU (join windows)", "server_runq_wait_util", None),
    ("load generator CPU busy", "loadgen_cpu_util", None),
]


def get(row, path):
    value = row
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def main(path):
    rows = defaultdict(list)  # (case, server) -> [result]
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        server, _, case = row.get("label", "").partition("/")
        rows[(case or row["scenario"], server)].append(row)
    cases = []
    for case, _ in rows:
        if case not in cases:
            cases.append(case)
    servers = ["pxl-ws", "pxl-ws-metrics", "pxl-ws-history", "pxl-ws-mimalloc", "floor", "node-ws"]
    present = [s for s in servers if any(srv == s for _, srv in rows)]
    head = ["case", "metric"] + present
    if "floor" in present:
        head.append("pxl-ws / floor")
    if "floor" in present and "pxl-ws-mimalloc" in present:
        head.append("pxl-ws-mimalloc / floor")
    if "node-ws" in present:
        head.append("pxl-ws / node-ws")
    if "pxl-ws-metrics" in present:
        head.append("metrics on / off")
    if "pxl-ws-history" in present and "pxl-ws" in present:
        head.append("history on / off")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for case in cases:
        scenario = rows[(case, next(s for c, s in rows if c == case))][0]["scenario"]
        for title, key, _ in METRICS[scenario]:
            med = {}
            for server in present:
                values = [get(r, key) for r in rows.get((case, server), [])]
                values = [v for v in values if isinstance(v, (int, float))]
                med[server] = statistics.median(values) if values else None
            cells = [case, title] + [fmt(med[s]) for s in present]
            p, f = med.get("pxl-ws"), med.get("floor")
            if "floor" in present:
                cells.append(f"{p / f:.2f}" if p is not None and f else "—")
            if "floor" in present and "pxl-ws-mimalloc" in present:
                mi = med.get("pxl-ws-mimalloc")
                cells.append(f"{mi / f:.2f}" if mi is not None and f else "—")
            if "node-ws" in present:
                n = med.get("node-ws")
                cells.append(f"{p / n:.2f}" if p is not None and n else "—")
            if "pxl-ws-metrics" in present:
                m = med.get("pxl-ws-metrics")
                cells.append(f"{m / p:.3f}" if m is not None and p else "—")
            if "pxl-ws-history" in present and "pxl-ws" in present:
                h = med.get("pxl-ws-history")
                cells.append(f"{h / p:.3f}" if h is not None and p else "—")
            print("| " + " | ".join(cells) + " |")
    single = [get(r, "deliveries_per_s") for r in rows.get(("broadcast-1room", "pxl-ws"), [])]
    cluster = [get(r, "deliveries_per_s") for r in rows.get(("cluster", "pxl-ws"), [])]
    if single and cluster:
        ratio = statistics.median(cluster) / statistics.median(single)
        print()
        print(f"cluster (2 instances + Redis) / single instance deliveries/s: {ratio:.2f}")
    runs = sum(len(v) for v in rows.values())
    def saturated_run(r):
        # The load generator's own verdict (running or waiting for its core over 90 % of
        # the time); lines written before it had the field: the same test here.
        if r.get("loadgen_saturated") is not None:
            return r["loadgen_saturated"]
        busy = r.get("loadgen_cpu_util") or 0.0
        return busy + (r.get("loadgen_runq_wait_util") or 0.0) > 0.9

    saturated = sum(1 for v in rows.values() for r in v if saturated_run(r))
    print()
    print(f"{runs} runs; the load generator was saturated (running or waiting for its core over")
    print(f"90 % of the time, i.e. never idle waiting for the server) in {saturated}.")
    print("Values are medians over the rounds; a ratio below 1 is better for pxl-ws except in")
    print("the higher-is-better rows (connections/s, requests/s, deliveries/s).")


if __name__ == "__main__":
    main(sys.argv[1])
