//! A client's outbound queue: bounded, filled without waiting by any task (replies,
//! broadcasts, the heartbeat), drained by the client's writer task.
//!
//! It holds no memory while empty (a `VecDeque` that is released after a burst), where
//! a channel would keep a preallocated block per client: that block was most of an idle
//! connection's footprint.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// Capacity above which an emptied queue gives its memory back.
const KEEP_CAPACITY: usize = 16;

pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the writer when the queue goes from empty to non-empty.
    ready: Notify,
    cap: usize,
}

struct Inner {
    queue: VecDeque<Message>,
    /// Payload bytes of the queued frames.
    bytes: usize,
    closed: bool,
}

/// A queued frame's payload size.
fn size(msg: &Message) -> usize {
    msg.len()
}

/// Why a push failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `cap` frames are waiting.
    Full,
    /// The writer is gone.
    Closed,
}

impl Outbox {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            ready: Notify::new(),
            cap,
        }
    }

    /// Queues `msg` without waiting.
    pub(crate) fn push(&self, msg: Message) -> Result<(), PushError> {
        let mut inner = self.inner.lock().expect("outbox lock");
        if inner.closed {
            return Err(PushError::Closed);
        }
        if inner.queue.len() >= self.cap {
            return Err(PushError::Full);
        }
        let was_empty = inner.queue.is_empty();
        inner.bytes += size(&msg);
        inner.queue.push_back(msg);
        drop(inner);
        // The writer only waits after it found the queue empty; `notify_one` keeps a
        // permit if it is not waiting yet, so no wake-up is lost.
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The oldest queued frame, if any. An emptied queue above [`KEEP_CAPACITY`] gives
    /// its memory back.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut inner = self.inner.lock().expect("outbox lock");
        let msg = inner.queue.pop_front();
        inner.bytes -= msg.as_ref().map_or(0, size);
        if inner.queue.is_empty() && inner.queue.capacity() > KEEP_CAPACITY {
            inner.queue = VecDeque::new();
        }
        msg
    }

    /// Resolves once a push may have made the queue non-empty.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Refuses further pushes and drops what is queued (the writer is gone).
    pub(crate) fn close(&self) {
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.closed = true;
        inner.queue = VecDeque::new();
        inner.bytes = 0;
    }

    /// Payload bytes waiting in the queue.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn bytes(&self) -> usize {
        self.inner.lock().expect("outbox lock").bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_bytes_follow_pushes_pops_and_close() {
        let o = Outbox::new(10);
        o.push(Message::Text("hello".into())).unwrap();
        o.push(Message::Binary(vec![0u8; 100].into())).unwrap();
        assert_eq!(o.bytes(), 105);
        o.pop().unwrap();
        assert_eq!(o.bytes(), 100);
        o.close();
        assert_eq!(o.bytes(), 0);
    }

    #[test]
    fn bounded_fifo_that_releases_memory_when_emptied() {
        let o = Outbox::new(100);
        for i in 0..100 {
            o.push(Message::text(i.to_string())).unwrap();
        }
        assert_eq!(o.push(Message::text("x")), Err(PushError::Full));
        for i in 0..100 {
            assert_eq!(o.pop(), Some(Message::text(i.to_string())));
        }
        assert_eq!(o.pop(), None);
        assert_eq!(o.inner.lock().unwrap().queue.capacity(), 0);
        o.close();
        assert_eq!(o.push(Message::text("late")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn a_push_wakes_a_waiting_writer_and_none_is_lost() {
        let o = std::sync::Arc::new(Outbox::new(8));
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
        let mut sent = 0;
        while sent < 1000 {
            if o.push(Message::text(sent.to_string())).is_ok() {
                sent += 1;
            } else {
                tokio::task::yield_now().await;
            }
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("writer finished")
            .unwrap();
        let expected: Vec<Message> = (0..1000).map(|i| Message::text(i.to_string())).collect();
        assert_eq!(got, expected);
    }
}
