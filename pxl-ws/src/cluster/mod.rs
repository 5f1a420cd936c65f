//! The cross-instance event contract: what one instance publishes on the bus and how
//! the others act on it. Channels are `<prefix>:<event>` with PXL's event names plus
//! three for liveness and snapshots; every payload is JSON with the `origin` instance id.
//! `docs/cluster.md` documents each payload field by field.
//!
//! Sends (`sendMessage` / `sendMessageToAll`) embed the frame, serialised once at the
//! origin, as raw JSON; receivers slice its bytes out of the payload unchanged.

mod view;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::bus::BusMessage;
use crate::clients::{ClientId, ClientState};
use crate::service::{Server, Shared, Target, To};
use crate::subscribers::Event;

use view::ClientRecord;
pub(crate) use view::RemoteView;

pub(crate) const CLIENT_CONNECTED: &str = "clientConnected";
pub(crate) const CLIENT_DISCONNECTED: &str = "clientDisconnected";
pub(crate) const DISCONNECT_CLIENT: &str = "disconnectClient";
pub(crate) const CLIENT_JOINED_ROOM: &str = "clientJoinedRoom";
pub(crate) const CLIENT_LEFT_ROOM: &str = "clientLeftRoom";
pub(crate) const SEND_MESSAGE: &str = "sendMessage";
pub(crate) const SEND_MESSAGE_TO_ALL: &str = "sendMessageToAll";
pub(crate) const MESSAGE_ERROR: &str = "messageError";
pub(crate) const QUEUE_JOB_COMPLETED: &str = "queueJobCompleted";
pub(crate) const QUEUE_JOB_ERROR: &str = "queueJobError";
pub(crate) const CUSTOM: &str = "custom";
pub(crate) const INSTANCE_HEARTBEAT: &str = "instanceHeartbeat";
pub(crate) const SNAPSHOT_REQUEST: &str = "snapshotRequest";
pub(crate) const SNAPSHOT: &str = "snapshot";
/// An app channel message from [`Server::publish`]: `{origin, channel, message}`.
pub(crate) const CHANNEL_MESSAGE: &str = "channelMessage";

/// Every event name, PXL's eleven first.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) const EVENTS: [&str; 15] = [
    CLIENT_CONNECTED,
    CLIENT_DISCONNECTED,
    DISCONNECT_CLIENT,
    CLIENT_JOINED_ROOM,
    CLIENT_LEFT_ROOM,
    SEND_MESSAGE,
    SEND_MESSAGE_TO_ALL,
    MESSAGE_ERROR,
    QUEUE_JOB_COMPLETED,
    QUEUE_JOB_ERROR,
    CUSTOM,
    INSTANCE_HEARTBEAT,
    SNAPSHOT_REQUEST,
    SNAPSHOT,
    CHANNEL_MESSAGE,
];

/// The full channel names for `prefix`.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn channels(prefix: &str) -> Vec<String> {
    EVENTS.iter().map(|e| format!("{prefix}:{e}")).collect()
}

/// An event published with [`Server::publish_custom`] on any instance.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CustomEvent {
    /// The instance that published it.
    pub origin: String,
    /// The event name given by the publisher.
    pub name: String,
    /// Its data.
    pub data: serde_json::Value,
}

/// A subscription to [`CustomEvent`]s from every instance, from
/// [`Server::subscribe_custom`].
pub struct CustomEvents {
    rx: broadcast::Receiver<CustomEvent>,
}

impl CustomEvents {
    /// The next event; `None` once the server is gone. A subscriber that falls more than
    /// 1024 events behind skips the oldest (logged).
    pub async fn recv(&mut self) -> Option<CustomEvent> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "custom event subscriber lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Per-server cluster state.
pub(crate) struct Cluster {
    prefix: String,
    pub(crate) view: RemoteView,
    custom: broadcast::Sender<CustomEvent>,
    /// Held across a membership change and its publish, and while a snapshot is built and
    /// published, so no receiver applies a snapshot older than a delta it already saw.
    membership: Mutex<()>,
}

impl Cluster {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            view: RemoteView::default(),
            custom: broadcast::channel(1024).0,
            membership: Mutex::new(()),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.membership.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn subscribe_custom(&self) -> CustomEvents {
        CustomEvents {
            rx: self.custom.subscribe(),
        }
    }
}

// ---- payloads ------------------------------------------------------------------------

#[derive(Serialize)]
struct SendOut<'a> {
    origin: &'a str,
    #[serde(flatten)]
    target: &'a Target,
    frame: &'a RawValue,
}

#[derive(Deserialize)]
struct SendIn<'a> {
    #[serde(borrow)]
    origin: &'a str,
    #[serde(flatten)]
    target: Target,
    #[serde(borrow)]
    frame: &'a RawValue,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientOut {
    client_id: ClientId,
    user_id: Option<String>,
    username: Option<String>,
    connected_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<Vec<String>>,
}

impl ClientOut {
    fn of(c: &ClientState, with_rooms: bool) -> Self {
        Self {
            client_id: c.id,
            user_id: c.user_id().map(|u| u.to_string()),
            username: c.metadata_str("username"),
            connected_at: c.connected_at_ms,
            rooms: with_rooms.then(|| c.room_names()),
        }
    }

    fn record(self) -> ClientRecord {
        ClientRecord {
            id: self.client_id,
            user_id: self.user_id,
            username: self.username,
            connected_at: self.connected_at,
            rooms: self.rooms.unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    origin: &'a str,
    #[serde(flatten)]
    body: T,
}

#[derive(Deserialize)]
struct Origin<'a> {
    #[serde(borrow, default)]
    origin: Option<&'a str>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientRef {
    client_id: ClientId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomChange {
    client_id: ClientId,
    room_name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Disconnect {
    client_id: ClientId,
    code: u16,
    reason: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToClientOut<'a> {
    client_id: ClientId,
    frame: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToClientIn<'a> {
    client_id: ClientId,
    #[serde(borrow)]
    frame: &'a RawValue,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueJob {
    web_socket_client_id: ClientId,
    #[serde(default)]
    job_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Custom {
    name: String,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Heartbeat {
    ttl_ms: u64,
    clients: usize,
}

#[derive(Serialize, Deserialize)]
struct SnapshotRequest {
    #[serde(default)]
    target: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    clients: Vec<ClientOut>,
}

// ---- publishing ----------------------------------------------------------------------

fn channel(shared: &Shared, event: &str) -> String {
    format!("{}:{event}", shared.cluster.prefix)
}

fn publish_raw(shared: &Shared, event: &str, payload: Vec<u8>) {
    shared.bus.publish(BusMessage {
        channel: channel(shared, event),
        payload: Bytes::from(payload),
    });
}

/// Publishes `{"origin", ...body}` on `<prefix>:<event>` when anyone may listen, and
/// hands it to this instance's subscribers.
fn publish<T: Serialize>(shared: &Shared, event: &str, body: T) {
    let local = is_builtin(event) && shared.subscribers.wants(event);
    let peers = shared.bus.has_peers();
    if !peers && !local {
        return;
    }
    let msg = Tagged {
        origin: &shared.instance_id,
        body,
    };
    if local {
        match serde_json::to_value(&msg) {
            Ok(v) => shared.subscribers.dispatch(event, v),
            Err(e) => {
                tracing::error!(error = %e, event, "could not encode an event for subscribers")
            }
        }
    }
    if peers {
        match serde_json::to_vec(&msg) {
            Ok(payload) => publish_raw(shared, event, payload),
            Err(e) => tracing::error!(error = %e, event, "could not encode a bus event"),
        }
    }
}

/// Whether `event` is one of PXL's eleven (the ones subscribers see by name).
fn is_builtin(event: &str) -> bool {
    Event::from_channel(event).is_some()
}

/// Publishes an app channel message and hands it to this instance's subscribers.
pub(crate) fn app_channel(shared: &Shared, channel: &str, message: serde_json::Value) {
    if shared.bus.has_peers() {
        #[derive(Serialize)]
        struct Out<'a> {
            channel: &'a str,
            message: &'a serde_json::Value,
        }
        publish(
            shared,
            CHANNEL_MESSAGE,
            Out {
                channel,
                message: &message,
            },
        );
    }
    shared.subscribers.dispatch(channel, message);
}

/// Hands an event received from another instance to this instance's subscribers.
fn dispatch_remote(shared: &Shared, event: &str, msg: &BusMessage) {
    if event == CHANNEL_MESSAGE {
        #[derive(Deserialize)]
        struct In {
            channel: String,
            #[serde(default)]
            message: serde_json::Value,
        }
        if let Some(m) = parse::<In>(msg) {
            shared.subscribers.dispatch(&m.channel, m.message);
        }
    } else if is_builtin(event)
        && shared.subscribers.wants(event)
        && let Some(v) = parse::<serde_json::Value>(msg)
    {
        shared.subscribers.dispatch(event, v);
    }
}

/// Publishes a send for the other instances.
pub(crate) fn publish_send(shared: &Shared, target: &Target, frame_json: &str) {
    let event = if matches!(target.to, To::All) {
        SEND_MESSAGE_TO_ALL
    } else {
        SEND_MESSAGE
    };
    // Nobody listening (one instance, no subscriber for sends): no work at all.
    let local = shared.subscribers.wants(event);
    let peers = shared.bus.has_peers();
    if !local && !peers {
        return;
    }
    let Ok(frame) = serde_json::from_str::<&RawValue>(frame_json) else {
        tracing::error!("refusing to publish a frame that is not JSON");
        return;
    };
    let body = SendOut {
        origin: &shared.instance_id,
        target,
        frame,
    };
    if local {
        match serde_json::to_value(&body) {
            Ok(v) => shared.subscribers.dispatch(event, v),
            Err(e) => tracing::error!(error = %e, "could not encode an event for subscribers"),
        }
    }
    if !peers {
        return;
    }
    match serde_json::to_vec(&body) {
        Ok(payload) => publish_raw(shared, event, payload),
        Err(e) => tracing::error!(error = %e, "could not encode a bus event"),
    }
}

/// A local client connected, or its user id or username changed (an upsert).
pub(crate) fn client_connected(shared: &Shared, c: &ClientState) {
    publish(shared, CLIENT_CONNECTED, ClientOut::of(c, false));
}

pub(crate) fn client_disconnected(shared: &Shared, id: ClientId) {
    publish(shared, CLIENT_DISCONNECTED, ClientRef { client_id: id });
}

pub(crate) fn joined(shared: &Shared, id: ClientId, room: &str) {
    publish(
        shared,
        CLIENT_JOINED_ROOM,
        RoomChange {
            client_id: id,
            room_name: room.to_owned(),
        },
    );
}

pub(crate) fn left(shared: &Shared, id: ClientId, room: &str) {
    publish(
        shared,
        CLIENT_LEFT_ROOM,
        RoomChange {
            client_id: id,
            room_name: room.to_owned(),
        },
    );
}

pub(crate) fn disconnect_client(shared: &Shared, id: ClientId, code: u16, reason: &str) {
    publish(
        shared,
        DISCONNECT_CLIENT,
        Disconnect {
            client_id: id,
            code,
            reason: reason.to_owned(),
        },
    );
}

/// Routes an `error/message` frame to the instance holding `id`.
pub(crate) fn message_error(shared: &Shared, id: ClientId, frame_json: &str) {
    if let Ok(frame) = serde_json::from_str::<&RawValue>(frame_json) {
        publish(
            shared,
            MESSAGE_ERROR,
            ToClientOut {
                client_id: id,
                frame,
            },
        );
    }
}

pub(crate) fn queue_job(
    shared: &Shared,
    id: ClientId,
    job_id: Option<serde_json::Value>,
    outcome: Result<serde_json::Value, serde_json::Value>,
) {
    let (event, result, error) = match outcome {
        Ok(r) => (QUEUE_JOB_COMPLETED, Some(r), None),
        Err(e) => (QUEUE_JOB_ERROR, None, Some(e)),
    };
    let job = QueueJob {
        web_socket_client_id: id,
        job_id,
        result,
        error,
    };
    // Delivered here if the client is local; published either way, so that subscribers
    // on every instance see the outcome (the other instances find no client).
    if let Some(c) = shared.clients.get(id)
        && let Some(f) = queue_job_frame(event == QUEUE_JOB_COMPLETED, &job)
    {
        c.push(f, &shared.metrics);
    }
    publish(shared, event, &job);
}

/// Publishes a custom event and hands it to this instance's subscribers at once.
pub(crate) fn custom(shared: &Shared, name: &str, data: serde_json::Value) {
    publish(
        shared,
        CUSTOM,
        Custom {
            name: name.to_owned(),
            data: data.clone(),
        },
    );
    let _ = shared.cluster.custom.send(CustomEvent {
        origin: shared.instance_id.clone(),
        name: name.to_owned(),
        data,
    });
}

/// Announces this instance (with `ttl` zero when it is leaving).
pub(crate) fn heartbeat(shared: &Shared, ttl: Duration) {
    publish(
        shared,
        INSTANCE_HEARTBEAT,
        Heartbeat {
            ttl_ms: ttl.as_millis() as u64,
            clients: shared.clients.len(),
        },
    );
}

/// Publishes every local client with its rooms.
fn snapshot(shared: &Shared) {
    if !shared.bus.has_peers() {
        return;
    }
    let _guard = shared.cluster.lock();
    let mut clients = Vec::with_capacity(shared.clients.len());
    shared
        .clients
        .for_each(|c| clients.push(ClientOut::of(c, true)));
    publish(shared, SNAPSHOT, Snapshot { clients });
}

/// The bus subscription is (again) live: announce ourselves, ask the others for their
/// state and restate ours, since events may have been lost meanwhile.
fn resync(shared: &Shared) {
    tracing::debug!("bus subscription live: resyncing the cluster view");
    heartbeat(shared, shared.config.cluster.liveness_ttl);
    publish(shared, SNAPSHOT_REQUEST, SnapshotRequest { target: None });
    snapshot(shared);
}

/// Purges instances whose liveness lapsed. Runs every tenth of the TTL.
pub(crate) fn sweep(shared: &Shared) {
    for origin in shared.cluster.view.expired() {
        let n = shared.cluster.view.purge(&origin);
        tracing::warn!(instance = %origin, clients = n, "instance liveness lapsed; purged its clients");
    }
}

// ---- receiving -----------------------------------------------------------------------

fn parse<'a, T: Deserialize<'a>>(msg: &'a BusMessage) -> Option<T> {
    match serde_json::from_slice(&msg.payload) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(channel = %msg.channel, error = %e, "dropping a malformed bus event");
            None
        }
    }
}

/// Copies nothing: the frame's bytes are a slice of the bus payload.
fn frame_message(payload: &Bytes, frame: &RawValue) -> Option<Message> {
    let bytes = payload.slice_ref(frame.get().as_bytes());
    Utf8Bytes::try_from(bytes).ok().map(Message::Text)
}

/// Acts on one message from the bus.
/// Marks `origin` alive. An instance we did not know (started while we were cut off, or
/// purged too early) is asked for its snapshot, unless `ask_snapshot` is off.
fn alive(shared: &Shared, origin: &str, ttl: Option<Duration>, ask_snapshot: bool) {
    let view = &shared.cluster.view;
    if view.touch(origin, ttl, shared.config.cluster.liveness_ttl) && ask_snapshot {
        publish(
            shared,
            SNAPSHOT_REQUEST,
            SnapshotRequest {
                target: Some(origin.to_owned()),
            },
        );
    }
}

pub(crate) fn receive(server: &Server, msg: &BusMessage) {
    let shared: &Arc<Shared> = &server.shared;
    if msg.is_resync() {
        resync(shared);
        return;
    }
    let Some(event) = msg
        .channel
        .strip_prefix(shared.cluster.prefix.as_str())
        .and_then(|c| c.strip_prefix(':'))
    else {
        return;
    };
    if event == SEND_MESSAGE || event == SEND_MESSAGE_TO_ALL {
        let Some(ev) = parse::<SendIn<'_>>(msg) else {
            return;
        };
        if ev.origin == shared.instance_id {
            return;
        }
        dispatch_remote(shared, event, msg);
        shared
            .metrics
            .bus_messages_in
            .fetch_add(1, Ordering::Relaxed);
        if let Some(m) = frame_message(&msg.payload, ev.frame) {
            server.deliver_local(&ev.target, m);
        }
        return;
    }
    let Some(Origin { origin }) = parse::<Origin<'_>>(msg) else {
        return;
    };
    let origin = origin.unwrap_or_default();
    if origin == shared.instance_id {
        return;
    }
    dispatch_remote(shared, event, msg);
    let view = &shared.cluster.view;
    // Any membership event from an instance proves it alive (heartbeats carry their own
    // TTL, below).
    let proves_liveness = !origin.is_empty()
        && !matches!(
            event,
            QUEUE_JOB_COMPLETED | QUEUE_JOB_ERROR | CUSTOM | CHANNEL_MESSAGE | INSTANCE_HEARTBEAT
        );
    if proves_liveness {
        alive(shared, origin, None, event != SNAPSHOT);
    }
    match event {
        INSTANCE_HEARTBEAT => {
            let Some(hb) = parse::<Heartbeat>(msg) else {
                return;
            };
            if hb.ttl_ms == 0 {
                let n = view.purge(origin);
                tracing::info!(instance = %origin, clients = n, "instance left the cluster");
                return;
            }
            alive(shared, origin, Some(Duration::from_millis(hb.ttl_ms)), true);
        }
        SNAPSHOT_REQUEST => {
            if let Some(req) = parse::<SnapshotRequest>(msg)
                && req
                    .target
                    .as_deref()
                    .is_none_or(|t| t == shared.instance_id)
            {
                snapshot(shared);
            }
        }
        SNAPSHOT => {
            if let Some(s) = parse::<Snapshot>(msg) {
                view.replace(
                    origin,
                    s.clients.into_iter().map(ClientOut::record).collect(),
                );
            }
        }
        CLIENT_CONNECTED => {
            if let Some(c) = parse::<ClientOut>(msg) {
                view.upsert(origin, c.record());
            }
        }
        CLIENT_DISCONNECTED => {
            if let Some(c) = parse::<ClientRef>(msg) {
                view.remove(c.client_id);
            }
        }
        CLIENT_JOINED_ROOM => {
            if let Some(c) = parse::<RoomChange>(msg) {
                view.join(origin, c.client_id, &c.room_name);
            }
        }
        CLIENT_LEFT_ROOM => {
            if let Some(c) = parse::<RoomChange>(msg) {
                view.leave(c.client_id, &c.room_name);
            }
        }
        DISCONNECT_CLIENT => {
            if let Some(d) = parse::<Disconnect>(msg)
                && let Some(c) = shared.clients.get(d.client_id)
            {
                tracing::info!(client = %d.client_id, from = %origin, "disconnect requested by another instance");
                c.request_close(d.code, d.reason, true);
            }
        }
        MESSAGE_ERROR => {
            if let Some(ev) = parse::<ToClientIn<'_>>(msg)
                && let Some(c) = shared.clients.get(ev.client_id)
                && let Some(m) = frame_message(&msg.payload, ev.frame)
            {
                c.push(m, &shared.metrics);
            }
        }
        QUEUE_JOB_COMPLETED | QUEUE_JOB_ERROR => {
            if let Some(job) = parse::<QueueJob>(msg)
                && let Some(c) = shared.clients.get(job.web_socket_client_id)
                && let Some(f) = queue_job_frame(event == QUEUE_JOB_COMPLETED, &job)
            {
                c.push(f, &shared.metrics);
            }
        }
        CUSTOM => {
            if let Some(ev) = parse::<Custom>(msg) {
                let _ = shared.cluster.custom.send(CustomEvent {
                    origin: origin.to_owned(),
                    name: ev.name,
                    data: ev.data,
                });
            }
        }
        _ => {}
    }
}

/// `{"type":"queue","action":"jobCompleted","data":{"jobId","result"}}` or
/// `{"type":"queue","action":"jobError","data":{"jobId","error"}}`.
fn queue_job_frame(completed: bool, job: &QueueJob) -> Option<Message> {
    let (action, data) = if completed {
        (
            "jobCompleted",
            serde_json::json!({ "jobId": job.job_id, "result": job.result }),
        )
    } else {
        (
            "jobError",
            serde_json::json!({ "jobId": job.job_id, "error": job.error }),
        )
    };
    crate::service::Frame::new("queue", action, &data)
        .ok()
        .map(|f| f.to_message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_bytes(target: &Target) -> Vec<u8> {
        let frame: &RawValue = serde_json::from_str(r#"{"type":"t","action":"a"}"#).unwrap();
        let body = SendOut {
            origin: "00000000000000aa",
            target,
            frame,
        };
        serde_json::to_vec(&body).unwrap()
    }

    fn send_payload(target: &Target) -> serde_json::Value {
        serde_json::from_slice(&send_bytes(target)).unwrap()
    }

    #[test]
    fn send_payloads_match_the_documented_contract() {
        let c: ClientId = "0000000000000000000000000000000c".parse().unwrap();
        let frame = serde_json::json!({"type": "t", "action": "a"});
        assert_eq!(
            send_payload(&Target::rooms(["a", "b"]).except(c)),
            serde_json::json!({"origin": "00000000000000aa", "to": "rooms", "rooms": ["a", "b"],
                               "except": c.to_string(), "frame": frame})
        );
        assert_eq!(
            send_payload(&Target::user("u1")),
            serde_json::json!({"origin": "00000000000000aa", "to": "user", "userId": "u1", "frame": frame})
        );
        assert_eq!(
            send_payload(&Target::client(c)),
            serde_json::json!({"origin": "00000000000000aa", "to": "client", "clientId": c.to_string(), "frame": frame})
        );
        assert_eq!(
            send_payload(&Target::all()),
            serde_json::json!({"origin": "00000000000000aa", "to": "all", "frame": frame})
        );
        // Receivers read it back, the frame as the exact bytes sent.
        let payload = Bytes::from(send_bytes(&Target::user("u1")));
        let msg = BusMessage {
            channel: "pxl-ws:sendMessage".into(),
            payload: payload.clone(),
        };
        let ev: SendIn<'_> = parse(&msg).unwrap();
        assert_eq!(ev.target, Target::user("u1"));
        let Some(Message::Text(t)) = frame_message(&payload, ev.frame) else {
            panic!("a text frame")
        };
        assert_eq!(t.as_str(), r#"{"type":"t","action":"a"}"#);
    }

    #[test]
    fn event_payloads_match_the_documented_contract() {
        let c: ClientId = "0000000000000000000000000000000c".parse().unwrap();
        let tagged =
            |body: serde_json::Value| serde_json::to_value(Tagged { origin: "o", body }).unwrap();
        assert_eq!(
            tagged(
                serde_json::to_value(RoomChange {
                    client_id: c,
                    room_name: "r".into()
                })
                .unwrap()
            ),
            serde_json::json!({"origin": "o", "clientId": c.to_string(), "roomName": "r"})
        );
        assert_eq!(
            serde_json::to_value(Heartbeat {
                ttl_ms: 15000,
                clients: 2
            })
            .unwrap(),
            serde_json::json!({"ttlMs": 15000, "clients": 2})
        );
        let job: QueueJob = serde_json::from_value(serde_json::json!({
            "webSocketClientId": c.to_string(), "jobId": 7, "result": {"ok": true}
        }))
        .unwrap();
        assert_eq!(job.web_socket_client_id, c);
        let Some(Message::Text(t)) = queue_job_frame(true, &job) else {
            panic!("a text frame")
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&t).unwrap(),
            serde_json::json!({"type": "queue", "action": "jobCompleted",
                               "data": {"jobId": 7, "result": {"ok": true}}})
        );
        assert_eq!(channels("app").len(), 15);
        assert_eq!(channels("app")[0], "app:clientConnected");
    }
}
