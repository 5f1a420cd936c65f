//! The Redis bus: one multiplexed publisher connection and one subscriber connection per
//! instance, each reconnecting by itself with backoff. The subscriber connection holds
//! the fixed channels plus the dynamic set ([`Bus::watch`]: rooms served here, this
//! instance's direct channel), changed in batched SUBSCRIBE / UNSUBSCRIBE commands.
//!
//! On a Redis Cluster (`cluster.redis_cluster_urls`) both are cluster connections (one
//! socket per node behind each): the dynamic set is sharded pub/sub (`SSUBSCRIBE` /
//! `SPUBLISH`, each channel on the node owning its hash slot), the fixed channels plain
//! pub/sub; every command and pipeline stays within one slot.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::{Bus, BusMessage, BusStatus, BusStream};
use crate::config::{ClusterConfig, ConfigError};
use crate::redis_target::{RedisTarget, by_slot, timed_out};

mod cluster_subscriber;
mod node;
use futures_util::future::BoxFuture;

/// Messages sent to Redis in one pipeline.
const BATCH: usize = 256;
/// Inbound messages buffered between the subscriber connection and the server.
const INBOUND: usize = 65_536;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Channels named in one SUBSCRIBE or UNSUBSCRIBE command.
const SUBSCRIBE_BATCH: usize = 1024;

/// Fan-out through Redis pub/sub, for several instances (processes, hosts) of one app.
///
/// Built by [`WsServerBuilder::build`](crate::WsServerBuilder::build) when
/// [`ClusterConfig::redis_url`] or [`ClusterConfig::redis_cluster_urls`] is set; build one yourself to pass to
/// [`WsServerBuilder::bus`](crate::WsServerBuilder::bus). Channels are
/// `<prefix>:<event>` (see `docs/cluster.md`).
///
/// - `publish` never waits: messages go to a bounded queue (`publish_buffer`) drained by
///   one publisher connection in pipelines; a full queue drops the message.
/// - While Redis is unreachable, publishes fail fast: they are dropped at once. Every
///   drop is counted in [`BusStatus::dropped`] and logged (one line per burst). Nothing
///   is held to be delivered late, and a pipeline that failed midway is not sent again:
///   across an outage, delivery is at most once, never duplicated.
/// - Both connections reconnect with backoff (50 ms doubling to 1 s, with jitter). After
///   resubscribing, and once the publisher is back too, the stream yields
///   [`BusMessage::is_resync`] so the server resyncs its view of the other instances.
///
/// ```no_run
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let mut cluster = pxl_ws::config::ClusterConfig::default();
/// cluster.redis_url = Some("redis://127.0.0.1:6379".into());
/// let bus = pxl_ws::bus::RedisBus::new(&cluster)?;
/// let server = pxl_ws::WsServer::builder().bus(bus).build()?;
/// # drop(server); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    target: RedisTarget,
    prefix: String,
    channels: Vec<String>,
    /// Fixed channels this instance does not need ([`Bus::skip`]).
    skipped: Mutex<HashSet<String>>,
    /// A subscription silent this long is taken as dead (the server's own heartbeats
    /// come back every third of it).
    idle_limit: Duration,
    tx: mpsc::Sender<BusMessage>,
    rx: Mutex<Option<mpsc::Receiver<BusMessage>>>,
    /// Whether the publisher task runs (`rx` was taken).
    started: AtomicBool,
    pub_connected: AtomicBool,
    sub_connected: AtomicBool,
    /// Set once a publisher connection attempt failed, until one succeeds: publishes are
    /// dropped at the door meanwhile.
    down: AtomicBool,
    /// Wakes the publisher from its backoff (the subscriber just reached Redis).
    wake: Notify,
    dropped: AtomicU64,
    /// Set while the publisher task holds a batch it has not finished with.
    busy: AtomicBool,
    /// Bumped each time the subscriber connection is lost: the publisher connection is
    /// then presumed dead too and replaced before the next send.
    lost: AtomicU64,
    /// Drops not yet logged (one log line per burst).
    unlogged_drops: AtomicU64,
    /// The dynamic channel set.
    dynamic: Mutex<Dynamic>,
    /// Wakes the subscriber task: the wanted set changed.
    changed: Notify,
    /// Asks the subscriber for a resync marker: publishes were dropped (their connection
    /// was lost or could not be made) and the publisher is connected again, so the state
    /// they carried is restated (a heartbeat, a snapshot and a snapshot request). A
    /// resync the subscriber yields anyway (after its own reconnect) takes the ask with it
    /// ([`Inner::resync_marker`]).
    resync: Notify,
    /// The same, for every shard's subscriber task on a Redis Cluster.
    changes: tokio::sync::watch::Sender<u64>,
}

/// The dynamic part of the subscription: what the server wants, what the current
/// subscriber connection has confirmed, and who waits for a confirmation.
#[derive(Default)]
struct Dynamic {
    wanted: HashSet<String>,
    confirmed: HashSet<String>,
    waiters: Vec<(String, oneshot::Sender<()>)>,
}

impl Dynamic {
    /// Releases the waiters whose channel is confirmed (or no longer wanted).
    fn release(&mut self) {
        let (wanted, confirmed) = (&self.wanted, &self.confirmed);
        self.waiters
            .retain(|(ch, _)| wanted.contains(ch) && !confirmed.contains(ch));
        // Dropping a sender resolves its waiter.
    }

    /// The connection is gone: nothing is confirmed, and nobody waits for it.
    fn lost(&mut self) {
        self.confirmed.clear();
        self.waiters.clear();
    }
}

impl RedisBus {
    /// A bus for `config.redis_url` (or the Redis Cluster of
    /// `config.redis_cluster_urls`) and `config.prefix`. Connects once the server starts;
    /// fails only if a URL cannot be parsed, or neither or both are set.
    pub fn new(config: &ClusterConfig) -> Result<Self, ConfigError> {
        let target = RedisTarget::new(config)?;
        let (tx, rx) = mpsc::channel(config.publish_buffer.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                prefix: config.prefix.clone(),
                channels: crate::events::channels(&config.prefix),
                skipped: Mutex::new(HashSet::new()),
                idle_limit: config.liveness_ttl,
                tx,
                rx: Mutex::new(Some(rx)),
                started: AtomicBool::new(false),
                pub_connected: AtomicBool::new(false),
                sub_connected: AtomicBool::new(false),
                down: AtomicBool::new(false),
                wake: Notify::new(),
                dropped: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                busy: AtomicBool::new(false),
                unlogged_drops: AtomicU64::new(0),
                dynamic: Mutex::new(Dynamic::default()),
                changed: Notify::new(),
                resync: Notify::new(),
                changes: tokio::sync::watch::Sender::new(0),
            }),
        })
    }

    /// Starts the publisher task on first use (inside a tokio runtime).
    fn start_publisher(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rx = self.inner.rx.lock().expect("publisher lock").take();
        if let Some(rx) = rx {
            self.inner.started.store(true, Ordering::Release);
            rt.spawn(publish_loop(Arc::downgrade(&self.inner), rx));
        }
    }
}

impl Inner {
    /// The resync marker for the server, answering any ask for one ([`Inner::resync`]):
    /// this resync restates what the dropped publishes carried, so a second one is not
    /// needed.
    fn resync_marker(&self) -> BusMessage {
        let _ = self.resync.notified().now_or_never();
        BusMessage::resync()
    }

    /// The fixed channels to subscribe: all but the skipped ones.
    fn fixed(&self) -> Vec<String> {
        let skipped = self.skipped.lock().expect("skipped channels lock");
        self.channels
            .iter()
            .filter(|c| !skipped.contains(*c))
            .cloned()
            .collect()
    }

    fn dynamic(&self) -> std::sync::MutexGuard<'_, Dynamic> {
        self.dynamic.lock().expect("dynamic channels lock")
    }

    fn drop_messages(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        self.dropped.fetch_add(n, Ordering::Relaxed);
        crate::metrics::bus_dropped(n);
        let before = self.unlogged_drops.fetch_add(n, Ordering::Relaxed);
        if before == 0 {
            tracing::warn!(dropped = n, reason = why, "redis bus dropped messages");
        }
    }

    fn log_drops(&self) {
        let n = self.unlogged_drops.swap(0, Ordering::Relaxed);
        if n > 1 {
            tracing::warn!(dropped = n, "redis bus dropped messages while degraded");
        }
    }
}

impl Bus for RedisBus {
    fn publish(&self, msg: BusMessage) {
        if !self.inner.started.load(Ordering::Acquire) {
            self.start_publisher();
        }
        if self.inner.down.load(Ordering::Acquire) {
            self.inner.drop_messages(1, "redis unreachable");
            return;
        }
        match self.inner.tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.drop_messages(1, "publish buffer full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.drop_messages(1, "publisher stopped");
            }
        }
    }

    fn subscribe(&self) -> BusStream {
        self.start_publisher();
        let (tx, rx) = mpsc::channel(INBOUND);
        tokio::spawn(subscribe_loop(self.inner.clone(), tx));
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }))
    }

    fn flush(&self, within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let deadline = Instant::now() + within;
            let i = &self.inner;
            while Instant::now() < deadline
                && !i.down.load(Ordering::Acquire)
                && (i.tx.capacity() < i.tx.max_capacity() || i.busy.load(Ordering::Acquire))
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    }

    fn skip(&self, channel: &str) {
        self.inner
            .skipped
            .lock()
            .expect("skipped channels lock")
            .insert(channel.to_owned());
    }

    fn watch(&self, channel: &str) {
        let mut d = self.inner.dynamic();
        if d.wanted.insert(channel.to_owned()) {
            self.inner.changed.notify_one();
            self.inner.changes.send_modify(|n| *n += 1);
        }
    }

    fn unwatch(&self, channel: &str) {
        let mut d = self.inner.dynamic();
        if d.wanted.remove(channel) {
            d.release();
            self.inner.changed.notify_one();
            self.inner.changes.send_modify(|n| *n += 1);
        }
    }

    fn watching(&self, channel: &str) -> BoxFuture<'_, ()> {
        let rx = {
            let mut d = self.inner.dynamic();
            if !self.inner.sub_connected.load(Ordering::Acquire)
                || !d.wanted.contains(channel)
                || d.confirmed.contains(channel)
            {
                None
            } else {
                let (tx, rx) = oneshot::channel();
                d.waiters.push((channel.to_owned(), tx));
                Some(rx)
            }
        };
        Box::pin(async move {
            if let Some(rx) = rx
                && tokio::time::timeout(RESPONSE_TIMEOUT, rx).await.is_err()
            {
                tracing::warn!("redis bus: a subscription was not confirmed in time");
            }
        })
    }

    fn status(&self) -> BusStatus {
        let i = &self.inner;
        BusStatus {
            kind: "redis",
            connected: i.pub_connected.load(Ordering::Relaxed)
                && i.sub_connected.load(Ordering::Relaxed),
            dropped: i.dropped.load(Ordering::Relaxed),
        }
    }
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF_MIN)
    }
    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
    /// The next delay, with up to 25 % jitter so instances do not reconnect in lockstep.
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d + d.mul_f64(rand::random::<f64>() * 0.25)
    }
}

type Conn = crate::redis_target::Conn;

async fn connect_publisher(target: &RedisTarget) -> redis::RedisResult<Conn> {
    target.connect().await
}

/// Drops everything queued; returns how many.
fn drain(rx: &mut mpsc::Receiver<BusMessage>) -> u64 {
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    n
}

/// Connects the publisher, retrying with backoff until it succeeds (publishes are
/// dropped at the door meanwhile). Returns the connection and the subscriber-loss count
/// it was made under; `None` once the bus is gone. Once connected after publishes were
/// dropped (`dropped`, or a failed attempt here), asks for a resync
/// ([`Inner::resync`]).
async fn reconnect(
    inner: &Weak<Inner>,
    target: &RedisTarget,
    rx: &mut mpsc::Receiver<BusMessage>,
    dropped: bool,
) -> Option<(Conn, u64)> {
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        let bus = inner.upgrade()?;
        let epoch = bus.lost.load(Ordering::Relaxed);
        match connect_publisher(target).await {
            Ok(c) => {
                // Anything that slipped into the queue while down is stale: never late.
                if bus.down.load(Ordering::Acquire) {
                    bus.drop_messages(drain(rx), "queued while redis was unreachable");
                }
                bus.down.store(false, Ordering::Release);
                bus.pub_connected.store(true, Ordering::Release);
                if failures > 0 {
                    tracing::info!("redis bus publisher reconnected");
                    crate::metrics::bus_reconnect();
                }
                if dropped || failures > 0 {
                    bus.resync.notify_one();
                }
                bus.log_drops();
                return Some((c, epoch));
            }
            Err(e) => {
                bus.down.store(true, Ordering::Release);
                bus.pub_connected.store(false, Ordering::Release);
                bus.drop_messages(drain(rx), "redis unreachable");
                if failures == 0 {
                    tracing::warn!(error = %e, "redis bus publisher cannot connect; retrying");
                }
                failures += 1;
                let delay = backoff.next();
                let woken = async { bus.wake.notified().await };
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = woken => {}
                }
            }
        }
    }
}

/// Drains the publish queue in pipelines over one connection, reconnecting as needed.
/// Ends when the bus is dropped.
async fn publish_loop(inner: Weak<Inner>, mut rx: mpsc::Receiver<BusMessage>) {
    let Some(target) = inner.upgrade().map(|i| i.target.clone()) else {
        return;
    };
    let Some((mut conn, mut epoch)) = reconnect(&inner, &target, &mut rx, false).await else {
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(bus) = inner.upgrade() else { return };
        bus.busy.store(true, Ordering::Release);
        if bus.lost.load(Ordering::Relaxed) != epoch {
            // The subscriber lost Redis since this connection was made: replace it
            // before sending (a dead one would fail the batch).
            match connect_publisher(&target).await {
                Ok(c) => {
                    conn = c;
                    epoch = bus.lost.load(Ordering::Relaxed);
                }
                Err(_) => {
                    bus.drop_messages(batch.len() as u64, "redis unreachable");
                    batch.clear();
                    bus.busy.store(false, Ordering::Release);
                    drop(bus);
                    let Some((c, e)) = reconnect(&inner, &target, &mut rx, true).await else {
                        return;
                    };
                    (conn, epoch) = (c, e);
                    continue;
                }
            }
        }
        if let Conn::Cluster(c) = &conn {
            let c = c.clone();
            publish_sharded(&bus, c, std::mem::take(&mut batch)).await;
            bus.busy.store(false, Ordering::Release);
            continue;
        }
        let mut pipe = redis::pipe();
        for m in &batch {
            pipe.publish(&m.channel, m.payload.as_ref()).ignore();
        }
        let sent = pipe.query_async::<()>(&mut conn).await;
        let failed = batch.len() as u64;
        batch.clear();
        bus.busy.store(false, Ordering::Release);
        if let Err(e) = sent {
            // Some of the batch may have gone out: never resend (at most once).
            tracing::warn!(error = %e, "redis bus publish failed; reconnecting");
            bus.pub_connected.store(false, Ordering::Release);
            bus.drop_messages(failed, "publish failed");
            drop(bus);
            let Some((c, e)) = reconnect(&inner, &target, &mut rx, true).await else {
                return;
            };
            (conn, epoch) = (c, e);
        }
    }
}

/// Whether `channel` is sharded on a Redis Cluster: a room's, a user's, a client's or an
/// instance's channel.
fn sharded(prefix: &str, channel: &str) -> bool {
    matches!(
        crate::cluster::channels::route(prefix, channel),
        Some(
            crate::cluster::channels::Route::Room(_)
                | crate::cluster::channels::Route::User(_)
                | crate::cluster::channels::Route::Client(_)
                | crate::cluster::channels::Route::Instance(_)
        )
    )
}

/// Sends a batch on a Redis Cluster. Room and instance channels: one `SPUBLISH` pipeline
/// per hash slot, all slots at once, each in the batch's order. The fixed channels: one
/// `PUBLISH` pipeline, always through the master owning the slot of
/// `<prefix>:sendMessageToAll` (plain pub/sub reaches every node from there), so events
/// on different fixed channels keep their order, as on one Redis: a snapshot never
/// overtakes a membership event sent before it. A slot whose node cannot be reached
/// loses its messages (counted, logged); the others go out. The cluster connection
/// reconnects to that node by itself.
async fn publish_sharded(
    bus: &Inner,
    conn: redis::cluster_async::ClusterConnection,
    batch: Vec<BusMessage>,
) {
    let (sharded_msgs, fixed): (Vec<BusMessage>, Vec<BusMessage>) = batch
        .into_iter()
        .partition(|m| sharded(&bus.prefix, &m.channel));
    let mut groups: Vec<(bool, Vec<BusMessage>)> = by_slot(sharded_msgs, |m| m.channel.as_bytes())
        .into_iter()
        .map(|g| (true, g))
        .collect();
    if !fixed.is_empty() {
        groups.push((false, fixed));
    }
    let fixed_slot =
        crate::redis_target::slot(format!("{}:sendMessageToAll", bus.prefix).as_bytes());
    let sends = groups.into_iter().map(|(is_sharded, group)| {
        let mut conn = conn.clone();
        async move {
            let mut pipe = redis::pipe();
            for m in &group {
                let cmd = if is_sharded { "SPUBLISH" } else { "PUBLISH" };
                pipe.cmd(cmd)
                    .arg(&m.channel)
                    .arg(m.payload.as_ref())
                    .ignore();
            }
            let sent = if is_sharded {
                pipe.query_async::<()>(&mut conn).await
            } else {
                use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
                conn.route_pipeline(
                    pipe,
                    0,
                    group.len(),
                    SingleNodeRoutingInfo::SpecificNode(Route::new(fixed_slot, SlotAddr::Master)),
                )
                .await
                .map(|_| ())
            };
            (group.len() as u64, sent)
        }
    });
    let mut all_sent = true;
    for (n, sent) in futures_util::future::join_all(sends).await {
        if let Err(e) = sent {
            all_sent = false;
            if bus.unlogged_drops.load(Ordering::Relaxed) == 0 {
                tracing::warn!(error = %e, messages = n, "redis cluster publish failed");
            }
            bus.drop_messages(n, "publish to a redis cluster node failed");
        }
    }
    if all_sent {
        bus.log_drops();
    }
}

async fn connect_subscriber(inner: &Inner) -> redis::RedisResult<redis::aio::PubSub> {
    let RedisTarget::Single(client) = &inner.target else {
        unreachable!("the single-redis subscriber on a cluster target");
    };
    let mut ps = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
        })??;
    tokio::time::timeout(RESPONSE_TIMEOUT, ps.subscribe(inner.fixed()))
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
        })??;
    Ok(ps)
}

/// Brings the connection's dynamic subscriptions in line with the wanted set, in
/// batches; releases the waiters of what got confirmed.
async fn sync_dynamic(inner: &Inner, sink: &mut redis::aio::PubSubSink) -> redis::RedisResult<()> {
    let (add, remove): (Vec<String>, Vec<String>) = {
        let d = inner.dynamic();
        (
            d.wanted.difference(&d.confirmed).cloned().collect(),
            d.confirmed.difference(&d.wanted).cloned().collect(),
        )
    };
    for chunk in add.chunks(SUBSCRIBE_BATCH) {
        tokio::time::timeout(RESPONSE_TIMEOUT, sink.subscribe(chunk))
            .await
            .map_err(|_| timed_out())??;
        let mut d = inner.dynamic();
        d.confirmed.extend(chunk.iter().cloned());
        d.release();
    }
    for chunk in remove.chunks(SUBSCRIBE_BATCH) {
        tokio::time::timeout(RESPONSE_TIMEOUT, sink.unsubscribe(chunk))
            .await
            .map_err(|_| timed_out())??;
        let mut d = inner.dynamic();
        for ch in chunk {
            d.confirmed.remove(ch);
        }
    }
    Ok(())
}

/// Keeps one subscriber connection up for `out`; ends when `out`'s receiver is dropped.
async fn subscribe_loop(inner: Arc<Inner>, out: mpsc::Sender<BusMessage>) {
    if inner.target.is_cluster() {
        return cluster_subscriber::subscribe_loop(inner, out).await;
    }
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        let ps = tokio::select! {
            _ = out.closed() => return,
            r = connect_subscriber(&inner) => r,
        };
        let ps = match ps {
            Ok(ps) => ps,
            Err(e) => {
                inner.sub_connected.store(false, Ordering::Relaxed);
                if failures == 0 {
                    tracing::warn!(error = %e, "redis bus subscriber cannot connect; retrying");
                }
                failures += 1;
                tokio::select! {
                    _ = out.closed() => return,
                    _ = tokio::time::sleep(backoff.next()) => continue,
                }
            }
        };
        let (mut sink, mut stream) = ps.split();
        // The dynamic set is subscribed again before the resync marker: after it, every
        // room served here hears everything published on it.
        if let Err(e) = sync_dynamic(&inner, &mut sink).await {
            tracing::warn!(error = %e, "redis bus could not resubscribe its channels; retrying");
            inner.dynamic().lost();
            failures += 1;
            tokio::select! {
                _ = out.closed() => return,
                _ = tokio::time::sleep(backoff.next()) => continue,
            }
        }
        if failures > 0 {
            tracing::info!("redis bus subscriber reconnected and resubscribed");
            crate::metrics::bus_reconnect();
        }
        backoff.reset();
        inner.sub_connected.store(true, Ordering::Release);
        // The subscription is live: anything published from now on reaches us. Let the
        // publisher reconnect too before the server resyncs, so its snapshot and
        // requests go out instead of being dropped.
        inner.wake.notify_one();
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while inner.down.load(Ordering::Acquire) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if out.send(inner.resync_marker()).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = out.closed() => return,
                _ = inner.resync.notified() => {
                    if out.send(inner.resync_marker()).await.is_err() {
                        return;
                    }
                }
                _ = inner.changed.notified() => {
                    if let Err(e) = sync_dynamic(&inner, &mut sink).await {
                        tracing::warn!(error = %e, "redis bus subscription change failed");
                        break;
                    }
                }
                // The server publishes a heartbeat every third of the TTL and receives its
                // own: a subscription silent for a whole TTL is a dead connection.
                _ = tokio::time::sleep(inner.idle_limit) => {
                    tracing::warn!("redis bus subscriber heard nothing for a whole liveness TTL");
                    break;
                }
                m = stream.next() => match m {
                    Some(m) => {
                        let msg = BusMessage {
                            channel: m.get_channel_name().to_owned(),
                            payload: Bytes::copy_from_slice(m.get_payload_bytes()),
                        };
                        if out.send(msg).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
            }
        }
        inner.sub_connected.store(false, Ordering::Release);
        inner.dynamic().lost();
        inner.lost.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("redis bus subscriber connection lost; reconnecting");
        failures = 1;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    /// A loopback port with nothing listening.
    fn dead_url() -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("redis://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn publishes_without_redis_are_bounded_counted_and_never_block() {
        let bus = RedisBus::new(&ClusterConfig {
            redis_url: Some(dead_url()),
            publish_buffer: 8,
            ..Default::default()
        })
        .unwrap();
        // `publish` is synchronous and this runtime has one thread: nothing below can
        // wait for Redis, and the publisher task has not run yet.
        for i in 0..100u32 {
            bus.publish(BusMessage {
                channel: "pxl-ws:custom".into(),
                payload: Bytes::from(i.to_string()),
            });
        }
        let status = bus.status();
        assert_eq!(status.kind, "redis");
        assert!(!status.connected);
        // The queue holds 8, the other 92 were dropped at the door.
        assert_eq!(status.dropped, 92, "{status:?}");
        // Once the publisher has failed to connect, the 8 queued are dropped too: stale
        // messages are never sent late.
        let mut sub = bus.subscribe();
        let deadline = Instant::now() + Duration::from_secs(10);
        while bus.status().dropped < 100 {
            assert!(Instant::now() < deadline, "{:?}", bus.status());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(bus.status().dropped, 100);
        // The subscriber keeps retrying; the stream stays open, with no resync marker
        // (that needs a connection).
        assert!(sub.next().now_or_never().is_none());
        assert!(!bus.status().connected);
    }

    #[tokio::test]
    async fn waiting_for_a_subscription_never_blocks_while_redis_is_unreachable() {
        let bus = RedisBus::new(&ClusterConfig {
            redis_url: Some(dead_url()),
            ..Default::default()
        })
        .unwrap();
        let _sub = bus.subscribe();
        bus.watch("pxl-ws:{room:a}:send");
        // Not connected: the join it holds up is answered at once (local delivery only).
        assert!(
            bus.watching("pxl-ws:{room:a}:send")
                .now_or_never()
                .is_some()
        );
        // A channel not watched has nothing to wait for.
        assert!(
            bus.watching("pxl-ws:{room:b}:send")
                .now_or_never()
                .is_some()
        );
        bus.unwatch("pxl-ws:{room:a}:send");
        let d = bus.inner.dynamic();
        assert!(d.wanted.is_empty() && d.confirmed.is_empty() && d.waiters.is_empty());
    }

    #[test]
    fn bad_urls_are_configuration_errors() {
        let err = RedisBus::new(&ClusterConfig::default()).err().unwrap();
        assert!(err.to_string().contains("cluster.redis_url"), "{err}");
        let bad = ClusterConfig {
            redis_url: Some("redis://[::1".into()),
            ..Default::default()
        };
        assert!(RedisBus::new(&bad).is_err());
    }
}
