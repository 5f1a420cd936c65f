//! [`TestClient`]: one in-process connection, and [`TestReply`], the answer to a request.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::AuthUser;
use crate::ClientId;
use crate::Server;

type Socket = WebSocketStream<DuplexStream>;

/// How many of the last frames a failed expectation shows.
const SHOWN: usize = 32;

/// What the socket task hands to the client.
enum Incoming {
    Frame(Value),
    /// The socket ended: the close code and reason, if a close frame came.
    Closed(Option<(u16, String)>),
}

/// A test client connected to a [`TestServer`](super::TestServer).
///
/// A task reads its socket all the time (answering pings as any client does) and keeps
/// every frame until a test takes it: [`request`](Self::request) takes its reply,
/// [`expect_push`](Self::expect_push) the first frame of a type and action, others stay
/// for later expectations, in order. Frames are JSON values as on the wire (a text that
/// is not JSON becomes a JSON string). Dropping the client drops its connection.
pub struct TestClient {
    id: ClientId,
    remote: SocketAddr,
    server: Server,
    sink: SplitSink<Socket, Message>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    /// Received and not yet taken, in order.
    pending: VecDeque<Value>,
    /// The last frames received (taken or not), for failure messages.
    recent: VecDeque<Value>,
    closed: Option<Option<(u16, String)>>,
    next_id: u64,
    timeout: Duration,
    reader: JoinHandle<()>,
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("id", &self.id)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl TestClient {
    pub(super) async fn start(
        server: Server,
        socket: Socket,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Self {
        let (sink, mut stream) = socket.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut close = None;
            while let Some(m) = stream.next().await {
                let frame = match m {
                    Ok(Message::Text(t)) => parse(t.as_bytes()),
                    Ok(Message::Binary(b)) => parse(&b),
                    Ok(Message::Close(f)) => {
                        close = Some(f.map(|f| (u16::from(f.code), f.reason.to_string())));
                        continue;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                };
                if tx.send(Incoming::Frame(frame)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Incoming::Closed(close.flatten()));
        });
        let mut client = Self {
            // Replaced by the server's id just below.
            id: ClientId::random(),
            remote,
            server,
            sink,
            rx,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            closed: None,
            next_id: 0,
            timeout,
            reader,
        };
        client.id = client.registered().await;
        client
    }

    /// The server's id for this connection, once it registered it: from
    /// `system/connected`, or (with `connected_frame` off) by looking for the connection
    /// among the server's clients.
    async fn registered(&mut self) -> ClientId {
        if self.server.config().connected_frame {
            let hello = self
                .take_matching("system/connected", |f| is(f, "system", "connected"))
                .await;
            return hello["data"]["clientId"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| {
                    panic!("TestClient: `system/connected` has no clientId: {hello}")
                });
        }
        let find = async {
            loop {
                let found = self.server.client_ids().into_iter().find(|id| {
                    self.server
                        .client(*id)
                        .is_some_and(|c| c.remote_addr() == Some(self.remote))
                });
                if let Some(id) = found {
                    return id;
                }
                tokio::task::yield_now().await;
            }
        };
        match tokio::time::timeout(self.timeout, find).await {
            Ok(id) => id,
            Err(_) => panic!("TestClient: the server did not register the connection"),
        }
    }

    /// The server's id for this connection.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Sets how long each wait of this client lasts before failing.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The server-side handle of this connection (`None` once it is gone).
    pub fn handle(&self) -> Option<crate::Client> {
        self.server.client(self.id)
    }

    /// Authenticates this connection as `user_id` with `roles`, without a token: from
    /// now on `AuthUser` extracts this user, `auth` / `roles` routes check these roles and
    /// [`Server::send_to_user`] reaches this client (the other instances learn it too).
    /// The user's claims are `{"sub": user_id}`; for other claims use
    /// [`as_auth_user`](Self::as_auth_user). No `auth/authenticated` frame is sent.
    pub fn as_user(&mut self, user_id: &str, roles: &[&str]) -> &mut Self {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), json!(user_id));
        let roles = roles.iter().map(|r| r.to_string()).collect();
        self.as_auth_user(AuthUser::new(user_id, roles, claims))
    }

    /// Authenticates this connection as `user` (see [`as_user`](Self::as_user)).
    pub fn as_auth_user(&mut self, user: AuthUser) -> &mut Self {
        match self.handle() {
            Some(h) => h.set_auth_user(user),
            None => panic!("TestClient::as_user: the connection is gone"),
        }
        self
    }

    /// Sends `{"type", "action", "data"}` without an id (the reply, if any, stays among
    /// the received frames).
    pub async fn send(&mut self, ty: &str, action: &str, data: Value) {
        let text = json!({ "type": ty, "action": action, "data": data }).to_string();
        self.send_text(text).await;
    }

    /// Sends a text frame as it is (for malformed envelopes and the like).
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send_message(Message::Text(text.into().into())).await;
    }

    /// Sends any WebSocket message as it is (binary, ping, close...).
    pub async fn send_message(&mut self, message: Message) {
        if let Err(e) = self.sink.send(message).await {
            panic!("TestClient {}: send failed: {e}", self.id);
        }
    }

    /// Sends `{"type", "action", "data", "id"}` and waits for the frame answering it (a
    /// reply or an error frame with that id). Frames received meanwhile are kept.
    pub async fn request(&mut self, ty: &str, action: &str, data: Value) -> TestReply {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({ "type": ty, "action": action, "data": data, "id": id }).to_string();
        self.send_text(text).await;
        let what = format!("the answer to {ty}/{action} (id {id})");
        TestReply(
            self.take_matching(&what, |f| f.get("id") == Some(&json!(id)))
                .await,
        )
    }

    /// Joins `room` with `system/joinRoom` and returns the response; panics if the join
    /// did not succeed.
    pub async fn join(&mut self, room: &str) -> Value {
        let reply = self
            .request("system", "joinRoom", json!({ "roomName": room }))
            .await;
        let response = reply.response().clone();
        if response["success"] != json!(true) {
            panic!(
                "TestClient {}: joining `{room}` failed: {}",
                self.id, reply.0
            );
        }
        response
    }

    /// Leaves `room` with `system/leaveRoom` and returns the response; panics if the
    /// client was not in it. The `user/leftRoom` push stays among the received frames.
    pub async fn leave(&mut self, room: &str) -> Value {
        let reply = self
            .request("system", "leaveRoom", json!({ "roomName": room }))
            .await;
        let response = reply.response().clone();
        if response["success"] != json!(true) {
            panic!(
                "TestClient {}: leaving `{room}` failed: {}",
                self.id, reply.0
            );
        }
        response
    }

    /// Waits for the first frame of `ty` / `action` (received earlier or later; others
    /// stay) and returns its `data` (`Null` when it has none). Panics, listing the frames
    /// received, if none comes in time.
    pub async fn expect_push(&mut self, ty: &str, action: &str) -> Value {
        let mut frame = self.expect_frame(ty, action).await;
        frame
            .as_object_mut()
            .and_then(|o| o.remove("data"))
            .unwrap_or(Value::Null)
    }

    /// Like [`expect_push`](Self::expect_push), but returns the whole frame.
    pub async fn expect_frame(&mut self, ty: &str, action: &str) -> Value {
        let what = format!("a {ty}/{action} frame");
        self.take_matching(&what, |f| is(f, ty, action)).await
    }

    /// Waits for the first frame `matches` accepts (see [`expect_push`](Self::expect_push));
    /// `what` describes it in the panic message.
    pub async fn expect_match(&mut self, what: &str, matches: impl FnMut(&Value) -> bool) -> Value {
        self.take_matching(what, matches).await
    }

    /// Waits for an error frame with `code` and returns its `data` (`error`, `code`...).
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let what = format!("an error frame with code {code}");
        let mut frame = self
            .take_matching(&what, |f| {
                is(f, "error", "message") && f["data"]["code"] == code
            })
            .await;
        frame["data"].take()
    }

    /// Takes the next frame received, whatever it is.
    pub async fn next_frame(&mut self) -> Value {
        self.take_matching("any frame", |_| true).await
    }

    /// A barrier: a `system/ping` request and its answer. Everything the server queued
    /// for this client before it handled the ping has then been received.
    pub async fn sync(&mut self) {
        let pong = self.request("system", "ping", Value::Null).await;
        if pong.is_error() {
            panic!("TestClient {}: system/ping failed: {}", self.id, pong.0);
        }
    }

    /// After a [`sync`](Self::sync), panics if a frame of `ty` / `action` was received
    /// and not taken.
    pub async fn refute_push(&mut self, ty: &str, action: &str) {
        self.sync().await;
        if let Some(f) = self.pending.iter().find(|f| is(f, ty, action)) {
            panic!(
                "TestClient {}: expected no {ty}/{action} frame, got {f}\n{}",
                self.id,
                self.report()
            );
        }
    }

    /// Takes every frame received and not yet taken (without waiting for more; call
    /// [`sync`](Self::sync) first to have everything the server sent so far).
    pub fn take_frames(&mut self) -> Vec<Value> {
        while let Ok(m) = self.rx.try_recv() {
            self.accept(m);
        }
        self.pending.drain(..).collect()
    }

    /// Closes with 1000 and waits until the server has closed the connection.
    pub async fn close(&mut self) {
        if self.closed.is_none() {
            self.send_message(Message::Close(Some(CloseFrame {
                code: 1000.into(),
                reason: "".into(),
            })))
            .await;
        }
        self.expect_closed().await;
    }

    /// Waits until the connection ends and returns the server's close code and reason
    /// (`None` when the socket ended without a close frame). Frames received first stay
    /// available.
    pub async fn expect_closed(&mut self) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.closed.is_none() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.accept(m),
                Ok(None) => self.closed = Some(None),
                Err(_) => panic!(
                    "TestClient {}: timed out after {:?} waiting for the connection to close\n{}",
                    self.id,
                    self.timeout,
                    self.report()
                ),
            }
        }
        self.closed.clone().flatten()
    }

    fn accept(&mut self, m: Incoming) {
        match m {
            Incoming::Frame(f) => {
                if self.recent.len() == SHOWN {
                    self.recent.pop_front();
                }
                self.recent.push_back(f.clone());
                self.pending.push_back(f);
            }
            Incoming::Closed(c) => self.closed = Some(c),
        }
    }

    async fn take_matching(
        &mut self,
        what: &str,
        mut matches: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(i) = self.pending.iter().position(&mut matches) {
                return self.pending.remove(i).expect("position is in range");
            }
            if let Some(close) = &self.closed {
                panic!(
                    "TestClient {}: the connection closed ({}) while waiting for {what}\n{}",
                    self.id,
                    describe_close(close),
                    self.report()
                );
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.accept(m),
                Ok(None) => self.closed = Some(None),
                Err(_) => panic!(
                    "TestClient {}: timed out after {:?} waiting for {what}\n{}",
                    self.id,
                    self.timeout,
                    self.report()
                ),
            }
        }
    }

    /// The frames received, for a failure message.
    fn report(&self) -> String {
        let mut out = String::new();
        if self.recent.is_empty() {
            out.push_str("no frames received");
        } else {
            let _ = writeln!(out, "last frames received (oldest first):");
            for f in &self.recent {
                let taken = if self.pending.contains(f) {
                    ""
                } else {
                    " (taken)"
                };
                let _ = writeln!(out, "  {f}{taken}");
            }
        }
        out
    }
}

fn describe_close(close: &Option<(u16, String)>) -> String {
    match close {
        Some((code, reason)) => format!("code {code}, reason {reason:?}"),
        None => "no close frame".into(),
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn is(frame: &Value, ty: &str, action: &str) -> bool {
    frame["type"] == ty && frame["action"] == action
}

/// The frame answering a [`TestClient::request`]: a reply (`{"type", "action",
/// "response"?, "id"}`) or an error frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TestReply(pub Value);

static NULL: Value = Value::Null;

impl TestReply {
    /// Whether the answer is an error frame.
    pub fn is_error(&self) -> bool {
        is(&self.0, "error", "message")
    }

    /// The `response` of a reply (`Null` for handlers that return nothing). Panics with
    /// the frame if the answer is an error.
    pub fn response(&self) -> &Value {
        if self.is_error() {
            panic!("expected a reply, got an error: {}", self.0);
        }
        self.0.get("response").unwrap_or(&NULL)
    }

    /// The error code of an error answer. Panics with the frame if the answer is a reply.
    pub fn error_code(&self) -> &str {
        self.error()["code"].as_str().unwrap_or_default()
    }

    /// The `data` of an error answer (`error`, `code`, `type`, `action` and any detail).
    /// Panics with the frame if the answer is a reply.
    pub fn error(&self) -> &Value {
        if !self.is_error() {
            panic!("expected an error, got a reply: {}", self.0);
        }
        &self.0["data"]
    }

    /// The whole frame.
    pub fn frame(&self) -> &Value {
        &self.0
    }
}
