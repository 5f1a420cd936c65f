//! The floor: a bare axum WebSocket server with the benchmark protocol and nothing else
//! (no limits, no ids, no presence, no health). It is what a hand-written server with
//! sensible settings costs: a read buffer sized for small messages, one writer task per
//! socket draining a bounded queue in batches, broadcasts serialised once and shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// Frames queued per socket before it counts as a slow consumer and is dropped.
const QUEUE: usize = 1024;
/// Frames written before one flush.
const WRITE_BATCH: usize = 64;

/// Socket settings of the floor.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    /// WebSocket read buffer per socket (bytes): what one read fills, and (zero-filled
    /// by tungstenite on the first read) resident memory per idle socket. 8 KiB, as a
    /// hand-written axum server would have it (axum's own default is 128 KiB).
    /// `FLOOR_READ_BUFFER`.
    pub read_buffer: usize,
    /// Write buffer before a flush is forced (bytes).
    pub write_buffer: usize,
}

impl Default for FloorConfig {
    fn default() -> Self {
        Self {
            read_buffer: 8 * 1024,
            write_buffer: 64 * 1024,
        }
    }
}

type Members = HashMap<u64, mpsc::Sender<Message>>;

struct Floor {
    config: FloorConfig,
    next_id: AtomicU64,
    rooms: RwLock<HashMap<String, Members>>,
}

/// The floor's app: the socket at `/ws`.
pub fn router(config: FloorConfig) -> Router {
    let state = Arc::new(Floor {
        config,
        next_id: AtomicU64::new(1),
        rooms: RwLock::new(HashMap::new()),
    });
    Router::new().route("/ws", get(upgrade)).with_state(state)
}

async fn upgrade(ws: WebSocketUpgrade, State(floor): State<Arc<Floor>>) -> Response {
    let config = floor.config;
    ws.read_buffer_size(config.read_buffer)
        .write_buffer_size(config.write_buffer)
        .on_upgrade(move |socket| connection(floor, socket))
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    action: &'a str,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Room<'a> {
    #[serde(borrow)]
    room: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct JoinRoom<'a> {
    #[serde(rename = "roomName", borrow)]
    room_name: std::borrow::Cow<'a, str>,
}

async fn connection(floor: Arc<Floor>, socket: WebSocket) {
    let id = floor.next_id.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            let mut n = 1;
            while n < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(next) => {
                        if sink.feed(next).await.is_err() {
                            return;
                        }
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = handle(&floor, id, &tx, &mut joined, text.as_str());
        if let Some(reply) = reply
            && tx.try_send(Message::Text(reply.into())).is_err()
        {
            break;
        }
    }
    if !joined.is_empty() {
        let mut rooms = floor.rooms.write().unwrap_or_else(|e| e.into_inner());
        for room in &joined {
            if let Some(members) = rooms.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    rooms.remove(room);
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn id_suffix(id: Option<&RawValue>) -> String {
    match id {
        Some(id) => format!(",\"id\":{}}}", id.get()),
        None => "}".to_owned(),
    }
}

fn handle(
    floor: &Floor,
    id: u64,
    tx: &mpsc::Sender<Message>,
    joined: &mut Vec<String>,
    text: &str,
) -> Option<String> {
    let Ok(env) = serde_json::from_str::<Envelope<'_>>(text) else {
        return Some(
            r#"{"type":"error","action":"message","data":{"error":"Failed to parse JSON","code":"INVALID_JSON"}}"#
                .to_owned(),
        );
    };
    let data = env.data.map_or("null", RawValue::get);
    match (env.kind, env.action) {
        ("bench", "echo") => Some(format!(
            "{{\"type\":\"bench\",\"action\":\"echo\",\"response\":{data}{}",
            id_suffix(env.id)
        )),
        ("bench", "broadcast") => {
            let Ok(target) = serde_json::from_str::<Room<'_>>(data) else {
                return Some(error(&env, "INVALID_PAYLOAD"));
            };
            let frame: Utf8Bytes =
                format!("{{\"type\":\"bench\",\"action\":\"message\",\"data\":{data}}}").into();
            let rooms = floor.rooms.read().unwrap_or_else(|e| e.into_inner());
            if let Some(members) = rooms.get(target.room.as_ref()) {
                for member in members.values() {
                    // A full queue is a slow consumer: the frame is dropped (counted as
                    // loss by the load generator).
                    let _ = member.try_send(Message::Text(frame.clone()));
                }
            }
            Some(format!(
                "{{\"type\":\"bench\",\"action\":\"broadcast\"{}",
                id_suffix(env.id)
            ))
        }
        ("system", "joinRoom") => {
            let Ok(join) = serde_json::from_str::<JoinRoom<'_>>(data) else {
                return Some(error(&env, "INVALID_PAYLOAD"));
            };
            let room = join.room_name.into_owned();
            floor
                .rooms
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(room.clone())
                .or_default()
                .insert(id, tx.clone());
            let reply = format!(
                "{{\"type\":\"system\",\"action\":\"joinRoom\",\"response\":{{\"success\":true,\"message\":{}}}{}",
                serde_json::to_string(&format!("Successfully joined room: {room}"))
                    .unwrap_or_default(),
                id_suffix(env.id)
            );
            if !joined.contains(&room) {
                joined.push(room);
            }
            Some(reply)
        }
        _ => Some(error(&env, "UNKNOWN_ROUTE")),
    }
}

fn error(env: &Envelope<'_>, code: &str) -> String {
    format!(
        "{{\"type\":\"error\",\"action\":\"message\",\"data\":{{\"error\":\"{code}\",\"code\":\"{code}\"}}{}",
        id_suffix(env.id)
    )
}
