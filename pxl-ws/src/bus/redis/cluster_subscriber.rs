//! The subscriber on a Redis Cluster: its own connection to each master, so a node
//! lost touches only what that node held.
//!
//! - The **slot map** comes from `CLUSTER SLOTS` (asked of any known node), refreshed
//!   every few seconds, at once after a `MOVED`, a `sunsubscribe` the server sent by
//!   itself (the slot moved away) or a node that cannot be reached.
//! - One **shard task** per master holds, with `SSUBSCRIBE`, the watched channels whose
//!   slot that master serves (one command per slot), follows the wanted set and the map,
//!   pings the node while quiet, and reconnects with backoff. While it is down the bus
//!   reports itself disconnected; its channels are subscribed again, and a resync
//!   marker follows, once it is back.
//! - One **global task** holds the fixed channels with plain `SUBSCRIBE` on one node
//!   (plain pub/sub reaches every node of a cluster), moving to another node when that
//!   one is lost; each (re)subscription yields the resync marker.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::node::{self, Auth, NodeAddr, NodeWriter, Resp};
use super::{Backoff, BusMessage, CONNECT_TIMEOUT, Inner, RESPONSE_TIMEOUT, SUBSCRIBE_BATCH};
use crate::redis_target::{RedisTarget, by_slot, slot};

/// The slot map is asked again this often, changes or not (a failover elsewhere).
const MAP_REFRESH: Duration = Duration::from_secs(5);

/// Which master serves which slots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct SlotMap {
    ranges: Vec<(u16, u16, NodeAddr)>,
}

impl SlotMap {
    fn owner(&self, slot: u16) -> Option<&NodeAddr> {
        self.ranges
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, n)| n)
    }

    fn masters(&self) -> BTreeSet<NodeAddr> {
        self.ranges.iter().map(|(_, _, n)| n.clone()).collect()
    }

    fn owns(&self, node: &NodeAddr, channel: &str) -> bool {
        self.owner(slot(channel.as_bytes())) == Some(node)
    }
}

/// What the tasks share besides the bus: credentials, the map, health and a way to ask
/// for a fresh map.
struct Shared {
    inner: Arc<Inner>,
    out: mpsc::Sender<BusMessage>,
    auth: Auth,
    map: watch::Sender<Arc<SlotMap>>,
    refresh: mpsc::UnboundedSender<()>,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    /// The global task holds the fixed channels.
    global: bool,
    /// Shard tasks not (yet, or no longer) holding their channels.
    down: HashSet<NodeAddr>,
}

impl Shared {
    /// Records a task's state; returns whether this made the whole subscription up.
    fn set(&self, node: Option<&NodeAddr>, up: bool) -> bool {
        let mut h = self.health.lock().expect("subscriber health lock");
        let before = h.global && h.down.is_empty();
        match node {
            None => h.global = up,
            Some(n) if up => {
                h.down.remove(n);
            }
            Some(n) => {
                h.down.insert(n.clone());
            }
        }
        let all = h.global && h.down.is_empty();
        self.inner.sub_connected.store(all, Ordering::Release);
        all && !before
    }

    /// The subscription is whole again: lets the publisher reconnect, then yields the
    /// resync marker. `false` once the server is gone.
    async fn resync(&self) -> bool {
        self.inner.wake.notify_one();
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while self.inner.down.load(Ordering::Acquire) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.out.send(self.inner.resync_marker()).await.is_ok()
    }
}

/// Keeps the cluster subscription up for `out`; ends when `out`'s receiver is dropped.
pub(super) async fn subscribe_loop(inner: Arc<Inner>, out: mpsc::Sender<BusMessage>) {
    let RedisTarget::Cluster(urls) = &inner.target else {
        unreachable!("the cluster subscriber on a single-redis target");
    };
    let mut seeds = Vec::new();
    let mut auth = Auth::default();
    for u in urls {
        if let Some((addr, a)) = node::parse_seed(u) {
            seeds.push(addr);
            auth = a;
        }
    }
    let mut backoff = Backoff::new();
    let mut tries = 0u32;
    let first = loop {
        match fetch_map(&seeds, &auth).await {
            Some(m) => break m,
            None => {
                tries += 1;
                if tries == 1 {
                    tracing::warn!(
                        "redis cluster subscriber cannot read the slot map from any seed; retrying"
                    );
                }
                tokio::select! {
                    _ = out.closed() => return,
                    _ = tokio::time::sleep(backoff.next()) => {}
                }
            }
        }
    };
    let (refresh_tx, mut refresh_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        inner,
        out,
        auth,
        map: watch::Sender::new(Arc::new(first)),
        refresh: refresh_tx,
        health: Mutex::new(Health::default()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: HashSet<NodeAddr> = HashSet::new();
    for m in shared.map.borrow().masters() {
        shared.set(Some(&m), false);
    }
    tasks.spawn(global_loop(shared.clone()));
    loop {
        // A task per master of the current map (a task whose master left the map ends).
        for m in shared.map.borrow().masters() {
            if running.insert(m.clone()) {
                shared.set(Some(&m), false);
                tasks.spawn(shard_loop(shared.clone(), m));
            }
        }
        tokio::select! {
            _ = shared.out.closed() => {
                tasks.abort_all();
                return;
            }
            Some(done) = tasks.join_next() => {
                if let Ok(Some(node)) = done {
                    running.remove(&node);
                }
            }
            _ = refresh_rx.recv() => {
                // Several asks in a burst: one refresh.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while refresh_rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(MAP_REFRESH) => {}
        }
        let mut known: Vec<NodeAddr> = shared.map.borrow().masters().into_iter().collect();
        known.extend(seeds.iter().cloned());
        if let Some(m) = fetch_map(&known, &shared.auth).await
            && **shared.map.borrow() != m
        {
            tracing::info!("redis cluster slot map changed");
            let gone: Vec<NodeAddr> = {
                let now = m.masters();
                running
                    .iter()
                    .filter(|n| !now.contains(*n))
                    .cloned()
                    .collect()
            };
            shared.map.send_replace(Arc::new(m));
            for n in gone {
                shared.set(Some(&n), true);
            }
        }
    }
}

/// `CLUSTER SLOTS` from the first of `nodes` that answers.
async fn fetch_map(nodes: &[NodeAddr], auth: &Auth) -> Option<SlotMap> {
    for n in nodes {
        let Ok((mut r, mut w)) = node::connect(n, auth, CONNECT_TIMEOUT).await else {
            continue;
        };
        if w.send(&[vec![b"CLUSTER", b"SLOTS"]]).await.is_err() {
            continue;
        }
        let Ok(Ok(Resp::Array(ranges))) =
            tokio::time::timeout(RESPONSE_TIMEOUT, node::read_value(&mut r)).await
        else {
            continue;
        };
        let mut map = SlotMap::default();
        for range in ranges {
            let Resp::Array(items) = range else { continue };
            let (Some(a), Some(b), Some(Resp::Array(master))) = (
                items.first().and_then(Resp::int),
                items.get(1).and_then(Resp::int),
                items.get(2),
            ) else {
                continue;
            };
            let host = master
                .first()
                .and_then(Resp::bytes)
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .filter(|h| !h.is_empty() && h != "?")
                .unwrap_or_else(|| n.host.clone());
            let Some(port) = master.get(1).and_then(Resp::int) else {
                continue;
            };
            map.ranges.push((
                a as u16,
                b as u16,
                NodeAddr {
                    host,
                    port: port as u16,
                },
            ));
        }
        map.ranges.sort();
        if !map.ranges.is_empty() {
            return Some(map);
        }
    }
    None
}

/// A connection's reading half, read by its own task into `tx` (a read cancelled midway
/// would lose its place in the stream). Ends at the first error or when `tx` closes.
fn spawn_reader(
    mut r: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> mpsc::Receiver<std::io::Result<Resp>> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            let v = node::read_value(&mut r).await;
            let end = v.is_err();
            if tx.send(v).await.is_err() || end {
                return;
            }
        }
    });
    rx
}

/// A pub/sub push forwarded to the server, if `v` is one (`message` / `smessage`).
fn as_message(v: &Resp) -> Option<BusMessage> {
    let Resp::Array(items) = v else { return None };
    let kind = items.first()?.bytes()?;
    if kind != b"message" && kind != b"smessage" {
        return None;
    }
    Some(BusMessage {
        channel: String::from_utf8_lossy(items.get(1)?.bytes()?).into_owned(),
        payload: Bytes::copy_from_slice(items.get(2)?.bytes()?),
    })
}

/// The kind and channel of a subscription reply or push (`ssubscribe`, `pong`, …).
fn reply_kind(v: &Resp) -> Option<(&[u8], Option<&[u8]>)> {
    let Resp::Array(items) = v else { return None };
    Some((items.first()?.bytes()?, items.get(1).and_then(Resp::bytes)))
}

/// Holds the fixed channels on one node, moving on when it is lost.
async fn global_loop(shared: Arc<Shared>) -> Option<NodeAddr> {
    let inner = shared.inner.clone();
    let mut backoff = Backoff::new();
    let mut turn = 0usize;
    loop {
        let nodes: Vec<NodeAddr> = shared.map.borrow().masters().into_iter().collect();
        let node = nodes[turn % nodes.len().max(1)].clone();
        turn += 1;
        let Ok((r, mut w)) = node::connect(&node, &shared.auth, CONNECT_TIMEOUT).await else {
            tokio::time::sleep(backoff.next()).await;
            continue;
        };
        let mut rx = spawn_reader(r);
        let fixed = inner.fixed();
        let mut cmd: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        cmd.extend(fixed.iter().map(|c| c.as_bytes()));
        if w.send(&[cmd]).await.is_err() {
            continue;
        }
        let mut left = fixed.len();
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        while left > 0 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Ok(v))) if reply_kind(&v).is_some_and(|(k, _)| k == b"subscribe") => {
                    left -= 1;
                }
                Ok(Some(Ok(v))) => {
                    if let Some(m) = as_message(&v)
                        && shared.out.send(m).await.is_err()
                    {
                        return None;
                    }
                }
                _ => break,
            }
        }
        if left > 0 {
            tokio::time::sleep(backoff.next()).await;
            continue;
        }
        backoff.reset();
        // The task completing the subscription yields the resync marker.
        if shared.set(None, true) && !shared.resync().await {
            return None;
        }
        let lost = hold(&shared, &mut rx, &mut w).await;
        shared.set(None, false);
        lost?;
        tracing::warn!(node = %node, "redis cluster subscriber lost the node holding the fixed channels; moving on");
    }
}

/// Reads pushes until the connection is lost (`Some`) or the server is gone (`None`),
/// pinging the node while it is quiet. For the global task only.
async fn hold(
    shared: &Shared,
    rx: &mut mpsc::Receiver<std::io::Result<Resp>>,
    w: &mut NodeWriter,
) -> Option<()> {
    let idle = shared.inner.idle_limit;
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(idle / 3);
    ping.reset();
    loop {
        tokio::select! {
            _ = shared.out.closed() => return None,
            // The publisher dropped publishes and is back (`Inner::resync`).
            _ = shared.inner.resync.notified() => {
                if shared.out.send(shared.inner.resync_marker()).await.is_err() {
                    return None;
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() >= idle || w.send(&[vec![b"PING"]]).await.is_err() {
                    return Some(());
                }
            }
            v = rx.recv() => {
                let Some(Ok(v)) = v else { return Some(()) };
                heard = Instant::now();
                if let Some(m) = as_message(&v)
                    && shared.out.send(m).await.is_err()
                {
                    return None;
                }
            }
        }
    }
}

/// A subscription command in flight on a shard connection.
enum Pending {
    /// SSUBSCRIBE; confirmations still to come.
    Sub(usize),
    /// SUNSUBSCRIBE; confirmations still to come.
    Unsub(usize),
    Ping,
}

/// Holds the sharded channels `node` serves; returns `node` once it left the map (or
/// the server is gone).
async fn shard_loop(shared: Arc<Shared>, node: NodeAddr) -> Option<NodeAddr> {
    let inner = shared.inner.clone();
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    let mut changes = inner.changes.subscribe();
    let mut map_rx = shared.map.subscribe();
    loop {
        if !map_rx.borrow_and_update().masters().contains(&node) {
            return Some(node);
        }
        let conn = tokio::select! {
            _ = shared.out.closed() => return None,
            c = node::connect(&node, &shared.auth, CONNECT_TIMEOUT) => c,
        };
        let Ok((r, mut w)) = conn else {
            failures += 1;
            if failures == 1 {
                tracing::warn!(node = %node, "redis cluster subscriber cannot reach a master; retrying");
            }
            // Maybe it failed over: ask for the map again.
            let _ = shared.refresh.send(());
            tokio::select! {
                _ = shared.out.closed() => return None,
                _ = tokio::time::sleep(backoff.next()) => continue,
                _ = map_rx.changed() => continue,
            }
        };
        let mut rx = spawn_reader(r);
        // What this connection holds, and what it asked for.
        let mut held: HashSet<String> = HashSet::new();
        let mut pending: std::collections::VecDeque<Pending> = Default::default();
        let mut dirty = true;
        let mut up = false;
        let mut heard = Instant::now();
        let mut ping = tokio::time::interval(inner.idle_limit / 3);
        ping.reset();
        let lost = loop {
            if dirty && pending.iter().all(|p| matches!(p, Pending::Ping)) {
                dirty = false;
                let map = map_rx.borrow().clone();
                let (add, remove): (Vec<String>, Vec<String>) = {
                    let d = inner.dynamic();
                    (
                        d.wanted
                            .iter()
                            .filter(|c| !held.contains(*c) && map.owns(&node, c))
                            .cloned()
                            .collect(),
                        held.iter()
                            .filter(|c| !d.wanted.contains(*c) || !map.owns(&node, c))
                            .cloned()
                            .collect(),
                    )
                };
                let mut cmds = Vec::new();
                for (verb, list) in [("SSUBSCRIBE", add), ("SUNSUBSCRIBE", remove)] {
                    for group in by_slot(list, |c| c.as_bytes()) {
                        for chunk in group.chunks(SUBSCRIBE_BATCH) {
                            let n = chunk.len();
                            pending.push_back(if verb == "SSUBSCRIBE" {
                                Pending::Sub(n)
                            } else {
                                Pending::Unsub(n)
                            });
                            cmds.push((verb, chunk.to_vec()));
                        }
                    }
                }
                if !cmds.is_empty() {
                    let args: Vec<Vec<&[u8]>> = cmds
                        .iter()
                        .map(|(verb, chs)| {
                            std::iter::once(verb.as_bytes())
                                .chain(chs.iter().map(|c| c.as_bytes()))
                                .collect()
                        })
                        .collect();
                    if w.send(&args).await.is_err() {
                        break true;
                    }
                }
            }
            if !up && pending.is_empty() && !dirty {
                up = true;
                backoff.reset();
                if failures > 0 {
                    tracing::info!(node = %node, "redis cluster subscriber resubscribed a master");
                    crate::metrics::bus_reconnect();
                }
                failures = 0;
                if shared.set(Some(&node), true) && !shared.resync().await {
                    return None;
                }
            }
            tokio::select! {
                _ = shared.out.closed() => return None,
                _ = changes.changed() => dirty = true,
                c = map_rx.changed() => {
                    if c.is_err() || !map_rx.borrow().masters().contains(&node) {
                        break false;
                    }
                    dirty = true;
                }
                _ = ping.tick() => {
                    if heard.elapsed() >= inner.idle_limit {
                        tracing::warn!(node = %node, "redis cluster node silent for a whole liveness TTL");
                        break true;
                    }
                    pending.push_back(Pending::Ping);
                    if w.send(&[vec![b"PING"]]).await.is_err() {
                        break true;
                    }
                }
                v = rx.recv() => {
                    let Some(Ok(v)) = v else { break true };
                    heard = Instant::now();
                    if let Some(m) = as_message(&v) {
                        if shared.out.send(m).await.is_err() {
                            return None;
                        }
                        continue;
                    }
                    if let Resp::Error(e) = &v {
                        // MOVED, CLUSTERDOWN, …: the command in front failed.
                        tracing::debug!(node = %node, error = %e, "redis cluster subscription refused");
                        pending.pop_front();
                        let _ = shared.refresh.send(());
                        dirty = true;
                        if up {
                            up = false;
                            shared.set(Some(&node), false);
                        }
                        tokio::time::sleep(backoff.next()).await;
                        continue;
                    }
                    let Some((kind, channel)) = reply_kind(&v) else { continue };
                    let channel = channel.map(|c| String::from_utf8_lossy(c).into_owned());
                    match (kind, pending.front_mut()) {
                        (b"ssubscribe", Some(Pending::Sub(left))) => {
                            *left -= 1;
                            if let Some(ch) = channel {
                                let mut d = inner.dynamic();
                                d.confirmed.insert(ch.clone());
                                d.release();
                                held.insert(ch);
                            }
                            if *left == 0 {
                                pending.pop_front();
                            }
                        }
                        (b"sunsubscribe", Some(Pending::Unsub(left))) => {
                            *left -= 1;
                            if let Some(ch) = channel {
                                inner.dynamic().confirmed.remove(&ch);
                                held.remove(&ch);
                            }
                            if *left == 0 {
                                pending.pop_front();
                            }
                        }
                        (b"sunsubscribe", _) => {
                            // Not asked for: the slot moved to another master.
                            if let Some(ch) = channel {
                                inner.dynamic().confirmed.remove(&ch);
                                held.remove(&ch);
                            }
                            let _ = shared.refresh.send(());
                            dirty = true;
                        }
                        (b"pong", Some(Pending::Ping)) => {
                            pending.pop_front();
                        }
                        _ => {}
                    }
                }
            }
        };
        // This connection's channels are no longer held.
        {
            let mut d = inner.dynamic();
            for ch in &held {
                d.confirmed.remove(ch);
            }
            // Joins waiting on this node's channels are answered at once.
            let map = map_rx.borrow().clone();
            d.waiters.retain(|(ch, _)| !map.owns(&node, ch));
        }
        if !lost {
            // The node left the map: its channels are someone else's now.
            return Some(node);
        }
        shared.set(Some(&node), false);
        tracing::warn!(node = %node, "redis cluster subscriber lost a master; reconnecting");
        failures = failures.max(1);
        let _ = shared.refresh.send(());
        tokio::select! {
            _ = shared.out.closed() => return None,
            _ = tokio::time::sleep(backoff.next()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_names_each_slots_master() {
        let a = NodeAddr {
            host: "h".into(),
            port: 1,
        };
        let b = NodeAddr {
            host: "h".into(),
            port: 2,
        };
        let map = SlotMap {
            ranges: vec![(0, 8191, a.clone()), (8192, 16383, b.clone())],
        };
        assert_eq!(map.owner(0), Some(&a));
        assert_eq!(map.owner(8192), Some(&b));
        assert_eq!(map.masters().len(), 2);
        // "foo" is slot 12182, "bar" 5061.
        assert!(map.owns(&b, "foo") && map.owns(&a, "bar"));
    }
}
