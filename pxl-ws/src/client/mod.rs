//! The Rust client (feature `client`): talks to a pxl-ws server or a PXL server over
//! tokio-tungstenite.
//!
//! - [`WsClient::connect`] opens the connection and reads the server's greeting
//!   (`system/connected` from pxl-ws, which names the client id; PXL's
//!   `system/clientList`; or none within [`WsClientBuilder::greeting_timeout`]); when
//!   the server cannot be reached it fails within the connect timeout instead of
//!   hanging.
//! - [`WsClient::request`] sends `{type, action, data, id}` and resolves with the typed
//!   `response`, or with [`ClientError::Server`] carrying the server's error frame.
//!   [`WsClient::send`] is fire-and-forget.
//! - Frames the server pushes (no `id`, no `response`) go to client-side controllers,
//!   written with the same `#[ws_controller]` / `#[action]` macros as on the server, and
//!   every frame that is not the answer to a request goes to [`WsClient::frames`].
//! - A lost connection fails the pending requests with [`ClientError::Disconnected`],
//!   then the client reconnects with exponential backoff and jitter
//!   ([`ReconnectPolicy`]), rejoins its rooms, and reports each step on
//!   [`WsClient::events`].
//!
//! ```no_run
//! use pxl_ws::client::{ClientError, WsClient};
//! use pxl_ws::{ws_controller, Data};
//!
//! #[derive(serde::Deserialize)]
//! struct Message { from: String, text: String }
//!
//! struct Chat;
//!
//! #[ws_controller(type = "chat")]
//! impl Chat {
//!     /// The server pushes `{"type":"chat","action":"message","data":{...}}`.
//!     #[action("message")]
//!     async fn message(&self, Data(m): Data<Message>) {
//!         println!("{}: {}", m.from, m.text);
//!     }
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Sent { delivered: usize }
//!
//! # async fn run() -> Result<(), ClientError> {
//! let client = WsClient::builder("ws://127.0.0.1:3000/ws")
//!     .controller(Chat)
//!     .connect()
//!     .await?;
//! client.join_room("lobby").await?;
//! let sent: Sent = client
//!     .request("chat", "send", serde_json::json!({"room": "lobby", "text": "hi"}))
//!     .await?;
//! println!("delivered to {}", sent.delivered);
//! # Ok(()) }
//! ```
//!
//! ## Client-side controllers
//!
//! A controller registered with [`WsClientBuilder::controller`] implements the same
//! [`Controller`] trait as a server's; its actions run one at a time, in the order the
//! frames came, on a task of their own (so a handler may itself `request`). They take
//! `Data<T>`, `serde_json::Value`, `State<T>` (from [`WsClientBuilder::state`]) and
//! [`WsClient`]; the server-side extractors (`Client`, `Server`, `AuthUser`) and routes
//! declared with `auth` or `roles` are refused by [`WsClientBuilder::connect`]. What an
//! action returns is not sent anywhere; an error it returns is logged. Pushes wait in a
//! queue of 256 for the controllers; when it is full the socket stops reading until an
//! action finishes (so a very slow action slows the connection rather than growing
//! memory).
//!
//! ## Against a PXL server
//!
//! PXL's replies carry no `id`. A server that does not echo ids (its greeting is not
//! `system/connected`, and no reply so far came with an id) has its replies matched by
//! `(type, action)`, oldest request first, and its error frames without an id go to the
//! oldest pending request of the route they name, else to the oldest pending request.
//! PXL reads the token only from `?token=`: use
//! [`WsClientBuilder::pxl_compatible`] (or [`WsClientBuilder::token_in_query`]). PXL
//! never tells a client its id, so [`WsClient::client_id`] stays `None` there until a
//! `system/leaveRoom` reply names it. PXL's own `system/joinRoom` looks the `userId` up
//! in its database (and, in v1.0.57, stops the process when that fails): pass the
//! user's real id with [`WsClient::join_room_with`]. See `docs/migrating-from-pxl.md`.
//!
//! ## Not included
//!
//! `wss://` needs TLS, which this build of tokio-tungstenite does not include: put the
//! client behind a TLS-terminating proxy or use `ws://`. Tokens are not refreshed
//! automatically; send `system/refreshToken` when `auth/expired` arrives.

mod error;
mod pending;
mod reconnect;
mod socket;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

pub use error::{ClientError, ServerError};
use pending::Pending;
pub use reconnect::ReconnectPolicy;

use crate::protocol::ActionError;
use crate::router::{Controller, FromMessage, MessageContext, Router, Side};
use crate::state::{ClientSide, StateMap};

/// Frames queued for the socket before `send` waits.
const OUTBOUND_QUEUE: usize = 256;
/// Pushed frames queued for the client-side controllers before the reader waits.
const DISPATCH_QUEUE: usize = 256;
/// Frames kept for a [`Frames`] receiver that is behind.
const FRAMES_BUFFER: usize = 1024;
/// Events kept for an [`Events`] receiver that is behind.
const EVENTS_BUFFER: usize = 256;

/// Configures and opens a [`WsClient`].
#[must_use]
pub struct WsClientBuilder {
    url: String,
    token: Option<String>,
    token_in_query: bool,
    headers: Vec<(String, String)>,
    connect_timeout: Duration,
    greeting_timeout: Duration,
    request_timeout: Duration,
    reconnect: ReconnectPolicy,
    controllers: Vec<Arc<dyn Controller>>,
    state: StateMap,
}

impl WsClientBuilder {
    /// Sends `Authorization: Bearer TOKEN` with every connect (and reconnect), or
    /// `?token=TOKEN` with [`token_in_query`](Self::token_in_query).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sends the [`token`](Self::token) as the URL's `token` query parameter instead of
    /// an `Authorization` header (default: `false`). PXL servers read only the query
    /// parameter; pxl-ws servers read both. The URL may then end up in access logs.
    pub fn token_in_query(mut self, in_query: bool) -> Self {
        self.token_in_query = in_query;
        self
    }

    /// Settings for a PXL server: the token goes in `?token=`
    /// ([`token_in_query`](Self::token_in_query)). Replies without an `id`, PXL's
    /// greeting and its error frames are handled whatever the server (see the
    /// [module docs](crate::client#against-a-pxl-server)).
    pub fn pxl_compatible(self) -> Self {
        self.token_in_query(true)
    }

    /// Adds a request header to every connect (e.g. `Origin`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one connect may take: TCP, the upgrade and the server's
    /// `system/connected` (default: 10 s). Applies to reconnect attempts too.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a connect waits, after the upgrade, for the server's first frame
    /// (default: 2 s, within the connect timeout). A pxl-ws server greets with
    /// `system/connected` at once, a PXL server with `system/clientList`; a server that
    /// sends nothing is connected to after this wait, with no client id.
    pub fn greeting_timeout(mut self, timeout: Duration) -> Self {
        self.greeting_timeout = timeout;
        self
    }

    /// How long [`WsClient::request`] waits for the reply (default: 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How to reconnect after a lost connection (default: [`ReconnectPolicy::default`]).
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Registers a client-side controller for frames the server pushes.
    pub fn controller(mut self, controller: impl Controller) -> Self {
        self.controllers.push(Arc::new(controller));
        self
    }

    /// Registers state, available to client-side controllers as `State<T>`.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Checks the settings and the controllers, then connects once. Fails (within the
    /// connect timeout) when the server cannot be reached or refuses; only a connection
    /// that was established is reconnected.
    pub async fn connect(mut self) -> Result<WsClient, ClientError> {
        self.reconnect.validate().map_err(ClientError::Invalid)?;
        let endpoint = Endpoint {
            url: self.url,
            token: self.token,
            token_in_query: self.token_in_query,
            headers: self.headers,
        };
        endpoint.request()?;
        self.state.insert(ClientSide);
        let router = client_router(self.controllers, &self.state)?;
        let has_controllers = router.controllers().next().is_some();

        let (state_tx, _) = watch::channel(ConnectionState::Connected);
        let (dispatch, dispatch_rx) = if has_controllers {
            let (tx, rx) = mpsc::channel(DISPATCH_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let inner = Arc::new(Inner {
            endpoint,
            connect_timeout: self.connect_timeout,
            greeting_timeout: self.greeting_timeout,
            request_timeout: self.request_timeout,
            reconnect: self.reconnect,
            router,
            state: self.state,
            outbound: Mutex::new(None),
            dispatch,
            pending: Mutex::new(Pending::default()),
            next_id: AtomicU64::new(1),
            rooms: Mutex::new(BTreeMap::new()),
            joining: Mutex::new(HashMap::new()),
            client_id: Mutex::new(None),
            connection: state_tx,
            events: broadcast::channel(EVENTS_BUFFER).0,
            frames: broadcast::channel(FRAMES_BUFFER).0,
            closing: CancellationToken::new(),
        });
        let opened = socket::open(&inner).await?;
        let guard = Arc::new(CloseOnDrop(inner.closing.clone()));
        if let Some(rx) = dispatch_rx {
            tokio::spawn(socket::dispatch(inner.clone(), Arc::downgrade(&guard), rx));
        }
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        *lock(&inner.outbound) = Some(tx);
        tokio::spawn(socket::supervise(inner.clone(), opened, rx));
        Ok(WsClient {
            inner,
            _guard: guard,
        })
    }
}

/// The route table of the client-side controllers, checked like a server's.
fn client_router(
    controllers: Vec<Arc<dyn Controller>>,
    state: &StateMap,
) -> Result<Router, ClientError> {
    let mut problems = Vec::new();
    for c in &controllers {
        problems.extend(c.check(state));
        for r in c.routes().iter().filter(|r| r.auth) {
            problems.push(format!(
                "action `{}/{}` declares `auth` or `roles`, which only a server checks ({}:{})",
                r.ty, r.action, r.file, r.line
            ));
        }
    }
    let router = Router::new(controllers).map_err(ClientError::Build)?;
    if problems.is_empty() {
        Ok(router)
    } else {
        Err(ClientError::Build(problems))
    }
}

/// Where and how to connect.
struct Endpoint {
    url: String,
    token: Option<String>,
    token_in_query: bool,
    headers: Vec<(String, String)>,
}

impl Endpoint {
    /// The upgrade request (built anew for every attempt).
    fn request(
        &self,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, ClientError> {
        if self.url.starts_with("wss://") {
            return Err(ClientError::Invalid(
                "wss:// needs TLS, which this client is built without: use ws:// behind a \
                 TLS-terminating proxy"
                    .into(),
            ));
        }
        if !self.url.starts_with("ws://") {
            return Err(ClientError::Invalid(format!(
                "the URL must start with ws://, got `{}`",
                self.url
            )));
        }
        let url = match (&self.token, self.token_in_query) {
            (Some(token), true) => with_query_token(&self.url, token),
            _ => self.url.clone(),
        };
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Invalid(format!("bad URL `{}`: {e}", self.url)))?;
        let auth = self
            .token
            .as_ref()
            .filter(|_| !self.token_in_query)
            .map(|t| ("authorization".to_owned(), format!("Bearer {t}")));
        for (name, value) in self.headers.iter().cloned().chain(auth) {
            let header = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ClientError::Invalid(format!("bad header name `{name}`: {e}")))?;
            let value = http::HeaderValue::from_str(&value)
                .map_err(|e| ClientError::Invalid(format!("bad value for header `{name}`: {e}")))?;
            req.headers_mut().insert(header, value);
        }
        Ok(req)
    }
}

/// `url` with `token=TOKEN` added to its query (before any `#fragment`), the token
/// percent-encoded.
fn with_query_token(url: &str, token: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len() + token.len() + 8);
    out.push_str(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    out.push_str("token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// What a pending request resolves with: the raw `response` (if any) or an error.
type Answer = Result<Option<Box<RawValue>>, ClientError>;

/// State shared by the handles and the background tasks.
struct Inner {
    endpoint: Endpoint,
    connect_timeout: Duration,
    greeting_timeout: Duration,
    request_timeout: Duration,
    reconnect: ReconnectPolicy,
    router: Router,
    state: StateMap,
    /// The current socket's outbound queue; `None` while disconnected.
    outbound: Mutex<Option<mpsc::Sender<Message>>>,
    /// The queue of the controllers' task; `None` without controllers.
    dispatch: Option<mpsc::Sender<String>>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    /// Joined rooms and the `joinRoom` data to send again after a reconnect.
    rooms: Mutex<BTreeMap<String, Value>>,
    /// `joinRoom` data sent, by room, until the reply says whether it worked.
    joining: Mutex<HashMap<String, Value>>,
    client_id: Mutex<Option<String>>,
    connection: watch::Sender<ConnectionState>,
    events: broadcast::Sender<ConnectionEvent>,
    frames: broadcast::Sender<ServerFrame>,
    /// Cancelled by `close()` or when the last handle is dropped.
    closing: CancellationToken,
}

/// Locks a mutex, recovering from poisoning (nothing here is left half-updated).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn emit(&self, event: ConnectionEvent) {
        tracing::debug!(?event, "pxl-ws client");
        let _ = self.events.send(event);
    }

    fn set_state(&self, state: ConnectionState) {
        self.connection.send_replace(state);
    }

    /// Queues `{type, action, data, id}` on the current socket.
    async fn send_frame(
        &self,
        ty: &str,
        action: &str,
        data: &Value,
        id: u64,
    ) -> Result<(), ClientError> {
        if self.closing.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let Some(tx) = lock(&self.outbound).clone() else {
            return Err(ClientError::NotConnected);
        };
        if ty == "system"
            && action == "joinRoom"
            && let Some(room) = data.get("roomName").and_then(Value::as_str)
        {
            lock(&self.joining).insert(room.to_owned(), data.clone());
        }
        #[derive(Serialize)]
        struct Outgoing<'a> {
            #[serde(rename = "type")]
            ty: &'a str,
            action: &'a str,
            data: &'a Value,
            id: u64,
        }
        let text = serde_json::to_string(&Outgoing {
            ty,
            action,
            data,
            id,
        })?;
        tx.send(Message::text(text))
            .await
            .map_err(|_| ClientError::NotConnected)
    }

    /// Sends a request and waits for its answer.
    async fn request_raw(
        &self,
        ty: &str,
        action: &str,
        data: &Value,
        timeout: Duration,
    ) -> Result<Option<Box<RawValue>>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, ty, action, tx);
        if let Err(e) = self.send_frame(ty, action, data, id).await {
            lock(&self.pending).remove(id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            // The sender went away without an answer: the connection ended.
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => {
                lock(&self.pending).remove(id);
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    /// Fails every pending request (the connection is gone).
    fn fail_pending(&self) {
        let pending = lock(&self.pending).drain();
        for tx in pending {
            let _ = tx.send(Err(ClientError::Disconnected));
        }
        lock(&self.joining).clear();
    }
}

/// Cancels the client when the last user handle is dropped.
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A connection to a pxl-ws server that reconnects by itself. Cheap to clone; the
/// connection closes with [`close`](WsClient::close) or when the last clone is dropped.
///
/// In a client-side controller, `WsClient` is an extractor: the handle of the client
/// that received the frame.
#[derive(Clone)]
pub struct WsClient {
    inner: Arc<Inner>,
    _guard: Arc<CloseOnDrop>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("url", &self.inner.endpoint.url)
            .field("state", &self.state())
            .field("client_id", &self.client_id())
            .finish()
    }
}

impl WsClient {
    /// Connects to `url` (`ws://host:port/ws`) with the default settings.
    pub async fn connect(url: impl Into<String>) -> Result<WsClient, ClientError> {
        Self::builder(url).connect().await
    }

    /// A builder for `url`, to set a token, headers, timeouts, the reconnect policy and
    /// client-side controllers.
    pub fn builder(url: impl Into<String>) -> WsClientBuilder {
        WsClientBuilder {
            url: url.into(),
            token: None,
            token_in_query: false,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            greeting_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            reconnect: ReconnectPolicy::default(),
            controllers: Vec::new(),
            state: StateMap::default(),
        }
    }

    /// Sends `{type, action, data}` without waiting for the reply (fire and forget).
    /// The frame carries an id, so its reply is never mistaken for a push; the reply
    /// (or an error frame) shows up on [`frames`](WsClient::frames). Waits only while
    /// the outbound queue is full; fails with [`ClientError::NotConnected`] while
    /// reconnecting.
    pub async fn send(
        &self,
        ty: &str,
        action: &str,
        data: impl Serialize,
    ) -> Result<(), ClientError> {
        let data = serde_json::to_value(data)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.send_frame(ty, action, &data, id).await
    }

    /// Sends `{type, action, data, id}` and waits for the reply with that id, up to the
    /// request timeout. Resolves with the reply's `response` decoded as `R` (a reply
    /// without `response` decodes from `null`, so `()` and `Option<_>` accept it), or
    /// with [`ClientError::Server`] when the server answered with an error frame.
    pub async fn request<R: DeserializeOwned>(
        &self,
        ty: &str,
        action: &str,
        data: impl Serialize,
    ) -> Result<R, ClientError> {
        self.request_with_timeout(ty, action, data, self.inner.request_timeout)
            .await
    }

    /// [`request`](WsClient::request) with its own timeout.
    pub async fn request_with_timeout<R: DeserializeOwned>(
        &self,
        ty: &str,
        action: &str,
        data: impl Serialize,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        let data = serde_json::to_value(data)?;
        let raw = self.inner.request_raw(ty, action, &data, timeout).await?;
        let text = raw.as_ref().map_or("null", |r| r.get());
        serde_json::from_str(text).map_err(|e| ClientError::Decode {
            ty: ty.to_owned(),
            action: action.to_owned(),
            error: e.to_string(),
        })
    }

    /// Joins `room` (`system/joinRoom`). The client rejoins it after every reconnect,
    /// until it leaves. A refusal (`success: false`) is a [`ClientError::Server`] with
    /// code `JOIN_REFUSED`.
    pub async fn join_room(&self, room: &str) -> Result<(), ClientError> {
        self.join_room_with(room, serde_json::Map::new()).await
    }

    /// [`join_room`](Self::join_room) with more `joinRoom` fields next to `roomName`,
    /// e.g. PXL's `{"userId", "userType", "username"}`; the same data is sent again
    /// when the room is rejoined. `fields` must serialise to a JSON object.
    pub async fn join_room_with(
        &self,
        room: &str,
        fields: impl Serialize,
    ) -> Result<(), ClientError> {
        let mut data = match serde_json::to_value(fields)? {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(ClientError::Invalid(format!(
                    "join_room_with: the fields must be a JSON object, got {other}"
                )));
            }
        };
        data.insert("roomName".into(), Value::String(room.to_owned()));
        let r: Value = self
            .request("system", "joinRoom", Value::Object(data))
            .await?;
        refused(&r, "JOIN_REFUSED")
    }

    /// Leaves `room` (`system/leaveRoom`); it is no longer rejoined. Leaving a room the
    /// client is not in is a [`ClientError::Server`] with code `LEAVE_REFUSED`.
    pub async fn leave_room(&self, room: &str) -> Result<(), ClientError> {
        let r: Value = self
            .request(
                "system",
                "leaveRoom",
                serde_json::json!({ "roomName": room }),
            )
            .await?;
        lock(&self.inner.rooms).remove(room);
        refused(&r, "LEAVE_REFUSED")
    }

    /// The rooms this client is in (and will rejoin after a reconnect), sorted.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms).keys().cloned().collect()
    }

    /// The server's id for the current connection (from `system/connected`); it changes
    /// with every reconnect. `None` while the server has not named it (a PXL server
    /// names it only in `system/leaveRoom` replies).
    pub fn client_id(&self) -> Option<String> {
        lock(&self.inner.client_id).clone()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.connection.borrow().clone()
    }

    /// A receiver that always holds the latest [`ConnectionState`]
    /// (`changed().await`, `wait_for(...)`).
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.inner.connection.subscribe()
    }

    /// Connection events from now on: disconnects, reconnect attempts, reconnects.
    pub fn events(&self) -> Events {
        Events(self.inner.events.subscribe())
    }

    /// Every frame the server sends from now on, except the answers to
    /// [`request`](WsClient::request)s: pushes (whether or not a controller handled
    /// them), replies to [`send`](WsClient::send)s, error frames.
    pub fn frames(&self) -> Frames {
        Frames {
            rx: self.inner.frames.subscribe(),
            closed: self.inner.closing.clone(),
        }
    }

    /// Closes the connection (close code 1000) and stops reconnecting. Pending requests
    /// fail with [`ClientError::Disconnected`]; later calls with [`ClientError::Closed`].
    pub async fn close(&self) {
        self.inner.closing.cancel();
        let mut rx = self.inner.connection.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|s| *s == ConnectionState::Closed),
        )
        .await;
    }
}

/// PXL's `{"success": false, "error"}` replies as an error.
fn refused(r: &Value, code: &str) -> Result<(), ClientError> {
    if r.get("success") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let message = r
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("refused")
        .to_owned();
    Err(ClientError::Server(ServerError {
        code: code.to_owned(),
        message,
        details: r.as_object().cloned().unwrap_or_default(),
    }))
}

impl FromMessage for WsClient {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        match ctx.side {
            Side::Remote { client, .. } => Ok(client.clone()),
            Side::Server { .. } => Err(ActionError::internal(
                "`WsClient` is only available in client-side controllers",
            )),
        }
    }

    fn check(state: &StateMap) -> Result<(), String> {
        if state.is_client_side() {
            Ok(())
        } else {
            Err("`WsClient` is only available in client-side controllers (registered with `WsClient::builder(..).controller(..)`)".into())
        }
    }
}

/// The connection state of a [`WsClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected (after a reconnect: once the rooms were rejoined).
    Connected,
    /// The connection was lost; waiting for or making reconnect attempt `attempt`.
    Reconnecting {
        /// The attempt (1-based).
        attempt: u32,
    },
    /// Closed for good: by [`WsClient::close`], after the last reconnect attempt, or
    /// after a lost connection with reconnecting disabled.
    Closed,
}

impl ConnectionState {
    /// Whether the client is connected.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }
}

/// What happened to a [`WsClient`]'s connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection was lost; pending requests have failed.
    Disconnected {
        /// Why (close code and reason, or the error).
        reason: String,
    },
    /// Waiting `delay` before reconnect attempt `attempt`.
    Reconnecting {
        /// The attempt (1-based).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// A reconnect attempt failed.
    ReconnectAttemptFailed {
        /// The attempt (1-based).
        attempt: u32,
        /// Why.
        error: String,
    },
    /// Connected again, rooms rejoined.
    Reconnected {
        /// The server's id for the new connection.
        client_id: String,
        /// The rooms rejoined.
        rooms: Vec<String>,
    },
    /// A room could not be rejoined after a reconnect; it is forgotten.
    RejoinFailed {
        /// The room.
        room: String,
        /// Why.
        error: String,
    },
    /// Every reconnect attempt failed; the client is closed.
    ReconnectFailed {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The client is closed.
    Closed,
}

/// A frame from the server, as it came: `{type, action, data?, response?, id?}`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerFrame {
    /// `type`.
    pub ty: String,
    /// `action`.
    pub action: String,
    /// `data` (pushes and error frames).
    pub data: Option<Value>,
    /// `response` (replies).
    pub response: Option<Value>,
    /// `id` (replies and errors to frames that had one).
    pub id: Option<Value>,
}

impl ServerFrame {
    /// `data` decoded as `T` (a missing `data` decodes from `null`).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.data.as_ref().unwrap_or(&Value::Null))
    }

    /// The error, when this is an error frame (`type: "error"`).
    pub fn error(&self) -> Option<ServerError> {
        (self.ty == "error")
            .then(|| ServerError::from_data(self.data.as_ref().unwrap_or(&Value::Null)))
    }
}

/// The catch-all stream of a [`WsClient`]'s frames (see [`WsClient::frames`]).
#[derive(Debug)]
pub struct Frames {
    rx: broadcast::Receiver<ServerFrame>,
    closed: CancellationToken,
}

impl Frames {
    /// The next frame; `None` once the client is closed and the frames received before
    /// were read. A receiver more than 1024 frames behind skips the oldest (logged at
    /// warn level).
    pub async fn recv(&mut self) -> Option<ServerFrame> {
        tokio::select! {
            biased;
            frame = recv(&mut self.rx, "frames") => frame,
            _ = self.closed.cancelled() => None,
        }
    }
}

/// The stream of a [`WsClient`]'s [`ConnectionEvent`]s (see [`WsClient::events`]).
#[derive(Debug)]
pub struct Events(broadcast::Receiver<ConnectionEvent>);

impl Events {
    /// The next event. After [`ConnectionEvent::Closed`] nothing more comes (`None` once
    /// every handle is dropped). A receiver more than 256 events behind skips the oldest
    /// (logged at warn level).
    pub async fn recv(&mut self) -> Option<ConnectionEvent> {
        recv(&mut self.0, "events").await
    }
}

async fn recv<T: Clone>(rx: &mut broadcast::Receiver<T>, what: &str) -> Option<T> {
    loop {
        match rx.recv().await {
            Ok(v) => return Some(v),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "pxl-ws client: a {what} receiver fell behind");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_query_token;

    #[test]
    fn the_query_token_is_appended_and_percent_encoded() {
        assert_eq!(
            with_query_token("ws://h/ws", "a.b-c_d"),
            "ws://h/ws?token=a.b-c_d"
        );
        assert_eq!(
            with_query_token("ws://h/ws?room=x#top", "a b&c=d"),
            "ws://h/ws?room=x&token=a%20b%26c%3Dd#top"
        );
    }
}
