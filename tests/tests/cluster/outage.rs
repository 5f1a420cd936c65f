//! Redis killed and restarted: local delivery never stops, health shows the bus
//! degraded meanwhile, what is sent during the outage is dropped at once and counted
//! (never delivered late), cross-instance delivery resumes by itself once Redis is back,
//! the views resync, and nobody gets a message twice or out of order.

use std::time::Duration;

use pxl_ws::{Frame, Server, health::HealthStatus};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::record::Recorder;
use pxl_ws_tests::{RedisServer, TestServer, WAIT, eventually, eventually_async, room_len};
use serde_json::json;

/// Seqs sent by the second instance start here.
const S2: u64 = 1_000_000;
/// Sends per instance in each phase: before, during and after the outage.
const N: u64 = 100;
/// Far longer than the test: no liveness heartbeat is published (and dropped) during
/// the outage, so the drop counters count the test's sends only.
const TTL: Duration = Duration::from_secs(120);

/// Sends `t/msg {seq}` to "room" for every seq in `seqs`.
fn send(server: &Server, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let f = Frame::new("t", "msg", &json!({ "seq": seq })).unwrap();
        server.send_to_room("room", &f, None);
    }
}

/// Waits until `rec` has seen `seq`.
async fn wait_seq(rec: &Recorder, seq: u64, what: &str) {
    rec.wait_for(what, WAIT, |f| {
        f.iter().any(|f| f["data"]["seq"].as_u64() == Some(seq))
    })
    .await;
}

fn range(r: std::ops::Range<u64>) -> Vec<u64> {
    r.collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_drops_and_counts_its_sends_keeps_local_delivery_and_resumes_in_order() {
    let mut redis = RedisServer::start().await;
    let config = cluster_config(&redis.url(), "outage", TTL);
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut a = s1.connect().await;
    a.join("room").await;
    let mut b = s2.connect().await;
    b.join("room").await;
    let (a_id, b_id) = (a.id.parse().unwrap(), b.id.parse().unwrap());
    eventually_async("both instances see both members", async || {
        room_len(&s1.handle, "room").await == 2 && room_len(&s2.handle, "room").await == 2
    })
    .await;
    assert_eq!(s1.handle.health().status, HealthStatus::Ok);
    let (on1, on2) = (Recorder::start(a), Recorder::start(b));

    // Before: cross-instance traffic flows both ways.
    send(&s1.handle, 0..N);
    send(&s2.handle, S2..S2 + N);
    wait_seq(&on2, N - 1, "instance 1's sends reach instance 2").await;
    wait_seq(&on1, S2 + N - 1, "instance 2's sends reach instance 1").await;
    let dropped = (
        s1.handle.health().bus.dropped,
        s2.handle.health().bus.dropped,
    );
    assert_eq!(dropped, (0, 0));

    // During: Redis is gone.
    redis.kill();
    eventually("health shows the bus degraded", || {
        s1.handle.health().status == HealthStatus::Degraded
            && s2.handle.health().status == HealthStatus::Degraded
    })
    .await;
    send(&s1.handle, N..2 * N);
    send(&s2.handle, S2 + N..S2 + 2 * N);
    // Local delivery goes on...
    wait_seq(
        &on1,
        2 * N - 1,
        "local delivery on instance 1 during the outage",
    )
    .await;
    wait_seq(
        &on2,
        S2 + 2 * N - 1,
        "local delivery on instance 2 during the outage",
    )
    .await;
    // ...and every publish is dropped at once and counted, not held.
    eventually("every send of the outage is counted as dropped", || {
        s1.handle.health().bus.dropped >= N && s2.handle.health().bus.dropped >= N
    })
    .await;
    assert_eq!(s1.handle.health().bus.dropped, N);
    assert_eq!(s2.handle.health().bus.dropped, N);
    // A client that arrives during the outage, known only to its own instance for now.
    let mut late = s2.connect().await;
    late.join("room").await;
    let late_id = late.id.parse().unwrap();

    // After: Redis is back; the instances reconnect and resync by themselves.
    redis.restart().await;
    eventually("health is ok again", || {
        s1.handle.health().status == HealthStatus::Ok
            && s2.handle.health().status == HealthStatus::Ok
    })
    .await;
    eventually_async("the directories resync after the outage", async || {
        let on1 = s1.handle.directory().room_members("room").await;
        let on2 = s2.handle.directory().room_members("room").await;
        on1.is_ok_and(|m| m.len() == 3 && m.contains(&late_id) && m.contains(&b_id))
            && on2.is_ok_and(|m| m.contains(&a_id))
    })
    .await;
    let late = Recorder::start(late);
    send(&s1.handle, 2 * N..3 * N);
    send(&s2.handle, S2 + 2 * N..S2 + 3 * N);
    wait_seq(&on2, 3 * N - 1, "instance 1's sends reach instance 2 again").await;
    wait_seq(
        &on1,
        S2 + 3 * N - 1,
        "instance 2's sends reach instance 1 again",
    )
    .await;
    wait_seq(&late, 3 * N - 1, "the late client gets instance 1's sends").await;

    let (seen1, seen2) = (on1.seqs(), on2.seqs());
    let (local1, remote1): (Vec<u64>, Vec<u64>) = seen1.iter().partition(|s| **s < S2);
    let (remote2, local2): (Vec<u64>, Vec<u64>) = seen2.iter().partition(|s| **s < S2);
    // Local members got every local send, exactly once and in order, outage or not.
    assert_eq!(local1, range(0..3 * N), "instance 1's local deliveries");
    assert_eq!(
        local2,
        range(S2..S2 + 3 * N),
        "instance 2's local deliveries"
    );
    // Remote members got everything sent before and after, once and in order, and
    // nothing sent during the outage: it was dropped, not delivered late.
    let mut want = range(S2..S2 + N);
    want.extend(S2 + 2 * N..S2 + 3 * N);
    assert_eq!(remote1, want, "instance 2's sends seen on instance 1");
    let mut want = range(0..N);
    want.extend(2 * N..3 * N);
    assert_eq!(remote2, want, "instance 1's sends seen on instance 2");
    // The late client: instance 1's sends since it resynced, in order.
    let late_from_1: Vec<u64> = late.seqs().into_iter().filter(|s| *s < S2).collect();
    assert_eq!(late_from_1, range(2 * N..3 * N));
    // Nothing more was dropped after the outage.
    assert_eq!(s1.handle.health().bus.dropped, N);
    s1.stop().await;
    s2.stop().await;
}

#[tokio::test]
async fn an_instance_started_while_redis_is_down_serves_locally_and_joins_when_it_returns() {
    let mut redis = RedisServer::start().await;
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

    redis.restart().await;
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut b = s2.connect().await;
    b.join("room").await;
    eventually_async(
        "both instances see all three members once Redis is up",
        async || {
            s1.handle.health().status == HealthStatus::Ok
                && room_len(&s1.handle, "room").await == 3
                && room_len(&s2.handle, "room").await == 3
        },
    )
    .await;
    let f = Frame::new("t", "msg", &json!({ "seq": 2 })).unwrap();
    assert_eq!(s1.handle.send_to_room("room", &f, None), 2);
    assert_eq!(b.recv().await["data"]["seq"], 2);
    for c in [&mut a, &mut a2] {
        assert_eq!(c.recv().await["data"]["seq"], 2);
    }
    // A second send from instance 1 is b's next frame: the first came once.
    let f = Frame::new("t", "msg", &json!({ "seq": 3 })).unwrap();
    assert_eq!(s1.handle.send_to_room("room", &f, None), 2);
    assert_eq!(b.recv().await["data"]["seq"], 3);
    drop((a, a2, b));
    s1.stop().await;
    s2.stop().await;
}

/// The publisher's connection lost while the subscriber's stays up (`CLIENT KILL TYPE
/// normal` leaves pub/sub connections alone): the first publish after it fails and is
/// dropped, never resent (at most once). What it carried — here a join, which no later
/// event repeats — still reaches the other instance: once the publisher has reconnected,
/// the instance resyncs, well before any heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lost_with_the_publishers_connection_is_resynced_once_it_reconnects() {
    let redis = RedisServer::start().await;
    let config = cluster_config(&redis.url(), "publisher-lost", TTL);
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut a = s1.connect().await;
    let id = a.id.parse().unwrap();
    // Each counts itself and the other.
    eventually_async(
        "the two instances see each other and the client",
        async || {
            s1.handle.health().cluster_instances == 2
                && s2.handle.health().cluster_instances == 2
                && s2
                    .handle
                    .directory()
                    .client_ids()
                    .await
                    .is_ok_and(|ids| ids.contains(&id))
        },
    )
    .await;
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    // Each instance's publisher and directory connections.
    assert_eq!(
        killed,
        ["4"],
        "both publishers' and directories' connections killed"
    );
    a.join("room").await;
    eventually_async("the join reaches the other instance", async || {
        s2.handle
            .directory()
            .room_members("room")
            .await
            .is_ok_and(|m| m == [id])
    })
    .await;
    assert_eq!(
        s1.handle.health().bus.dropped,
        1,
        "the join's publish found the connection gone and was dropped, not resent"
    );
    drop(a);
    s1.stop().await;
    s2.stop().await;
}
