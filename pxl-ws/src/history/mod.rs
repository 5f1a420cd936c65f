//! Room history: a bounded stream per room with an offset (+1 per message, cluster-wide)
//! and an epoch (changes when the stream is lost), replayed to a client that rejoins with
//! `since`. Opt-in per room through `rooms.history`.
//!
//! - [`HistoryEngine`]: where streams live. [`memory::MemoryHistory`] (one process) or
//!   [`redis::RedisHistory`] (feature `redis`; one Lua script appends and publishes, so
//!   the offset order is the delivery order on every instance).
//! - [`stamp`]: every frame sent to a history room carries a top-level
//!   `"stream": {"room", "offset", "epoch"}`, added after the frame was serialised.
//! - [`Gates`]: while a client's `joinRoom` reads the history, live frames of that room
//!   for that client are held (parked in its outbound queue, counted against its byte
//!   limits); after the reply went out they follow it, without those the reply already
//!   carried. So no frame is both in `missed` and delivered live, and none is skipped
//!   between them.

pub(crate) mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::clients::{ClientId, ClientState};
use crate::config::HistoryConfig;
use crate::flow::Overflow;
use crate::health::Metrics;

/// A position in a room's stream: the offset of the last message seen and the stream's
/// epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) offset: u64,
    pub(crate) epoch: String,
}

/// What a join asks of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Since {
    /// Only the current position.
    Nothing,
    /// The frames after this position.
    Position(Position),
    /// The last `n` frames.
    Last(usize),
}

/// What a join gets back: the current position, whether the gap was filled, the frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recovery {
    pub(crate) position: Position,
    pub(crate) recovered: bool,
    /// Frames, oldest first, exactly as they were sent live (with their `stream`).
    pub(crate) missed: Vec<Utf8Bytes>,
}

/// What [`HistoryEngine::append`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Recorded and handed, stamped, to `deliver` (under the stream's lock).
    Delivered,
    /// Queued: the engine records and publishes it; every instance, this one too,
    /// delivers it from the bus. (Only the Redis engine queues.)
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Queued,
    /// Not recorded (engine unavailable or queue full): deliver it as a plain send.
    NotRecorded,
}

/// A history backend failure.
#[derive(Debug, thiserror::Error)]
#[error("history unavailable: {0}")]
pub(crate) struct HistoryError(pub(crate) String);

/// Where room streams live.
pub(crate) trait HistoryEngine: Send + Sync + 'static {
    /// Records `frame` (serialised, without `stream`) in `room`'s stream. An engine that
    /// records synchronously stamps it and calls `deliver` with the stamped frame while
    /// it still holds the stream, so concurrent sends are delivered in offset order.
    /// An engine that publishes the send itself puts `stamp()` (the payload's trace
    /// context and publish time, as JSON members with a trailing comma) in its payload.
    fn append(
        &self,
        room: &str,
        frame: &str,
        stamp: &dyn Fn() -> String,
        deliver: &mut dyn FnMut(Utf8Bytes),
    ) -> Appended;

    /// Where frames go whose asynchronous append failed: (room, frame as sent). Engines
    /// that record synchronously ignore it.
    fn set_fallback(&self, f: Fallback) {
        let _ = f;
    }

    /// The current position and the frames `since` asks for.
    fn read<'a>(
        &'a self,
        room: &'a str,
        since: Since,
    ) -> BoxFuture<'a, Result<Recovery, HistoryError>>;
}

/// A server's history: which rooms have one, the engine, and the join gates.
pub(crate) struct History {
    rooms: Option<regex::Regex>,
    engine: Arc<dyn HistoryEngine>,
    pub(crate) gates: Gates,
}

impl History {
    /// `None` when `config.size` is 0 (history off).
    pub(crate) fn new(config: &HistoryConfig, engine: Arc<dyn HistoryEngine>) -> Option<Self> {
        if config.size == 0 {
            return None;
        }
        Some(Self {
            // Validated by `WsConfig::validate`.
            rooms: config
                .rooms
                .as_deref()
                .and_then(|p| regex::Regex::new(p).ok()),
            engine,
            gates: Gates::new(),
        })
    }

    /// Whether `room` has a history.
    pub(crate) fn covers(&self, room: &str) -> bool {
        self.rooms.as_ref().is_none_or(|r| r.is_match(room))
    }

    pub(crate) fn engine(&self) -> &dyn HistoryEngine {
        &*self.engine
    }

    /// See [`HistoryEngine::set_fallback`].
    pub(crate) fn set_fallback(&self, f: Fallback) {
        self.engine.set_fallback(f);
    }
}

/// Called with (room, frame) for an append that failed after `append` returned: the
/// frame is delivered to this instance's members without a stream position.
pub(crate) type Fallback = Box<dyn Fn(&str, Utf8Bytes) + Send + Sync>;

/// The history `config.rooms.history` asks for: none when its size is 0; the Redis
/// engine when `cluster.redis_url` or `cluster.redis_cluster_urls` is set (offsets are cluster-wide), else the memory one.
pub(crate) fn build(
    config: &crate::config::WsConfig,
    instance_id: &str,
) -> Result<Option<History>, crate::config::ConfigError> {
    let h = &config.rooms.history;
    if h.size == 0 {
        return Ok(None);
    }
    #[cfg(feature = "redis")]
    if config.cluster.uses_redis() {
        let target = crate::redis_target::RedisTarget::new(&config.cluster)?;
        let engine = redis::RedisHistory::new(
            target,
            &config.cluster.prefix,
            instance_id,
            h.size,
            h.ttl,
            config.cluster.publish_buffer,
        );
        tracing::info!(size = h.size, "room history in redis");
        return Ok(History::new(h, Arc::new(engine)));
    }
    let _ = instance_id;
    Ok(History::new(
        h,
        Arc::new(memory::MemoryHistory::new(h.size, h.ttl)),
    ))
}

/// A fresh epoch: 16 hex digits.
pub(crate) fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The frame text up to where the offset goes: `{...,"stream":{"room":R,"offset":`.
/// `None` for a frame that is not a JSON object (it is sent without history).
pub(crate) fn stamp_head(frame: &str, room: &str) -> Option<String> {
    let body = frame.trim_end();
    let body = body.strip_suffix('}')?;
    if !frame.trim_start().starts_with('{') {
        return None;
    }
    let room = serde_json::to_string(room).ok()?;
    let empty = body.trim_start().trim_start_matches('{').trim().is_empty();
    let mut s = String::with_capacity(body.len() + room.len() + 48);
    s.push_str(body);
    if !empty {
        s.push(',');
    }
    s.push_str("\"stream\":{\"room\":");
    s.push_str(&room);
    s.push_str(",\"offset\":");
    Some(s)
}

/// What follows the offset: `,"epoch":"E"}}`.
pub(crate) fn stamp_tail(epoch: &str) -> String {
    format!(",\"epoch\":\"{epoch}\"}}}}")
}

/// `frame` with `"stream": {"room", "offset", "epoch"}` added at its end.
pub(crate) fn stamp(frame: &str, room: &str, offset: u64, epoch: &str) -> Option<String> {
    let mut s = stamp_head(frame, room)?;
    s.push_str(&offset.to_string());
    s.push_str(&stamp_tail(epoch));
    Some(s)
}

#[derive(Deserialize)]
struct StreamTag {
    offset: u64,
}

/// The offset of a stamped frame (its `stream` is the last key, added by [`stamp`]).
pub(crate) fn offset_of(frame: &str) -> Option<u64> {
    let at = frame.rfind("\"stream\":{")?;
    let rest = &frame[at + "\"stream\":".len()..];
    serde_json::Deserializer::from_str(rest)
        .into_iter::<StreamTag>()
        .next()?
        .ok()
        .map(|t| t.offset)
}

/// The answer to a join from a stream's state: `entries` are the retained frames after
/// the position asked for (all of them when `since` names another epoch), oldest first,
/// with their offsets.
pub(crate) fn recover(
    epoch: &str,
    last: u64,
    mut entries: Vec<(u64, Utf8Bytes)>,
    since: &Since,
) -> Recovery {
    let position = Position {
        offset: last,
        epoch: epoch.to_owned(),
    };
    let (recovered, missed) = match since {
        Since::Nothing => (true, Vec::new()),
        Since::Last(n) => {
            let skip = entries.len().saturating_sub(*n);
            (true, entries.drain(skip..).map(|(_, f)| f).collect())
        }
        Since::Position(p) if p.epoch != epoch => {
            (false, entries.into_iter().map(|(_, f)| f).collect())
        }
        Since::Position(p) if p.offset > last => (false, Vec::new()),
        Since::Position(p) => {
            entries.retain(|(o, _)| *o > p.offset);
            let filled =
                p.offset == last || entries.first().is_some_and(|(o, _)| *o == p.offset + 1);
            (filled, entries.into_iter().map(|(_, f)| f).collect())
        }
    };
    Recovery {
        position,
        recovered,
        missed,
    }
}

/// Whether a stream entry written at `at_ms` has outlived `ttl` at `now_ms`.
pub(crate) fn expired(at_ms: u64, ttl: Option<Duration>, now_ms: u64) -> bool {
    ttl.is_some_and(|t| at_ms.saturating_add(t.as_millis() as u64) <= now_ms)
}

// ---- join gates ----------------------------------------------------------------------

/// Live frames held for clients whose `joinRoom` is reading a room's history. The frames
/// wait in the client's own outbound queue, parked (`Outbox::park`), so they count
/// against its byte limits like any queued frame: a client that falls behind during a
/// join is treated like one that falls behind at any other time. The gates only record
/// which (client, room) is joining and, once read, up to which offset the reply carries.
/// Its mutex is taken alone or under a room-table shard's read lock; only an outbox
/// mutex is taken under it (a hold parks, and a release unparks, before the gate goes).
pub(crate) struct Gates {
    active: AtomicUsize,
    open: Mutex<HashMap<GateKey, Option<u64>>>,
}

/// A join in progress: (client, room). Its gate's value is the offset the join's reply
/// carries frames up to, once the history was read.
type GateKey = (ClientId, Arc<str>);

impl Gates {
    fn new() -> Self {
        Self {
            active: AtomicUsize::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any gate is open (one atomic load on the send path).
    pub(crate) fn any(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Starts holding `room`'s live frames for `id`.
    pub(crate) fn open(&self, id: ClientId, room: &str) {
        let mut open = self.open.lock().expect("gates lock");
        if open.insert((id, Arc::from(room)), None).is_none() {
            self.active.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records what the join's reply carries: frames up to `offset`.
    pub(crate) fn read_upto(&self, id: ClientId, room: &str, offset: u64) {
        let mut open = self.open.lock().expect("gates lock");
        if let Some(upto) = open.get_mut(&(id, Arc::from(room))) {
            *upto = Some(offset);
        }
    }

    /// Holds `msg` (at `offset` in `room`) in `c`'s queue if `c` has a gate open on
    /// `room`: `None` when it has none (push it), else whether `c` will get it (`false`:
    /// dropped under its overflow rule, or `c` is closed for being behind).
    pub(crate) fn hold(
        &self,
        c: &ClientState,
        room: &str,
        offset: u64,
        msg: &Message,
        policy: &Overflow,
        metrics: &Metrics,
    ) -> Option<bool> {
        let open = self.open.lock().expect("gates lock");
        let (key, _) = open.get_key_value(&(c.id, Arc::from(room)))?;
        Some(c.park_with(&key.1, offset, msg.clone(), policy, metrics))
    }

    /// Closes `c`'s gates: the held frames its replies did not carry go to its writer, in
    /// order, before the gate goes (a live frame delivered after this queues behind them).
    pub(crate) fn release(&self, c: &ClientState) {
        self.close(c, |c, room, upto| c.unpark(room, upto));
    }

    /// Closes `c`'s gates and discards what they held (the client is gone).
    pub(crate) fn forget(&self, c: &ClientState) {
        self.close(c, |c, room, _| c.discard_parked(room));
    }

    fn close(&self, c: &ClientState, mut end: impl FnMut(&ClientState, &str, Option<u64>)) {
        if !self.any() {
            return;
        }
        let mut open = self.open.lock().expect("gates lock");
        let keys: Vec<_> = open.keys().filter(|(id, _)| *id == c.id).cloned().collect();
        for k in keys {
            if let Some(upto) = open.remove(&k) {
                end(c, &k.1, upto);
                // Only now: a send that finds no gate open (`any`) pushes without taking
                // this lock, so it must not overtake the held frames moved above.
                self.active.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Utf8Bytes)> {
        range.map(|o| (o, Utf8Bytes::from(o.to_string()))).collect()
    }

    fn at(offset: u64, epoch: &str) -> Since {
        Since::Position(Position {
            offset,
            epoch: epoch.into(),
        })
    }

    #[test]
    fn stamping_adds_the_stream_as_the_last_key() {
        let f = stamp(
            r#"{"type":"chat","action":"m","data":{"t":"}"}}"#,
            "lo\"bby",
            7,
            "e1",
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(
            v["stream"],
            serde_json::json!({"room": "lo\"bby", "offset": 7, "epoch": "e1"})
        );
        assert_eq!(v["data"]["t"], "}");
        assert_eq!(offset_of(&f), Some(7));
        assert_eq!(
            stamp("{}", "r", 1, "e").unwrap(),
            r#"{"stream":{"room":"r","offset":1,"epoch":"e"}}"#
        );
        assert_eq!(stamp("[1]", "r", 1, "e"), None);
        assert_eq!(stamp("not json", "r", 1, "e"), None);
        assert_eq!(offset_of(r#"{"type":"x"}"#), None);
    }

    #[test]
    fn recovery_fills_a_gap_only_from_the_same_epoch_and_within_the_history() {
        let r = recover("e", 10, entries(6..=10), &at(7, "e"));
        assert!(r.recovered);
        assert_eq!(r.missed, vec!["8", "9", "10"]);
        assert_eq!(
            r.position,
            Position {
                offset: 10,
                epoch: "e".into()
            }
        );
        // Up to date.
        let r = recover("e", 10, entries(6..=10), &at(10, "e"));
        assert!(r.recovered && r.missed.is_empty());
        // Older than the history: what there is, and recovered false.
        let r = recover("e", 10, entries(6..=10), &at(3, "e"));
        assert!(!r.recovered);
        assert_eq!(r.missed.len(), 5);
        // Another epoch.
        let r = recover("e", 10, entries(6..=10), &at(7, "old"));
        assert!(!r.recovered);
        assert_eq!(r.missed.len(), 5);
        // A position this stream never reached.
        let r = recover("e", 10, entries(6..=10), &at(12, "e"));
        assert!(!r.recovered && r.missed.is_empty());
        // The last K.
        let r = recover("e", 10, entries(1..=10), &Since::Last(3));
        assert!(r.recovered);
        assert_eq!(r.missed, vec!["8", "9", "10"]);
        let r = recover("e", 10, entries(1..=10), &Since::Nothing);
        assert!(r.recovered && r.missed.is_empty());
    }

    fn client(queue_bytes: usize, grace: Duration) -> ClientState {
        let flow = crate::flow::Flow::new(&crate::config::OutboundConfig {
            queue_bytes,
            soft_bytes: queue_bytes / 2,
            grace,
            budget_bytes: 1 << 30,
        });
        ClientState::new(ClientId::random(), Arc::new(flow), None)
    }

    fn msg(o: u64) -> Message {
        Message::Text(format!("{o:>36}").into())
    }

    fn drain(c: &ClientState) -> Vec<Message> {
        std::iter::from_fn(|| c.outbox.pop()).collect()
    }

    #[test]
    fn a_gate_holds_live_frames_and_releases_those_the_reply_did_not_carry() {
        let gates = Gates::new();
        let metrics = Metrics::default();
        let c = client(1 << 20, Duration::from_secs(5));
        let keep = &Overflow::Keep;
        assert_eq!(gates.hold(&c, "r", 1, &msg(1), keep, &metrics), None);
        gates.open(c.id, "r");
        assert!(gates.any());
        assert_eq!(gates.hold(&c, "other", 1, &msg(1), keep, &metrics), None);
        for o in 4..=6 {
            assert_eq!(gates.hold(&c, "r", o, &msg(o), keep, &metrics), Some(true));
        }
        // Held, counted in the client's queue, not handed to the writer.
        assert_eq!(
            c.outbox.queued_bytes(),
            3 * (36 + crate::flow::SLOT_OVERHEAD)
        );
        assert!(c.outbox.pop().is_none());
        // The reply goes out first; the held frames it did not carry follow.
        c.outbox.push(Message::Text("reply".into()), keep);
        gates.read_upto(c.id, "r", 4);
        gates.release(&c);
        assert_eq!(
            drain(&c),
            vec![Message::Text("reply".into()), msg(5), msg(6)]
        );
        assert_eq!(c.outbox.queued_bytes(), 0);
        assert!(!gates.any());
        assert_eq!(gates.hold(&c, "r", 8, &msg(8), keep, &metrics), None);
    }

    /// The gate had a limit of its own (a frame count: `queue_bytes / 64`, at least
    /// 1 024) and closed the client with "outbound queue full" past it. A burst during a
    /// join is now held to the client's byte limits, like any other burst.
    #[test]
    fn a_burst_beyond_the_old_frame_cap_is_kept_within_the_grace_period() {
        let gates = Gates::new();
        let metrics = Metrics::default();
        // 64 KiB: the old cap was 1 024 frames; 5 000 frames of 100 bytes are 7.6 times
        // the hard limit, kept for the grace period like a queued burst.
        let c = client(64 * 1024, Duration::from_secs(60));
        gates.open(c.id, "r");
        for o in 1..=5000 {
            let kept = gates.hold(&c, "r", o, &msg(o), &Overflow::Keep, &metrics);
            assert_eq!(kept, Some(true), "frame {o}");
        }
        assert!(c.close.get().is_none());
        gates.read_upto(c.id, "r", 0);
        gates.release(&c);
        let got = drain(&c);
        assert_eq!(got, (1..=5000).map(msg).collect::<Vec<_>>());
    }

    #[test]
    fn a_client_behind_during_a_join_is_closed_by_the_outbound_rule() {
        let gates = Gates::new();
        let metrics = Metrics::default();
        // No grace: the first frame over the hard limit closes, with flow control's
        // reason, and what was held is dropped with the queue.
        let c = client(1000, Duration::ZERO);
        gates.open(c.id, "r");
        let mut kept = 0;
        for o in 1..=20 {
            if gates.hold(&c, "r", o, &msg(o), &Overflow::Keep, &metrics) == Some(true) {
                kept += 1;
            }
        }
        assert_eq!(kept, 10, "1 000 bytes hold ten frames of 100");
        let close = c.close.get().expect("closed");
        assert_eq!(
            (close.code, &*close.reason),
            (1008, "outbound queue over limit")
        );
        assert_eq!(c.outbox.queued_bytes(), 0);
        // Droppable frames are dropped over the soft mark instead.
        let d = client(1000, Duration::ZERO);
        gates.open(d.id, "r");
        let held: Vec<_> = (1..=20)
            .map(|o| gates.hold(&d, "r", o, &msg(o), &Overflow::Droppable, &metrics))
            .collect();
        assert_eq!(held.iter().filter(|h| **h == Some(true)).count(), 6);
        assert!(d.close.get().is_none());
        gates.forget(&d);
        assert_eq!(d.outbox.queued_bytes(), 0);
        assert!(d.outbox.pop().is_none());
    }
}
