//! The Redis history engine (feature `redis`): one Redis Stream per room,
//! `<prefix>:{room:<name>}:stream`, bounded with `MAXLEN` and expired with the history TTL,
//! and a hash `<prefix>:{room:<name>}:meta` holding the epoch and the last offset. The hash
//! tag keeps both keys (and a later per-room channel) in one cluster slot.
//!
//! One Lua script ([`APPEND`]) takes the next offset, stamps the frame, appends it and
//! publishes the send on the bus channel ([`send_channel`]): offsets are given in the
//! order Redis runs the scripts, and every instance — the publisher's too — delivers the
//! frame from its bus subscription, so every member sees the stream's order. A stream
//! whose hash is gone (Redis restarted without persistence, `FLUSHALL`, expiry) starts
//! over with a new epoch, so a client resuming from the old one gets `recovered: false`.
//!
//! On a Redis Cluster both scripts touch only one room's keys and channel, which share
//! the `{room:<name>}` hash tag and so one slot; the append publishes with `SPUBLISH`
//! (the room's channel is sharded there), and appends are pipelined per slot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::redis_target::{RedisTarget, by_slot};

use super::{
    Appended, Fallback, HistoryEngine, HistoryError, Recovery, Since, expired, new_epoch, recover,
    stamp_head,
};

/// The Lua both scripts start with. KEYS[1] is the stream, KEYS[2] the meta hash.
///
/// `epoch_or_new(new)`: the stream's epoch, or — when the hash is gone (a Redis restart
/// without persistence, `FLUSHALL`, expiry) — `new`, with the stream emptied and the
/// offset reset, and whether it was new. `now_ms()`: Redis's clock in milliseconds.
macro_rules! lua_prelude {
    () => {
        r#"
local function epoch_or_new(new)
  local epoch = redis.call('HGET', KEYS[2], 'epoch')
  if epoch then return epoch, false end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', new, 'offset', 0)
  return new, true
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#
    };
}

/// Appends a stamped frame and publishes it, atomically.
///
/// KEYS: stream, meta. ARGV: size, ttl ms (0: none), a new epoch (used when the stream
/// has none), channel, payload head, frame head, payload tail, the publish command
/// (`PUBLISH`, or `SPUBLISH` on a Redis Cluster).
const APPEND: &str = concat!(
    lua_prelude!(),
    r#"
local epoch = epoch_or_new(ARGV[3])
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
local now = now_ms()
local frame = ARGV[6] .. offset .. ',"epoch":"' .. epoch .. '"}}'
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], offset .. '-1', 'f', frame, 't', now)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call(ARGV[8], ARGV[4], ARGV[5] .. frame .. ARGV[7])
return offset
"#
);

/// Reads a stream's position and entries.
///
/// KEYS: stream, meta. ARGV: mode (`none`, `since`, `last`), offset or count, epoch, a new
/// epoch, ttl ms. Returns `{epoch, last offset, now ms, entries}` (`last`: newest first).
const READ: &str = concat!(
    lua_prelude!(),
    r#"
local epoch, new = epoch_or_new(ARGV[4])
if new then
  local ttl = tonumber(ARGV[5])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
local last = redis.call('HGET', KEYS[2], 'offset')
local now = now_ms()
local entries = {}
if ARGV[1] == 'since' and ARGV[3] == epoch then
  entries = redis.call('XRANGE', KEYS[1], (tonumber(ARGV[2]) + 1) .. '-0', '+')
elseif ARGV[1] == 'since' then
  entries = redis.call('XRANGE', KEYS[1], '-', '+')
elseif ARGV[1] == 'last' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])
end
return {epoch, last, tostring(now), entries}
"#
);

/// The channel a history send is published on: the room's own channel, which shares
/// the room's hash slot with its keys.
pub(crate) fn send_channel(prefix: &str, room: &str) -> String {
    crate::cluster::channels::room(prefix, room)
}

/// A room's keys: `<prefix>:{room:<name>}:stream` and `…:meta`.
pub(crate) fn keys(prefix: &str, room: &str) -> (String, String) {
    (
        format!("{prefix}:{{room:{room}}}:stream"),
        format!("{prefix}:{{room:{room}}}:meta"),
    )
}

type Conn = crate::redis_target::Conn;

/// The read script's answer: epoch, last offset, Redis time (ms), entries (id, fields).
type ReadReply = (String, u64, u64, Vec<(String, Vec<String>)>);

#[derive(Clone)]
struct Loaded {
    conn: Conn,
    append: String,
    read: String,
}

/// A frame on its way to the append script.
struct Pending {
    room: String,
    /// The room's stream key (its hash slot is the room's).
    stream: String,
    payload_head: String,
    frame_head: String,
    /// The frame as sent, for local delivery if the append fails.
    plain: Utf8Bytes,
}

/// Room streams in Redis.
pub(crate) struct RedisHistory {
    inner: Arc<Inner>,
}

struct Inner {
    target: RedisTarget,
    prefix: String,
    instance_id: String,
    size: usize,
    ttl: Option<Duration>,
    tx: mpsc::Sender<Pending>,
    rx: Mutex<Option<mpsc::Receiver<Pending>>>,
    started: AtomicBool,
    /// The connection and the scripts' hashes (loaded on it with `SCRIPT LOAD`).
    conn: tokio::sync::Mutex<Option<Loaded>>,
    fallback: OnceLock<Fallback>,
    failed: AtomicU64,
}

const BATCH: usize = 256;

impl RedisHistory {
    pub(crate) fn new(
        target: RedisTarget,
        prefix: &str,
        instance_id: &str,
        size: usize,
        ttl: Option<Duration>,
        buffer: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        Self {
            inner: Arc::new(Inner {
                target,
                prefix: prefix.to_owned(),
                instance_id: instance_id.to_owned(),
                size,
                ttl,
                tx,
                rx: Mutex::new(Some(rx)),
                started: AtomicBool::new(false),
                conn: tokio::sync::Mutex::new(None),
                fallback: OnceLock::new(),
                failed: AtomicU64::new(0),
            }),
        }
    }

    fn start(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(rx) = self.inner.rx.lock().expect("history lock").take() {
            self.inner.started.store(true, Ordering::Release);
            rt.spawn(append_loop(Arc::downgrade(&self.inner), rx));
        }
    }
}

fn ttl_ms(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |t| t.as_millis() as u64)
}

impl Inner {
    async fn connection(&self) -> redis::RedisResult<Loaded> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        // On a cluster, SCRIPT LOAD goes to every node.
        let mut c = self.target.connect().await?;
        let append: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(APPEND)
            .query_async(&mut c)
            .await?;
        let read: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(READ)
            .query_async(&mut c)
            .await?;
        let loaded = Loaded {
            conn: c,
            append,
            read,
        };
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    async fn forget_connection(&self) {
        *self.conn.lock().await = None;
    }

    fn fail(&self, batch: Vec<Pending>, e: &redis::RedisError) {
        let n = batch.len() as u64;
        if self.failed.fetch_add(n, Ordering::Relaxed) == 0 {
            tracing::warn!(error = %e, frames = n, "room history append failed; delivering locally without a stream position");
        }
        if let Some(f) = self.fallback.get() {
            for p in batch {
                f(&p.room, p.plain);
            }
        }
    }
}

/// Whether a failed call ran nothing and may be sent again: a connection found dead
/// (Redis restarted), or a node without the scripts (restarted, or a new primary).
fn retryable(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_io_error()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

/// Runs the append script for queued frames, a pipeline per batch (per slot of a batch
/// on a Redis Cluster, all slots at once), in queue order.
async fn append_loop(inner: Weak<Inner>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(h) = inner.upgrade() else { return };
        let taken = std::mem::take(&mut batch);
        let groups = if h.target.is_cluster() {
            by_slot(taken, |p| p.stream.as_bytes())
        } else {
            vec![taken]
        };
        let results = futures_util::future::join_all(groups.into_iter().map(|group| {
            let h = &h;
            async move {
                // What failed without running is sent once more, on a new connection.
                let mut result = h.append_batch(&group).await;
                if let Err(e) = &result
                    && retryable(e)
                {
                    h.forget_connection().await;
                    result = h.append_batch(&group).await;
                }
                (group, result)
            }
        }))
        .await;
        let mut all_ok = true;
        for (group, result) in results {
            if let Err(e) = result {
                all_ok = false;
                h.forget_connection().await;
                h.fail(group, &e);
            }
        }
        if all_ok && h.failed.swap(0, Ordering::Relaxed) > 0 {
            tracing::info!("room history appends work again");
        }
    }
}

impl Inner {
    async fn append_batch(&self, batch: &[Pending]) -> redis::RedisResult<()> {
        let mut loaded = self.connection().await?;
        let mut pipe = redis::pipe();
        let epoch = new_epoch();
        let ttl = ttl_ms(self.ttl);
        let publish = if self.target.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        for p in batch {
            let (_, meta) = keys(&self.prefix, &p.room);
            pipe.cmd("EVALSHA")
                .arg(&loaded.append)
                .arg(2)
                .arg(&p.stream)
                .arg(meta)
                .arg(self.size)
                .arg(ttl)
                .arg(&epoch)
                .arg(send_channel(&self.prefix, &p.room))
                .arg(&p.payload_head)
                .arg(&p.frame_head)
                .arg("}")
                .arg(publish)
                .ignore();
        }
        pipe.query_async::<()>(&mut loaded.conn).await
    }
}

impl HistoryEngine for RedisHistory {
    fn set_fallback(&self, f: Fallback) {
        let _ = self.inner.fallback.set(f);
    }

    fn append(&self, room: &str, frame: &str, _deliver: &mut dyn FnMut(Utf8Bytes)) -> Appended {
        let Some(frame_head) = stamp_head(frame, room) else {
            return Appended::NotRecorded;
        };
        self.start();
        if !self.inner.started.load(Ordering::Acquire) {
            return Appended::NotRecorded;
        }
        let Ok(room_json) = serde_json::to_string(room) else {
            return Appended::NotRecorded;
        };
        let payload_head = format!(
            r#"{{"origin":"{}","history":true,"to":"rooms","rooms":[{room_json}],"frame":"#,
            self.inner.instance_id
        );
        let p = Pending {
            room: room.to_owned(),
            stream: keys(&self.inner.prefix, room).0,
            payload_head,
            frame_head,
            plain: Utf8Bytes::from(frame.to_owned()),
        };
        match self.inner.tx.try_send(p) {
            Ok(()) => Appended::Queued,
            Err(_) => {
                tracing::warn!(
                    room,
                    "room history queue full; sending without a stream position"
                );
                Appended::NotRecorded
            }
        }
    }

    fn read<'a>(
        &'a self,
        room: &'a str,
        since: Since,
    ) -> BoxFuture<'a, Result<Recovery, HistoryError>> {
        Box::pin(async move {
            let h = &self.inner;
            let mut retried = false;
            loop {
                let mut loaded = h
                    .connection()
                    .await
                    .map_err(|e| HistoryError(e.to_string()))?;
                let (stream, meta) = keys(&h.prefix, room);
                // Lua numbers are doubles: a larger offset than this was never given out.
                const MAX_SAFE: u64 = 1 << 53;
                let (mode, n, epoch) = match &since {
                    Since::Nothing => ("none", 0, String::new()),
                    Since::Position(p) => ("since", p.offset.min(MAX_SAFE), p.epoch.clone()),
                    Since::Last(k) => ("last", (*k).min(h.size) as u64, String::new()),
                };
                let got: redis::RedisResult<ReadReply> = redis::cmd("EVALSHA")
                    .arg(&loaded.read)
                    .arg(2)
                    .arg(stream)
                    .arg(meta)
                    .arg(mode)
                    .arg(n)
                    .arg(epoch)
                    .arg(new_epoch())
                    .arg(ttl_ms(h.ttl))
                    .query_async(&mut loaded.conn)
                    .await;
                let (epoch, last, now, mut raw) = match got {
                    Ok(v) => v,
                    Err(e) => {
                        h.forget_connection().await;
                        if !retried && retryable(&e) {
                            retried = true;
                            continue;
                        }
                        return Err(HistoryError(e.to_string()));
                    }
                };
                if mode == "last" {
                    raw.reverse();
                }
                let entries = raw
                    .into_iter()
                    .filter_map(|(id, fields)| {
                        let offset = id.split('-').next()?.parse::<u64>().ok()?;
                        let mut frame = None;
                        let mut at = 0;
                        for kv in fields.chunks(2) {
                            match kv {
                                [k, v] if k == "f" => frame = Some(v.clone()),
                                [k, v] if k == "t" => at = v.parse().unwrap_or(0),
                                _ => {}
                            }
                        }
                        (!expired(at, h.ttl, now)).then_some((offset, Utf8Bytes::from(frame?)))
                    })
                    .collect();
                return Ok(recover(&epoch, last, entries, &since));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_room_hash_tag() {
        let (s, m) = keys("app", "lobby");
        assert_eq!(s, "app:{room:lobby}:stream");
        assert_eq!(m, "app:{room:lobby}:meta");
        assert_eq!(send_channel("app", "lobby"), "app:{room:lobby}:send");
    }
}
