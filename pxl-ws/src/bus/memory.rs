//! The embedded in-memory bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::{Bus, BusMessage, BusStatus, BusStream};

/// An in-process bus on a tokio broadcast channel.
///
/// Each server builds its own by default. Give several servers in one process the same
/// `MemoryBus` (it is cheap to clone) and sends on one reach clients of all of them.
///
/// ```
/// let bus = pxl_ws::bus::MemoryBus::new();
/// let a = pxl_ws::WsServer::builder().bus(bus.clone()).build().unwrap();
/// let b = pxl_ws::WsServer::builder().bus(bus).build().unwrap();
/// # drop((a, b));
/// ```
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<BusMessage>,
    dropped: AtomicU64,
}

impl MemoryBus {
    /// A bus buffering up to 65 536 messages per lagging subscriber.
    pub fn new() -> Self {
        Self::with_capacity(65_536)
    }

    /// A bus buffering up to `capacity` messages per lagging subscriber; a subscriber
    /// that falls further behind loses the oldest ones (logged and counted).
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                tx,
                dropped: AtomicU64::new(0),
            }),
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus for MemoryBus {
    fn publish(&self, msg: BusMessage) {
        // An error only means nobody subscribes, which is not a loss.
        let _ = self.inner.tx.send(msg);
    }

    fn subscribe(&self) -> BusStream {
        let rx = self.inner.tx.subscribe();
        let inner = self.inner.clone();
        let live = futures_util::stream::once(async { BusMessage::resync() });
        Box::pin(live.chain(futures_util::stream::unfold(rx, move |mut rx| {
            let inner = inner.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok(m) => return Some((m, rx)),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            inner.dropped.fetch_add(n, Ordering::Relaxed);
                            tracing::warn!(lost = n, "memory bus subscriber lagged");
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })))
    }

    fn has_peers(&self) -> bool {
        self.inner.tx.receiver_count() > 1
    }

    fn status(&self) -> BusStatus {
        BusStatus {
            kind: "memory",
            connected: true,
            dropped: self.inner.dropped.load(Ordering::Relaxed),
        }
    }
}
