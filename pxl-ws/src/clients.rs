//! Clients: ids, the per-connection record, the registry and the [`Client`] handle.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::Poll;

use dashmap::DashMap;
use futures_util::task::AtomicWaker;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::user::AuthUser;
use crate::flow::{Flow, Overflow};
use crate::health::Metrics;
use crate::lock::Membership;
use crate::outbox::{Outbox, Pushed};
use crate::util::time::now_ms;

/// A client id: 128 random bits, written as 32 lowercase hex characters (PXL's format).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(u128);

impl ClientId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({self})")
    }
}

/// The string is not 32 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a client id is 32 hexadecimal characters")]
pub struct InvalidClientId;

impl FromStr for ClientId {
    type Err = InvalidClientId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidClientId);
        }
        u128::from_str_radix(s, 16)
            .map(ClientId)
            .map_err(|_| InvalidClientId)
    }
}

impl Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The longest close reason, in bytes: a close frame's payload is at most 125 bytes, two
/// of them the code.
pub(crate) const MAX_CLOSE_REASON: usize = 123;

/// `code` if a server may send it in a close frame: 1000–1003, 1007–1013 and 3000–4999.
/// Anything else becomes 1000 (normal closure): 1005, 1006 and 1015 must never be sent,
/// 1004 and 1016–2999 are reserved, 0–999 and 5000 and up are not close codes, and 1014
/// is refused as a protocol error by common clients (tungstenite, which the Rust client
/// uses).
pub(crate) fn sendable_close_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1013 | 3000..=4999 => code,
        _ => 1000,
    }
}

/// `reason` cut to at most [`MAX_CLOSE_REASON`] bytes, at a character boundary.
pub(crate) fn sendable_close_reason(reason: Cow<'static, str>) -> Cow<'static, str> {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    match reason {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
        Cow::Owned(mut s) => {
            s.truncate(end);
            Cow::Owned(s)
        }
    }
}

/// A close the server asked for; the writer task acts on the first one. Its code and
/// reason are always sendable (see [`sendable_close_code`], [`sendable_close_reason`]).
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: Cow<'static, str>,
    /// Send what is already queued before the close frame.
    pub(crate) flush_queued: bool,
}

/// One local connection's record. Shared by the registry, the rooms and the tasks.
pub(crate) struct ClientState {
    pub(crate) id: ClientId,
    pub(crate) outbox: Outbox,
    pub(crate) close: OnceLock<CloseRequest>,
    /// The reader waiting in [`closed`](Self::closed), woken once a close is requested
    /// (the writer is woken through its outbox). Inline, with no allocation and no lock
    /// per wake-up; whether a close was requested is `close` itself, one atomic load.
    reader: AtomicWaker,
    pub(crate) connected_at_ms: u64,
    last_activity_ms: AtomicU64,
    last_seen_ms: AtomicU64,
    metadata: Mutex<serde_json::Map<String, serde_json::Value>>,
    /// Rooms this client is in. Locked before any room-table shard (never the other way).
    pub(crate) rooms: Mutex<Vec<Arc<str>>>,
    user_id: RwLock<Option<Arc<str>>>,
    auth: RwLock<Option<Arc<AuthUser>>>,
    /// When the connection's token expires, in Unix ms (0 = never).
    auth_expires_ms: AtomicU64,
    pub(crate) remote_addr: Option<SocketAddr>,
}

impl ClientState {
    pub(crate) fn new(id: ClientId, flow: Arc<Flow>, remote_addr: Option<SocketAddr>) -> Self {
        let now = now_ms();
        Self {
            id,
            outbox: Outbox::new(flow),
            close: OnceLock::new(),
            reader: AtomicWaker::new(),
            connected_at_ms: now,
            last_activity_ms: AtomicU64::new(now),
            last_seen_ms: AtomicU64::new(now),
            metadata: Mutex::new(serde_json::Map::new()),
            rooms: Mutex::new(Vec::new()),
            user_id: RwLock::new(None),
            auth: RwLock::new(None),
            auth_expires_ms: AtomicU64::new(0),
            remote_addr,
        }
    }

    /// Queues a kept frame without waiting (see [`push_with`](Self::push_with)).
    pub(crate) fn push(&self, msg: Message, metrics: &Metrics) -> bool {
        self.push_with(msg, &Overflow::Keep, metrics)
    }

    /// Queues a frame under its overflow rule without waiting. `true` when the client
    /// will get it (queued, or in place of a queued one with its key). A client behind
    /// is logged once per client for each thing that happens to it; over its limit
    /// (`outbox::Pushed::OverLimit`) it is closed with 1008, its queue dropped unsent.
    pub(crate) fn push_with(&self, msg: Message, policy: &Overflow, metrics: &Metrics) -> bool {
        let queued = self.queue(msg, policy, metrics);
        if queued {
            metrics.count_messages_out(1);
        }
        queued
    }

    /// [`push_with`](Self::push_with) without counting `messages_out`: a fan-out counts
    /// its deliveries once, when it is done.
    pub(crate) fn queue(&self, msg: Message, policy: &Overflow, metrics: &Metrics) -> bool {
        match self.outbox.push(msg, policy) {
            Pushed::Queued { first_over: false } | Pushed::Coalesced => true,
            pushed => self.pushed(pushed, metrics),
        }
    }

    /// Holds a frame back while a `joinRoom` of this client reads `gate`'s history (see
    /// `Outbox::park`): counted against the client's outbound limits like a queued
    /// frame, with the same outcomes as [`push_with`](Self::push_with) (a client over its
    /// limit for the grace period is closed with 1008 `outbound queue over limit`).
    pub(crate) fn park_with(
        &self,
        gate: &Arc<str>,
        position: u64,
        msg: Message,
        policy: &Overflow,
        metrics: &Metrics,
    ) -> bool {
        let pushed = self.outbox.park(gate, position, msg, policy);
        let parked = self.pushed(pushed, metrics);
        if parked {
            metrics.count_messages_out(1);
        }
        parked
    }

    /// Ends `gate`: its held frames after `after` go to the writer, behind the queued
    /// ones; the others are discarded.
    pub(crate) fn unpark(&self, gate: &str, after: Option<u64>) {
        self.outbox.unpark(gate, after);
    }

    /// Discards `gate`'s held frames.
    pub(crate) fn discard_parked(&self, gate: &str) {
        self.outbox.discard_parked(gate);
    }

    /// Logs and closes for what a push or park did (without counting `messages_out`);
    /// `true` when the client will get the frame.
    fn pushed(&self, pushed: Pushed, metrics: &Metrics) -> bool {
        match pushed {
            Pushed::Queued { first_over } => {
                if first_over {
                    tracing::info!(
                        client = %self.id,
                        "outbound queue over limits.outbound.queue_bytes; the client is closed if it stays over for the grace period"
                    );
                }
                true
            }
            Pushed::Coalesced => true,
            Pushed::Dropped { first } => {
                if first {
                    tracing::info!(
                        client = %self.id,
                        "client behind (outbound queue over limits.outbound.soft_bytes): dropping its droppable frames; further drops are counted in health only"
                    );
                }
                false
            }
            Pushed::OverLimit(why) => {
                if self.request_close(1008, why.reason(), false) {
                    // Nothing queued will be sent: give the memory and the budget back
                    // now, and refuse what comes until the writer closes the socket.
                    self.outbox.close();
                    metrics.count_slow_client_dropped();
                    self.outbox.count_closed(why);
                    tracing::warn!(client = %self.id, reason = why.reason(), "slow client closed with 1008");
                }
                false
            }
            Pushed::Closed => false,
        }
    }

    /// Asks the writer task to close the socket. Returns `false` if a close was already asked for.
    /// Every close the server sends goes through here: a code that may not be sent becomes
    /// 1000 and the reason is cut to 123 bytes.
    pub(crate) fn request_close(
        &self,
        code: u16,
        reason: impl Into<Cow<'static, str>>,
        flush_queued: bool,
    ) -> bool {
        let sendable = sendable_close_code(code);
        if sendable != code {
            tracing::debug!(client = %self.id, code, "close code may not be sent; using 1000");
        }
        let first = self
            .close
            .set(CloseRequest {
                code: sendable,
                reason: sendable_close_reason(reason.into()),
                flush_queued,
            })
            .is_ok();
        if first {
            self.reader.wake();
            self.outbox.wake_writer();
        }
        first
    }

    /// Whether a close was requested.
    pub(crate) fn is_closing(&self) -> bool {
        self.close.get().is_some()
    }

    /// Completes once a close is requested (at once if one was). For the one task that
    /// reads the socket (a single waker slot); polled on each of its wake-ups, it costs
    /// two atomic operations, not a lock.
    pub(crate) async fn closed(&self) {
        std::future::poll_fn(|cx| {
            if self.is_closing() {
                return Poll::Ready(());
            }
            self.reader.register(cx.waker());
            // Registered before the second look, so a close requested in between is seen.
            if self.is_closing() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    pub(crate) fn touch_activity(&self, now: u64) {
        self.last_activity_ms.store(now, Ordering::Relaxed);
        self.last_seen_ms.store(now, Ordering::Relaxed);
    }

    pub(crate) fn touch_seen(&self, now: u64) {
        self.last_seen_ms.store(now, Ordering::Relaxed);
    }

    pub(crate) fn last_activity_ms(&self) -> u64 {
        self.last_activity_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn last_seen_ms(&self) -> u64 {
        self.last_seen_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn user_id(&self) -> Option<Arc<str>> {
        self.user_id.read().expect("user lock").clone()
    }

    /// A string metadata value.
    pub(crate) fn metadata_str(&self, key: &str) -> Option<String> {
        match self.metadata.lock().expect("metadata lock").get(key) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub(crate) fn set_auth(&self, user: AuthUser) {
        *self.auth.write().expect("auth lock") = Some(Arc::new(user));
    }

    pub(crate) fn metadata(&self, key: &str) -> Option<serde_json::Value> {
        self.metadata
            .lock()
            .expect("metadata lock")
            .get(key)
            .cloned()
    }

    pub(crate) fn set_metadata(&self, key: &str, value: serde_json::Value) {
        self.metadata
            .lock()
            .expect("metadata lock")
            .insert(key.to_owned(), value);
    }

    pub(crate) fn auth(&self) -> Option<Arc<AuthUser>> {
        self.auth.read().expect("auth lock").clone()
    }

    pub(crate) fn auth_expires_ms(&self) -> u64 {
        self.auth_expires_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_auth_expires_ms(&self, at: u64) {
        self.auth_expires_ms.store(at, Ordering::Relaxed);
    }

    pub(crate) fn room_names(&self) -> Vec<String> {
        self.rooms
            .lock()
            .expect("rooms lock")
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    pub(crate) fn info(&self) -> ClientInfo {
        ClientInfo {
            id: self.id,
            user_id: self.user_id().map(|u| u.to_string()),
            connected_at: self.connected_at_ms,
            last_activity: self.last_activity_ms(),
            metadata: self.metadata.lock().expect("metadata lock").clone(),
            rooms: self.room_names(),
            instance_id: None,
        }
    }
}

/// A snapshot of a client's record, as [`Server::get_client`](crate::Server::get_client) returns it.
///
/// Serialises as `{"clientId","userId","connectedAt","lastActivity","metadata","rooms"}`
/// (times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client id.
    #[serde(rename = "clientId")]
    pub id: ClientId,
    /// The user this connection belongs to, once known.
    pub user_id: Option<String>,
    /// When the socket connected (Unix ms).
    pub connected_at: u64,
    /// When the client last sent a message or ping (Unix ms).
    pub last_activity: u64,
    /// Free-form metadata set with [`Server::update_client`](crate::Server::update_client) or [`Client::set_metadata`](crate::Client::set_metadata).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The rooms the client is in.
    pub rooms: Vec<String>,
    /// The instance holding the socket, for a client of another instance; `None` for
    /// this instance's own clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// The local client registry, with an index by user id.
#[derive(Default)]
pub(crate) struct Registry {
    clients: DashMap<ClientId, Arc<ClientState>>,
    by_user: DashMap<Arc<str>, Vec<Arc<ClientState>>>,
}

impl Registry {
    pub(crate) fn insert(&self, _: &Membership<'_>, client: Arc<ClientState>) {
        self.clients.insert(client.id, client);
    }

    pub(crate) fn remove(&self, _: &Membership<'_>, id: ClientId) -> Option<Arc<ClientState>> {
        let (_, client) = self.clients.remove(&id)?;
        if let Some(user) = client.user_id() {
            self.unindex_user(&user, id);
        }
        Some(client)
    }

    pub(crate) fn get(&self, id: ClientId) -> Option<Arc<ClientState>> {
        self.clients.get(&id).map(|c| c.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Calls `f` for every local client (no lock is held across `f`'s side effects on other maps).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<ClientState>)) {
        for entry in self.clients.iter() {
            f(entry.value());
        }
    }

    /// Whether any local client is bound to `user`.
    pub(crate) fn has_user(&self, user: &str) -> bool {
        self.by_user.contains_key(user)
    }

    pub(crate) fn for_user(&self, user: &str, mut f: impl FnMut(&Arc<ClientState>)) {
        if let Some(list) = self.by_user.get(user) {
            for c in list.iter() {
                f(c);
            }
        }
    }

    pub(crate) fn set_user(
        &self,
        _: &Membership<'_>,
        client: &Arc<ClientState>,
        user: Option<Arc<str>>,
    ) {
        let old = {
            let mut slot = client.user_id.write().expect("user lock");
            std::mem::replace(&mut *slot, user.clone())
        };
        if let Some(old) = old {
            self.unindex_user(&old, client.id);
        }
        if let Some(user) = user {
            self.by_user.entry(user).or_default().push(client.clone());
        }
    }

    fn unindex_user(&self, user: &str, id: ClientId) {
        if let dashmap::Entry::Occupied(mut e) = self.by_user.entry(Arc::from(user)) {
            e.get_mut().retain(|c| c.id != id);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    pub(crate) fn set_metadata(
        &self,
        _: &Membership<'_>,
        id: ClientId,
        key: &str,
        value: serde_json::Value,
    ) -> bool {
        match self.clients.get(&id) {
            Some(c) => {
                c.metadata
                    .lock()
                    .expect("metadata lock")
                    .insert(key.to_owned(), value);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{ClientId, MAX_CLOSE_REASON, sendable_close_code, sendable_close_reason};

    #[test]
    fn close_codes_that_may_not_be_sent_become_1000() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1011, 1013, 3000, 4000, 4999,
        ] {
            assert_eq!(sendable_close_code(code), code, "{code}");
        }
        for code in [
            0, 1, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000, 65535,
        ] {
            assert_eq!(sendable_close_code(code), 1000, "{code}");
        }
    }

    #[test]
    fn close_reasons_are_cut_to_123_bytes_at_a_character_boundary() {
        let short = sendable_close_reason(Cow::Borrowed("bye"));
        assert!(matches!(short, Cow::Borrowed("bye")));
        let exact = "a".repeat(MAX_CLOSE_REASON);
        assert_eq!(sendable_close_reason(exact.clone().into()), exact);
        assert_eq!(
            sendable_close_reason("a".repeat(124).into()),
            "a".repeat(123)
        );
        // A 3-byte character straddling byte 123 is dropped whole.
        let straddle = format!("{}€", "a".repeat(121));
        assert_eq!(sendable_close_reason(straddle.into()), "a".repeat(121));
        let wide = "é".repeat(100);
        let cut = sendable_close_reason(Cow::Owned(wide));
        assert_eq!(cut, "é".repeat(61));
        let cut = sendable_close_reason(Cow::Borrowed(
            "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀",
        ));
        assert_eq!(cut.len(), 120);
    }

    #[test]
    fn ids_are_32_hex_and_round_trip() {
        let id = ClientId::random();
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(s.parse::<ClientId>().unwrap(), id);
        assert!("xyz".parse::<ClientId>().is_err());
        assert_ne!(ClientId::random(), ClientId::random());
    }
}
