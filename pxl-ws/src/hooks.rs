//! Event hooks registered on the builder: server started, connected, disconnected,
//! message, error. Hooks are plain closures run inline; a panicking hook is logged and
//! does not affect the connection.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::clients::ClientId;
use crate::handles::Client;
use crate::service::{RawMessage, Server};
use crate::util::panic::{isolate, isolate_async};

type Hook<A> = Arc<dyn Fn(&A) + Send + Sync>;
type Hook2<A, B> = Arc<dyn Fn(&A, &B) + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) server_started: Vec<Hook<Server>>,
    pub(crate) connected: Vec<Hook<Client>>,
    pub(crate) disconnected: Vec<Hook<DisconnectInfo>>,
    pub(crate) message: Vec<Hook2<Client, MessageInfo>>,
    pub(crate) error: Vec<Hook<ErrorEvent>>,
    /// `authorize_join` checks; a join needs every one of them to allow it.
    pub(crate) authorize_join: Vec<JoinCheck>,
    /// `authorize_presence` checks; none: only the room's members may ask.
    pub(crate) authorize_presence: Vec<JoinCheck>,
    /// Takes data messages no route takes, instead of the error frame.
    pub(crate) fallback: Option<Fallback>,
}

pub(crate) type Fallback = Arc<dyn Fn(&Client, RawMessage) + Send + Sync>;

pub(crate) type JoinCheck = Arc<dyn Fn(Client, String) -> BoxFuture<'static, bool> + Send + Sync>;

fn guarded(name: &str, f: impl FnOnce()) {
    if let Err(panic) = isolate(f) {
        tracing::error!(hook = name, %panic, "event hook panicked");
    }
}

impl Hooks {
    pub(crate) fn server_started(&self, s: &Server) {
        for h in &self.server_started {
            guarded("on_server_started", || h(s));
        }
    }
    pub(crate) fn connected(&self, c: &Client) {
        for h in &self.connected {
            guarded("on_connected", || h(c));
        }
    }
    pub(crate) fn disconnected(&self, d: &DisconnectInfo) {
        for h in &self.disconnected {
            guarded("on_disconnected", || h(d));
        }
    }
    pub(crate) fn has_message(&self) -> bool {
        !self.message.is_empty()
    }
    pub(crate) fn message(&self, c: &Client, m: &MessageInfo) {
        for h in &self.message {
            guarded("on_message", || h(c, m));
        }
    }
    pub(crate) fn error(&self, e: &ErrorEvent) {
        for h in &self.error {
            guarded("on_error", || h(e));
        }
    }

    /// Whether `c` may see `room`'s presence: the `authorize_presence` checks when there
    /// are any (all must allow; a panic denies), else whether it is a member.
    pub(crate) async fn authorize_presence(&self, c: &Client, room: &str) -> bool {
        if self.authorize_presence.is_empty() {
            return c.in_room(room);
        }
        for check in &self.authorize_presence {
            let decision = isolate_async(async { check(c.clone(), room.to_owned()).await }).await;
            match decision {
                Ok(true) => {}
                Ok(false) => return false,
                Err(panic) => {
                    tracing::error!(hook = "authorize_presence", %panic, "presence check panicked; denying");
                    return false;
                }
            }
        }
        true
    }

    /// Runs the `authorize_join` checks in order; the first `false` denies. A check
    /// that panics denies too (and is logged).
    pub(crate) async fn authorize_join(&self, c: &Client, room: &str) -> bool {
        for check in &self.authorize_join {
            // The call runs inside the first poll, so one guard covers it and the future.
            let decision = isolate_async(async { check(c.clone(), room.to_owned()).await }).await;
            match decision {
                Ok(true) => {}
                Ok(false) => return false,
                Err(panic) => {
                    tracing::error!(hook = "authorize_join", %panic, "join check panicked; denying");
                    return false;
                }
            }
        }
        true
    }
}

/// Passed to `on_disconnected`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DisconnectInfo {
    /// The client that left.
    pub client_id: ClientId,
    /// Its user id, if it had one.
    pub user_id: Option<String>,
    /// The close code, when a close frame was exchanged.
    pub code: Option<u16>,
    /// Why the connection ended, e.g. `closed by client`, `heartbeat timeout`.
    pub reason: String,
    /// The rooms it was in.
    pub rooms: Vec<String>,
}

/// Passed to `on_message` for every inbound message that parsed and passed the rate
/// limit, routed or not.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The `type` field.
    pub message_type: String,
    /// The `action` field.
    pub action: String,
    /// Size of the frame in bytes.
    pub size: usize,
    /// Whether it came as a binary frame.
    pub binary: bool,
}

/// What kind of error `on_error` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A WebSocket protocol fault (bad UTF-8, oversize, bad framing); the socket was closed.
    Protocol,
    /// A frame that is not a valid message (bad JSON, missing type/action).
    InvalidMessage,
    /// No route for the message.
    UnknownRoute,
    /// A handler or extractor returned an error.
    Action,
    /// A handler panicked.
    Panic,
    /// A message was over the client's rate limit and was not routed.
    RateLimited,
}

/// Passed to `on_error`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorEvent {
    /// The client involved.
    pub client_id: ClientId,
    /// The kind of error.
    pub kind: ErrorKind,
    /// The error code sent to the client, or the close code as text.
    pub code: String,
    /// A description (never sent to the client when it is internal).
    pub message: String,
}
