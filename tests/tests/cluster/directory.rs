//! The cluster directory in Redis (`Server::directory`): another instance's clients,
//! users and room members are answered from Redis, follow joins, leaves and
//! disconnects, drop out once their instance is `kill -9`ed (and its entries are
//! deleted), and come back after a Redis restart. On one Redis and on a three-master
//! Redis Cluster; without Redis the same calls answer from the instances' view.

use std::time::Duration;

use pxl_ws::ClientId;
use pxl_ws::bus::MemoryBus;
use pxl_ws_tests::cluster::{Node, cluster_config, probe_builder};
use pxl_ws_tests::{RedisCluster, RedisServer, TestClient, TestServer, poll_until};
use serde_json::json;

use crate::NODE_BIN;

const TTL: Duration = Duration::from_millis(1500);
const WITHIN: Duration = Duration::from_secs(10);

async fn two(url: &str, prefix: &str) -> (TestServer, TestServer) {
    let config = cluster_config(url, prefix, TTL);
    let a = TestServer::start(probe_builder(config.clone())).await;
    let b = TestServer::start(probe_builder(config)).await;
    (a, b)
}

/// Waits until `a`'s directory lists `a` alone as live.
async fn only_instance_left(a: &TestServer, what: &str) {
    let dir = a.handle.directory();
    poll_until(what, WITHIN, async || {
        let v = dir.instances().await.map_err(|e| e.to_string())?;
        (v == vec![a.handle.instance_id().to_owned()])
            .then_some(())
            .ok_or(format!("{v:?}"))
    })
    .await;
}

/// A client of `url` bound to user `user` and in `room`.
async fn member(url: &str, user: &str, room: &str) -> (TestClient, ClientId) {
    let mut c = TestClient::connect(url).await;
    let r = c.request("t", "setUser", json!(user)).await;
    assert_eq!(r["response"], true, "{r}");
    c.join(room).await;
    let id = c.id.parse().unwrap();
    (c, id)
}

#[tokio::test]
async fn another_instances_clients_are_answered_from_redis() {
    let redis = RedisServer::start().await;
    follows_membership(&redis.url(), Some(&redis)).await;
}

#[tokio::test]
async fn another_instances_clients_are_answered_from_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    follows_membership(&redis.url(), None).await;
}

async fn follows_membership(url: &str, single: Option<&RedisServer>) {
    let (a, b) = two(url, "dir").await;
    let dir = a.handle.directory();
    assert!(dir.in_redis());
    let (mut c, id) = member(&b.url(), "ann", "lobby").await;
    let b_id = b.handle.instance_id().to_owned();

    // A sees B's client in the room, as the user's connection, with its record.
    poll_until("a sees b's client in the lobby", WITHIN, async || {
        let m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
        (m == vec![id]).then_some(()).ok_or(format!("{m:?}"))
    })
    .await;
    // Each key's writes keep their order; keys on different shards are written side by
    // side, so the record may land a moment after the room's entry.
    let info = poll_until("a sees b's client's record", WITHIN, async || {
        let users = dir.user_clients("ann").await.map_err(|e| e.to_string())?;
        let info = dir.client(id).await.map_err(|e| e.to_string())?;
        match info {
            Some(info) if users == vec![id] => Ok(info),
            other => Err(format!("{users:?} {other:?}")),
        }
    })
    .await;
    assert_eq!(info.user_id.as_deref(), Some("ann"));
    assert_eq!(info.rooms, vec!["lobby".to_owned()]);
    assert_eq!(info.instance_id.as_deref(), Some(b_id.as_str()));
    let mut both = vec![a.handle.instance_id().to_owned(), b_id.clone()];
    both.sort();
    poll_until("both instances live", WITHIN, async || {
        let v = dir.instances().await.map_err(|e| e.to_string())?;
        (v == both).then_some(()).ok_or(format!("{v:?}"))
    })
    .await;
    assert_eq!(dir.connection_count().await.unwrap(), 1);
    // B answers its own client from its registry, the same way.
    assert_eq!(
        b.handle.directory().room_members("lobby").await.unwrap(),
        vec![id]
    );
    if let Some(redis) = single {
        let rec = redis.command(&["HGET", "dir:{room:lobby}:members", &id.to_string()]);
        let rec: serde_json::Value = serde_json::from_str(&rec[0]).unwrap();
        assert_eq!(
            rec,
            json!({"instance": b_id, "userId": "ann", "username": null})
        );
    }

    // Leaving the room takes it out of the room, not out of the directory.
    c.leave("lobby").await;
    poll_until("the leave reaches redis", WITHIN, async || {
        let m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
        m.is_empty().then_some(()).ok_or(format!("{m:?}"))
    })
    .await;
    let info = dir.client(id).await.unwrap().expect("still connected");
    assert!(info.rooms.is_empty(), "{info:?}");

    // Disconnecting takes it out of everything.
    drop(c);
    poll_until("the disconnect reaches redis", WITHIN, async || {
        let users = dir.user_clients("ann").await.map_err(|e| e.to_string())?;
        let client = dir.client(id).await.map_err(|e| e.to_string())?;
        (users.is_empty() && client.is_none())
            .then_some(())
            .ok_or(format!("{users:?} {client:?}"))
    })
    .await;
    assert_eq!(dir.connection_count().await.unwrap(), 0);
    if let Some(redis) = single {
        for key in [
            format!("dir:{{instance:{b_id}}}:clients"),
            "dir:{user:ann}:clients".to_owned(),
            "dir:{room:lobby}:members".to_owned(),
        ] {
            assert_eq!(redis.command(&["EXISTS", &key]), vec!["0"], "{key}");
        }
    }

    // A graceful stop takes the instance out at once.
    b.handle.shutdown().await;
    only_instance_left(&a, "b gone from the live instances").await;
}

#[tokio::test]
async fn with_the_directory_in_redis_an_instance_keeps_no_copy_of_the_others_clients() {
    let redis = RedisServer::start().await;
    let (a, b) = two(&redis.url(), "dirnocopy").await;
    let mut on_b = Vec::new();
    for i in 0..20 {
        on_b.push(member(&b.url(), &format!("user{i}"), "lobby").await);
    }
    let mut want: Vec<ClientId> = on_b.iter().map(|(_, id)| *id).collect();
    want.sort();
    let dir = a.handle.directory();
    poll_until(
        "a's directory lists b's twenty clients",
        WITHIN,
        async || {
            let mut m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
            m.sort();
            (m == want)
                .then_some(())
                .ok_or(format!("{} of 20", m.len()))
        },
    )
    .await;
    // The synchronous calls answer from this instance alone: nothing of b's clients is
    // kept here (the membership events are not even read without a subscriber).
    assert_eq!(a.handle.rooms().get("lobby"), None);
    assert!(a.handle.cluster_client_ids().is_empty());
    assert!(a.handle.user_client_ids("user0").is_empty());
    assert_eq!(a.handle.get_client(want[0]), None);
    // b answers its own, from its registry.
    assert_eq!(b.handle.rooms().get("lobby").map(|m| m.len()), Some(20));
    // Liveness still comes from the heartbeats.
    assert_eq!(a.handle.instances().len(), 2);
    // Without a subscriber on them, no instance listens to the membership events at all
    // (they are still published, for instances that have one).
    for (channel, listeners) in [
        ("dirnocopy:clientConnected", "0"),
        ("dirnocopy:clientJoinedRoom", "0"),
        ("dirnocopy:snapshot", "0"),
        ("dirnocopy:instanceHeartbeat", "2"),
        ("dirnocopy:sendMessageToAll", "2"),
    ] {
        let n = redis.command(&["PUBSUB", "NUMSUB", channel]);
        assert_eq!(n, vec![channel.to_owned(), listeners.to_owned()]);
    }
}

#[tokio::test]
async fn a_killed_instance_drops_out_of_the_directory_and_its_entries_are_deleted() {
    let redis = RedisServer::start().await;
    let node = Node::spawn(NODE_BIN, &redis.url(), "dirkill", TTL).await;
    let a = TestServer::start(probe_builder(cluster_config(&redis.url(), "dirkill", TTL))).await;
    let dir = a.handle.directory();
    let (_c, id) = member(&node.url(), "bob", "lobby").await;
    let (_mine, my_id) = member(&a.url(), "bob", "lobby").await;
    poll_until("a sees the node's client", WITHIN, async || {
        let mut m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
        m.sort();
        let mut want = vec![id, my_id];
        want.sort();
        (m == want).then_some(()).ok_or(format!("{m:?}"))
    })
    .await;
    let dead = node.instance_id.clone();
    let hash = format!("dirkill:{{instance:{dead}}}:clients");
    assert_eq!(redis.command(&["HLEN", &hash]), vec!["1"]);

    node.kill9().await;
    // Answers drop it once its liveness lapses; the sweep then deletes its entries.
    poll_until(
        "the killed node's client gone from the answers",
        WITHIN,
        async || {
            let m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
            let u = dir.user_clients("bob").await.map_err(|e| e.to_string())?;
            let c = dir.client(id).await.map_err(|e| e.to_string())?;
            (m == vec![my_id] && u == vec![my_id] && c.is_none())
                .then_some(())
                .ok_or(format!("{m:?} {u:?} {c:?}"))
        },
    )
    .await;
    poll_until("the killed node's entries deleted", WITHIN, async || {
        let left: Vec<Vec<String>> = [
            vec!["EXISTS", hash.as_str()],
            vec!["HEXISTS", "dirkill:{room:lobby}:members", &id.to_string()],
            vec!["HEXISTS", "dirkill:{user:bob}:clients", &id.to_string()],
        ]
        .iter()
        .map(|cmd| redis.command(cmd))
        .collect();
        left.iter()
            .all(|r| r == &["0"])
            .then_some(())
            .ok_or(format!("{left:?}"))
    })
    .await;
    // The survivor's own entries stay.
    let member = redis.command(&[
        "HEXISTS",
        "dirkill:{room:lobby}:members",
        &my_id.to_string(),
    ]);
    assert_eq!(member, vec!["1"]);
    only_instance_left(&a, "the killed node gone from the live instances").await;
}

#[tokio::test]
async fn entries_are_written_again_after_a_redis_restart() {
    let mut redis = RedisServer::start().await;
    let (a, b) = two(&redis.url(), "dirrestart").await;
    let dir = a.handle.directory();
    let (_c, id) = member(&b.url(), "cy", "lobby").await;
    let seen = async || {
        let m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
        let u = dir.user_clients("cy").await.map_err(|e| e.to_string())?;
        (m == vec![id] && u == vec![id])
            .then_some(())
            .ok_or(format!("{m:?} {u:?}"))
    };
    poll_until("a sees b's client", WITHIN, seen).await;

    // An empty Redis: every instance restates its own entries once it is back.
    redis.restart().await;
    assert_eq!(redis.command(&["DBSIZE"]), vec!["0"]);
    poll_until("b's client written again", Duration::from_secs(20), seen).await;
    assert_eq!(
        redis.command(&[
            "HLEN",
            &format!("dirrestart:{{instance:{}}}:clients", b.handle.instance_id())
        ]),
        vec!["1"]
    );
}

#[tokio::test]
async fn without_redis_the_directory_answers_from_the_view() {
    let bus = MemoryBus::new();
    let config = pxl_ws::WsConfig::default();
    let a = TestServer::start(probe_builder(config.clone()).bus(bus.clone())).await;
    let b = TestServer::start(probe_builder(config).bus(bus)).await;
    let dir = a.handle.directory();
    assert!(!dir.in_redis());
    let (_c, id) = member(&b.url(), "dee", "lobby").await;
    poll_until("a's view has b's client", WITHIN, async || {
        let m = dir.room_members("lobby").await.map_err(|e| e.to_string())?;
        (m == vec![id]).then_some(()).ok_or(format!("{m:?}"))
    })
    .await;
    assert_eq!(dir.user_clients("dee").await.unwrap(), vec![id]);
    let info = dir.client(id).await.unwrap().expect("b's client");
    assert_eq!(info.instance_id.as_deref(), Some(b.handle.instance_id()));
    assert_eq!(dir.instances().await.unwrap().len(), 2);
    assert_eq!(dir.connection_count().await.unwrap(), 1);
}
