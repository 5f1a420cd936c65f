//! On a three-master Redis Cluster: room and instance channels are sharded pub/sub
//! (`SSUBSCRIBE`, each on the master owning its slot), checked against every master's
//! `PUBSUB SHARDCHANNELS`; join-then-receive with no gap; an instance with no member of
//! a room hears none of its traffic; a master killed and restarted; a master replaced
//! by its replica; the fixed channels' master lost.

use std::collections::BTreeSet;
use std::time::Duration;

use pxl_ws::{ClientId, Target};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{
    RedisCluster, TestClient, TestServer, eventually, eventually_async, poll_until,
};
use serde_json::json;

use super::{msg, next_seq};

const PREFIX: &str = "shard";

fn room_channel(room: &str) -> String {
    format!("{PREFIX}:{{room:{room}}}:send")
}

fn direct_channel(server: &TestServer) -> String {
    format!(
        "{PREFIX}:{{instance:{}}}:direct",
        server.handle.instance_id()
    )
}

/// `n` frames' seqs, sorted.
async fn seqs(c: &mut TestClient, n: usize) -> Vec<u64> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(next_seq(c).await);
    }
    got.sort_unstable();
    got
}

/// The room and instance shard channels of this test's prefix on each master (the
/// user and client channels are checked where they matter).
fn shard_channels(redis: &RedisCluster) -> Vec<Vec<String>> {
    let mut got = redis.shard_channels(&format!("{PREFIX}:{{room:*"));
    for (m, inst) in redis
        .shard_channels(&format!("{PREFIX}:{{instance:*"))
        .into_iter()
        .enumerate()
    {
        got[m].extend(inst);
        got[m].sort();
    }
    got
}

/// Whether `channel` is a shard channel on the master owning its slot.
fn subscribed(redis: &RedisCluster, channel: &str) -> bool {
    redis.shard_channels(channel)[redis.master_of(channel)] == [channel.to_owned()]
}

/// Waits until every master lists exactly the channels `want` says it owns.
async fn await_shard_channels(redis: &RedisCluster, want: &BTreeSet<String>) {
    poll_until(
        "each master's shard channels",
        Duration::from_secs(10),
        async || {
            let got = shard_channels(redis);
            let expected: Vec<Vec<String>> = (0..redis.masters.len())
                .map(|m| {
                    want.iter()
                        .filter(|c| redis.master_of(c) == m)
                        .cloned()
                        .collect()
                })
                .collect();
            if got == expected {
                Ok(())
            } else {
                Err(format!("got {got:?}, want {expected:?}"))
            }
        },
    )
    .await
}

async fn three_instances(redis: &RedisCluster) -> [TestServer; 3] {
    super::three_instances(&redis.url(), PREFIX, Duration::from_secs(10)).await
}

/// A room whose channel lives on master `m`.
fn room_on(redis: &RedisCluster, m: usize) -> String {
    (0..)
        .map(|i| format!("room{i}"))
        .find(|r| redis.master_of(&room_channel(r)) == m)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_channels_follow_membership_and_reach_only_the_instances_serving_them() {
    let redis = RedisCluster::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    let mut channels: BTreeSet<String> =
        [&s1, &s2, &s3].iter().map(|s| direct_channel(s)).collect();
    await_shard_channels(&redis, &channels).await;

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
    // b's own channel and its user's, on the masters owning them.
    let b_channel = format!("{PREFIX}:{{client:{b_id}}}:send");
    let u_channel = format!("{PREFIX}:{{user:u}}:send");
    eventually("b's and u's channels subscribed", || {
        subscribed(&redis, &b_channel) && subscribed(&redis, &u_channel)
    })
    .await;

    // Join, then receive with no gap: thirty fresh rooms (spread over the masters), each
    // sent to from instance 1 right after the join reply on instance 2.
    for i in 0..30 {
        let room = format!("fresh-{i}");
        b.join(&room).await;
        s1.handle.send(&Target::room(&room), &msg(i));
        assert_eq!(next_seq(&mut b).await, i, "the first send to {room}");
        channels.insert(room_channel(&room));
    }
    let masters: BTreeSet<usize> = (0..30)
        .map(|i| redis.master_of(&room_channel(&format!("fresh-{i}"))))
        .collect();
    assert_eq!(masters.len(), 3, "the rooms' channels live on every master");
    await_shard_channels(&redis, &channels).await;
    // Sharded, not plain: no plain channel of a room or instance exists.
    for m in &redis.masters {
        let plain = m.command(&["PUBSUB", "CHANNELS", &format!("{PREFIX}:{{*")]);
        assert_eq!(plain, Vec::<String>::new());
    }

    a.join("r").await;
    b.join("r").await;
    channels.insert(room_channel("r"));
    let r_master = &redis.masters[redis.master_of(&room_channel("r"))];
    let numsub = r_master.command(&["PUBSUB", "SHARDNUMSUB", &room_channel("r")]);
    assert_eq!(numsub, [room_channel("r"), "2".to_owned()]);

    // Room, user and client sends from instance 1, then one send to all.
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
        let next = tokio::time::timeout(Duration::from_secs(4), next_seq(&mut b)).await;
        match next {
            Ok(seq) => got.push(seq),
            Err(_) => {
                let all: BTreeSet<u64> = got.iter().copied().collect();
                let missing: Vec<u64> = (1000..1200)
                    .chain(2000..2100)
                    .chain(3000..3100)
                    .chain([9999])
                    .filter(|s| !all.contains(s))
                    .collect();
                panic!(
                    "b got {} of 401; missing {missing:?}; publisher dropped {}, b's bus in {}",
                    got.len(),
                    s1.handle.health().bus.dropped,
                    s2.handle.health().bus_messages_in - b_before
                );
            }
        }
    }
    // Per channel, in the order sent.
    for (name, range) in [
        ("room", 1000..1200),
        ("user", 2000..2100),
        ("client", 3000..3100),
    ] {
        let on: Vec<u64> = got.iter().copied().filter(|s| range.contains(s)).collect();
        assert_eq!(
            on,
            range.collect::<Vec<_>>(),
            "{name} sends, once each, in order"
        );
    }
    assert!(got.contains(&9999));
    // Everything reached b through Redis, so Redis has written every copy there is: the
    // instance with no member of `r` and no client of `u` heard the send to all only.
    assert_eq!(next_seq(&mut idle).await, 9999);
    assert_eq!(s3.handle.health().bus_messages_in - idle_before, 1);
    assert_eq!(s2.handle.health().bus_messages_in - b_before, 401);
    let mut want: Vec<u64> = (1000..1200).collect();
    want.push(9999);
    assert_eq!(seqs(&mut a, 201).await, want);
    idle.assert_nothing_queued().await;

    // The last local member's leave unsubscribes that instance, on the owning master.
    b.leave("r").await;
    poll_until("one subscriber of r", Duration::from_secs(5), async || {
        let n = r_master.command(&["PUBSUB", "SHARDNUMSUB", &room_channel("r")]);
        if n[1] == "1" {
            Ok(())
        } else {
            Err(format!("{n:?}"))
        }
    })
    .await;
    a.leave("r").await;
    channels.remove(&room_channel("r"));
    await_shard_channels(&redis, &channels).await;
    // A disconnect leaves every room: only the direct channels stay.
    b.close().await;
    for i in 0..30 {
        channels.remove(&room_channel(&format!("fresh-{i}")));
    }
    await_shard_channels(&redis, &channels).await;
    eventually("b's and u's channels unsubscribed", || {
        !subscribed(&redis, &b_channel) && !subscribed(&redis, &u_channel)
    })
    .await;
    drop((a, idle));
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_rooms_on_several_shards_reaches_a_member_of_several_once() {
    let redis = RedisCluster::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    // Two rooms on different masters.
    let x = "x";
    let y = (0..)
        .map(|i| format!("y{i}"))
        .find(|y| redis.master_of(&room_channel(y)) != redis.master_of(&room_channel(x)))
        .unwrap();
    let mut both = s2.connect().await;
    let mut only_y = s2.connect().await;
    let mut x_elsewhere = s3.connect().await;
    both.join(x).await;
    both.join(&y).await;
    only_y.join(&y).await;
    x_elsewhere.join(x).await;
    for i in 0..50 {
        s1.handle.send(&Target::rooms([x, y.as_str()]), &msg(i));
        s1.handle
            .send(&Target::rooms([y.as_str(), x, y.as_str()]), &msg(100 + i));
    }
    let want: Vec<u64> = (0..50).chain(100..150).collect();
    for c in [&mut both, &mut only_y, &mut x_elsewhere] {
        assert_eq!(seqs(c, want.len()).await, want);
    }
    // Nothing more comes: a barrier on each room, sent last, is the next frame.
    s1.handle.send(&Target::room(x), &msg(9998));
    s1.handle.send(&Target::room(&y), &msg(9999));
    assert_eq!(seqs(&mut both, 2).await, [9998, 9999]);
    assert_eq!(next_seq(&mut only_y).await, 9999);
    assert_eq!(next_seq(&mut x_elsewhere).await, 9998);
    for c in [&mut both, &mut only_y, &mut x_elsewhere] {
        c.assert_nothing_queued().await;
    }
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_and_restarted_resumes_its_rooms_and_reports_what_was_lost() {
    let mut redis = RedisCluster::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    // The master to kill: not the one the fixed channels are published through (so the
    // instances keep seeing each other's heartbeats; see docs/cluster.md for what its
    // loss means).
    let heartbeats = redis.master_of(&format!("{PREFIX}:sendMessageToAll"));
    let victim = (heartbeats + 1) % 3;
    let dead_room = room_on(&redis, victim);
    let live_room = room_on(&redis, heartbeats);
    let mut b = s2.connect().await;
    b.join(&dead_room).await;
    b.join(&live_room).await;
    s1.handle.send(&Target::room(&dead_room), &msg(1));
    s1.handle.send(&Target::room(&live_room), &msg(2));
    assert_eq!(seqs(&mut b, 2).await, [1, 2]);

    // (channel, its master) of what the healthy masters hold.
    let mut healthy: Vec<(String, usize)> = [&s1, &s2, &s3]
        .iter()
        .map(|s| direct_channel(s))
        .chain([room_channel(&live_room)])
        .map(|c| {
            let m = redis.master_of(&c);
            (c, m)
        })
        .collect();
    healthy.retain(|(_, m)| *m != victim);
    redis.kill(victim);
    eventually("instance 2 notices the lost node", || {
        !s2.handle.health().bus.connected
    })
    .await;
    // The live shard keeps carrying its room; sends to the dead shard's room are lost,
    // counted on the publisher.
    let dropped_before = s1.handle.health().bus.dropped;
    for i in 0..20 {
        s1.handle.send(&Target::room(&live_room), &msg(100 + i));
    }
    assert_eq!(seqs(&mut b, 20).await, (100..120).collect::<Vec<_>>());
    for i in 0..5 {
        s1.handle.send(&Target::room(&dead_room), &msg(200 + i));
    }
    eventually("the lost sends are counted", || {
        s1.handle.health().bus.dropped >= dropped_before + 5
    })
    .await;

    // Meanwhile the healthy masters never stop holding what they held: the loss of one
    // node touches only that node's subscriptions. Sampled over the node timeout (3 s),
    // so the cluster marks the master as failed on the way.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for k in 0..35 {
        tick.tick().await;
        let got = shard_channels(&redis);
        for (ch, m) in &healthy {
            assert!(
                got[*m].contains(ch),
                "sample {k}: {ch} dropped from its healthy master: {got:?}"
            );
        }
    }
    s1.handle.send(&Target::room(&live_room), &msg(150));
    assert_eq!(next_seq(&mut b).await, 150);

    redis.restart(victim).await;
    eventually("every bus is connected again", || {
        [&s1, &s2, &s3]
            .iter()
            .all(|s| s.handle.health().bus.connected)
    })
    .await;
    // The restarted master knows no subscription: instance 2 made its own again, as did
    // the instance whose direct channel lives there.
    let mut want: BTreeSet<String> = [&s1, &s2, &s3].iter().map(|s| direct_channel(s)).collect();
    want.insert(room_channel(&dead_room));
    want.insert(room_channel(&live_room));
    await_shard_channels(&redis, &want).await;
    s1.handle.send(&Target::room(&dead_room), &msg(300));
    s1.handle.send(&Target::room(&live_room), &msg(301));
    assert_eq!(seqs(&mut b, 2).await, [300, 301]);
    // Nothing of the outage arrives late.
    b.assert_nothing_queued().await;
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_replaced_by_its_replica_gets_its_rooms_subscriptions_back() {
    let mut redis = RedisCluster::start_with_replicas().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    // Not the master the fixed channels go through (its loss is another case, see
    // docs/cluster.md).
    let heartbeats = redis.master_of(&format!("{PREFIX}:sendMessageToAll"));
    let victim = (heartbeats + 1) % 3;
    let room = room_on(&redis, victim);
    let mut b = s2.connect().await;
    b.join(&room).await;
    s1.handle.send(&Target::room(&room), &msg(1));
    assert_eq!(next_seq(&mut b).await, 1);

    redis.kill(victim);
    let replica = redis.promoted_replica_of(&room_channel(&room)).await;
    eventually("every bus is connected again", || {
        [&s1, &s2, &s3]
            .iter()
            .all(|s| s.handle.health().bus.connected)
    })
    .await;
    // The promoted replica had no subscriptions of its own: instance 2 made the room's
    // again there, without any client doing anything.
    let channel = room_channel(&room);
    poll_until(
        "the room's channel on the promoted replica",
        Duration::from_secs(10),
        async || {
            let got = replica.command(&["PUBSUB", "SHARDCHANNELS", &channel]);
            if got.contains(&channel) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await;
    for i in 0..5 {
        s1.handle.send(&Target::room(&room), &msg(10 + i));
    }
    assert_eq!(seqs(&mut b, 5).await, (10..15).collect::<Vec<_>>());
    // Joining now works on the new master as well.
    let mut c = s3.connect().await;
    c.join(&room).await;
    s1.handle.send(&Target::room(&room), &msg(20));
    assert_eq!(next_seq(&mut b).await, 20);
    assert_eq!(next_seq(&mut c).await, 20);
    b.assert_nothing_queued().await;
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_channels_keep_flowing_while_their_master_is_down() {
    let mut redis = RedisCluster::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    let fixed = format!("{PREFIX}:sendMessageToAll");
    let victim = redis.master_of(&fixed);
    let mut b = s2.connect().await;
    s1.handle.send(&Target::all(), &msg(1));
    assert_eq!(next_seq(&mut b).await, 1);

    // No replica: the master of the slot the fixed channels are published through stays
    // down. The publish that finds it gone is lost (counted); the next go out through
    // another node (plain pub/sub reaches every node from any of them).
    redis.kill(victim);
    let mut seq = 100;
    let first = loop {
        s1.handle.send(&Target::all(), &msg(seq));
        seq += 1;
        if let Some(v) = b.recv_within(Duration::from_millis(50)).await {
            break v["data"]["seq"].as_u64().unwrap();
        }
        assert!(
            seq < 140,
            "no send to all got through in 2 s after the master died"
        );
    };
    // Everything sent after the first one that got through arrives, in order.
    let mut rest = Vec::new();
    while let Some(v) = b.recv_within(Duration::from_millis(300)).await {
        rest.push(v["data"]["seq"].as_u64().unwrap());
    }
    assert_eq!(rest, (first + 1..seq).collect::<Vec<_>>());
    for i in 0..10 {
        s1.handle.send(&Target::all(), &msg(1000 + i));
    }
    assert_eq!(seqs(&mut b, 10).await, (1000..1010).collect::<Vec<_>>());
    // Heartbeats travel the same way: the count instance 3 announces in its next one
    // reaches instance 1 (b on instance 2, c on instance 3), and no instance takes
    // another for gone.
    let c = s3.connect().await;
    poll_until(
        "instance 3's heartbeat announces its new client to instance 1",
        Duration::from_secs(10),
        async || {
            let n = s1.handle.health().cluster_connections;
            (n == 2).then_some(()).ok_or(n.to_string())
        },
    )
    .await;
    drop(c);
    assert!(
        [&s1, &s2, &s3]
            .iter()
            .all(|s| s.handle.instances().len() == 3)
    );
    redis.restart(victim).await;
    s1.handle.send(&Target::all(), &msg(2000));
    assert_eq!(next_seq(&mut b).await, 2000);
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_a_redis_url_and_cluster_seeds_is_a_configuration_error() {
    let mut config = cluster_config("redis://127.0.0.1:1", PREFIX, Duration::from_secs(5));
    config.cluster.redis_cluster_urls = vec!["redis://127.0.0.1:2".into()];
    let err = probe_builder(config).build().err().expect("a build error");
    let text = err.to_string();
    assert!(
        text.contains("cluster.redis_cluster_urls") && text.contains("cluster.redis_url"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_to_another_master_takes_its_room_subscriptions_along() {
    let redis = RedisCluster::start().await;
    let [s1, s2, s3] = three_instances(&redis).await;
    let room = "moving";
    let channel = room_channel(room);
    let from = redis.master_of(&channel);
    let to = (from + 1) % 3;
    let mut b = s2.connect().await;
    b.join(room).await;
    s1.handle.send(&Target::room(room), &msg(1));
    assert_eq!(next_seq(&mut b).await, 1);

    // Move the room's slot (with its keys: the room's entry in the cluster directory)
    // from one master to another, as `redis-cli --cluster reshard` does.
    let slot = redis.masters[from].command(&["CLUSTER", "KEYSLOT", &channel])[0].clone();
    let id = |m: usize| redis.masters[m].command(&["CLUSTER", "MYID"])[0].clone();
    let (from_id, to_id) = (id(from), id(to));
    redis.masters[to].command(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
    redis.masters[from].command(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    let keys = redis.masters[from].command(&["CLUSTER", "GETKEYSINSLOT", &slot, "1000"]);
    if !keys.is_empty() {
        let port = redis.masters[to].port().to_string();
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        migrate.extend(keys.iter().map(String::as_str));
        redis.masters[from].command(&migrate);
    }
    for m in [to, from, 3 - to - from] {
        redis.masters[m].command(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    }
    poll_until(
        "every master sees the move",
        Duration::from_secs(10),
        async || {
            let owner = redis.master_of(&channel);
            if owner == to {
                Ok(())
            } else {
                Err(owner.to_string())
            }
        },
    )
    .await;
    // The old master dropped the subscription; the instance subscribed it on the new one.
    let mut want: BTreeSet<String> = [&s1, &s2, &s3].iter().map(|s| direct_channel(s)).collect();
    want.insert(channel.clone());
    await_shard_channels(&redis, &want).await;
    s1.handle.send(&Target::room(room), &msg(2));
    assert_eq!(next_seq(&mut b).await, 2);
    b.assert_nothing_queued().await;
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}
