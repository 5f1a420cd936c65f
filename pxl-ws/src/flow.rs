//! Flow control of what the server sends: the per-frame [`Overflow`] rule, the limits
//! every client's outbound queue is held to (in bytes), and the process-wide budget that
//! bounds all queues together. Data only: the queue itself is `outbox.rs`.
//!
//! A client that reads keeps an almost empty queue. One that falls behind first loses
//! its droppable frames (over the soft mark), sees its coalesced frames replaced in place
//! (one per key), and is closed with 1008 only when its queue stays over the hard limit
//! for the grace period, or when the process budget is spent and it is over its soft
//! mark. See `docs/performance.md` for the defaults and the memory they allow.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::config::OutboundConfig;

/// What to do with a frame for a client that is behind. Set with
/// [`Frame::droppable`](crate::Frame::droppable) and
/// [`Frame::coalesce`](crate::Frame::coalesce).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Always queued (the default); the client is closed rather than losing it.
    #[default]
    Keep,
    /// Dropped when the client's queue is over the soft mark; queued ones are dropped
    /// first when a kept frame finds the queue over the hard limit.
    Droppable,
    /// Replaces the queued frame with the same key, if one is waiting.
    Coalesce(Arc<str>),
}

/// Bytes a queued frame costs on top of its payload: the queue slot, the shared
/// buffer's header and the bookkeeping.
pub(crate) const SLOT_OVERHEAD: usize = 64;

/// A client's queue may hold this much without drawing on the process budget; beyond
/// it the queue reserves from the budget in chunks of this size. Keeps the shared
/// counter off the path of clients that keep up.
pub(crate) const BUDGET_CHUNK: usize = 16 * 1024;

/// The limits and the shared budget of one server's outbound queues, with their
/// counters. Every client's queue holds an `Arc` of it.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) queue_bytes: usize,
    pub(crate) soft_bytes: usize,
    pub(crate) grace: Duration,
    pub(crate) budget_bytes: usize,
    /// A queue up to this many bytes is under every mark and needs no budget: a kept
    /// frame that keeps it there is queued without looking further.
    pub(crate) plain_bytes: usize,
    /// Bytes reserved from the budget by all queues.
    reserved: AtomicUsize,
    frames_dropped: AtomicU64,
    frames_coalesced: AtomicU64,
    closed_over_limit: AtomicU64,
    closed_over_budget: AtomicU64,
}

impl Flow {
    pub(crate) fn new(config: &OutboundConfig) -> Self {
        Self {
            queue_bytes: config.queue_bytes,
            soft_bytes: config.soft_bytes,
            grace: config.grace,
            budget_bytes: config.budget_bytes,
            plain_bytes: BUDGET_CHUNK.min(config.soft_bytes).min(config.queue_bytes),
            reserved: AtomicUsize::new(0),
            frames_dropped: AtomicU64::new(0),
            frames_coalesced: AtomicU64::new(0),
            closed_over_limit: AtomicU64::new(0),
            closed_over_budget: AtomicU64::new(0),
        }
    }

    /// Takes `n` bytes from the budget; `false` (and nothing taken) when it is spent.
    pub(crate) fn reserve(&self, n: usize) -> bool {
        let before = self.reserved.fetch_add(n, Ordering::Relaxed);
        if before + n > self.budget_bytes {
            self.reserved.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Gives `n` reserved bytes back.
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.reserved.fetch_sub(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_dropped(&self) {
        self.frames_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_coalesced(&self) {
        self.frames_coalesced.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_closed(&self, why: OverLimit) {
        match why {
            OverLimit::Grace => &self.closed_over_limit,
            OverLimit::Budget => &self.closed_over_budget,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, for [`Health::flow`](crate::health::Health::flow).
    pub(crate) fn counts(&self) -> FlowCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FlowCounts {
            frames_dropped: get(&self.frames_dropped),
            frames_coalesced: get(&self.frames_coalesced),
            closed_over_limit: get(&self.closed_over_limit),
            closed_over_budget: get(&self.closed_over_budget),
            budget_reserved_bytes: self.reserved.load(Ordering::Relaxed) as u64,
            budget_bytes: self.budget_bytes as u64,
        }
    }
}

#[cfg(test)]
impl Default for Flow {
    fn default() -> Self {
        Self::new(&OutboundConfig::default())
    }
}

/// Why a client is closed for being behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverLimit {
    /// Its queue stayed over `limits.outbound.queue_bytes` for `limits.outbound.grace`.
    Grace,
    /// The process budget was spent while its queue was over the soft mark.
    Budget,
}

impl OverLimit {
    /// The close reason sent with 1008.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Grace => "outbound queue over limit",
            Self::Budget => "server outbound budget exhausted",
        }
    }
}

/// What the outbound flow control did since start, in
/// [`Health::flow`](crate::health::Health::flow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FlowCounts {
    /// Droppable frames not sent because the client's queue was over
    /// `limits.outbound.soft_bytes` (or dropped from the queue to make room).
    pub frames_dropped: u64,
    /// Queued frames replaced by a newer frame with the same coalescing key.
    pub frames_coalesced: u64,
    /// Clients closed with 1008 `outbound queue over limit`: over
    /// `limits.outbound.queue_bytes` for `limits.outbound.grace`.
    pub closed_over_limit: u64,
    /// Clients closed with 1008 `server outbound budget exhausted`.
    pub closed_over_budget: u64,
    /// Bytes the queues hold beyond each one's first 16 KiB, drawn from the budget now.
    pub budget_reserved_bytes: u64,
    /// `limits.outbound.budget_bytes`.
    pub budget_bytes: u64,
}
