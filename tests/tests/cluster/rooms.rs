//! Per-room and per-instance channels: an instance listens on a room's channel only
//! while it has members of the room, and on its own direct channel for sends to its
//! clients and users. Checked against Redis itself (`PUBSUB NUMSUB` / `PUBSUB CHANNELS`)
//! and against each instance's count of bus messages acted on.

use std::time::Duration;

use pxl_ws::{ClientId, Target};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{RedisServer, SlowLink, TestServer, eventually, eventually_async, poll_until};
use serde_json::json;

use super::{msg, next_seq};

const PREFIX: &str = "scale";

fn room_channel(room: &str) -> String {
    format!("{PREFIX}:{{room:{room}}}:send")
}

fn direct_channel(server: &TestServer) -> String {
    format!(
        "{PREFIX}:{{instance:{}}}:direct",
        server.handle.instance_id()
    )
}

/// How many connections Redis has subscribed to `channel`.
fn subscribers(redis: &RedisServer, channel: &str) -> usize {
    let r = redis.command(&["PUBSUB", "NUMSUB", channel]);
    assert_eq!(r[0], channel, "{r:?}");
    r[1].parse().expect("a count")
}

/// Waits until Redis counts `n` subscribers of `channel`.
async fn await_subscribers(redis: &RedisServer, channel: &str, n: usize) {
    poll_until(
        &format!("{n} subscriber(s) of {channel}"),
        Duration::from_secs(5),
        async || {
            let got = subscribers(redis, channel);
            if got == n {
                Ok(())
            } else {
                Err(format!("{got}"))
            }
        },
    )
    .await
}

async fn three_instances(redis: &RedisServer) -> [TestServer; 3] {
    super::three_instances(&redis.url(), PREFIX, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_and_direct_sends_reach_only_the_instances_serving_them() {
    let redis = RedisServer::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    for s in [&s1, &s2, &s3] {
        assert_eq!(subscribers(&redis, &direct_channel(s)), 1);
    }
    let mut a = s1.connect().await;
    let mut b = s2.connect().await;
    let mut idle = s3.connect().await;
    b.request("t", "setUser", json!("u")).await;
    let b_id: ClientId = b.id.parse().unwrap();
    eventually_async("instance 1 knows where b and user u are", async || {
        let dir = s1.handle.directory();
        dir.client(b_id).await.is_ok_and(|c| c.is_some())
            && dir.user_clients("u").await.is_ok_and(|ids| ids == [b_id])
    })
    .await;

    // Joining a room no member of which is on instance 2 yet subscribes instance 2 to
    // it, and the reply waits for Redis to confirm: a send published right after the
    // reply is delivered. Twenty fresh rooms, each sent to at once.
    for i in 0..20 {
        let room = format!("fresh-{i}");
        b.join(&room).await;
        s1.handle.send(&Target::room(&room), &msg(i));
        assert_eq!(next_seq(&mut b).await, i, "the first send to {room}");
    }

    a.join("r").await;
    b.join("r").await;
    assert_eq!(subscribers(&redis, &room_channel("r")), 2);

    // Room, user and client sends from instance 1, then one send to all as a barrier.
    let idle_before = s3.handle.health().bus_messages_in;
    let b_before = s2.handle.health().bus_messages_in;
    for i in 0..200 {
        s1.handle.send(&Target::room("r"), &msg(1000 + i));
    }
    for i in 0..100 {
        s1.handle.send(&Target::user("u"), &msg(2000 + i));
        s1.handle.send(&Target::client(b_id), &msg(3000 + i));
    }
    s1.handle.send_to_all(&msg(9999), None);
    let mut got = Vec::new();
    for _ in 0..401 {
        got.push(next_seq(&mut b).await);
    }
    let mut want: Vec<u64> = (1000..1200).collect();
    for i in 0..100 {
        want.extend([2000 + i, 3000 + i]);
    }
    want.push(9999);
    assert_eq!(got, want, "b gets everything once, in the order sent");
    // The instance with no member of `r` and no client of `u` heard only the send to
    // all: one connection, one subscription, so nothing else can still be on the way.
    assert_eq!(next_seq(&mut idle).await, 9999);
    assert_eq!(s3.handle.health().bus_messages_in - idle_before, 1);
    assert_eq!(s2.handle.health().bus_messages_in - b_before, 401);
    for _ in 0..200 {
        next_seq(&mut a).await;
    }
    assert_eq!(next_seq(&mut a).await, 9999);

    // Leaving: the last local member's leave unsubscribes that instance.
    b.leave("r").await;
    await_subscribers(&redis, &room_channel("r"), 1).await;
    a.leave("r").await;
    await_subscribers(&redis, &room_channel("r"), 0).await;
    let pattern = format!("{PREFIX}:{{room:*");
    let listed = redis.command(&["PUBSUB", "CHANNELS", &pattern]);
    assert!(!listed.contains(&room_channel("r")), "{listed:?}");
    assert!(listed.contains(&room_channel("fresh-0")), "{listed:?}");
    // A disconnect leaves every room: none of b's rooms stays subscribed.
    b.close().await;
    for i in 0..20 {
        await_subscribers(&redis, &room_channel(&format!("fresh-{i}")), 0).await;
    }
    assert_eq!(
        redis.command(&["PUBSUB", "CHANNELS", &pattern]),
        Vec::<String>::new()
    );
    drop((a, idle));
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_reply_waits_for_the_subscription_even_over_a_slow_link() {
    let redis = RedisServer::start().await;
    // Instance 2 reaches Redis through a link adding 100 ms each way: its SUBSCRIBE is
    // confirmed 200 ms after it is sent, while instance 1 publishes straight away.
    let link = SlowLink::start(redis.port(), Duration::from_millis(100)).await;
    let ttl = Duration::from_secs(5);
    let s1 = TestServer::start(probe_builder(cluster_config(&redis.url(), PREFIX, ttl))).await;
    let s2 = TestServer::start(probe_builder(cluster_config(&link.url(), PREFIX, ttl))).await;
    eventually("the instances see each other", || {
        s1.handle.instances().len() == 2 && s2.handle.instances().len() == 2
    })
    .await;
    let mut b = s2.connect().await;
    for i in 0..5 {
        let room = format!("far-{i}");
        b.join(&room).await;
        s1.handle.send(&Target::room(&room), &msg(i));
        assert_eq!(next_seq(&mut b).await, i, "the first send to {room}");
    }
    drop(b);
    s1.stop().await;
    s2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_several_rooms_reaches_a_member_of_several_once() {
    let redis = RedisServer::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    let mut both = s2.connect().await;
    let mut only_y = s2.connect().await;
    let mut x_elsewhere = s3.connect().await;
    both.join("x").await;
    both.join("y").await;
    only_y.join("y").await;
    x_elsewhere.join("x").await;
    for i in 0..50 {
        s1.handle.send(&Target::rooms(["x", "y"]), &msg(i));
        s1.handle
            .send(&Target::rooms(["y", "x", "y"]), &msg(100 + i));
    }
    s1.handle.send_to_all(&msg(9999), None);
    let want: Vec<u64> = (0..50).flat_map(|i| [i, 100 + i]).chain([9999]).collect();
    for c in [&mut both, &mut only_y, &mut x_elsewhere] {
        let mut got = Vec::new();
        for _ in 0..want.len() {
            got.push(next_seq(c).await);
        }
        assert_eq!(got, want);
        c.assert_nothing_queued().await;
    }
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_resubscribes_the_rooms_and_direct_channels() {
    let mut redis = RedisServer::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    let mut a = s1.connect().await;
    let mut b = s2.connect().await;
    a.join("r").await;
    b.join("r").await;
    b.request("t", "setUser", json!("u")).await;
    let b_id: ClientId = b.id.parse().unwrap();
    eventually_async("instance 1 knows user u", async || {
        s1.handle
            .directory()
            .user_clients("u")
            .await
            .is_ok_and(|ids| ids == [b_id])
    })
    .await;
    s1.handle.send(&Target::room("r"), &msg(1));
    assert_eq!(next_seq(&mut b).await, 1);
    assert_eq!(next_seq(&mut a).await, 1);

    redis.restart().await;
    eventually("every bus is connected again", || {
        [&s1, &s2, &s3]
            .iter()
            .all(|s| s.handle.health().bus.connected)
    })
    .await;
    // The restarted Redis knows no subscription: each instance made its own again.
    await_subscribers(&redis, &room_channel("r"), 2).await;
    for s in [&s1, &s2, &s3] {
        await_subscribers(&redis, &direct_channel(s), 1).await;
    }
    s1.handle.send(&Target::room("r"), &msg(2));
    s1.handle.send(&Target::user("u"), &msg(3));
    s1.handle.send(&Target::client(b_id), &msg(4));
    assert_eq!(next_seq(&mut b).await, 2);
    assert_eq!(next_seq(&mut b).await, 3);
    assert_eq!(next_seq(&mut b).await, 4);
    assert_eq!(next_seq(&mut a).await, 2);
    // And the dynamic set still follows membership.
    b.leave("r").await;
    await_subscribers(&redis, &room_channel("r"), 1).await;
    drop((a, b));
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}
