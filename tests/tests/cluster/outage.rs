//! Redis killed and restarted mid-traffic: local delivery never stops, health shows the
//! bus degraded meanwhile, cross-instance delivery resumes by itself once Redis is back,
//! the views resync, and nobody gets a message twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pxl_ws::{Frame, HealthStatus, Server};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{RedisServer, TestClient, TestServer, eventually};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Seqs sent by the second instance start here.
const S2: u64 = 1_000_000;

type Seen = Arc<Mutex<Vec<u64>>>;

/// Records the `seq` of every `t/msg` frame the client receives.
fn collect(c: TestClient) -> Seen {
    let seen: Seen = Arc::default();
    let out = seen.clone();
    tokio::spawn(async move {
        let mut ws = c.into_inner();
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["action"] == "msg" {
                    out.lock().unwrap().push(v["data"]["seq"].as_u64().unwrap());
                }
            }
        }
    });
    seen
}

/// Sends `t/msg {seq}` to "room" every 5 ms, counting from `first`; returns the next seq.
fn traffic(
    server: Server,
    first: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut seq = first;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let f = Frame::new("t", "msg", &json!({ "seq": seq })).unwrap();
            server.send_to_room("room", &f, None);
            seq += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seq
    })
}

fn has(seen: &Seen, pred: impl Fn(u64) -> bool) -> bool {
    seen.lock().unwrap().iter().any(|s| pred(*s))
}

/// From one sender: strictly increasing (no duplicates, no reordering).
fn increasing(seen: &[u64]) -> bool {
    seen.windows(2).all(|w| w[0] < w[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_traffic_keeps_local_delivery_and_resumes_without_duplicates() {
    let mut redis = RedisServer::start();
    let config = cluster_config(&redis.url(), "outage", Duration::from_secs(5));
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut a = s1.connect().await;
    a.join("room").await;
    let mut b = s2.connect().await;
    b.join("room").await;
    let (a_id, b_id) = (a.id.parse().unwrap(), b.id.parse().unwrap());
    eventually("both instances see both members", || {
        [&s1, &s2]
            .iter()
            .all(|s| s.handle.rooms().get("room").is_some_and(|m| m.len() == 2))
    })
    .await;
    assert_eq!(s1.handle.health().status, HealthStatus::Ok);
    let (on1, on2) = (collect(a), collect(b));

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t1 = traffic(s1.handle.clone(), 0, stop.clone());
    let t2 = traffic(s2.handle.clone(), S2, stop.clone());

    // Cross-instance traffic flows both ways before the outage.
    eventually("cross-instance delivery before the outage", || {
        has(&on2, |s| (20..S2).contains(&s)) && has(&on1, |s| s >= S2 + 20)
    })
    .await;

    redis.kill();
    let killed = Instant::now();
    eventually("health shows the bus degraded", || {
        s1.handle.health().status == HealthStatus::Degraded
            && s2.handle.health().status == HealthStatus::Degraded
    })
    .await;
    let local_before = on1.lock().unwrap().iter().filter(|s| **s < S2).count();
    // A client that arrives during the outage, known only to its own instance for now.
    let mut late = s2.connect().await;
    late.join("room").await;
    let late_id = late.id.parse().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Local delivery went on throughout.
    let local_during = on1.lock().unwrap().iter().filter(|s| **s < S2).count();
    assert!(
        local_during > local_before + 50,
        "local delivery stalled during the outage: {local_before} -> {local_during}"
    );
    let sent_before_restart = (
        on1.lock()
            .unwrap()
            .iter()
            .filter(|s| **s < S2)
            .max()
            .copied()
            .unwrap(),
        on2.lock()
            .unwrap()
            .iter()
            .filter(|s| **s >= S2)
            .max()
            .copied()
            .unwrap(),
    );

    redis.restart();
    let restarted = Instant::now();
    // Cross-instance delivery resumes by itself, both ways.
    let deadline = Duration::from_secs(10);
    while !(has(&on2, |s| s < S2 && s > sent_before_restart.0)
        && has(&on1, |s| s >= S2 && s > sent_before_restart.1))
    {
        assert!(
            restarted.elapsed() < deadline,
            "cross-instance delivery did not resume within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed_after = restarted.elapsed();
    eventually("health is ok again", || {
        s1.handle.health().status == HealthStatus::Ok
            && s2.handle.health().status == HealthStatus::Ok
    })
    .await;
    // The views resynced: instance 1 now knows the client that joined during the outage.
    eventually("views resync after the outage", || {
        s1.handle
            .rooms()
            .get("room")
            .is_some_and(|m| m.len() == 3 && m.contains(&late_id) && m.contains(&b_id))
            && s2
                .handle
                .rooms()
                .get("room")
                .is_some_and(|m| m.contains(&a_id))
    })
    .await;
    // And sends from instance 1 reach it.
    let late_seen = collect(late);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (n1, n2) = (t1.await.unwrap(), t2.await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let on1 = on1.lock().unwrap().clone();
    let on2 = on2.lock().unwrap().clone();
    let (local1, remote2): (Vec<u64>, Vec<u64>) = on1.iter().partition(|s| **s < S2);
    let (remote1, local2): (Vec<u64>, Vec<u64>) = on2.iter().partition(|s| **s < S2);
    // Local members got every local send, exactly once and in order, outage or not.
    assert_eq!(
        local1,
        (0..n1).collect::<Vec<_>>(),
        "instance 1's local deliveries"
    );
    assert_eq!(
        local2,
        (S2..n2).collect::<Vec<_>>(),
        "instance 2's local deliveries"
    );
    // Remote members: no duplicates, order kept; some sends lost during the outage.
    assert!(
        increasing(&remote1),
        "duplicates or reordering on instance 2"
    );
    assert!(
        increasing(&remote2),
        "duplicates or reordering on instance 1"
    );
    let lost = (n1 as usize - remote1.len()) + ((n2 - S2) as usize - remote2.len());
    assert!(
        has(&late_seen, |s| s < S2),
        "the late client gets instance 1's sends"
    );
    // Publishes during the outage were dropped at once and counted, not held.
    assert!(s1.handle.health().bus.dropped > 0);
    assert!(s2.handle.health().bus.dropped > 0);
    let late_seen = late_seen.lock().unwrap().clone();
    let late_from_1: Vec<u64> = late_seen.iter().copied().filter(|s| *s < S2).collect();
    assert!(increasing(&late_from_1));
    eprintln!(
        "sent {} + {}, lost across the outage {lost}, outage {:?}, resumed {resumed_after:?} after restart; dropped counters {} / {}",
        n1,
        n2 - S2,
        restarted - killed,
        s1.handle.health().bus.dropped,
        s2.handle.health().bus.dropped,
    );
    s1.stop().await;
    s2.stop().await;
}

#[tokio::test]
async fn an_instance_started_while_redis_is_down_serves_locally_and_joins_when_it_returns() {
    let mut redis = RedisServer::start();
    let config = cluster_config(&redis.url(), "late-redis", Duration::from_secs(5));
    redis.kill();
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let mut a = s1.connect().await;
    a.join("room").await;
    let mut a2 = s1.connect().await;
    a2.join("room").await;
    assert_eq!(s1.handle.health().status, HealthStatus::Degraded);
    // Local sends work without Redis.
    let f = Frame::new("t", "msg", &json!({ "seq": 1 })).unwrap();
    assert_eq!(s1.handle.send_to_room("room", &f, None), 2);
    assert_eq!(a.recv().await["data"]["seq"], 1);
    assert_eq!(a2.recv().await["data"]["seq"], 1);

    redis.restart();
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut b = s2.connect().await;
    b.join("room").await;
    eventually(
        "both instances see all three members once Redis is up",
        || {
            s1.handle.health().status == HealthStatus::Ok
                && [&s1, &s2]
                    .iter()
                    .all(|s| s.handle.rooms().get("room").is_some_and(|m| m.len() == 3))
        },
    )
    .await;
    let f = Frame::new("t", "msg", &json!({ "seq": 2 })).unwrap();
    assert_eq!(s1.handle.send_to_room("room", &f, None), 2);
    assert_eq!(b.recv().await["data"]["seq"], 2);
    for c in [&mut a, &mut a2] {
        assert_eq!(c.recv().await["data"]["seq"], 2);
    }
    b.assert_silent(Duration::from_millis(200)).await;
    drop((a, a2, b));
    s1.stop().await;
    s2.stop().await;
}
