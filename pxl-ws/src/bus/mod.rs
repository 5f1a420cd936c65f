//! The bus between server instances. [`MemoryBus`] is the embedded default: one process,
//! nothing else needed (several servers in one process can share one to form a cluster).

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

#[cfg(feature = "redis")]
pub use self::redis::RedisBus;
pub use crate::health::BusStatus;
pub use memory::MemoryBus;

/// One message on the bus: a channel name and an opaque (JSON) payload.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusMessage {
    /// Full channel name, e.g. `pxl-ws:sendMessage`.
    pub channel: String,
    /// The encoded event.
    pub payload: Bytes,
}

impl BusMessage {
    /// A message on `channel` (the full name, e.g. `pxl-ws:sendMessage`), as a bus
    /// implementation yields it from its stream.
    ///
    /// ```
    /// let msg = pxl_ws::bus::BusMessage::new("pxl-ws:custom", r#"{"origin":"a"}"#);
    /// assert_eq!(msg.channel, "pxl-ws:custom");
    /// ```
    pub fn new(channel: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            channel: channel.into(),
            payload: payload.into(),
        }
    }

    /// The marker a bus stream yields once its subscription is live, and again after
    /// every reconnect: messages may have been missed, so the server resyncs its view of
    /// the other instances. It has an empty channel and payload.
    pub fn resync() -> Self {
        Self {
            channel: String::new(),
            payload: Bytes::new(),
        }
    }

    /// Whether this is the [`resync`](Self::resync) marker.
    pub fn is_resync(&self) -> bool {
        self.channel.is_empty()
    }
}

impl fmt::Debug for BusMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusMessage")
            .field("channel", &self.channel)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// A stream of bus messages for one subscriber.
pub type BusStream = Pin<Box<dyn Stream<Item = BusMessage> + Send>>;

/// Fan-out between server instances.
///
/// Every instance publishes what other instances must act on and receives everything
/// the others publish. Implementations never block the caller: `publish` hands the
/// message over (or counts it as dropped) and returns.
pub trait Bus: Send + Sync + 'static {
    /// Hands `msg` to the bus for every *other* subscriber (a subscriber may also receive
    /// its own messages; the server ignores those by origin id).
    fn publish(&self, msg: BusMessage);

    /// A new subscription to every channel. The stream first yields
    /// [`BusMessage::resync`] once the subscription is live, and again after each
    /// reconnect.
    fn subscribe(&self) -> BusStream;

    /// Whether anyone besides the caller's own subscription might be listening. A bus
    /// that cannot tell returns `true`; the server skips encoding when this is `false`.
    fn has_peers(&self) -> bool {
        true
    }

    /// Waits (at most `within`) until messages published so far have left this process.
    /// The server calls it at the end of a graceful shutdown. The default returns at once.
    fn flush(&self, within: std::time::Duration) -> futures_util::future::BoxFuture<'_, ()> {
        let _ = within;
        Box::pin(std::future::ready(()))
    }

    /// Current state.
    fn status(&self) -> BusStatus;

    /// Tells the bus this instance does not need `channel`, one of the fixed
    /// `<prefix>:<event>` channels (the server calls it, before
    /// [`subscribe`](Self::subscribe), for the membership events when it keeps no copy
    /// of the other instances' clients and no subscriber wants them). A bus that
    /// carries every channel to every subscriber ignores it (the default).
    fn skip(&self, channel: &str) {
        let _ = channel;
    }

    /// Adds `channel` to this instance's subscription, besides the fixed
    /// `<prefix>:<event>` channels (a room's channel while the instance has members of
    /// it; its own direct channel). Never waits; calls for one channel take effect in
    /// the order made, and the set survives reconnects. A bus that carries every
    /// channel to every subscriber, like [`MemoryBus`], ignores it (the default).
    fn watch(&self, channel: &str) {
        let _ = channel;
    }

    /// Takes `channel` out of the subscription again (see [`watch`](Self::watch)).
    fn unwatch(&self, channel: &str) {
        let _ = channel;
    }

    /// Resolves once messages published on a [watched](Self::watch) `channel` from now
    /// on reach this instance, or at once when that cannot be known soon (the bus is
    /// disconnected; it resubscribes by itself). A bounded wait: the server awaits it
    /// before answering a `joinRoom`. The default resolves at once.
    fn watching(&self, channel: &str) -> futures_util::future::BoxFuture<'_, ()> {
        let _ = channel;
        Box::pin(std::future::ready(()))
    }
}
