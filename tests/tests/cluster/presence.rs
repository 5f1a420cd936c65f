//! Presence across instances: `system/presence` counts members on every instance (two
//! tabs of one user on two instances are one user, and one `room/userJoined`), and an
//! instance killed with `kill -9` drops out of presence within the liveness TTL. The
//! first also runs on a three-master Redis Cluster.

use std::time::Duration;

use pxl_ws_tests::cluster::{Node, cluster_config, probe_builder};
use pxl_ws_tests::{RedisCluster, RedisServer, TestClient, TestServer, poll_until, room_len};
use serde_json::{Value, json};

use crate::NODE_BIN;

async fn join_as(c: &mut TestClient, user: &str) {
    let r = c.request("t", "setUser", json!(user)).await;
    assert_eq!(r["response"], true);
    let r = c
        .request("system", "joinRoom", json!({"roomName": "lobby"}))
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
}

async fn stats(c: &mut TestClient) -> Value {
    let r = c
        .request("system", "presenceStats", json!({"roomName": "lobby"}))
        .await;
    r["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_instances_and_two_tabs_are_one_user() {
    let redis = RedisServer::start().await;
    presence_spans(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_instances_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    presence_spans(&redis.url()).await;
}

async fn presence_spans(url: &str) {
    let mut cfg = cluster_config(url, "p-span", Duration::from_secs(30));
    cfg.rooms.user_presence_events = true;
    let a = TestServer::start(probe_builder(cfg.clone())).await;
    let b = TestServer::start(probe_builder(cfg)).await;
    let mut alice = a.connect().await;
    join_as(&mut alice, "u-alice").await;
    let mut bob_a = a.connect().await;
    join_as(&mut bob_a, "u-bob").await;
    assert_eq!(alice.recv().await["action"], "userJoined");
    poll_until("b sees both", Duration::from_secs(5), async || {
        let n = room_len(&b.handle, "lobby").await;
        if n == 2 { Ok(()) } else { Err(n.to_string()) }
    })
    .await;
    // Bob's second tab, on the other instance: the same user, no second userJoined.
    let mut bob_b = b.connect().await;
    join_as(&mut bob_b, "u-bob").await;
    let s = poll_until(
        "presence on a counts b's member",
        Duration::from_secs(5),
        async || {
            let s = stats(&mut alice).await;
            if s["clients"] == 3 {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert_eq!(s, json!({"roomName": "lobby", "clients": 3, "users": 2}));
    assert_eq!(
        stats(&mut bob_b).await,
        s,
        "the same answer on either instance"
    );
    let r = bob_b
        .request("system", "presence", json!({"roomName": "lobby"}))
        .await;
    assert_eq!(r["response"]["count"], 3);
    alice.assert_nothing_queued().await;
    drop((bob_a, bob_b));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_drops_out_of_presence_within_the_liveness_ttl() {
    let redis = RedisServer::start().await;
    let ttl = Duration::from_millis(1500);
    let node = Node::spawn(NODE_BIN, &redis.url(), "p-kill", ttl).await;
    let local = TestServer::start(probe_builder(cluster_config(&redis.url(), "p-kill", ttl))).await;
    let mut remote = TestClient::connect(&node.url()).await;
    join_as(&mut remote, "u-remote").await;
    let mut here = local.connect().await;
    join_as(&mut here, "u-here").await;
    poll_until(
        "presence sees the remote member",
        Duration::from_secs(5),
        async || {
            let s = stats(&mut here).await;
            if s["clients"] == 2 {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    let killed = std::time::Instant::now();
    node.kill9().await;
    drop(remote);
    poll_until(
        "the killed instance's member is purged",
        ttl * 3,
        async || {
            let s = stats(&mut here).await;
            if s["clients"] == 1 {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert!(killed.elapsed() < ttl * 3);
    let r = here
        .request("system", "presence", json!({"roomName": "lobby"}))
        .await;
    assert_eq!(r["response"]["members"][0]["userId"], "u-here");
    local.stop().await;
}
