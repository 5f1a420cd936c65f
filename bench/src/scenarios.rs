//! The scenarios: `connect`, `echo`, `broadcast` (also run as `cluster`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::procstat::{CpuWindow, kernel_socket_slab_kib, kernel_tcp_mem_kib, rss_kib};
use crate::wire::{
    Incoming, Target, Ws, broadcast_frame, echo_frame, echo_frame_at, join, now_ns, open,
    room_name, source_for,
};
use crate::{Error, Options};

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid histogram bounds")
}

fn latency_json(h: &Histogram<u64>) -> Value {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "samples": h.len(),
        "p50": us(0.5),
        "p99": us(0.99),
        "p999": us(0.999),
        "max": h.max() as f64 / 1000.0,
    })
}

fn targets(options: &Options) -> Result<Vec<Target>, Error> {
    options.urls.iter().map(|u| Target::parse(u)).collect()
}

/// Opens `n` sockets, `concurrency` handshakes at a time; socket `i` goes to
/// `targets[i % len]` and, with `rooms`, joins room `i % rooms`.
async fn open_all(
    options: &Options,
    targets: &[Target],
    n: usize,
    rooms: Option<usize>,
) -> Result<Vec<Ws>, Error> {
    let results: Vec<Result<Ws, Error>> = stream::iter(0..n)
        .map(|i| {
            let target = &targets[i % targets.len()];
            let source = source_for(i, options.source_ips, target);
            async move {
                let mut ws = open(target, source).await?;
                if let Some(rooms) = rooms {
                    join(&mut ws, &room_name(i % rooms)).await?;
                }
                Ok(ws)
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let mut sockets = Vec::with_capacity(n);
    let mut first_error = None;
    let mut failed = 0;
    for result in results {
        match result {
            Ok(ws) => sockets.push(ws),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(format!("{failed} of {n} connections failed; first: {e}").into()),
        None => Ok(sockets),
    }
}

/// The next text frame of a connection, skipping pings and binary frames; `None` once
/// the socket is closed or failed. Cancel-safe (the only await is the stream's `next`),
/// so it can sit in a `select!`.
async fn next_text<S>(rx: &mut S) -> Option<Utf8Bytes>
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => return Some(text),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn pad(options: &Options) -> String {
    "x".repeat(options.payload)
}

/// `connect`: opens N idle sockets; connections/s and the server's RSS per socket.
pub async fn connect(options: &Options) -> Result<Value, Error> {
    let targets = targets(options)?;
    let pid = options.server_pids.first().copied();
    let rss_before = pid.and_then(rss_kib);
    let kernel_before = kernel_tcp_mem_kib();
    let slab_before = kernel_socket_slab_kib();
    let cpu = CpuWindow::start(&options.server_pids);
    let started = Instant::now();
    let sockets = open_all(options, &targets, options.connections, None).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_use = cpu.stop();
    tokio::time::sleep(options.settle).await;
    let rss_after = pid.and_then(rss_kib);
    let kernel_after = kernel_tcp_mem_kib();
    let slab_after = kernel_socket_slab_kib();
    let n = sockets.len();
    let per_conn = |before: Option<u64>, after: Option<u64>| {
        before
            .zip(after)
            .map(|(before, after)| (after as f64 - before as f64) / n.max(1) as f64)
    };
    let per_conn_kib = per_conn(rss_before, rss_after);
    // Both ends of every loopback connection, and anything else in the namespace.
    let kernel_per_conn_kib = per_conn(kernel_before, kernel_after);
    let slab_per_conn_kib = per_conn(slab_before, slab_after);
    let mut closing = Vec::with_capacity(n);
    for mut ws in sockets {
        closing.push(tokio::spawn(async move {
            let _ = ws.close(None).await;
        }));
    }
    for task in closing {
        let _ = task.await;
    }
    let mut result = json!({
        "connections": n,
        "seconds": elapsed,
        "connections_per_s": n as f64 / elapsed.max(1e-9),
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "rss_per_connection_kib": per_conn_kib,
        "kernel_tcp_mem_before_kib": kernel_before,
        "kernel_tcp_mem_after_kib": kernel_after,
        "kernel_tcp_mem_per_connection_kib": kernel_per_conn_kib,
        "kernel_socket_slab_before_kib": slab_before,
        "kernel_socket_slab_after_kib": slab_after,
        "kernel_socket_slab_per_connection_kib": slab_per_conn_kib,
    });
    merge(&mut result, cpu_use.json(n as u64));
    Ok(result)
}

struct EchoOutcome {
    completed: u64,
    errors: u64,
    /// Open loop: requests sent in the measured window and never answered.
    unanswered: u64,
    histogram: Histogram<u64>,
}

impl EchoOutcome {
    fn new() -> Self {
        Self {
            completed: 0,
            errors: 0,
            unanswered: 0,
            histogram: histogram(),
        }
    }
}

/// `echo`: N sockets × K requests in flight (closed loop), or with `--rate M` M requests/s
/// in total on a fixed schedule whatever the replies (open loop); requests/s and latency.
pub async fn echo(options: &Options) -> Result<Value, Error> {
    if let Some(rate) = options.rate {
        return echo_open(options, rate).await;
    }
    let targets = targets(options)?;
    let sockets = open_all(options, &targets, options.connections, None).await?;
    let pad = Arc::new(pad(options));
    let measure_from = now_ns() + options.warmup.as_nanos() as u64;
    let measure_to = measure_from + options.duration.as_nanos() as u64;
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| {
            let pad = Arc::clone(&pad);
            let k = options.in_flight;
            tokio::spawn(echo_connection(ws, k, pad, measure_from, measure_to))
        })
        .collect();
    tokio::time::sleep(options.warmup).await;
    let cpu = CpuWindow::start(&options.server_pids);
    tokio::time::sleep(options.duration).await;
    let cpu_use = cpu.stop();
    let mut histogram = histogram();
    let (mut completed, mut errors) = (0, 0);
    for task in tasks {
        let outcome = task.await?;
        completed += outcome.completed;
        errors += outcome.errors;
        histogram.add(&outcome.histogram)?;
    }
    let mut result = json!({
        "connections": options.connections,
        "in_flight": options.in_flight,
        "payload_bytes": options.payload,
        "seconds": options.duration.as_secs_f64(),
        "requests": completed,
        "errors": errors,
        "requests_per_s": completed as f64 / options.duration.as_secs_f64().max(1e-9),
        "latency_us": latency_json(&histogram),
    });
    merge(&mut result, cpu_use.json(completed));
    Ok(result)
}

async fn echo_connection(
    ws: Ws,
    in_flight: usize,
    pad: Arc<String>,
    measure_from: u64,
    measure_to: u64,
) -> EchoOutcome {
    let mut outcome = EchoOutcome::new();
    let (mut tx, mut rx) = ws.split();
    let mut next_id = in_flight as u64;
    let mut outstanding = in_flight;
    if !feed_all(&mut tx, (1..=next_id).map(|id| echo_frame(id, &pad))).await {
        outcome.errors += 1;
        return outcome;
    }
    while outstanding > 0 {
        let Some(text) = next_text(&mut rx).await else {
            outcome.errors += 1;
            return outcome;
        };
        let now = now_ns();
        match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
            Ok(frame) if frame.kind == "bench" && frame.action == "echo" => {
                outstanding -= 1;
                if (measure_from..measure_to).contains(&now) {
                    outcome.completed += 1;
                    let sent = frame.response.map_or(now, |r| r.t);
                    outcome
                        .histogram
                        .saturating_record(now.saturating_sub(sent));
                }
                if now < measure_to {
                    next_id += 1;
                    if tx.send(echo_frame(next_id, &pad)).await.is_err() {
                        outcome.errors += 1;
                        return outcome;
                    }
                    outstanding += 1;
                }
            }
            _ => outcome.errors += 1,
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    outcome
}

/// The open-loop echo: each of N sockets sends one request every N / `rate` seconds (the
/// sockets staggered over that period), never waiting for replies, so queueing in the
/// server shows in the latency instead of slowing the load down. Latency runs from the
/// time a request was due to its reply; requests due in the measured window count.
async fn echo_open(options: &Options, rate: f64) -> Result<Value, Error> {
    let targets = targets(options)?;
    let sockets = open_all(options, &targets, options.connections, None).await?;
    let n = sockets.len().max(1);
    let period_ns = (n as f64 / rate * 1e9) as u64;
    let pad = Arc::new(pad(options));
    let start = now_ns() + 50_000_000;
    let measure_from = start + options.warmup.as_nanos() as u64;
    let measure_to = measure_from + options.duration.as_nanos() as u64;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let plan = OpenPlan {
                first_ns: start + period_ns * i as u64 / n as u64,
                period_ns,
                measure_from,
                measure_to,
                pad: Arc::clone(&pad),
            };
            tokio::spawn(echo_open_connection(ws, plan))
        })
        .collect();
    tokio::time::sleep(Duration::from_nanos(measure_from.saturating_sub(now_ns()))).await;
    let cpu = CpuWindow::start(&options.server_pids);
    tokio::time::sleep(Duration::from_nanos(measure_to.saturating_sub(now_ns()))).await;
    let cpu_use = cpu.stop();
    let mut histogram = histogram();
    let (mut completed, mut errors, mut unanswered) = (0, 0, 0);
    for task in tasks {
        let outcome = task.await?;
        completed += outcome.completed;
        errors += outcome.errors;
        unanswered += outcome.unanswered;
        histogram.add(&outcome.histogram)?;
    }
    let mut result = json!({
        "mode": "open",
        "connections": options.connections,
        "rate": rate,
        "payload_bytes": options.payload,
        "seconds": options.duration.as_secs_f64(),
        "requests": completed,
        "errors": errors,
        "unanswered": unanswered,
        "requests_per_s": completed as f64 / options.duration.as_secs_f64().max(1e-9),
        "latency_us": latency_json(&histogram),
    });
    merge(&mut result, cpu_use.json(completed));
    Ok(result)
}

struct OpenPlan {
    first_ns: u64,
    period_ns: u64,
    measure_from: u64,
    measure_to: u64,
    pad: Arc<String>,
}

/// How long the open loop waits for the last replies after the measured window.
const OPEN_DRAIN: Duration = Duration::from_secs(5);

async fn echo_open_connection(ws: Ws, plan: OpenPlan) -> EchoOutcome {
    let mut outcome = EchoOutcome::new();
    let (mut tx, mut rx) = ws.split();
    let mut due = plan.first_ns;
    let mut id = 0u64;
    // Requests due in the measured window and not answered yet.
    let mut waiting = 0u64;
    let drain_until = plan.measure_to + OPEN_DRAIN.as_nanos() as u64;
    loop {
        let now = now_ns();
        if due >= plan.measure_to && (waiting == 0 || now >= drain_until) {
            break;
        }
        let sleep = if due < plan.measure_to {
            Duration::from_nanos(due.saturating_sub(now))
        } else {
            Duration::from_nanos(drain_until.saturating_sub(now))
        };
        tokio::select! {
            biased;
            text = next_text(&mut rx) => {
                let Some(text) = text else {
                    outcome.errors += 1;
                    break;
                };
                let now = now_ns();
                match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
                    Ok(frame) if frame.kind == "bench" && frame.action == "echo" => {
                        let sent = frame.response.map_or(now, |r| r.t);
                        if (plan.measure_from..plan.measure_to).contains(&sent) {
                            waiting -= 1;
                            outcome.completed += 1;
                            outcome.histogram.saturating_record(now.saturating_sub(sent));
                        }
                    }
                    _ => outcome.errors += 1,
                }
            }
            _ = tokio::time::sleep(sleep), if due < plan.measure_to => {
                // Every request that is due by now (a late wake-up sends the backlog).
                let now = now_ns();
                while due <= now && due < plan.measure_to {
                    id += 1;
                    if tx.feed(echo_frame_at(id, &plan.pad, due)).await.is_err() {
                        outcome.errors += 1;
                        return outcome;
                    }
                    if (plan.measure_from..plan.measure_to).contains(&due) {
                        waiting += 1;
                    }
                    due += plan.period_ns;
                }
                if tx.flush().await.is_err() {
                    outcome.errors += 1;
                    return outcome;
                }
            }
            _ = tokio::time::sleep(sleep), if due >= plan.measure_to => {}
        }
    }
    outcome.unanswered = waiting;
    let _ = tx.send(Message::Close(None)).await;
    outcome
}

struct Published {
    published: u64,
    expected: u64,
    errors: u64,
}

struct Received {
    received: u64,
    errors: u64,
    histogram: Histogram<u64>,
}

/// `broadcast` / `cluster`: N subscribers over R rooms on the given URLs (in turn),
/// P publishers (also in turn) at `rate` or as fast as acknowledged; deliveries/s,
/// loss and one-way latency.
pub async fn broadcast(options: &Options) -> Result<Value, Error> {
    let targets = targets(options)?;
    let rooms = options.rooms;
    let subscribers = open_all(options, &targets, options.connections, Some(rooms)).await?;
    let mut room_sizes = vec![0u64; rooms];
    for i in 0..subscribers.len() {
        room_sizes[i % rooms] += 1;
    }
    let publishers = open_all(options, &targets, options.publishers, None).await?;
    if targets.len() > 1 {
        // Let the room subscriptions reach the other instances through the bus.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let received = Arc::new(AtomicU64::new(0));
    let last_delivery = Arc::new(AtomicU64::new(0));
    let listening = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let n = subscribers.len() as u64;
    let sub_tasks: Vec<_> = subscribers
        .into_iter()
        .map(|ws| {
            tokio::spawn(subscriber(
                ws,
                Counters {
                    listening: Arc::clone(&listening),
                    received: Arc::clone(&received),
                    last_delivery: Arc::clone(&last_delivery),
                },
                stop_rx.clone(),
            ))
        })
        .collect();
    // The clock starts once every subscriber task is reading (10 000 first polls take a
    // while on one thread), so the publishers get the whole measured time.
    while listening.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let room_sizes = Arc::new(room_sizes);
    let pad = Arc::new(pad(options));
    let started_ns = now_ns();
    let end_ns = started_ns + options.duration.as_nanos() as u64;
    let cpu = CpuWindow::start(&options.server_pids);
    let p = publishers.len();
    let pub_tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(j, ws)| {
            let plan = PublishPlan {
                index: j,
                publishers: p,
                rate: options.rate.map(|r| r / p as f64),
                in_flight: options.in_flight,
                end_ns,
                room_sizes: Arc::clone(&room_sizes),
                pad: Arc::clone(&pad),
            };
            tokio::spawn(publisher(ws, plan))
        })
        .collect();
    let (mut published, mut expected, mut errors) = (0, 0, 0);
    for task in pub_tasks {
        let outcome = task.await?;
        published += outcome.published;
        expected += outcome.expected;
        errors += outcome.errors;
    }
    // Drain: until every expected delivery arrived, or nothing arrived for a second.
    let mut last_seen = received.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while last_seen < expected && quiet_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last_seen {
            last_seen = now;
            quiet_since = Instant::now();
        }
    }
    let cpu_use = cpu.stop();
    let _ = stop_tx.send(true);
    let mut histogram = histogram();
    let mut deliveries = 0;
    for task in sub_tasks {
        let outcome = task.await?;
        deliveries += outcome.received;
        errors += outcome.errors;
        histogram.add(&outcome.histogram)?;
    }
    let last = last_delivery.load(Ordering::Relaxed).max(end_ns);
    let seconds = (last - started_ns) as f64 / 1e9;
    let lost = expected.saturating_sub(deliveries);
    let mut result = json!({
        "urls": options.urls.len(),
        "subscribers": options.connections,
        "rooms": rooms,
        "publishers": p,
        "target_rate": options.rate,
        "in_flight": options.in_flight,
        "payload_bytes": options.payload,
        "seconds": seconds,
        "published": published,
        "publish_per_s": published as f64 / options.duration.as_secs_f64().max(1e-9),
        "expected_deliveries": expected,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries as f64 / seconds.max(1e-9),
        "lost": lost,
        "loss": if expected > 0 { lost as f64 / expected as f64 } else { 0.0 },
        "errors": errors,
        "latency_us": latency_json(&histogram),
    });
    merge(&mut result, cpu_use.json(deliveries));
    Ok(result)
}

/// Progress shared by the subscriber tasks.
struct Counters {
    /// Subscribers whose task has started reading.
    listening: Arc<AtomicU64>,
    /// Deliveries so far, all subscribers.
    received: Arc<AtomicU64>,
    /// [`now_ns`] of the latest delivery.
    last_delivery: Arc<AtomicU64>,
}

async fn subscriber(ws: Ws, counters: Counters, mut stop: watch::Receiver<bool>) -> Received {
    let Counters {
        listening,
        received,
        last_delivery,
    } = counters;
    let mut outcome = Received {
        received: 0,
        errors: 0,
        histogram: histogram(),
    };
    let (mut tx, mut rx) = ws.split();
    listening.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            text = next_text(&mut rx) => {
                let Some(text) = text else {
                    outcome.errors += 1;
                    break;
                };
                let now = now_ns();
                match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
                    Ok(frame) if frame.action == "message" => {
                        outcome.received += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                        last_delivery.fetch_max(now, Ordering::Relaxed);
                        let sent = frame.data.map_or(now, |d| d.t);
                        outcome.histogram.saturating_record(now.saturating_sub(sent));
                    }
                    _ => outcome.errors += 1,
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    outcome
}

struct PublishPlan {
    index: usize,
    publishers: usize,
    /// Messages/s for this publisher; `None`: as fast as acknowledged.
    rate: Option<f64>,
    in_flight: usize,
    end_ns: u64,
    room_sizes: Arc<Vec<u64>>,
    pad: Arc<String>,
}

async fn publisher(ws: Ws, plan: PublishPlan) -> Published {
    let mut outcome = Published {
        published: 0,
        expected: 0,
        errors: 0,
    };
    let rooms = plan.room_sizes.len();
    let (mut tx, mut rx) = ws.split();
    // Publisher j sends to rooms j, j + P, j + 2P, ... (mod R): all rooms get traffic.
    let mut seq = 0usize;
    let mut next = |outcome: &mut Published| {
        let room = (plan.index + seq * plan.publishers) % rooms;
        seq += 1;
        outcome.published += 1;
        outcome.expected += plan.room_sizes[room];
        broadcast_frame(seq as u64, &room_name(room), &plan.pad)
    };
    match plan.rate {
        None => {
            if !feed_all(&mut tx, (0..plan.in_flight).map(|_| next(&mut outcome))).await {
                outcome.errors += 1;
                return outcome;
            }
            let mut outstanding = plan.in_flight;
            while outstanding > 0 {
                let Some(text) = next_text(&mut rx).await else {
                    outcome.errors += 1;
                    return outcome;
                };
                match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
                    Ok(frame) if frame.action == "broadcast" => {}
                    _ => {
                        outcome.errors += 1;
                        continue;
                    }
                }
                outstanding -= 1;
                if now_ns() < plan.end_ns {
                    if tx.send(next(&mut outcome)).await.is_err() {
                        outcome.errors += 1;
                        return outcome;
                    }
                    outstanding += 1;
                }
            }
        }
        Some(rate) => {
            // Credit-based pacing on a 1 ms tick: bursts stay small, the average exact.
            let started = now_ns();
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut sent = 0u64;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let now = now_ns();
                        if now >= plan.end_ns {
                            break;
                        }
                        let due = ((now - started) as f64 / 1e9 * rate) as u64;
                        if !feed_all(&mut tx, (sent..due).map(|_| next(&mut outcome))).await {
                            outcome.errors += 1;
                            return outcome;
                        }
                        sent = sent.max(due);
                    }
                    text = next_text(&mut rx) => {
                        let Some(text) = text else {
                            outcome.errors += 1;
                            return outcome;
                        };
                        if !matches!(
                            serde_json::from_str::<Incoming<'_>>(text.as_str()),
                            Ok(frame) if frame.action == "broadcast"
                        ) {
                            outcome.errors += 1;
                        }
                    }
                }
            }
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    outcome
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Feeds every frame, then flushes once; `false` at the first write error.
async fn feed_all<S: futures_util::Sink<Message> + Unpin>(
    tx: &mut S,
    frames: impl IntoIterator<Item = Message>,
) -> bool {
    for frame in frames {
        if tx.feed(frame).await.is_err() {
            return false;
        }
    }
    tx.flush().await.is_ok()
}

/// The room the `recover` scenario publishes to and rejoins.
const RECOVER_ROOM: &str = "recover";

/// `recover`: the time a client takes to get `--missed` messages back when it rejoins a
/// history room (the server runs with `PXL_WS_HISTORY_SIZE` ≥ that). Per recovery: a
/// publisher on the first URL sends the messages (closed loop, `-k` in flight); a member
/// of the room on the last URL reads them live, so the stream holds them all; then a
/// client on the last URL sends `system/joinRoom {since}` one `--missed` behind, and the
/// time runs from that request to the reply with every one of them in `stream.missed`
/// (checked: `recovered`, the count and the first and last offsets), then it leaves.
/// With two URLs over Redis the recovery is read on another instance than the one that
/// published. The server's CPU is summed over the join windows only.
pub async fn recover(options: &Options) -> Result<Value, Error> {
    let targets = targets(options)?;
    let whole = CpuWindow::start(&options.server_pids);
    let first = &targets[0];
    let last = &targets[targets.len() - 1];
    let mut publisher = open(first, None).await?;
    let mut watcher = open(last, None).await?;
    let mut rejoiner = open(last, None).await?;
    let missed = options.missed as u64;
    let (mut offset, epoch) = join_stream(&mut watcher, &join_frame(RECOVER_ROOM, None)).await?;
    if targets.len() > 1 {
        // Let the watcher's room subscription reach the publisher's instance.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pad = pad(options);
    let mut histogram = histogram();
    let mut reply_bytes = 0u64;
    let mut cpu_s = 0.0;
    let mut wait_s = 0.0;
    let mut window_s = 0.0;
    for _ in 0..options.recoveries {
        publish_n(&mut publisher, missed, options.in_flight, &pad).await?;
        // The member's copies prove the stream holds them all (Redis appends off the
        // reply's path).
        offset = read_live_until(&mut watcher, offset + missed).await?;
        let since = (offset - missed, epoch.as_str());
        let cpu = CpuTime::start(&options.server_pids);
        let started = Instant::now();
        let reply = request(
            &mut rejoiner,
            join_frame(RECOVER_ROOM, Some(since)),
            "joinRoom",
        )
        .await?;
        let took = started.elapsed();
        let (cpu_used, waited) = cpu.stop();
        cpu_s += cpu_used;
        wait_s += waited;
        window_s += took.as_secs_f64();
        histogram.saturating_record(took.as_nanos() as u64);
        reply_bytes += reply.len() as u64;
        check_recovery(&reply, offset - missed, offset)?;
        request(&mut rejoiner, leave_frame(RECOVER_ROOM), "leaveRoom").await?;
    }
    for ws in [&mut publisher, &mut watcher, &mut rejoiner] {
        let _ = ws.close(None).await;
    }
    let n = options.recoveries.max(1) as f64;
    let mut result = json!({
        "urls": options.urls.len(),
        "missed": missed,
        "recoveries": options.recoveries,
        "payload_bytes": options.payload,
        "reply_bytes": reply_bytes as f64 / n,
        "recover_ms": {
            "samples": histogram.len(),
            "p50": histogram.value_at_quantile(0.5) as f64 / 1e6,
            "p99": histogram.value_at_quantile(0.99) as f64 / 1e6,
            "max": histogram.max() as f64 / 1e6,
        },
        "server_cpu_s": cpu_s,
        "server_cpu_us_per_recovery": cpu_s * 1e6 / n,
        "server_cpu_ns_per_missed": cpu_s * 1e9 / (n * missed.max(1) as f64),
        "server_runq_wait_util": wait_s / window_s.max(1e-9),
    });
    // The load generator's own use, over the whole run.
    if let Value::Object(whole) = whole.stop().json(0) {
        for (k, v) in whole {
            if k.starts_with("loadgen_") {
                result[k] = v;
            }
        }
    }
    Ok(result)
}

/// Server CPU and run-queue wait over a short window, in nanoseconds
/// (`/proc/PID/task/*/schedstat`: `/proc/PID/stat`'s 10 ms ticks are too coarse for
/// one join).
struct CpuTime {
    pids: Vec<u32>,
    start: (f64, f64),
}

impl CpuTime {
    fn start(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            start: crate::procstat::schedstat_seconds(pids),
        }
    }

    /// (CPU seconds, seconds waiting for a CPU) since `start`.
    fn stop(&self) -> (f64, f64) {
        let (run, wait) = crate::procstat::schedstat_seconds(&self.pids);
        (run - self.start.0, wait - self.start.1)
    }
}

/// `system/joinRoom` of `room`, resuming after `since` (offset, epoch) if given.
fn join_frame(room: &str, since: Option<(u64, &str)>) -> Message {
    let mut data = json!({ "roomName": room });
    if let Some((offset, epoch)) = since {
        data["since"] = json!({ "offset": offset, "epoch": epoch });
    }
    Message::text(
        json!({"type": "system", "action": "joinRoom", "data": data, "id": "join"}).to_string(),
    )
}

fn leave_frame(room: &str) -> Message {
    Message::text(
        json!({"type": "system", "action": "leaveRoom", "data": {"roomName": room}, "id": "leave"})
            .to_string(),
    )
}

/// Sends `frame` and returns the reply of route `system/<action>`, skipping other
/// frames; an error frame fails.
async fn request(ws: &mut Ws, frame: Message, action: &str) -> Result<Utf8Bytes, Error> {
    ws.send(frame).await?;
    while let Some(text) = next_text(ws).await {
        let frame: Incoming<'_> = serde_json::from_str(text.as_str())?;
        if frame.kind == "error" {
            return Err(format!("system/{action} failed: {text}").into());
        }
        if frame.kind == "system" && frame.action == action {
            return Ok(text);
        }
    }
    Err(format!("socket closed before the system/{action} reply").into())
}

/// Joins with `frame`; the room's (offset, epoch) from the reply's `stream`.
async fn join_stream(ws: &mut Ws, frame: &Message) -> Result<(u64, String), Error> {
    let reply = request(ws, frame.clone(), "joinRoom").await?;
    let v: Value = serde_json::from_str(reply.as_str())?;
    let stream = &v["response"]["data"]["stream"];
    match (stream["offset"].as_u64(), stream["epoch"].as_str()) {
        (Some(offset), Some(epoch)) => Ok((offset, epoch.to_owned())),
        _ => Err(format!(
            "the join reply has no stream position: is the server's history on \
             (PXL_WS_HISTORY_SIZE)? {reply}"
        )
        .into()),
    }
}

/// Publishes `n` messages to the recover room, `in_flight` at a time, and waits for every
/// acknowledgement.
async fn publish_n(ws: &mut Ws, n: u64, in_flight: usize, pad: &str) -> Result<(), Error> {
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < n {
        let more = (in_flight as u64)
            .min(n - sent)
            .saturating_sub(sent - acked);
        let frames = (0..more).map(|i| broadcast_frame(sent + i, RECOVER_ROOM, pad));
        if !feed_all(ws, frames).await {
            return Err("publisher: write failed".into());
        }
        sent += more;
        let Some(text) = next_text(ws).await else {
            return Err("publisher: socket closed".into());
        };
        match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
            Ok(frame) if frame.kind == "bench" && frame.action == "broadcast" => acked += 1,
            _ => return Err(format!("publisher: unexpected frame {text}").into()),
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct StreamTag {
    offset: u64,
}

#[derive(serde::Deserialize)]
struct Stamped {
    stream: Option<StreamTag>,
}

/// Reads the member's live frames until one at `offset` (or later) arrived; its offset.
async fn read_live_until(ws: &mut Ws, offset: u64) -> Result<u64, Error> {
    let deadline = Duration::from_secs(30);
    loop {
        let text = tokio::time::timeout(deadline, next_text(ws))
            .await
            .map_err(|_| format!("no live frame at offset {offset} within {deadline:?}"))?
            .ok_or("member: socket closed")?;
        let frame: Stamped = serde_json::from_str(text.as_str())?;
        match frame.stream {
            Some(s) if s.offset >= offset => return Ok(s.offset),
            Some(_) => {}
            None => return Err(format!("member: a frame without `stream`: {text}").into()),
        }
    }
}

/// Checks a rejoin reply: recovered, and `missed` holds exactly the offsets after
/// `since` up to `last`, in order.
fn check_recovery(reply: &str, since: u64, last: u64) -> Result<(), Error> {
    let v: Value = serde_json::from_str(reply)?;
    let stream = &v["response"]["data"]["stream"];
    let offsets: Vec<u64> = stream["missed"]
        .as_array()
        .ok_or_else(|| format!("no stream.missed in {reply:.200}"))?
        .iter()
        .filter_map(|f| f["stream"]["offset"].as_u64())
        .collect();
    let want: Vec<u64> = (since + 1..=last).collect();
    if stream["recovered"] != true || offsets != want {
        return Err(format!(
            "recovery after {since}: recovered {}, {} frames ({:?}..{:?}); expected {} ({}..={last})",
            stream["recovered"],
            offsets.len(),
            offsets.first(),
            offsets.last(),
            want.len(),
            since + 1,
        )
        .into());
    }
    Ok(())
}
