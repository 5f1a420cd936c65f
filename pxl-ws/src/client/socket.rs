//! The client's background work: opening a socket, the read/write loop, the supervisor
//! that reconnects and rejoins rooms, and the task that runs client-side controllers.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{
    ClientError, CloseOnDrop, ConnectionEvent, ConnectionState, Inner, OUTBOUND_QUEUE, ServerError,
    ServerFrame, WsClient, lock,
};
use crate::protocol::parse_envelope;
use crate::router::{MessageContext, Reply, Side};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a closing socket waits for the server's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// An open socket, with what its greeting told.
pub(super) struct Opened {
    ws: Socket,
    /// The first frame when it was not `system/connected` (e.g. PXL's
    /// `system/clientList`): handled like any frame once the socket runs.
    first: Option<String>,
}

/// One connect: TCP and the upgrade within the connect timeout, then the server's first
/// frame, waited for up to the greeting timeout. `system/connected` names the client id
/// and says the server echoes ids; any other first frame (PXL's `system/clientList`), or
/// none, leaves the client id unknown and replies matched by route until a reply
/// carries an id.
pub(super) async fn open(inner: &Inner) -> Result<Opened, ClientError> {
    let request = inner.endpoint.request()?;
    let deadline = tokio::time::Instant::now() + inner.connect_timeout;
    let (mut ws, _) =
        match tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(request)).await {
            Ok(result) => result.map_err(connect_error)?,
            Err(_) => return Err(ClientError::ConnectTimeout(inner.connect_timeout)),
        };
    let greeting = async {
        loop {
            return match ws.next().await {
                Some(Ok(Message::Text(t))) => Ok(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => Ok(String::from_utf8_lossy(&b).into_owned()),
                Some(Ok(Message::Close(frame))) => Err(ClientError::Connect(format!(
                    "the server closed the connection before its first frame ({})",
                    close_text(frame.as_ref())
                ))),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(ClientError::Connect(e.to_string())),
                None => Err(ClientError::Connect(
                    "the connection ended before the server's first frame".into(),
                )),
            };
        }
    };
    let greeting_deadline = deadline.min(tokio::time::Instant::now() + inner.greeting_timeout);
    let first = match tokio::time::timeout_at(greeting_deadline, greeting).await {
        Ok(text) => Some(text?),
        Err(_) => {
            tracing::debug!(
                wait = ?inner.greeting_timeout,
                "pxl-ws client: no greeting from the server; connected without a client id"
            );
            None
        }
    };
    let connected_id = first.as_deref().and_then(connected_client_id);
    lock(&inner.pending).set_echoes_ids(connected_id.is_some());
    *lock(&inner.client_id) = connected_id.clone();
    Ok(Opened {
        ws,
        first: if connected_id.is_some() { None } else { first },
    })
}

/// The client id of a `system/connected` frame.
fn connected_client_id(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame["type"] != "system" || frame["action"] != "connected" {
        return None;
    }
    Some(match &frame["data"]["clientId"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn connect_error(e: WsError) -> ClientError {
    match e {
        WsError::Http(resp) => {
            let body: Value = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            ClientError::Refused {
                status: resp.status().as_u16(),
                code: body["code"].as_str().map(str::to_owned),
                message: body["error"].as_str().map(str::to_owned),
            }
        }
        WsError::Url(e) => ClientError::Invalid(e.to_string()),
        other => ClientError::Connect(other.to_string()),
    }
}

fn close_text(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("close code {}", u16::from(f.code)),
        Some(f) => format!("close code {}: {}", u16::from(f.code), f.reason),
        None => "no close code".into(),
    }
}

fn truncate(text: &str) -> &str {
    let end = (0..=text.len().min(200))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[..end]
}

/// Runs connections one after another until the client is closed or gives up:
/// after a loss, pending requests fail, then reconnect attempts follow the policy, and
/// a new connection rejoins the rooms before it counts as connected.
///
/// The first socket comes with its outbound queue, installed by `connect` before it
/// returned (so the caller can send at once).
pub(super) async fn supervise(
    inner: Arc<Inner>,
    first: Opened,
    first_queue: mpsc::Receiver<Message>,
) {
    let mut ws = first;
    let mut queue = first_queue;
    let mut reconnected = false;
    loop {
        let task = tokio::spawn(run(inner.clone(), ws, queue));
        if reconnected {
            rejoin(&inner).await;
        }
        let reason = task
            .await
            .unwrap_or_else(|e| format!("the socket task failed: {e}"));
        // Order matters: once the queue is gone no request can be sent, then every
        // request still waiting is failed.
        lock(&inner.outbound).take();
        inner.fail_pending();
        if inner.closing.is_cancelled() {
            return finish(&inner);
        }
        tracing::info!(%reason, "pxl-ws client: connection lost");
        inner.emit(ConnectionEvent::Disconnected { reason });
        if !inner.reconnect.enabled {
            return finish(&inner);
        }
        match reconnect(&inner).await {
            Some(next) => {
                ws = next;
                let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
                *lock(&inner.outbound) = Some(tx);
                queue = rx;
                reconnected = true;
            }
            None => return finish(&inner),
        }
    }
}

/// Closed for good.
fn finish(inner: &Inner) {
    inner.closing.cancel();
    inner.set_state(ConnectionState::Closed);
    inner.emit(ConnectionEvent::Closed);
}

/// Reconnect attempts with backoff; `None` when closed or out of attempts.
async fn reconnect(inner: &Inner) -> Option<Opened> {
    let policy = &inner.reconnect;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        if policy.max_attempts.is_some_and(|max| attempt > max) {
            tracing::warn!(
                attempts = attempt - 1,
                "pxl-ws client: giving up reconnecting"
            );
            inner.emit(ConnectionEvent::ReconnectFailed {
                attempts: attempt - 1,
            });
            return None;
        }
        let delay = policy.delay(attempt);
        inner.set_state(ConnectionState::Reconnecting { attempt });
        inner.emit(ConnectionEvent::Reconnecting { attempt, delay });
        tokio::select! {
            _ = inner.closing.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        let result = tokio::select! {
            _ = inner.closing.cancelled() => return None,
            r = open(inner) => r,
        };
        match result {
            Ok(opened) => return Some(opened),
            Err(e) => {
                tracing::debug!(attempt, error = %e, "pxl-ws client: reconnect attempt failed");
                inner.emit(ConnectionEvent::ReconnectAttemptFailed {
                    attempt,
                    error: e.to_string(),
                });
            }
        }
    }
}

/// Joins every remembered room on the new connection, then reports the reconnect.
async fn rejoin(inner: &Inner) {
    let rooms: Vec<(String, Value)> = lock(&inner.rooms)
        .iter()
        .map(|(room, data)| (room.clone(), data.clone()))
        .collect();
    let mut rejoined = Vec::new();
    for (room, data) in rooms {
        let result = inner
            .request_raw("system", "joinRoom", &data, inner.request_timeout)
            .await
            .and_then(|raw| {
                let reply: Value = raw
                    .as_ref()
                    .and_then(|r| serde_json::from_str(r.get()).ok())
                    .unwrap_or(Value::Null);
                super::refused(&reply, "JOIN_REFUSED")
            });
        match result {
            Ok(()) => rejoined.push(room),
            Err(ClientError::Disconnected | ClientError::NotConnected) => return,
            Err(e) => {
                tracing::warn!(%room, error = %e, "pxl-ws client: could not rejoin a room");
                lock(&inner.rooms).remove(&room);
                inner.emit(ConnectionEvent::RejoinFailed {
                    room,
                    error: e.to_string(),
                });
            }
        }
    }
    let client_id = lock(&inner.client_id).clone().unwrap_or_default();
    inner.set_state(ConnectionState::Connected);
    inner.emit(ConnectionEvent::Reconnected {
        client_id,
        rooms: rejoined,
    });
}

/// One socket: writes queued frames, reads and routes inbound frames, closes on
/// request. Returns why it ended.
async fn run(inner: Arc<Inner>, opened: Opened, mut outbound: mpsc::Receiver<Message>) -> String {
    let Opened { mut ws, first } = opened;
    if let Some(text) = first {
        on_text(&inner, &text).await;
    }
    loop {
        tokio::select! {
            _ = inner.closing.cancelled() => {
                let _ = ws
                    .close(Some(CloseFrame { code: CloseCode::Normal, reason: "client closed".into() }))
                    .await;
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return "closed by the client".into();
            }
            out = outbound.recv() => {
                let Some(message) = out else { return "the outbound queue closed".into() };
                if let Err(e) = ws.send(message).await {
                    return format!("send failed: {e}");
                }
            }
            inbound = ws.next() => match inbound {
                Some(Ok(Message::Text(t))) => on_text(&inner, t.as_str()).await,
                Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                    Ok(t) => on_text(&inner, t).await,
                    Err(_) => tracing::warn!("pxl-ws client: ignoring a binary frame that is not UTF-8"),
                },
                Some(Ok(Message::Close(frame))) => {
                    let reason = format!("closed by the server ({})", close_text(frame.as_ref()));
                    // tungstenite answers the close; read until the stream ends.
                    let _ = tokio::time::timeout(CLOSE_WAIT, async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    return reason;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return format!("connection error: {e}"),
                None => return "the connection ended".into(),
            },
        }
    }
}

/// The fields of a server frame that routing needs.
#[derive(serde::Deserialize)]
struct RawFrame<'a> {
    #[serde(rename = "type")]
    ty: String,
    action: String,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<Value>,
}

/// Routes one inbound frame: the answer to a pending request, or a push for the
/// controllers; everything but answers also goes to the frames stream. Frames that are
/// not pxl-ws frames are logged and skipped, never fatal.
async fn on_text(inner: &Inner, text: &str) {
    let frame: RawFrame<'_> = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, frame = truncate(text), "pxl-ws client: ignoring a frame that is not {{type, action, ...}}");
            return;
        }
    };
    track_rooms(inner, &frame);
    if frame.ty == "system" && frame.action == "connected" {
        // A greeting that came late (after the greeting timeout).
        if let Some(id) = connected_client_id(text) {
            lock(&inner.pending).set_echoes_ids(true);
            *lock(&inner.client_id) = Some(id);
        }
    }
    if let Some(tx) = answered(inner, &frame) {
        let answer = if frame.ty == "error" {
            let data = frame
                .data
                .and_then(|d| serde_json::from_str(d.get()).ok())
                .unwrap_or(Value::Null);
            Err(ClientError::Server(ServerError::from_data(&data)))
        } else {
            Ok(frame.response.map(|r| r.to_owned()))
        };
        let _ = tx.send(answer);
        return;
    }
    if frame.id.is_none()
        && frame.response.is_none()
        && let Some(dispatch) = &inner.dispatch
    {
        let _ = dispatch.send(text.to_owned()).await;
    }
    if inner.frames.receiver_count() > 0 {
        let parse = |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str(r.get()).ok());
        let _ = inner.frames.send(ServerFrame {
            data: parse(frame.data),
            response: parse(frame.response),
            ty: frame.ty,
            action: frame.action,
            id: frame.id,
        });
    }
}

/// The pending request `frame` answers, if any (see [`super::pending`]): by `id`; or,
/// from a server that does not echo ids, a reply (no `data`) by its route and an error
/// frame by the route its `data` names, else the oldest request.
fn answered(inner: &Inner, frame: &RawFrame<'_>) -> Option<oneshot::Sender<super::Answer>> {
    let mut pending = lock(&inner.pending);
    if let Some(id) = &frame.id {
        return id.as_u64().and_then(|id| pending.take_id(id));
    }
    if frame.ty == "error" {
        let data: Value = frame
            .data
            .and_then(|d| serde_json::from_str(d.get()).ok())
            .unwrap_or(Value::Null);
        if let (Some(ty), Some(action)) = (data["type"].as_str(), data["action"].as_str())
            && let Some(tx) = pending.take_route(ty, action)
        {
            return Some(tx);
        }
        return pending.take_oldest();
    }
    if frame.data.is_some() {
        // A push (`{type, action, data}`), never a reply.
        return None;
    }
    pending.take_route(&frame.ty, &frame.action)
}

/// Keeps the set of rooms to rejoin: a successful `system/joinRoom` reply adds its
/// room (with the data that was sent), `user/leftRoom` removes one. A server that has
/// not named the client id (PXL) names it in its `leaveRoom` reply (`clientId`).
fn track_rooms(inner: &Inner, frame: &RawFrame<'_>) {
    match (frame.ty.as_str(), frame.action.as_str()) {
        ("system", "leaveRoom") => {
            let mut id = lock(&inner.client_id);
            if id.is_none()
                && let Some(named) = frame
                    .response
                    .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                    .and_then(|r| r["clientId"].as_str().map(str::to_owned))
            {
                *id = Some(named);
            }
        }
        ("system", "joinRoom") => {
            let Some(response) = frame
                .response
                .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
            else {
                return;
            };
            if response["success"] != true {
                return;
            }
            if let Some(room) = response["data"]["roomName"].as_str() {
                let data = lock(&inner.joining)
                    .remove(room)
                    .unwrap_or_else(|| serde_json::json!({ "roomName": room }));
                lock(&inner.rooms).insert(room.to_owned(), data);
            }
        }
        ("user", "leftRoom") => {
            if let Some(room) = frame
                .data
                .and_then(|d| serde_json::from_str::<Value>(d.get()).ok())
                .and_then(|d| d["roomName"].as_str().map(str::to_owned))
            {
                lock(&inner.rooms).remove(&room);
            }
        }
        _ => {}
    }
}

/// Runs the client-side controllers on pushed frames, one at a time, in order. Holds
/// only a weak reference to the handles' guard, so dropping every handle still closes
/// the client.
pub(super) async fn dispatch(
    inner: Arc<Inner>,
    guard: Weak<CloseOnDrop>,
    mut frames: mpsc::Receiver<String>,
) {
    loop {
        let text = tokio::select! {
            _ = inner.closing.cancelled() => return,
            t = frames.recv() => match t {
                Some(t) => t,
                None => return,
            },
        };
        let Some(guard) = guard.upgrade() else { return };
        let client = WsClient {
            inner: inner.clone(),
            _guard: guard,
        };
        let Ok(envelope) = parse_envelope(text.as_bytes()) else {
            continue;
        };
        let ctx = MessageContext {
            envelope: &envelope,
            side: Side::Remote {
                client: &client,
                state: &inner.state,
            },
        };
        let Some(future) = inner.router.dispatch(&ctx) else {
            tracing::trace!(r#type = %envelope.ty, action = %envelope.action, "pxl-ws client: no controller for this push");
            continue;
        };
        match crate::util::panic::isolate_async(future).await {
            Ok(Reply::Error(e)) => tracing::warn!(
                r#type = %envelope.ty,
                action = %envelope.action,
                code = e.code(),
                message = e.message(),
                "pxl-ws client: a client-side action failed"
            ),
            Ok(_) => {}
            Err(panic) => tracing::error!(
                r#type = %envelope.ty,
                action = %envelope.action,
                %panic,
                "pxl-ws client: a client-side action panicked"
            ),
        }
    }
}
