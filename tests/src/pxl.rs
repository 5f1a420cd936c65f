//! A stand-in for a PXL `WebSocketServer` (`@scpxl/nodejs-framework` v1.0.57): the
//! frames and HTTP bytes its code really produces, as described in
//! `pxl-behaviour.md` (section numbers below), for testing that pxl-ws's clients can
//! use a PXL server. It is written from that description: no PXL code runs here. It
//! reproduces PXL's wire, not its crashes (a `joinRoom` whose database lookup fails
//! stops a real PXL process, §2.1; here the lookup always succeeds).
//!
//! What it does, frame by frame:
//! - Upgrade (§1.1, §5): any request target starting with `/ws` (query included) is
//!   upgraded; another target has its TCP connection dropped without a response. A
//!   `?token=` JWT is verified with the base64url-decoding of the secret as the HMAC key
//!   (HS256/384/512, `exp` only checked when present, `sub` read like `parseInt`);
//!   headers are never read for tokens. A bad token gets exactly
//!   `HTTP/1.1 401 Unauthorized\r\n\r\n` and the socket is closed.
//! - Connect (§3.2, §5): every open socket gets `system/clientList` with
//!   `clientListType: "addClient"` and the whole client list (the storm; `ws` is
//!   `null` here instead of the ~4 KB socket dump); then the new client, if it had a
//!   token, `auth/authenticated` with the numeric `userId`.
//! - Messages (§1.2–§1.4): JSON `{type, action, data?}`; the four parser texts as
//!   `{"type":"error","action":"message","data":{"error"}}` with no id; a route's
//!   answer `{type, action, response}` with no id (`response` left out when the handler
//!   returns nothing); unknown routes get nothing.
//! - `system/joinRoom` (§2.1): defaults `userId = clientId`, `userType = "user"`,
//!   `username = "user_" + clientId[..8]`; no `data` → the TypeError text; no room name
//!   → `{success: false, error: "Room name is required", clientId}`; else the room is
//!   joined and `system/clientList` (`clientAddedToRoom`) goes to every socket — before
//!   the reply when `userId` is falsy (no database lookup), after it otherwise.
//! - `system/leaveRoom` (§2.2): a member is removed, every socket gets
//!   `system/clientList` (`clientRemovedFromRoom`), the leaver `user/leftRoom`, then the
//!   reply `{success: true, message, data: {roomName, leftAt}, clientId}` — the same
//!   reply when it was not a member.
//! - App routes for the tests: `math/add {a, b}` → `{sum}`; `app/nothing` → a reply
//!   without `response`; `app/throw` → the error frame `{"error":"boom"}` (a handler
//!   that throws, §1.4); `app/error` → `{success: false, error: "Not allowed"}` as a
//!   normal reply (§1.3).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// One connected client, as PXL's client manager keeps it.
struct Record {
    tx: mpsc::UnboundedSender<Message>,
    last_activity: u64,
    user: Value,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<String, Record>,
    rooms: BTreeMap<String, BTreeSet<String>>,
    /// Every frame the server received, in order (for assertions).
    received: Vec<Value>,
    /// Requests the server read, by target (path and query), in order.
    targets: Vec<String>,
}

/// A PXL server on `127.0.0.1:0`.
pub struct PxlServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for PxlServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PxlServer {
    /// Starts one; `jwt_secret_key` is PXL's `auth.jwtSecretKey` (a base64url string).
    pub async fn start(jwt_secret_key: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let secret = jwt_secret_key.map(str::to_owned);
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(handle(tcp, st.clone(), secret.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The members of `room` (client ids).
    pub fn room(&self, room: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.rooms
            .get(room)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The connected client ids.
    pub fn clients(&self) -> Vec<String> {
        self.state.lock().unwrap().clients.keys().cloned().collect()
    }

    /// The connected clients' auth results (`{userId, payload}` or `null`), by client id.
    pub fn users(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.clients.values().map(|r| r.user.clone()).collect()
    }

    /// Every frame received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        self.state.lock().unwrap().received.clone()
    }

    /// The request targets read so far (e.g. `/ws?token=…`).
    pub fn targets(&self) -> Vec<String> {
        self.state.lock().unwrap().targets.clone()
    }

    /// Closes every socket without a close code, as PXL's `stop()` does (§10.6); the
    /// server keeps listening, so clients can reconnect.
    pub fn drop_connections(&self) {
        let mut st = self.state.lock().unwrap();
        for (_, r) in std::mem::take(&mut st.clients) {
            let _ = r.tx.send(Message::Close(None));
        }
        st.rooms.clear();
    }

    /// Sends `frame` to one client, as app code's `sendClientMessage` does.
    pub fn push(&self, client_id: &str, frame: &Value) {
        let st = self.state.lock().unwrap();
        if let Some(r) = st.clients.get(client_id) {
            let _ = r.tx.send(Message::text(frame.to_string()));
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn client_id() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| rand_byte());
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.finish() as u8
}

/// Reads the request head; `None` when the peer went away.
async fn read_head(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.ok()? == 0 || buf.len() > 16 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    String::from_utf8(buf).ok()
}

async fn handle(mut tcp: TcpStream, state: Arc<Mutex<State>>, secret: Option<String>) {
    let Some(head) = read_head(&mut tcp).await else {
        return;
    };
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    state.lock().unwrap().targets.push(target.clone());
    // §1.1: a prefix match on the whole target; anything else is destroyed unanswered.
    if !target.starts_with("/ws") {
        return;
    }
    let key = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| v.trim().to_owned())
    });
    let Some(key) = key else { return };
    // §5: the token from `?token=` only.
    let user = match query_token(&target) {
        None => Value::Null,
        Some(token) => match verify(secret.as_deref(), &token) {
            Some(user) => user,
            None => {
                let _ = tcp.write_all(b"HTTP/1.1 401 Unauthorized\r\n\r\n").await;
                return;
            }
        },
    };
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if tcp.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(tcp, Role::Server, None).await;
    serve(ws, state, user).await;
}

fn query_token(target: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(v))
        .filter(|t| !t.is_empty())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// §5: `importJWK({kty:'oct', k: secret})` then `jwtVerify` with no options, then
/// `parseInt(sub, 10)`. Returns `{userId, payload}`.
fn verify(secret: Option<&str>, token: &str) -> Option<Value> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret?.trim_end_matches('='))
        .ok()?;
    let mut v = Validation::new(Algorithm::HS256);
    v.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    v.required_spec_claims.clear();
    v.leeway = 0;
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
        token,
        &DecodingKey::from_secret(&key).ok()?,
        &v,
    )
    .ok()?;
    let sub = match data.claims.get("sub")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let digits: String = sub
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let user_id: u64 = digits.parse().ok()?;
    Some(json!({ "userId": user_id, "payload": data.claims }))
}

/// `{"type":"system","action":"clientList","clientListType":kind,"data":[…]}` to every
/// socket (§3.2).
fn broadcast_client_list(st: &State, kind: &str) {
    let list: Vec<Value> = st
        .clients
        .iter()
        .map(|(id, r)| {
            json!({"clientId": id, "ws": null, "lastActivity": r.last_activity, "user": r.user})
        })
        .collect();
    let frame =
        json!({"type": "system", "action": "clientList", "clientListType": kind, "data": list})
            .to_string();
    for r in st.clients.values() {
        let _ = r.tx.send(Message::text(frame.clone()));
    }
}

fn error_frame(message: &str) -> Message {
    Message::text(
        json!({"type": "error", "action": "message", "data": {"error": message}}).to_string(),
    )
}

async fn serve(ws: WebSocketStream<TcpStream>, state: Arc<Mutex<State>>, user: Value) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let id = client_id();
    {
        let mut st = state.lock().unwrap();
        st.clients.insert(
            id.clone(),
            Record {
                tx: tx.clone(),
                last_activity: now_ms(),
                user: user.clone(),
            },
        );
        broadcast_client_list(&st, "addClient");
    }
    if let Some(user_id) = user.get("userId") {
        let _ = tx.send(Message::text(
            json!({"type": "auth", "action": "authenticated",
                   "data": {"userId": user_id, "message": "Authentication successful"}})
            .to_string(),
        ));
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let text = match msg {
            Message::Text(t) => t.as_str().to_owned(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        let frames = on_message(&state, &id, &text);
        for f in frames {
            let _ = tx.send(f);
        }
    }
    {
        let mut st = state.lock().unwrap();
        if st.clients.remove(&id).is_some() {
            for members in st.rooms.values_mut() {
                members.remove(&id);
            }
            st.rooms.retain(|_, m| !m.is_empty());
            broadcast_client_list(&st, "removeClient");
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// One inbound frame: the frames to send back to the sender, in order. Broadcasts to
/// the other sockets go out directly.
fn on_message(state: &Mutex<State>, id: &str, text: &str) -> Vec<Message> {
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return vec![error_frame("Failed to parse JSON")],
    };
    state.lock().unwrap().received.push(parsed.clone());
    if !truthy(&parsed) {
        return vec![error_frame("Invalid WebSocket message")];
    }
    if !truthy(&parsed["type"]) {
        return vec![error_frame("Missing WebSocket message type")];
    }
    if !truthy(&parsed["action"]) {
        return vec![error_frame("Missing WebSocket message action")];
    }
    let route = format!(
        "{}:{}",
        js_string(&parsed["type"]),
        js_string(&parsed["action"])
    );
    let data = parsed.get("data");
    let reply = |response: Option<Value>| {
        let mut f = json!({"type": parsed["type"], "action": parsed["action"]});
        if let Some(r) = response {
            f["response"] = r;
        }
        Message::text(f.to_string())
    };
    match route.as_str() {
        "system:joinRoom" => {
            let Some(data) = data.filter(|d| d.is_object()) else {
                return vec![error_frame(
                    "Cannot read properties of undefined (reading 'userId')",
                )];
            };
            let user_id = match &data["userId"] {
                Value::Null => Value::String(id.to_owned()),
                v => v.clone(),
            };
            let user_type = match &data["userType"] {
                Value::Null => json!("user"),
                v => v.clone(),
            };
            let username = match &data["username"] {
                Value::Null => json!(format!("user_{}", &id[..8])),
                v => v.clone(),
            };
            let room = &data["roomName"];
            if !truthy(room) {
                return vec![reply(Some(
                    json!({"success": false, "error": "Room name is required", "clientId": id}),
                ))];
            }
            let room_name = js_string(room);
            let answer = reply(Some(json!({
                "success": true,
                "message": format!("Successfully joined room: {room_name}"),
                "data": {"userId": user_id, "userType": user_type, "username": username,
                         "roomName": room, "joinedAt": "2026-01-01T00:00:00.000Z"},
            })));
            let mut st = state.lock().unwrap();
            let already = st.rooms.get(&room_name).is_some_and(|m| m.contains(id));
            let db_lookup = truthy(&data["userId"]);
            if already {
                return vec![answer];
            }
            st.rooms.entry(room_name).or_default().insert(id.to_owned());
            if db_lookup {
                // The reply goes out before the awaited lookup finishes.
                let frame = answer;
                let tx = st.clients.get(id).map(|r| r.tx.clone());
                if let Some(tx) = tx {
                    let _ = tx.send(frame);
                }
                broadcast_client_list(&st, "clientAddedToRoom");
                Vec::new()
            } else {
                broadcast_client_list(&st, "clientAddedToRoom");
                vec![answer]
            }
        }
        "system:leaveRoom" => {
            let Some(data) = data.filter(|d| d.is_object()) else {
                return vec![error_frame(
                    "Cannot read properties of undefined (reading 'roomName')",
                )];
            };
            let room = &data["roomName"];
            if !truthy(room) {
                return vec![reply(Some(
                    json!({"success": false, "error": "Room name is required", "clientId": id}),
                ))];
            }
            let room_name = js_string(room);
            let mut out = Vec::new();
            let mut st = state.lock().unwrap();
            let was_member = st.rooms.get_mut(&room_name).is_some_and(|m| m.remove(id));
            if was_member {
                st.rooms.retain(|_, m| !m.is_empty());
                broadcast_client_list(&st, "clientRemovedFromRoom");
                out.push(Message::text(
                    json!({"type": "user", "action": "leftRoom", "data": {"roomName": room}})
                        .to_string(),
                ));
            }
            out.push(reply(Some(json!({
                "success": true,
                "message": format!("Successfully left room: {room_name}"),
                "data": {"roomName": room, "leftAt": "2026-01-01T00:00:00.000Z"},
                "clientId": id,
            }))));
            out
        }
        "math:add" => {
            let a = data.and_then(|d| d["a"].as_i64()).unwrap_or(0);
            let b = data.and_then(|d| d["b"].as_i64()).unwrap_or(0);
            vec![reply(Some(json!({ "sum": a + b })))]
        }
        "app:nothing" => vec![reply(None)],
        "app:throw" => vec![error_frame("boom")],
        "app:error" => vec![reply(Some(
            json!({"success": false, "error": "Not allowed"}),
        ))],
        // §1.3: unknown routes are only logged.
        _ => Vec::new(),
    }
}

/// JavaScript's `${value}` for the JSON values a frame can carry.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
