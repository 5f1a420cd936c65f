//! Room history over Redis: a client resumes on another instance, concurrent publishers
//! on two instances give every member one order (the stream's), a Redis restart without
//! persistence gives a new epoch (`recovered: false`, never a silent hole), and the
//! history TTL expires messages in Redis too. Resuming and the one order also run on a
//! three-master Redis Cluster (the append script's keys and channel share a slot).

use std::collections::BTreeMap;
use std::time::Duration;

use pxl_ws::health::HealthStatus;
use pxl_ws::{Frame, Server, Target, WsConfig};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::history::{self, offsets};
use pxl_ws_tests::record::Recorder;
use pxl_ws_tests::{
    RedisCluster, RedisServer, TestClient, TestServer, WAIT, eventually, eventually_async, room_len,
};
use serde_json::{Value, json};

const TTL: Duration = Duration::from_secs(30);

fn config(redis: &RedisServer, prefix: &str, size: usize) -> WsConfig {
    config_for(&redis.url(), prefix, size)
}

/// [`config`] for a URL (a Redis Cluster's seed list when it holds commas).
fn config_for(url: &str, prefix: &str, size: usize) -> WsConfig {
    let mut c = cluster_config(url, prefix, TTL);
    c.rooms.history.size = size;
    c.limits.outbound.queue_bytes = 16 * 1024 * 1024;
    c
}

fn send(server: &Server, room: &str, from: &str, seq: u64) {
    let f = Frame::new("chat", "message", &json!({ "from": from, "seq": seq })).unwrap();
    server.send(&Target::room(room), &f);
}

/// Joins with `extra` (`since`, `history`) and returns the reply's `stream`.
async fn join_with(c: &mut TestClient, room: &str, extra: Value) -> Value {
    history::join_with(c, room, extra).await["data"]["stream"].clone()
}

/// Waits until both instances see `n` members in `room` (so both subscriptions are live).
async fn members(a: &TestServer, b: &TestServer, room: &str, n: usize) {
    eventually_async("both instances see every member", async || {
        room_len(&a.handle, room).await == n && room_len(&b.handle, room).await == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_instance() {
    let redis = RedisServer::start().await;
    resumes_on_another_instance(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_instance_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    resumes_on_another_instance(&redis.url()).await;
}

async fn resumes_on_another_instance(url: &str) {
    let a = TestServer::start(probe_builder(config_for(url, "h-resume", 100))).await;
    let b = TestServer::start(probe_builder(config_for(url, "h-resume", 100))).await;
    let mut carol = a.connect().await;
    let first = join_with(&mut carol, "lobby", json!({})).await;
    assert_eq!(first["recovered"], true);
    let epoch = first["epoch"].as_str().unwrap().to_owned();
    let mut bob = a.connect().await;
    join_with(&mut bob, "lobby", json!({})).await;
    members(&a, &b, "lobby", 2).await;
    send(&b.handle, "lobby", "b", 1);
    send(&a.handle, "lobby", "a", 2);
    let got = [bob.recv().await, bob.recv().await];
    assert_eq!(offsets(&got), [1, 2]);
    assert_eq!(got[0]["stream"]["epoch"], epoch.as_str());
    bob.close().await;
    members(&a, &b, "lobby", 1).await;
    for seq in 3..=5 {
        send(&a.handle, "lobby", "a", seq);
        send(&b.handle, "lobby", "b", seq);
    }
    let mut live = Vec::new();
    for _ in 0..8 {
        live.push(carol.recv().await);
    }
    assert_eq!(offsets(&live), (1..=8).collect::<Vec<_>>(), "one order");

    // Bob comes back on the other instance.
    let mut bob = b.connect().await;
    let s = join_with(
        &mut bob,
        "lobby",
        json!({"since": {"offset": 2, "epoch": epoch}}),
    )
    .await;
    assert_eq!(s["recovered"], true, "{s}");
    assert_eq!(s["offset"], 8);
    assert_eq!(
        s["missed"],
        json!(live[2..]),
        "exactly the frames carol saw live"
    );
    members(&a, &b, "lobby", 2).await;
    send(&a.handle, "lobby", "a", 9);
    let next = bob.recv().await;
    assert_eq!(
        next["stream"]["offset"], 9,
        "live again, nothing twice: {next}"
    );
    assert_eq!(carol.recv().await["stream"]["offset"], 9);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_two_instances_give_every_member_the_streams_order() {
    let redis = RedisServer::start().await;
    streams_order(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_give_the_streams_order_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    streams_order(&redis.url()).await;
}

async fn streams_order(url: &str) {
    const N: u64 = 300;
    let a = TestServer::start(probe_builder(config_for(url, "h-order", 10_000))).await;
    let b = TestServer::start(probe_builder(config_for(url, "h-order", 10_000))).await;
    let mut recorders = Vec::new();
    for s in [&a, &b, &a, &b] {
        let mut c = s.connect().await;
        join_with(&mut c, "room", json!({})).await;
        recorders.push(Recorder::start(c));
    }
    members(&a, &b, "room", 4).await;
    let (ha, hb) = (a.handle.clone(), b.handle.clone());
    let ta = tokio::spawn(async move {
        for seq in 0..N {
            send(&ha, "room", "a", seq);
            tokio::task::yield_now().await;
        }
    });
    let tb = tokio::spawn(async move {
        for seq in 0..N {
            send(&hb, "room", "b", seq);
            tokio::task::yield_now().await;
        }
    });
    ta.await.unwrap();
    tb.await.unwrap();
    for r in &recorders {
        r.wait_for("every frame", Duration::from_secs(20), |f| {
            f.len() as u64 == 2 * N
        })
        .await;
    }
    let seqs = |frames: &[Value]| -> Vec<(u64, String, u64)> {
        frames
            .iter()
            .map(|f| {
                (
                    f["stream"]["offset"].as_u64().unwrap(),
                    f["data"]["from"].as_str().unwrap().to_owned(),
                    f["data"]["seq"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let first = seqs(&recorders[0].frames());
    assert_eq!(
        first.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=2 * N).collect::<Vec<_>>(),
        "delivered in offset order, no gap"
    );
    for r in &recorders[1..] {
        assert_eq!(seqs(&r.frames()), first, "every member, one order");
    }
    // Each publisher's own sends keep their order within the stream.
    let mut per: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, from, seq) in &first {
        per.entry(from.clone()).or_default().push(*seq);
    }
    assert_eq!(per["a"], (0..N).collect::<Vec<_>>());
    assert_eq!(per["b"], (0..N).collect::<Vec<_>>());
    // The stream itself holds the same order.
    let mut reader = b.connect().await;
    let s = join_with(&mut reader, "room", json!({"history": 2 * N})).await;
    let stream: Vec<Value> = s["missed"].as_array().unwrap().clone();
    assert_eq!(
        seqs(&stream),
        first,
        "the stream's order is the delivery order"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_without_persistence_gives_a_new_epoch() {
    let mut redis = RedisServer::start().await;
    let a = TestServer::start(probe_builder(config(&redis, "h-epoch", 100))).await;
    let b = TestServer::start(probe_builder(config(&redis, "h-epoch", 100))).await;
    let mut carol = a.connect().await;
    let epoch = join_with(&mut carol, "r", json!({})).await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut other = b.connect().await;
    join_with(&mut other, "r", json!({})).await;
    members(&a, &b, "r", 2).await;
    for seq in 1..=3 {
        send(&a.handle, "r", "a", seq);
    }
    for _ in 0..3 {
        carol.recv().await;
    }
    redis.restart().await;
    eventually("the instances are back on redis", || {
        [&a, &b]
            .iter()
            .all(|s| s.handle.health().status == HealthStatus::Ok)
    })
    .await;
    members(&a, &b, "r", 2).await;
    // A send after the restart starts a new stream; resuming from the old one is refused
    // loudly, never a silent hole.
    let new_epoch = loop {
        send(&b.handle, "r", "b", 4);
        let f = carol.recv().await;
        if let Some(e) = f["stream"]["epoch"].as_str() {
            break e.to_owned();
        }
        // Sent while the bus was still reconnecting: delivered locally only, unstamped.
    };
    assert_ne!(new_epoch, epoch);
    let mut late = b.connect().await;
    let s = join_with(
        &mut late,
        "r",
        json!({"since": {"offset": 3, "epoch": epoch}}),
    )
    .await;
    assert_eq!(s["recovered"], false, "{s}");
    assert_eq!(s["epoch"], new_epoch.as_str());
    assert!(s["offset"].as_u64().unwrap() >= 1);
    // The same after FLUSHALL.
    flushall(&redis).await;
    let mut later = a.connect().await;
    let s2 = join_with(
        &mut later,
        "r",
        json!({"since": {"offset": 1, "epoch": new_epoch}}),
    )
    .await;
    assert_eq!(s2["recovered"], false, "{s2}");
    assert_ne!(s2["epoch"], new_epoch.as_str());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn history_ttl_expires_messages_in_redis() {
    let redis = RedisServer::start().await;
    let mut cfg = config(&redis, "h-ttl", 100);
    cfg.rooms.history.ttl = Some(Duration::from_millis(300));
    let a = TestServer::start(probe_builder(cfg.clone())).await;
    let b = TestServer::start(probe_builder(cfg)).await;
    let mut c = a.connect().await;
    let epoch = join_with(&mut c, "r", json!({})).await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut d = b.connect().await;
    join_with(&mut d, "r", json!({})).await;
    members(&a, &b, "r", 2).await;
    send(&a.handle, "r", "a", 1);
    assert_eq!(c.recv().await["stream"]["offset"], 1);
    let mut e = b.connect().await;
    let s = join_with(&mut e, "r", json!({"history": 10})).await;
    assert_eq!(offsets(s["missed"].as_array().unwrap()), [1]);
    // Time must pass for a TTL to lapse: nothing to await but the clock.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut f = b.connect().await;
    let s = join_with(&mut f, "r", json!({"since": {"offset": 0, "epoch": epoch}})).await;
    assert_eq!(s["recovered"], false, "{s}");
    assert_eq!(s["missed"], json!([]));
    a.stop().await;
    b.stop().await;
    let _ = WAIT;
}

/// `FLUSHALL` over a plain socket.
async fn flushall(redis: &RedisServer) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", redis.port()))
        .await
        .unwrap();
    s.write_all(b"FLUSHALL\r\n").await.unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"+OK\r\n");
}
