//! Exact delivery counts across three instance processes: room broadcasts (with and
//! without an excluded member), multi-room sends, user- and client-targeted sends and
//! sends to all. Every intended client gets each message exactly once; nobody else
//! gets it. The same suite runs on one Redis and on a three-master Redis Cluster.
//!
//! Order: on one Redis, each driver's messages reach every client in the order it sent
//! them. On a Redis Cluster only each channel keeps its order (a room's channel, an
//! instance's direct channel, the send-to-all channel live on different shards), so
//! there the check is per driver and per channel the copy travelled on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, stream};
use pxl_ws_tests::cluster::Node;
use pxl_ws_tests::record::Recorder;
use pxl_ws_tests::{RedisCluster, RedisServer, TestClient};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::NODE_BIN;

const NODES: usize = 3;
const CLIENTS_PER_NODE: usize = 300;
const ROOMS: usize = 12;
const USERS: usize = 100;
const MESSAGES_PER_DRIVER: u64 = 1000;

/// A receiving client as the test models it.
struct Member {
    id: String,
    /// The node it is connected to.
    node: usize,
    rooms: BTreeSet<String>,
    user: Option<String>,
}

/// What one connection saw: `t/msg` seqs (in arrival order) and the replies (drivers).
struct Seen {
    seqs: Vec<u64>,
    replies: Vec<Value>,
}

/// Waits until a barrier from every node (and `replies` replies) reached `rec`, then
/// splits what it saw; any other frame fails the test. On a Redis Cluster a barrier (on
/// the send-to-all channel) may overtake sends on other shards, so `msgs` says how many
/// `t/msg` frames to wait for as well (a missing one then fails the comparison after
/// the wait).
async fn seen(rec: &Recorder, replies: usize, msgs: Option<usize>) -> Seen {
    rec.wait_for("a barrier from every node", Duration::from_secs(60), |f| {
        let barriers = f
            .iter()
            .filter(|v| v["action"] == "barrier" && v.get("id").is_none())
            .count();
        let answers = f.iter().filter(|v| v.get("id").is_some()).count();
        let got = f.iter().filter(|v| v["action"] == "msg").count();
        barriers == NODES && answers == replies && msgs.is_none_or(|n| got >= n)
    })
    .await;
    let mut seen = Seen {
        seqs: Vec::new(),
        replies: Vec::new(),
    };
    for v in rec.take() {
        if v.get("id").is_some() {
            seen.replies.push(v);
            continue;
        }
        match (v["type"].as_str(), v["action"].as_str()) {
            (Some("t"), Some("msg")) => seen.seqs.push(v["data"]["seq"].as_u64().unwrap()),
            (Some("t"), Some("barrier")) => {}
            _ => panic!("unexpected frame {v}"),
        }
    }
    seen
}

/// The driver (origin) of a seq.
fn origin(seq: u64) -> u64 {
    seq / 1_000_000
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_gets_each_message_exactly_once_across_three_processes() {
    let redis = RedisServer::start().await;
    exactly_once(&redis.url(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_gets_each_message_exactly_once_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    exactly_once(&redis.url(), true).await;
}

/// The channel a copy of `seq` travels on to a client on `node` that is in `rooms`
/// (the first target room it is in; see `docs/cluster.md`), or `local` when the
/// client is on the sending node.
fn channel_of(
    plan: &(String, Vec<String>),
    origin: usize,
    node: usize,
    rooms: &BTreeSet<String>,
) -> String {
    if origin == node {
        return "local".into();
    }
    match plan.0.as_str() {
        "rooms" => plan
            .1
            .iter()
            .find(|r| rooms.contains(*r))
            .cloned()
            .expect("a target room the client is in"),
        // A client has one user: its user's channel, and its own.
        "user" => "user".into(),
        "client" => "client".into(),
        _ => "all".into(),
    }
}

/// The suite on `redis_url` (a Redis Cluster's seed list when `sharded`).
async fn exactly_once(redis_url: &str, sharded: bool) {
    let started = Instant::now();
    let ttl = Duration::from_secs(15);
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(Node::spawn(NODE_BIN, redis_url, "delivery", ttl).await);
    }

    // Connect, name and seat every client (64 at a time).
    let plans: Vec<(usize, usize)> = (0..NODES)
        .flat_map(|n| (0..CLIENTS_PER_NODE).map(move |i| (n, n * CLIENTS_PER_NODE + i)))
        .collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let seated: Vec<(TestClient, Member)> = stream::iter(plans)
        .map(|(n, g)| {
            let url = urls[n].clone();
            async move {
                let mut c = TestClient::connect(&url).await;
                let mut rooms = BTreeSet::new();
                rooms.insert(format!("r{}", g % ROOMS));
                rooms.insert(format!("r{}", (g * 7 + 3) % ROOMS));
                for r in &rooms {
                    c.join(r).await;
                }
                // Every fifth client stays anonymous.
                let user = (g % 5 != 0).then(|| format!("u{}", g % USERS));
                if let Some(u) = &user {
                    let r = c.request("t", "setUser", json!(u)).await;
                    assert_eq!(r["response"], true, "{r}");
                }
                let id = c.id.clone();
                (
                    c,
                    Member {
                        id,
                        node: n,
                        rooms,
                        user,
                    },
                )
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let setup = started.elapsed();

    let mut members = Vec::new();
    let mut readers = Vec::new();
    for (c, m) in seated {
        readers.push(Recorder::start(c));
        members.push(m);
    }

    // Drivers: one connection per node that triggers the sends (and receives `all`).
    let mut drivers = Vec::new();
    let mut driver_ids = Vec::new();
    for n in &nodes {
        let c = TestClient::connect(&n.url()).await;
        driver_ids.push(c.id.clone());
        drivers.push(c);
    }

    // The plan: seq -> (request data, intended recipients).
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let all_ids: Vec<String> = members
        .iter()
        .map(|m| m.id.clone())
        .chain(driver_ids.iter().cloned())
        .collect();
    let mut by_room: HashMap<String, Vec<&str>> = HashMap::new();
    let mut by_user: HashMap<String, Vec<&str>> = HashMap::new();
    for m in &members {
        for r in &m.rooms {
            by_room.entry(r.clone()).or_default().push(&m.id);
        }
        if let Some(u) = &m.user {
            by_user.entry(u.clone()).or_default().push(&m.id);
        }
    }
    let mut expected: HashMap<String, Vec<u64>> = HashMap::new();
    let mut requests: Vec<Vec<Value>> = vec![Vec::new(); NODES];
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    // seq -> (kind, target rooms in the order sent).
    let mut plan: HashMap<u64, (String, Vec<String>)> = HashMap::new();
    for (d, reqs) in requests.iter_mut().enumerate() {
        for k in 0..MESSAGES_PER_DRIVER {
            let seq = d as u64 * 1_000_000 + k;
            let roll = rng.below(100);
            let (kind, data, mut to): (&str, Value, BTreeSet<&str>) = if roll < 50 {
                let n = if roll < 40 { 1 } else { 2 + rng.below(2) };
                let rooms: BTreeSet<String> =
                    (0..n).map(|_| format!("r{}", rng.below(ROOMS))).collect();
                let to = rooms
                    .iter()
                    .flat_map(|r| by_room[r].iter().copied())
                    .collect();
                (
                    "rooms",
                    json!({"kind": "rooms", "rooms": rooms, "seq": seq}),
                    to,
                )
            } else if roll < 75 {
                let u = format!("u{}", rng.below(USERS));
                let to = by_user
                    .get(&u)
                    .map(|v| v.iter().copied().collect())
                    .unwrap_or_default();
                ("user", json!({"kind": "user", "user": u, "seq": seq}), to)
            } else if roll < 95 {
                let c = &members[rng.below(members.len())].id;
                (
                    "client",
                    json!({"kind": "client", "client": c, "seq": seq}),
                    BTreeSet::from([c.as_str()]),
                )
            } else {
                (
                    "all",
                    json!({"kind": "all", "seq": seq}),
                    all_ids.iter().map(String::as_str).collect(),
                )
            };
            let mut data = data;
            // Half of the room and all sends leave one recipient out (the "sender").
            if matches!(kind, "rooms" | "all") && rng.below(2) == 0 && !to.is_empty() {
                let skip = *to.iter().nth(rng.below(to.len())).unwrap();
                data["except"] = json!(skip);
                to.remove(skip);
            }
            *kinds.entry(kind).or_default() += 1;
            let rooms: Vec<String> = data["rooms"]
                .as_array()
                .map(|a| a.iter().map(|r| r.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            plan.insert(seq, (kind.to_owned(), rooms));
            for id in to {
                expected.entry(id.to_owned()).or_default().push(seq);
            }
            reqs.push(data);
        }
    }

    // Fire every driver's requests, pipelined, then a barrier request on the same
    // connection: its node handles it after all the sends before it, so the barrier frame
    // reaches every client after everything that node sent.
    let sends_started = Instant::now();
    let mut driver_tasks = Vec::new();
    for (d, c) in drivers.into_iter().enumerate() {
        let (rec, mut sink) = Recorder::split(c);
        let reqs = std::mem::take(&mut requests[d]);
        let sender = tokio::spawn(async move {
            for (i, data) in reqs.into_iter().enumerate() {
                let m = json!({"type": "t", "action": "send", "data": data, "id": i});
                sink.feed(Message::text(m.to_string())).await.unwrap();
            }
            let m = json!({"type": "t", "action": "barrier", "id": "barrier"});
            sink.send(Message::text(m.to_string())).await.unwrap();
            sink
        });
        driver_tasks.push((rec, sender));
    }
    let mut driver_seen = Vec::new();
    let mut driver_sinks = Vec::new();
    let mut driver_recs = Vec::new();
    let count = |id: &str| sharded.then(|| expected.get(id).map_or(0, Vec::len));
    for ((rec, sender), id) in driver_tasks.into_iter().zip(&driver_ids) {
        driver_sinks.push(sender.await.unwrap());
        driver_seen.push(seen(&rec, MESSAGES_PER_DRIVER as usize + 1, count(id)).await);
        driver_recs.push(rec);
    }
    let sends = sends_started.elapsed();

    // Check the drivers' replies: every send succeeded.
    for (d, seen) in driver_seen.iter().enumerate() {
        assert_eq!(seen.replies.len(), MESSAGES_PER_DRIVER as usize + 1);
        for r in &seen.replies {
            assert_eq!(r["type"], "t", "driver {d}: {r}");
        }
    }

    // Every client: exactly the expected messages, each once.
    let mut delivered = 0usize;
    let mut seen_by: Vec<(String, usize, BTreeSet<String>, Vec<u64>)> = Vec::new();
    for (rec, m) in readers.iter().zip(&members) {
        let seqs = seen(rec, 0, count(&m.id)).await.seqs;
        seen_by.push((m.id.clone(), m.node, m.rooms.clone(), seqs));
    }
    for (d, (id, seen)) in driver_ids.iter().zip(driver_seen).enumerate() {
        seen_by.push((id.clone(), d, BTreeSet::new(), seen.seqs));
    }
    for (id, node, rooms, mut got) in seen_by {
        // Per origin, in the order that driver sent them; on a Redis Cluster per origin
        // and channel.
        for d in 0..NODES as u64 {
            let from: Vec<u64> = got.iter().copied().filter(|s| origin(*s) == d).collect();
            if !sharded {
                assert!(
                    from.windows(2).all(|w| w[0] < w[1]),
                    "client {id}: driver {d}'s messages out of order: {:?}",
                    &from[..from.len().min(20)]
                );
                continue;
            }
            let mut by_channel: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for s in from {
                let Some(p) = plan.get(&s) else { continue };
                by_channel
                    .entry(channel_of(p, d as usize, node, &rooms))
                    .or_default()
                    .push(s);
            }
            for (ch, seqs) in by_channel {
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "client {id}: driver {d}'s messages on {ch} out of order: {:?}",
                    &seqs[..seqs.len().min(20)]
                );
            }
        }
        got.sort_unstable();
        let mut want = expected.remove(&id).unwrap_or_default();
        want.sort_unstable();
        delivered += got.len();
        if got != want {
            let dup: Vec<_> = got
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0])
                .collect();
            let g: BTreeSet<_> = got.iter().collect();
            let w: BTreeSet<_> = want.iter().collect();
            panic!(
                "client {id}: {} frames, expected {}; duplicates {:?}; missing {:?}; unexpected {:?}",
                got.len(),
                want.len(),
                &dup[..dup.len().min(5)],
                w.difference(&g).take(5).collect::<Vec<_>>(),
                g.difference(&w).take(5).collect::<Vec<_>>(),
            );
        }
    }
    assert!(expected.is_empty());
    eprintln!(
        "{} {NODES} instances x {CLIENTS_PER_NODE} clients, {} messages ({kinds:?}), {delivered} deliveries checked; setup {setup:?}, sends {sends:?}",
        if sharded {
            "redis cluster:"
        } else {
            "one redis:"
        },
        NODES as u64 * MESSAGES_PER_DRIVER
    );
    drop(nodes);
}
