//! A client's outbound queue: filled without waiting by any task (replies, broadcasts,
//! the heartbeat), drained by the client's writer task, held to the byte limits of
//! [`Flow`] and each frame's [`Overflow`] rule.
//!
//! It holds no memory while empty (a `VecDeque` that is released after a burst), where
//! a channel would keep a preallocated block per client: that block was most of an idle
//! connection's footprint.
//!
//! Queued frames are numbered (`head` is the number of the front one), so a coalescing
//! key can name its frame's slot; a droppable frame dropped to make room leaves an empty
//! slot that [`Outbox::pop`] skips, so the numbers stay put.
//!
//! Frames can also be *parked* ([`Outbox::park`]): held back from the writer while a
//! `joinRoom` reads the room's history (`history::Gates`), then moved behind what is
//! queued ([`Outbox::unpark`]) or discarded. Parked frames count in the same bytes as
//! queued ones, so one rule (soft mark, hard limit and grace, budget) governs a client
//! that is behind, whether its frames wait in the queue or behind a join.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use futures_util::task::AtomicWaker;
use tokio_tungstenite::tungstenite::Message;

use crate::flow::{BUDGET_CHUNK, Flow, OverLimit, Overflow, SLOT_OVERHEAD};

/// Capacity above which an emptied queue gives its memory back.
const KEEP_CAPACITY: usize = 16;

pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    /// Set when the queue goes from empty to non-empty, taken by [`Outbox::ready`]: a
    /// wake-up kept for the writer if it is not waiting yet.
    signalled: AtomicBool,
    /// The writer waiting in [`Outbox::ready`] (one task: a `Notify`'s waiter list and
    /// its lock cost more per frame).
    writer: AtomicWaker,
    flow: Arc<Flow>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Slot>,
    /// Number of the frame at the front.
    head: u64,
    /// What the queued frames cost (payload + [`SLOT_OVERHEAD`] each).
    bytes: usize,
    /// Drawn from the process budget for the bytes beyond the first [`BUDGET_CHUNK`].
    reserved: usize,
    /// Coalescing key → number of its queued frame. Allocated on first use, and boxed
    /// so that a queue that never coalesces carries one pointer, not an empty map.
    #[allow(clippy::box_collection)]
    keys: Option<Box<HashMap<Arc<str>, u64>>>,
    /// Droppable frames queued.
    droppable: usize,
    /// Since when `bytes` has been over the hard limit.
    over_since: Option<Instant>,
    /// Already logged: a drop, going over the hard limit (once per client each).
    logged_drop: bool,
    logged_over: bool,
    closed: bool,
    /// Frames held back from the writer, in arrival order, each with its gate (a room)
    /// and its position there; counted in `bytes`.
    parked: Vec<Parked>,
}

struct Parked {
    gate: Arc<str>,
    position: u64,
    slot: Slot,
}

struct Slot {
    /// `None`: dropped to make room.
    msg: Option<Message>,
    cost: usize,
    policy: Overflow,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued. `first_over` is set the first time this client's queue goes over the
    /// hard limit (to log once).
    Queued { first_over: bool },
    /// Replaced the queued frame with the same key.
    Coalesced,
    /// A droppable frame not queued: the client is behind. `first` is set on this
    /// client's first drop.
    Dropped { first: bool },
    /// Not queued: the client must be closed with 1008.
    OverLimit(OverLimit),
    /// The writer is gone.
    Closed,
}

/// The bytes a message costs in the queue.
fn cost(msg: &Message) -> usize {
    let payload = match msg {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(c) => c.as_ref().map_or(0, |c| c.reason.len() + 2),
        Message::Frame(f) => f.payload().len(),
    };
    payload + SLOT_OVERHEAD
}

impl Outbox {
    pub(crate) fn new(flow: Arc<Flow>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            signalled: AtomicBool::new(false),
            writer: AtomicWaker::new(),
            flow,
        }
    }

    /// Queues `msg` under `policy` without waiting.
    pub(crate) fn push(&self, msg: Message, policy: &Overflow) -> Pushed {
        let flow = &*self.flow;
        let cost = cost(&msg);
        let mut inner = self.inner.lock().expect("outbox lock");
        let inner = &mut *inner;
        if inner.closed {
            return Pushed::Closed;
        }
        let was_empty = inner.queue.is_empty();
        // The usual frame: kept, and the queue within its first budget chunk and under
        // the soft mark, so no limit, budget or key applies.
        let bytes = inner.bytes + cost;
        if *policy == Overflow::Keep && bytes <= flow.plain_bytes {
            inner.bytes = bytes;
            inner.queue.push_back(Slot {
                msg: Some(msg),
                cost,
                policy: Overflow::Keep,
            });
            if was_empty {
                self.signal();
            }
            return Pushed::Queued { first_over: false };
        }
        if let Overflow::Coalesce(key) = policy
            && let Some(seq) = inner.keys.as_ref().and_then(|k| k.get(key)).copied()
        {
            let slot = &mut inner.queue[(seq - inner.head) as usize];
            inner.bytes = inner.bytes - slot.cost + cost;
            slot.cost = cost;
            slot.msg = Some(msg);
            inner.rebalance(flow);
            flow.count_coalesced();
            return Pushed::Coalesced;
        }
        let first_over = match inner.admit(flow, cost, policy) {
            Ok(first_over) => first_over,
            Err(refused) => return refused,
        };
        inner.enqueue(Slot {
            msg: Some(msg),
            cost,
            policy: policy.clone(),
        });
        // The writer only waits after it found the queue empty; the signal stays set
        // if it is not waiting yet, so no wake-up is lost.
        if was_empty {
            self.signal();
        }
        Pushed::Queued { first_over }
    }

    /// Holds `msg` back from the writer under `gate` at `position` (see
    /// [`unpark`](Self::unpark)), counted and limited exactly like a queued frame: a
    /// droppable one is dropped over the soft mark, and over the hard limit for the grace
    /// period (or over the budget) the client must be closed. A coalesced frame is kept
    /// as it is (it cannot replace a queued one: that would send it before the join's
    /// reply). `Queued` means parked.
    pub(crate) fn park(
        &self,
        gate: &Arc<str>,
        position: u64,
        msg: Message,
        policy: &Overflow,
    ) -> Pushed {
        let flow = &*self.flow;
        let cost = cost(&msg);
        let mut inner = self.inner.lock().expect("outbox lock");
        let inner = &mut *inner;
        if inner.closed {
            return Pushed::Closed;
        }
        let first_over = match inner.admit(flow, cost, policy) {
            Ok(first_over) => first_over,
            Err(refused) => return refused,
        };
        inner.parked.push(Parked {
            gate: gate.clone(),
            position,
            slot: Slot {
                msg: Some(msg),
                cost,
                policy: policy.clone(),
            },
        });
        Pushed::Queued { first_over }
    }

    /// Ends `gate`: its parked frames at positions after `after` move, in order, behind
    /// the queued ones (where a frame pushed from now on queues behind them); the others
    /// (`after` = `None`: none) are discarded.
    pub(crate) fn unpark(&self, gate: &str, after: Option<u64>) {
        let mut inner = self.inner.lock().expect("outbox lock");
        let inner = &mut *inner;
        if inner.parked.is_empty() {
            return;
        }
        let was_empty = inner.queue.is_empty();
        let parked = std::mem::take(&mut inner.parked);
        for p in parked {
            if &*p.gate != gate {
                inner.parked.push(p);
            } else if after.is_none_or(|a| p.position > a) {
                inner.enqueue(p.slot);
            } else {
                inner.bytes -= p.slot.cost;
            }
        }
        if inner.parked.capacity() > KEEP_CAPACITY && inner.parked.is_empty() {
            inner.parked = Vec::new();
        }
        inner.rebalance(&self.flow);
        if inner.bytes <= self.flow.queue_bytes {
            inner.over_since = None;
        }
        if was_empty && !inner.queue.is_empty() {
            self.signal();
        }
    }

    /// Discards `gate`'s parked frames (the client is gone).
    pub(crate) fn discard_parked(&self, gate: &str) {
        self.unpark(gate, Some(u64::MAX));
    }

    /// The oldest queued frame, if any. An emptied queue above [`KEEP_CAPACITY`] gives
    /// its memory back.
    pub(crate) fn pop(&self) -> Option<Message> {
        self.pop_more().map(|(msg, _)| msg)
    }

    /// [`pop`](Self::pop), and whether frames are left behind it: the writer takes a
    /// burst with one lock per frame and, after the last one, waits for [`ready`]
    /// without looking again (a frame pushed after this pop left a wake-up).
    ///
    /// [`ready`]: Self::ready
    pub(crate) fn pop_more(&self) -> Option<(Message, bool)> {
        let mut inner = self.inner.lock().expect("outbox lock");
        let inner = &mut *inner;
        let msg = loop {
            let Some(slot) = inner.queue.pop_front() else {
                break None;
            };
            let seq = inner.head;
            inner.head += 1;
            inner.bytes -= slot.cost;
            match &slot.policy {
                Overflow::Coalesce(key) => {
                    if let Some(keys) = inner.keys.as_mut()
                        && keys.get(key) == Some(&seq)
                    {
                        keys.remove(key);
                    }
                }
                Overflow::Droppable => inner.droppable -= 1,
                Overflow::Keep => {}
            }
            if slot.msg.is_some() {
                break slot.msg;
            }
        };
        if inner.bytes <= self.flow.queue_bytes {
            inner.over_since = None;
        }
        let more = !inner.queue.is_empty();
        if !more {
            if inner.queue.capacity() > KEEP_CAPACITY {
                inner.queue = VecDeque::new();
            }
            if inner.keys.is_some() {
                inner.keys = None;
            }
        }
        if inner.reserved > 0 {
            inner.rebalance(&self.flow);
        }
        msg.map(|m| (m, more))
    }

    /// Resolves once a push may have made the queue non-empty (at once if one did since
    /// the last call). For the one task that pops: the writer.
    pub(crate) async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if self.signalled.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.writer.register(cx.waker());
            // A push between the first look and the registration woke nobody.
            if self.signalled.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }

    /// Wakes the writer to look at its client again (a close was requested).
    pub(crate) fn wake_writer(&self) {
        self.signal();
    }

    fn signal(&self) {
        self.signalled.store(true, Ordering::Release);
        self.writer.wake();
    }

    /// Counts a close for being behind.
    pub(crate) fn count_closed(&self, why: OverLimit) {
        self.flow.count_closed(why);
    }

    /// What the queued and parked frames cost now, in bytes.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.inner.lock().expect("outbox lock").bytes
    }

    /// Refuses further pushes and drops what is queued (the writer is gone).
    pub(crate) fn close(&self) {
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.closed = true;
        inner.queue = VecDeque::new();
        inner.parked = Vec::new();
        inner.keys = None;
        inner.bytes = 0;
        inner.droppable = 0;
        self.flow.release(std::mem::take(&mut inner.reserved));
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let reserved = self.inner.get_mut().map_or(0, |i| i.reserved);
        self.flow.release(reserved);
    }
}

impl Inner {
    /// Whether `cost` more bytes under `policy` may be held (queued or parked), making
    /// room first; `Ok(first_over)` (and the bytes counted) or the refusal.
    fn admit(&mut self, flow: &Flow, cost: usize, policy: &Overflow) -> Result<bool, Pushed> {
        if *policy == Overflow::Droppable && self.bytes > flow.soft_bytes {
            flow.count_dropped();
            let first = !std::mem::replace(&mut self.logged_drop, true);
            return Err(Pushed::Dropped { first });
        }
        if self.bytes + cost > flow.queue_bytes && self.droppable > 0 {
            self.make_room(flow, cost);
        }
        let bytes = self.bytes + cost;
        if !self.reserve(flow, bytes) && bytes > flow.soft_bytes {
            self.rebalance(flow);
            return Err(Pushed::OverLimit(OverLimit::Budget));
        }
        let mut first_over = false;
        if bytes > flow.queue_bytes {
            let now = Instant::now();
            let since = *self.over_since.get_or_insert(now);
            if now.duration_since(since) >= flow.grace {
                self.rebalance(flow);
                return Err(Pushed::OverLimit(OverLimit::Grace));
            }
            first_over = !std::mem::replace(&mut self.logged_over, true);
        }
        self.bytes = bytes;
        Ok(first_over)
    }

    /// Appends an admitted frame (its bytes already counted) to the queue.
    fn enqueue(&mut self, slot: Slot) {
        let seq = self.head + self.queue.len() as u64;
        match &slot.policy {
            Overflow::Coalesce(key) => {
                self.keys.get_or_insert_default().insert(key.clone(), seq);
            }
            Overflow::Droppable => self.droppable += 1,
            Overflow::Keep => {}
        }
        self.queue.push_back(slot);
    }

    /// Reserves budget for a queue of `bytes`; `false` when the budget is spent (what
    /// could be reserved is kept).
    fn reserve(&mut self, flow: &Flow, bytes: usize) -> bool {
        let needed = bytes.saturating_sub(BUDGET_CHUNK);
        while self.reserved < needed {
            if !flow.reserve(BUDGET_CHUNK) {
                return false;
            }
            self.reserved += BUDGET_CHUNK;
        }
        true
    }

    /// Gives back reserved budget more than a chunk beyond what the queue needs.
    fn rebalance(&mut self, flow: &Flow) {
        let needed = self
            .bytes
            .saturating_sub(BUDGET_CHUNK)
            .next_multiple_of(BUDGET_CHUNK);
        let keep = if self.bytes == 0 { 0 } else { needed };
        if self.reserved > keep + BUDGET_CHUNK || (self.bytes == 0 && self.reserved > 0) {
            flow.release(self.reserved - keep);
            self.reserved = keep;
        }
    }

    /// Drops queued droppable frames, oldest first, until `incoming` more bytes fit
    /// under the hard limit or none is left.
    fn make_room(&mut self, flow: &Flow, incoming: usize) {
        for slot in self.queue.iter_mut() {
            if self.bytes + incoming <= flow.queue_bytes || self.droppable == 0 {
                break;
            }
            if slot.policy == Overflow::Droppable && slot.msg.is_some() {
                slot.msg = None;
                self.bytes -= slot.cost;
                slot.cost = 0;
                slot.policy = Overflow::Keep;
                self.droppable -= 1;
                flow.count_dropped();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::OutboundConfig;

    fn flow(queue: usize, soft: usize, grace_ms: u64, budget: usize) -> Arc<Flow> {
        Arc::new(Flow::new(&OutboundConfig {
            queue_bytes: queue,
            soft_bytes: soft,
            grace: Duration::from_millis(grace_ms),
            budget_bytes: budget,
        }))
    }

    fn text(s: &str) -> Message {
        Message::text(s.to_owned())
    }

    fn drain(o: &Outbox) -> Vec<String> {
        std::iter::from_fn(|| o.pop())
            .map(|m| m.into_text().unwrap().to_string())
            .collect()
    }

    const QUEUED: Pushed = Pushed::Queued { first_over: false };

    #[test]
    fn fifo_that_counts_bytes_and_releases_memory_when_emptied() {
        let o = Outbox::new(Arc::new(Flow::default()));
        for i in 0..100 {
            assert_eq!(o.push(text(&i.to_string()), &Overflow::Keep), QUEUED);
        }
        let payload: usize = (0..100).map(|i: i32| i.to_string().len()).sum();
        assert_eq!(o.queued_bytes(), payload + 100 * SLOT_OVERHEAD);
        assert_eq!(
            drain(&o),
            (0..100).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(o.queued_bytes(), 0);
        assert_eq!(o.inner.lock().unwrap().queue.capacity(), 0);
        o.close();
        assert_eq!(o.push(text("late"), &Overflow::Keep), Pushed::Closed);
    }

    #[test]
    fn a_coalesced_frame_replaces_the_queued_one_with_its_key_in_place() {
        let f = Arc::new(Flow::default());
        let o = Outbox::new(f.clone());
        let a: Overflow = Overflow::Coalesce("typing:a".into());
        let b: Overflow = Overflow::Coalesce("typing:b".into());
        o.push(text("m1"), &Overflow::Keep);
        o.push(text("a1"), &a);
        o.push(text("b1"), &b);
        o.push(text("m2"), &Overflow::Keep);
        assert_eq!(o.push(text("a2"), &a), Pushed::Coalesced);
        assert_eq!(o.push(text("a3"), &a), Pushed::Coalesced);
        assert_eq!(o.push(text("b2"), &b), Pushed::Coalesced);
        assert_eq!(drain(&o), ["m1", "a3", "b2", "m2"]);
        assert_eq!(f.counts().frames_coalesced, 3);
        // Once sent, the key starts a new frame.
        assert_eq!(o.push(text("a4"), &a), QUEUED);
        assert_eq!(drain(&o), ["a4"]);
        assert_eq!(o.queued_bytes(), 0);
    }

    #[test]
    fn droppable_frames_are_dropped_over_the_soft_mark_and_first_to_make_room() {
        // Frames of 36 + 64 = 100 bytes: over the soft mark after 3, at the hard limit
        // after 5.
        let f = flow(500, 250, 60_000, 1 << 30);
        let o = Outbox::new(f.clone());
        let frame = |c: char| text(&c.to_string().repeat(36));
        for c in ['a', 'b', 'c'] {
            assert_eq!(o.push(frame(c), &Overflow::Droppable), QUEUED);
        }
        assert_eq!(
            o.push(frame('d'), &Overflow::Droppable),
            Pushed::Dropped { first: true }
        );
        assert_eq!(
            o.push(frame('e'), &Overflow::Droppable),
            Pushed::Dropped { first: false }
        );
        for c in ['f', 'g'] {
            assert_eq!(o.push(frame(c), &Overflow::Keep), QUEUED);
        }
        // 500 bytes queued: the next kept frame takes the oldest droppable one's room.
        assert_eq!(o.push(frame('h'), &Overflow::Keep), QUEUED);
        assert_eq!(o.queued_bytes(), 500);
        assert_eq!(f.counts().frames_dropped, 3);
        let got: Vec<char> = drain(&o)
            .iter()
            .map(|s| s.chars().next().unwrap())
            .collect();
        assert_eq!(got, ['b', 'c', 'f', 'g', 'h']);
    }

    #[test]
    fn over_the_hard_limit_frames_are_kept_for_the_grace_period_only() {
        let f = flow(300, 200, 0, 1 << 30);
        let o = Outbox::new(f.clone());
        for _ in 0..3 {
            assert_eq!(o.push(text(&"x".repeat(36)), &Overflow::Keep), QUEUED);
        }
        // A zero grace: the first frame over the limit closes.
        assert_eq!(
            o.push(text("y"), &Overflow::Keep),
            Pushed::OverLimit(OverLimit::Grace)
        );
        assert_eq!(o.queued_bytes(), 300);

        let f = flow(300, 200, 60_000, 1 << 30);
        let o = Outbox::new(f.clone());
        for _ in 0..3 {
            o.push(text(&"x".repeat(36)), &Overflow::Keep);
        }
        assert_eq!(
            o.push(text("y"), &Overflow::Keep),
            Pushed::Queued { first_over: true }
        );
        assert_eq!(o.push(text("z"), &Overflow::Keep), QUEUED);
        assert!(o.inner.lock().unwrap().over_since.is_some());
        // Back under the limit: the clock stops.
        o.pop();
        o.pop();
        assert!(o.inner.lock().unwrap().over_since.is_none());
    }

    #[test]
    fn the_budget_bounds_all_queues_and_is_given_back() {
        let chunk = BUDGET_CHUNK;
        // Budget for two chunks; soft mark one chunk.
        let f = flow(16 * chunk, chunk, 60_000, 2 * chunk);
        let big = |n: usize| text(&"x".repeat(n - SLOT_OVERHEAD));
        let a = Outbox::new(f.clone());
        let b = Outbox::new(f.clone());
        // The first chunk of each queue is free.
        assert_eq!(a.push(big(chunk), &Overflow::Keep), QUEUED);
        assert_eq!(f.counts().budget_reserved_bytes, 0);
        assert_eq!(a.push(big(chunk), &Overflow::Keep), QUEUED);
        assert_eq!(b.push(big(chunk), &Overflow::Keep), QUEUED);
        assert_eq!(b.push(big(chunk), &Overflow::Keep), QUEUED);
        assert_eq!(f.counts().budget_reserved_bytes, 2 * chunk as u64);
        // Spent: a queue over its soft mark is refused.
        assert_eq!(
            a.push(big(100), &Overflow::Keep),
            Pushed::OverLimit(OverLimit::Budget)
        );
        // One under its soft mark still gets its frames.
        let c = Outbox::new(f.clone());
        assert_eq!(c.push(big(100), &Overflow::Keep), QUEUED);
        drain(&a);
        assert_eq!(f.counts().budget_reserved_bytes, chunk as u64);
        b.close();
        assert_eq!(f.counts().budget_reserved_bytes, 0);
    }

    #[tokio::test]
    async fn a_push_wakes_a_waiting_writer_and_none_is_lost() {
        let o = Arc::new(Outbox::new(Arc::new(Flow::default())));
        let writer = {
            let o = o.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < 1000 {
                    match o.pop() {
                        Some(m) => got.push(m),
                        None => o.ready().await,
                    }
                }
                got
            })
        };
        for sent in 0..1000 {
            assert_eq!(o.push(text(&sent.to_string()), &Overflow::Keep), QUEUED);
            if sent % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let got = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("writer finished")
            .unwrap();
        let expected: Vec<Message> = (0..1000).map(|i| text(&i.to_string())).collect();
        assert_eq!(got, expected);
    }

    /// The writer's protocol: pop while frames are left, then wait for a signal without
    /// looking again. Pushers on other threads, racing the writer's last pop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_after_the_last_frame_of_a_burst_loses_no_wake_up() {
        const PUSHERS: usize = 4;
        const EACH: usize = 5_000;
        // Limits far above what the pushers queue, however far behind the writer is.
        let o = Arc::new(Outbox::new(flow(64 << 20, 64 << 20, 60_000, 1 << 30)));
        let writer = {
            let o = o.clone();
            tokio::spawn(async move {
                let mut got: Vec<Vec<usize>> = vec![Vec::new(); PUSHERS];
                let mut n = 0;
                let mut more = true;
                while n < PUSHERS * EACH {
                    if !more {
                        o.ready().await;
                    }
                    match o.pop_more() {
                        Some((m, rest)) => {
                            more = rest;
                            let t = m.into_text().unwrap();
                            let (p, i) = t.split_once(':').unwrap();
                            got[p.parse::<usize>().unwrap()].push(i.parse().unwrap());
                            n += 1;
                        }
                        None => more = false,
                    }
                }
                got
            })
        };
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let o = o.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        assert_eq!(o.push(text(&format!("{p}:{i}")), &Overflow::Keep), QUEUED);
                        if i % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for p in pushers {
            p.join().unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("the writer got every frame: no wake-up was lost")
            .unwrap();
        for per_pusher in got {
            assert_eq!(
                per_pusher,
                (0..EACH).collect::<Vec<_>>(),
                "in order, none lost"
            );
        }
        assert_eq!(o.queued_bytes(), 0);
    }
}
