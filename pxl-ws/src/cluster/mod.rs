//! The cross-instance event contract: what one instance publishes on the bus and how
//! the others act on it. Channels are `<prefix>:<event>` with PXL's event names plus
//! three for liveness and snapshots; every payload is JSON with the `origin` instance id.
//! `docs/cluster.md` documents each payload field by field.
//!
//! Sends (`sendMessage` / `sendMessageToAll`) embed the frame, serialised once at the
//! origin, as raw JSON; receivers slice its bytes out of the payload unchanged.
//!
//! Public here is PXL's `custom` event API: [`CustomEvent`] and [`CustomEvents`], from
//! [`Server::publish_custom`](crate::Server::publish_custom) and
//! [`Server::subscribe_custom`](crate::Server::subscribe_custom), kept for apps ported
//! from PXL. The recommended way to pass application events between instances is
//! [`Server::publish`](crate::Server::publish) with `#[subscriber]` functions.

pub(crate) mod channels;
pub(crate) mod directory;
mod view;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::bus::{Bus, BusMessage};
use crate::clients::{ClientId, ClientState};
use crate::events::*;
use crate::frame::{Target, To};
use crate::health::Metrics;
use crate::lock::Membership;
use crate::trace::{Propagator, TraceContext};

pub use directory::DirectoryError;
use view::ClientRecord;
pub(crate) use view::RemoteView;

/// What the cluster layer needs of the local node: deliver a send to its own clients,
/// push a frame to or close one of them, and list them for a snapshot. The hub
/// implements it; the tests use a fake.
pub(crate) trait LocalNode {
    /// Delivers to this node's clients that `target` selects; how many got it.
    fn deliver(&self, target: &Target, msg: Message) -> usize;
    /// Delivers a rooms send that arrived on the channel of `rooms[via]`: to the local
    /// members of that room who are in none of `rooms[..via]` (those got it on an
    /// earlier room's channel, since this node serves that room too).
    fn deliver_via(&self, target: &Target, via: usize, msg: Message) -> usize;
    /// Whether this node has local members of `room` (and so listens on its channel).
    fn serves(&self, room: &str) -> bool;
    /// Queues `msg` for one local client; `false` if there is none (or it is full).
    fn push_to(&self, id: ClientId, msg: Message) -> bool;
    /// Closes one local client; `false` if there is none.
    fn close_client(&self, id: ClientId, code: u16, reason: String) -> bool;
    /// Calls `publish` with every local client while membership cannot change, so the
    /// snapshot it publishes is not older than any membership event already sent.
    fn snapshot(&self, publish: &mut dyn FnMut(&[Arc<ClientState>]));
    /// How many clients are connected here.
    fn client_count(&self) -> usize;
}

/// This instance's subscribers, as the cluster layer sees them.
pub(crate) trait EventSink: Send + Sync {
    /// Whether any subscriber might run for `channel`.
    fn wants(&self, channel: &str) -> bool;
    /// Queues an event for the subscribers.
    fn dispatch(&self, channel: &str, message: serde_json::Value);
}

/// An event published with [`Server::publish_custom`](crate::Server::publish_custom) on any instance.
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
/// [`Server::subscribe_custom`](crate::Server::subscribe_custom).
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

/// Per-server cluster state: the channel contract's publisher and receiver, the view of
/// the other instances and the custom-event channel.
pub(crate) struct Cluster {
    prefix: String,
    instance_id: String,
    bus: Arc<dyn Bus>,
    events: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    liveness_ttl: Duration,
    view: RemoteView,
    /// The cluster directory in Redis, when the configuration names a Redis.
    #[cfg(feature = "redis")]
    directory: Option<Arc<directory::redis::RedisDirectory>>,
    custom: broadcast::Sender<CustomEvent>,
    propagator: Option<Arc<dyn Propagator>>,
}

impl Cluster {
    pub(crate) fn new(
        prefix: &str,
        instance_id: String,
        liveness_ttl: Duration,
        bus: Arc<dyn Bus>,
        events: Arc<dyn EventSink>,
        metrics: Arc<Metrics>,
    ) -> Self {
        // This instance's direct channel, for sends to its clients and users.
        bus.watch(&channels::instance(prefix, &instance_id));
        Self {
            prefix: prefix.to_owned(),
            instance_id,
            bus,
            events,
            metrics,
            liveness_ttl,
            view: RemoteView::default(),
            #[cfg(feature = "redis")]
            directory: None,
            custom: broadcast::channel(1024).0,
            propagator: None,
        }
    }

    /// Carries trace context in sends with `propagator` (the builder's).
    pub(crate) fn with_propagator(mut self, propagator: Option<Arc<dyn Propagator>>) -> Self {
        self.propagator = propagator;
        self
    }

    /// Keeps the cluster directory in `directory` (the builder's, from the configuration).
    #[cfg(feature = "redis")]
    pub(crate) fn with_directory(
        mut self,
        directory: Option<Arc<directory::redis::RedisDirectory>>,
    ) -> Self {
        if directory.is_some() {
            // No copy of the others' clients to keep: their membership events matter only
            // to subscribers, and nobody sends snapshots.
            for event in [
                CLIENT_CONNECTED,
                CLIENT_DISCONNECTED,
                CLIENT_JOINED_ROOM,
                CLIENT_LEFT_ROOM,
                SNAPSHOT,
            ] {
                if !self.events.wants(event) {
                    self.bus.skip(&self.channel(event));
                }
            }
        }
        self.directory = directory;
        self
    }

    /// The cluster directory in Redis, if there is one.
    #[cfg(feature = "redis")]
    pub(crate) fn directory(&self) -> Option<&directory::redis::RedisDirectory> {
        self.directory.as_deref()
    }

    /// Each other live instance with its connections: counted in the view when it
    /// replicates, else as announced in the instance's last heartbeat.
    pub(crate) fn instance_counts(&self) -> Vec<(String, usize)> {
        if self.replicates() {
            self.view.instance_counts()
        } else {
            self.view.announced_counts()
        }
    }

    /// The other instances' connections (see [`instance_counts`](Self::instance_counts)).
    pub(crate) fn remote_connections(&self) -> usize {
        if self.replicates() {
            self.view.client_count()
        } else {
            self.view.announced_counts().iter().map(|(_, n)| n).sum()
        }
    }

    /// Whether this instance keeps a replica of the other instances' clients and rooms
    /// (the view): only without a cluster directory in Redis. With one, the view holds
    /// the live instances alone (from their heartbeats).
    pub(crate) fn replicates(&self) -> bool {
        #[cfg(feature = "redis")]
        if self.directory.is_some() {
            return false;
        }
        true
    }

    /// What a send's payload carries besides its target and frame: the current span's
    /// trace context (with a propagator) and the publish time (with feature `metrics`).
    fn stamp(&self) -> Stamp {
        let trace = self
            .propagator
            .as_ref()
            .and_then(|p| p.inject(&tracing::Span::current()));
        Stamp {
            published_at_us: cfg!(feature = "metrics").then(crate::util::time::now_us),
            traceparent: trace.as_ref().map(|t| t.traceparent().to_owned()),
            tracestate: trace.and_then(|t| t.tracestate().map(str::to_owned)),
        }
    }

    /// [`stamp`](Self::stamp) as JSON object members with a trailing comma (empty when
    /// there is nothing to stamp), for payloads assembled as text (the Redis history's
    /// append script).
    pub(crate) fn stamp_fields(&self) -> String {
        let stamp = self.stamp();
        if stamp.is_empty() {
            return String::new();
        }
        match serde_json::to_string(&stamp) {
            Ok(json) => format!("{},", &json[1..json.len() - 1]),
            Err(_) => String::new(),
        }
    }

    pub(crate) fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub(crate) fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Waits (at most `within`) until what was published and written to the directory
    /// so far has left this process (the end of a graceful shutdown).
    pub(crate) async fn flush(&self, within: Duration) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.flush(within).await;
        }
        self.bus.flush(within).await;
    }

    /// The other instances' clients and rooms (written only by [`receive`](Self::receive)
    /// and [`sweep`](Self::sweep)).
    pub(crate) fn view(&self) -> &RemoteView {
        &self.view
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
    stamp: Stamp,
    #[serde(flatten)]
    target: &'a Target,
    frame: &'a RawValue,
}

/// The optional members of a send's payload: the sending span's W3C trace context and
/// the publish time in Unix microseconds (for the delivery latency metric).
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Stamp {
    #[serde(skip_serializing_if = "Option::is_none")]
    published_at_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
}

impl Stamp {
    fn is_empty(&self) -> bool {
        self.published_at_us.is_none() && self.traceparent.is_none()
    }
}

#[derive(Deserialize)]
struct SendIn<'a> {
    #[serde(borrow)]
    origin: &'a str,
    #[serde(flatten)]
    target: Target,
    #[serde(borrow)]
    frame: &'a RawValue,
    /// Published by the room history's append script: every instance delivers it, the
    /// publishing one too (so all deliver in the stream's order).
    #[serde(default)]
    history: bool,
    /// Read leniently (any JSON value; anything but what is expected is ignored), so a
    /// malformed stamp never costs the send.
    #[serde(borrow, default, rename = "publishedAtUs")]
    published_at_us: Option<&'a RawValue>,
    #[serde(borrow, default)]
    traceparent: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tracestate: Option<&'a RawValue>,
}

impl SendIn<'_> {
    /// The sender's trace context, if it sent a valid one.
    fn trace(&self) -> Option<TraceContext> {
        let text =
            |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok());
        TraceContext::new(text(self.traceparent)?, text(self.tracestate))
    }

    /// The publish time, if the sender stamped one.
    fn published_at_us(&self) -> Option<u64> {
        self.published_at_us.and_then(|r| r.get().parse().ok())
    }
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

/// The `origin` field every cluster payload carries: the id of the instance that sent it.
#[derive(Deserialize)]
struct FromInstance<'a> {
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

impl Cluster {
    fn channel(&self, event: &str) -> String {
        format!("{}:{event}", self.prefix)
    }

    fn publish_raw(&self, event: &str, payload: Vec<u8>) {
        self.metrics.meters.bus_published();
        self.bus.publish(BusMessage {
            channel: self.channel(event),
            payload: Bytes::from(payload),
        });
    }

    /// Publishes `{"origin", ...body}` on `<prefix>:<event>` when anyone may listen, and
    /// hands it to this instance's subscribers.
    fn publish<T: Serialize>(&self, event: &str, body: T) {
        let local = is_builtin(event) && self.events.wants(event);
        let peers = self.bus.has_peers();
        if !peers && !local {
            return;
        }
        let msg = Tagged {
            origin: &self.instance_id,
            body,
        };
        if local {
            match serde_json::to_value(&msg) {
                Ok(v) => self.events.dispatch(event, v),
                Err(e) => {
                    tracing::error!(error = %e, event, "could not encode an event for subscribers")
                }
            }
        }
        if peers {
            match serde_json::to_vec(&msg) {
                Ok(payload) => self.publish_raw(event, payload),
                Err(e) => tracing::error!(error = %e, event, "could not encode a bus event"),
            }
        }
    }

    /// Publishes an app channel message and hands it to this instance's subscribers.
    pub(crate) fn app_channel(&self, channel: &str, message: serde_json::Value) {
        if self.bus.has_peers() {
            #[derive(Serialize)]
            struct Out<'a> {
                channel: &'a str,
                message: &'a serde_json::Value,
            }
            self.publish(
                CHANNEL_MESSAGE,
                Out {
                    channel,
                    message: &message,
                },
            );
        }
        self.events.dispatch(channel, message);
    }

    /// Hands an event received from another instance to this instance's subscribers.
    fn dispatch_remote(&self, event: &str, msg: &BusMessage) {
        if event == CHANNEL_MESSAGE {
            #[derive(Deserialize)]
            struct In {
                channel: String,
                #[serde(default)]
                message: serde_json::Value,
            }
            if let Some(m) = parse::<In>(msg) {
                self.events.dispatch(&m.channel, m.message);
            }
        } else if is_builtin(event)
            && self.events.wants(event)
            && let Some(v) = parse::<serde_json::Value>(msg)
        {
            self.events.dispatch(event, v);
        }
    }

    /// Publishes a send for the other instances.
    pub(crate) fn publish_send(&self, target: &Target, frame_json: &str) {
        let event = if matches!(target.to, To::All) {
            SEND_MESSAGE_TO_ALL
        } else {
            SEND_MESSAGE
        };
        // Nobody listening (one instance, no subscriber for sends): no work at all.
        let local = self.events.wants(event);
        let peers = self.bus.has_peers();
        if !local && !peers {
            return;
        }
        let Ok(frame) = serde_json::from_str::<&RawValue>(frame_json) else {
            tracing::error!("refusing to publish a frame that is not JSON");
            return;
        };
        let body = SendOut {
            origin: &self.instance_id,
            stamp: if peers {
                self.stamp()
            } else {
                Stamp::default()
            },
            target,
            frame,
        };
        if local {
            match serde_json::to_value(&body) {
                Ok(v) => self.events.dispatch(event, v),
                Err(e) => tracing::error!(error = %e, "could not encode an event for subscribers"),
            }
        }
        if !peers {
            return;
        }
        let payload = match serde_json::to_vec(&body) {
            Ok(p) => Bytes::from(p),
            Err(e) => return tracing::error!(error = %e, "could not encode a bus event"),
        };
        for channel in self.send_channels(target) {
            self.metrics.meters.bus_published();
            self.bus.publish(BusMessage {
                channel,
                payload: payload.clone(),
            });
        }
    }

    /// The channels a send to `target` is published on, so that it reaches exactly the
    /// instances that may hold a recipient: a room's channel per target room (heard by
    /// the instances serving it), the user's or the client's channel (heard by the
    /// instances holding its connections), the global channel for everyone.
    fn send_channels(&self, target: &Target) -> Vec<String> {
        match &target.to {
            To::All => vec![self.channel(SEND_MESSAGE_TO_ALL)],
            To::Rooms { rooms } => {
                let mut out: Vec<String> = Vec::with_capacity(rooms.len());
                for r in rooms {
                    let ch = channels::room(&self.prefix, r);
                    if !out.contains(&ch) {
                        out.push(ch);
                    }
                }
                out
            }
            To::User { user_id } => vec![channels::user(&self.prefix, user_id)],
            To::Client { client_id } => vec![channels::client(&self.prefix, *client_id)],
        }
    }

    /// A local client connected: listen on its channel.
    pub(crate) fn serve_client(&self, _: &Membership<'_>, id: ClientId) {
        self.bus.watch(&channels::client(&self.prefix, id));
    }

    /// A local client is gone: stop listening on its channel.
    pub(crate) fn unserve_client(&self, _: &Membership<'_>, id: ClientId) {
        self.bus.unwatch(&channels::client(&self.prefix, id));
    }

    /// A local connection is bound to `user`: listen on its channel (again: the bus keeps
    /// a set, so a second connection of the user changes nothing).
    pub(crate) fn serve_user(&self, _: &Membership<'_>, user: &str) {
        self.bus.watch(&channels::user(&self.prefix, user));
    }

    /// The last local connection of `user` is gone or bound elsewhere.
    pub(crate) fn unserve_user(&self, _: &Membership<'_>, user: &str) {
        self.bus.unwatch(&channels::user(&self.prefix, user));
    }

    /// Resolves once sends to client `id` published from now on reach this instance (see
    /// [`Bus::watching`]).
    pub(crate) fn client_ready(&self, id: ClientId) -> futures_util::future::BoxFuture<'_, ()> {
        self.bus.watching(&channels::client(&self.prefix, id))
    }

    /// The first local member of `room` joined: listen on its channel.
    pub(crate) fn serve_room(&self, _: &Membership<'_>, room: &str) {
        self.bus.watch(&channels::room(&self.prefix, room));
    }

    /// The last local member of `room` left: stop listening on its channel.
    pub(crate) fn unserve_room(&self, _: &Membership<'_>, room: &str) {
        self.bus.unwatch(&channels::room(&self.prefix, room));
    }

    /// Resolves once sends to `room` published from now on reach this instance (at
    /// once if that cannot be known soon: see [`Bus::watching`]).
    pub(crate) fn room_ready(&self, room: &str) -> futures_util::future::BoxFuture<'_, ()> {
        self.bus.watching(&channels::room(&self.prefix, room))
    }

    /// A local client connected, or its user id or username changed (an upsert).
    pub(crate) fn client_connected(&self, _: &Membership<'_>, c: &ClientState) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.upsert(c);
        }
        self.publish(CLIENT_CONNECTED, ClientOut::of(c, false));
    }

    pub(crate) fn client_disconnected(&self, _: &Membership<'_>, id: ClientId) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.remove(id);
        }
        self.publish(CLIENT_DISCONNECTED, ClientRef { client_id: id });
    }

    pub(crate) fn joined(&self, _: &Membership<'_>, id: ClientId, room: &str) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.room_change(id, room, true);
        }
        self.publish(
            CLIENT_JOINED_ROOM,
            RoomChange {
                client_id: id,
                room_name: room.to_owned(),
            },
        );
    }

    pub(crate) fn left(&self, _: &Membership<'_>, id: ClientId, room: &str) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.room_change(id, room, false);
        }
        self.publish(
            CLIENT_LEFT_ROOM,
            RoomChange {
                client_id: id,
                room_name: room.to_owned(),
            },
        );
    }

    pub(crate) fn disconnect_client(&self, id: ClientId, code: u16, reason: &str) {
        self.publish(
            DISCONNECT_CLIENT,
            Disconnect {
                client_id: id,
                code,
                reason: reason.to_owned(),
            },
        );
    }

    /// Routes an `error/message` frame to the instance holding `id`.
    pub(crate) fn message_error(&self, id: ClientId, frame_json: &str) {
        if let Ok(frame) = serde_json::from_str::<&RawValue>(frame_json) {
            self.publish(
                MESSAGE_ERROR,
                ToClientOut {
                    client_id: id,
                    frame,
                },
            );
        }
    }

    pub(crate) fn queue_job(
        &self,
        node: &dyn LocalNode,
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
        if let Some(f) = queue_job_frame(event == QUEUE_JOB_COMPLETED, &job) {
            node.push_to(id, f);
        }
        self.publish(event, &job);
    }

    /// Publishes a custom event and hands it to this instance's subscribers at once.
    pub(crate) fn custom(&self, name: &str, data: serde_json::Value) {
        self.publish(
            CUSTOM,
            Custom {
                name: name.to_owned(),
                data: data.clone(),
            },
        );
        let _ = self.custom.send(CustomEvent {
            origin: self.instance_id.clone(),
            name: name.to_owned(),
            data,
        });
    }

    /// Announces this instance (with `ttl` zero when it is leaving).
    pub(crate) fn heartbeat(&self, ttl: Duration, clients: usize) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.heartbeat(ttl, clients);
        }
        self.publish(
            INSTANCE_HEARTBEAT,
            Heartbeat {
                ttl_ms: ttl.as_millis() as u64,
                clients,
            },
        );
    }

    /// Publishes every local client with its rooms (for instances that replicate).
    fn snapshot(&self, node: &dyn LocalNode) {
        if !self.bus.has_peers() || !self.replicates() {
            return;
        }
        node.snapshot(&mut |local| {
            let clients = local.iter().map(|c| ClientOut::of(c, true)).collect();
            self.publish(SNAPSHOT, Snapshot { clients });
        });
    }

    /// The bus subscription is (again) live: announce ourselves, ask the others for their
    /// state and restate ours, since events may have been lost meanwhile.
    fn resync(&self, node: &dyn LocalNode) {
        tracing::debug!("bus subscription live: resyncing the cluster view");
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.restate();
        }
        self.heartbeat(self.liveness_ttl, node.client_count());
        // Without a replica, the answer to a snapshot request is a heartbeat: this
        // instance learns at once which others are live.
        self.publish(SNAPSHOT_REQUEST, SnapshotRequest { target: None });
        self.snapshot(node);
    }

    /// Purges instances whose liveness lapsed. Runs every tenth of the TTL, on its own
    /// timer task.
    pub(crate) fn sweep(&self) {
        #[cfg(feature = "redis")]
        if let Some(d) = &self.directory {
            d.sweep();
        }
        for origin in self.view.expired() {
            let n = self.view.purge(&origin);
            tracing::warn!(instance = %origin, clients = n, "instance liveness lapsed; purged its clients");
        }
    }

    // ---- receiving -------------------------------------------------------------------

    /// Marks `origin` alive. An instance we did not know (started while we were cut off,
    /// or purged too early) is asked for its snapshot, unless `ask_snapshot` is off.
    fn alive(
        &self,
        origin: &str,
        ttl: Option<Duration>,
        announced: Option<usize>,
        ask_snapshot: bool,
    ) {
        if self.view.touch(origin, ttl, self.liveness_ttl, announced) && ask_snapshot {
            self.publish(
                SNAPSHOT_REQUEST,
                SnapshotRequest {
                    target: Some(origin.to_owned()),
                },
            );
        }
    }

    /// A send on a room's channel: delivered here to the members this channel is for
    /// (see [`LocalNode::deliver_via`]), and handed to the subscribers once per send.
    fn receive_room_send(&self, node: &dyn LocalNode, room: &str, msg: &BusMessage) {
        let Some(ev) = parse::<SendIn<'_>>(msg) else {
            return;
        };
        // The history's append script publishes for every instance, the publisher too.
        if ev.origin == self.instance_id && !ev.history {
            return;
        }
        let To::Rooms { rooms } = &ev.target.to else {
            return tracing::warn!(channel = %msg.channel, "dropping a room send with another target");
        };
        let Some(via) = rooms.iter().position(|r| r == room) else {
            return tracing::warn!(channel = %msg.channel, "dropping a room send not for this room");
        };
        // A send to several rooms served here arrives once per room: only the copy on
        // the first of them is an event for the subscribers.
        if rooms.iter().position(|r| node.serves(r)) == Some(via) {
            self.dispatch_remote(SEND_MESSAGE, msg);
        }
        self.metrics.count_bus_message_in();
        if let Some(m) = frame_message(&msg.payload, ev.frame) {
            let _span = self.deliver_span(&ev, msg);
            node.deliver_via(&ev.target, via, m);
        }
        self.delivered(&ev);
    }

    /// The span a received send is delivered in, child of the sender's span: only with
    /// a propagator and a valid trace context in the payload.
    fn deliver_span(
        &self,
        ev: &SendIn<'_>,
        msg: &BusMessage,
    ) -> Option<tracing::span::EnteredSpan> {
        let p = self.propagator.as_deref()?;
        let cx = ev.trace()?;
        Some(crate::trace::deliver_span(p, &cx, &msg.channel, ev.origin).entered())
    }

    /// A received send was delivered: its latency from the publish stamp.
    fn delivered(&self, ev: &SendIn<'_>) {
        if let Some(at) = ev.published_at_us() {
            self.metrics.meters.bus_delivery_latency(at);
        }
    }

    /// A send on a fixed channel or a direct channel (this instance's, a user's or a
    /// client's): delivered here when its target is the channel's (`is_for`), else dropped.
    fn receive_send(
        &self,
        node: &dyn LocalNode,
        event: &str,
        msg: &BusMessage,
        is_for: impl Fn(&To) -> bool,
    ) {
        let Some(ev) = parse::<SendIn<'_>>(msg) else {
            return;
        };
        if !is_for(&ev.target.to) {
            return tracing::warn!(channel = %msg.channel, "dropping a direct send for another target");
        }
        // The history's append script publishes for every instance, the publisher too.
        if ev.origin == self.instance_id && !ev.history {
            return;
        }
        self.dispatch_remote(event, msg);
        self.metrics.count_bus_message_in();
        if let Some(m) = frame_message(&msg.payload, ev.frame) {
            let _span = self.deliver_span(&ev, msg);
            node.deliver(&ev.target, m);
        }
        self.delivered(&ev);
    }

    /// Acts on one message from the bus.
    pub(crate) fn receive(&self, node: &dyn LocalNode, msg: &BusMessage) {
        if msg.is_resync() {
            self.resync(node);
            return;
        }
        let event = match channels::route(&self.prefix, &msg.channel) {
            None => return,
            Some(channels::Route::Event(event)) => event,
            Some(channels::Route::Room(room)) => return self.receive_room_send(node, room, msg),
            Some(channels::Route::User(user)) => {
                return self.receive_send(
                    node,
                    SEND_MESSAGE,
                    msg,
                    |to| matches!(to, To::User { user_id } if user_id == user),
                );
            }
            Some(channels::Route::Client(id)) => {
                return self.receive_send(
                    node,
                    SEND_MESSAGE,
                    msg,
                    |to| matches!(to, To::Client { client_id } if id.parse() == Ok(*client_id)),
                );
            }
            Some(channels::Route::Instance(id)) => {
                if id == self.instance_id {
                    self.receive_send(node, SEND_MESSAGE, msg, |_| true);
                }
                return;
            }
        };
        if event == SEND_MESSAGE || event == SEND_MESSAGE_TO_ALL {
            return self.receive_send(node, event, msg, |_| true);
        }
        let replicates = self.replicates();
        // Without a replica to keep, membership events and snapshots matter only to
        // subscribers: none here, nothing to read.
        if !replicates
            && matches!(
                event,
                CLIENT_CONNECTED
                    | CLIENT_DISCONNECTED
                    | CLIENT_JOINED_ROOM
                    | CLIENT_LEFT_ROOM
                    | SNAPSHOT
            )
            && !self.events.wants(event)
        {
            return;
        }
        let Some(FromInstance { origin }) = parse::<FromInstance<'_>>(msg) else {
            return;
        };
        let origin = origin.unwrap_or_default();
        if origin == self.instance_id {
            return;
        }
        self.dispatch_remote(event, msg);
        let view = &self.view;
        // Any membership event from an instance proves it alive (heartbeats carry their
        // own TTL, below).
        let proves_liveness = !origin.is_empty()
            && EVENTS.contains(&event)
            && !matches!(
                event,
                QUEUE_JOB_COMPLETED
                    | QUEUE_JOB_ERROR
                    | CUSTOM
                    | CHANNEL_MESSAGE
                    | INSTANCE_HEARTBEAT
            );
        if proves_liveness {
            self.alive(origin, None, None, event != SNAPSHOT);
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
                self.alive(
                    origin,
                    Some(Duration::from_millis(hb.ttl_ms)),
                    Some(hb.clients),
                    true,
                );
            }
            SNAPSHOT_REQUEST => {
                if let Some(req) = parse::<SnapshotRequest>(msg)
                    && req.target.as_deref().is_none_or(|t| t == self.instance_id)
                {
                    if self.replicates() {
                        self.snapshot(node);
                    } else {
                        self.heartbeat(self.liveness_ttl, node.client_count());
                    }
                }
            }
            SNAPSHOT if replicates => {
                if let Some(s) = parse::<Snapshot>(msg) {
                    view.replace(
                        origin,
                        s.clients.into_iter().map(ClientOut::record).collect(),
                    );
                }
            }
            CLIENT_CONNECTED if replicates => {
                if let Some(c) = parse::<ClientOut>(msg) {
                    view.upsert(origin, c.record());
                }
            }
            CLIENT_DISCONNECTED if replicates => {
                if let Some(c) = parse::<ClientRef>(msg) {
                    view.remove(c.client_id);
                }
            }
            CLIENT_JOINED_ROOM if replicates => {
                if let Some(c) = parse::<RoomChange>(msg) {
                    view.join(origin, c.client_id, &c.room_name);
                }
            }
            CLIENT_LEFT_ROOM if replicates => {
                if let Some(c) = parse::<RoomChange>(msg) {
                    view.leave(c.client_id, &c.room_name);
                }
            }
            DISCONNECT_CLIENT => {
                if let Some(d) = parse::<Disconnect>(msg)
                    && node.close_client(d.client_id, d.code, d.reason)
                {
                    tracing::info!(client = %d.client_id, from = %origin, "disconnect requested by another instance");
                }
            }
            MESSAGE_ERROR => {
                if let Some(ev) = parse::<ToClientIn<'_>>(msg)
                    && let Some(m) = frame_message(&msg.payload, ev.frame)
                {
                    node.push_to(ev.client_id, m);
                }
            }
            QUEUE_JOB_COMPLETED | QUEUE_JOB_ERROR => {
                if let Some(job) = parse::<QueueJob>(msg)
                    && let Some(f) = queue_job_frame(event == QUEUE_JOB_COMPLETED, &job)
                {
                    node.push_to(job.web_socket_client_id, f);
                }
            }
            CUSTOM => {
                if let Some(ev) = parse::<Custom>(msg) {
                    let _ = self.custom.send(CustomEvent {
                        origin: origin.to_owned(),
                        name: ev.name,
                        data: ev.data,
                    });
                }
            }
            _ => {}
        }
    }
}

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

/// The frame a queue job's client gets.
fn queue_job_frame(completed: bool, job: &QueueJob) -> Option<Message> {
    let outcome = if completed { &job.result } else { &job.error };
    crate::protocol::queue_job_frame(completed, &job.job_id, outcome).map(|f| f.to_message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_bytes(target: &Target) -> Vec<u8> {
        let frame: &RawValue = serde_json::from_str(r#"{"type":"t","action":"a"}"#).unwrap();
        let body = SendOut {
            origin: "00000000000000aa",
            stamp: Stamp::default(),
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
    }

    // ---- receive and announce against a fake node ---------------------------------

    use std::sync::Mutex;

    use futures_util::StreamExt;

    use crate::bus::MemoryBus;
    use crate::lock::MembershipLock;

    /// Records what the cluster layer asked of the local node.
    #[derive(Default)]
    struct FakeNode {
        local: Vec<Arc<ClientState>>,
        delivered: Mutex<Vec<(Target, String)>>,
        pushed: Mutex<Vec<(ClientId, String)>>,
        closed: Mutex<Vec<(ClientId, u16, String)>>,
        snapshots: Mutex<usize>,
        served: Vec<String>,
        via: Mutex<Vec<usize>>,
    }

    fn text(msg: Message) -> String {
        match msg {
            Message::Text(t) => t.to_string(),
            other => panic!("a text frame, got {other:?}"),
        }
    }

    impl LocalNode for FakeNode {
        fn deliver(&self, target: &Target, msg: Message) -> usize {
            self.delivered
                .lock()
                .unwrap()
                .push((target.clone(), text(msg)));
            1
        }
        fn deliver_via(&self, target: &Target, via: usize, msg: Message) -> usize {
            self.via.lock().unwrap().push(via);
            self.deliver(target, msg)
        }
        fn serves(&self, room: &str) -> bool {
            self.served.iter().any(|r| r == room)
        }
        fn push_to(&self, id: ClientId, msg: Message) -> bool {
            let known = self.local.iter().any(|c| c.id == id);
            if known {
                self.pushed.lock().unwrap().push((id, text(msg)));
            }
            known
        }
        fn close_client(&self, id: ClientId, code: u16, reason: String) -> bool {
            let known = self.local.iter().any(|c| c.id == id);
            if known {
                self.closed.lock().unwrap().push((id, code, reason));
            }
            known
        }
        fn snapshot(&self, publish: &mut dyn FnMut(&[Arc<ClientState>])) {
            *self.snapshots.lock().unwrap() += 1;
            publish(&self.local);
        }
        fn client_count(&self) -> usize {
            self.local.len()
        }
    }

    struct NoSubscribers;

    impl EventSink for NoSubscribers {
        fn wants(&self, _: &str) -> bool {
            false
        }
        fn dispatch(&self, _: &str, _: serde_json::Value) {}
    }

    const US: &str = "00000000000000a1";
    const PEER: &str = "00000000000000b2";

    fn cluster(bus: &MemoryBus) -> Cluster {
        Cluster::new(
            "t",
            US.into(),
            Duration::from_secs(15),
            Arc::new(bus.clone()),
            Arc::new(NoSubscribers),
            Arc::new(Metrics::default()),
        )
    }

    fn bus_msg(event: &str, payload: serde_json::Value) -> BusMessage {
        BusMessage {
            channel: format!("t:{event}"),
            payload: Bytes::from(serde_json::to_vec(&payload).unwrap()),
        }
    }

    fn id(n: u8) -> ClientId {
        format!("{n:032x}").parse().unwrap()
    }

    #[test]
    fn a_remote_send_is_delivered_to_the_local_node_with_the_frame_unchanged() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let node = FakeNode::default();
        let frame = r#"{"type":"chat","action":"message","data":{"text":"hi"}}"#;
        let payload = format!(
            r#"{{"origin":"{PEER}","to":"rooms","rooms":["lobby"],"except":"{}","frame":{frame}}}"#,
            id(7)
        );
        c.receive(
            &node,
            &BusMessage {
                channel: "t:sendMessage".into(),
                payload: Bytes::from(payload),
            },
        );
        let delivered = node.delivered.lock().unwrap().clone();
        assert_eq!(
            delivered,
            vec![(Target::room("lobby").except(id(7)), frame.to_owned())]
        );
        assert_eq!(Metrics::get(&c.metrics.bus_messages_in), 1);
        // Our own echo, another prefix, and a malformed payload deliver nothing.
        c.receive(
            &node,
            &bus_msg(
                SEND_MESSAGE_TO_ALL,
                serde_json::json!({"origin": US, "to": "all", "frame": {"type": "x", "action": "y"}}),
            ),
        );
        c.receive(
            &node,
            &BusMessage {
                channel: "other:sendMessageToAll".into(),
                payload: Bytes::from_static(b"{}"),
            },
        );
        c.receive(
            &node,
            &BusMessage {
                channel: "t:sendMessage".into(),
                payload: Bytes::from_static(b"not json"),
            },
        );
        assert_eq!(node.delivered.lock().unwrap().len(), 1);
    }

    fn raw(channel: &str, payload: &str) -> BusMessage {
        BusMessage {
            channel: channel.into(),
            payload: Bytes::from(payload.to_owned()),
        }
    }

    /// Injects one fixed context and records the contexts it is asked to extract.
    #[derive(Clone, Default)]
    struct FixedPropagator(Arc<Mutex<Vec<String>>>);

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    impl Propagator for FixedPropagator {
        fn inject(&self, _: &tracing::Span) -> Option<TraceContext> {
            TraceContext::new(TRACEPARENT, Some("k=v".into()))
        }
        fn extract(&self, cx: &TraceContext, _: &tracing::Span) {
            self.0.lock().unwrap().push(cx.traceparent().to_owned());
        }
    }

    #[tokio::test]
    async fn sends_carry_the_trace_context_and_a_bad_one_costs_nothing_but_itself() {
        let bus = MemoryBus::new();
        let mut stream = bus.subscribe();
        let _peer = bus.subscribe();
        let propagator = FixedPropagator::default();
        let c = cluster(&bus).with_propagator(Some(Arc::new(propagator.clone())));
        c.publish_send(&Target::all(), r#"{"type":"t","action":"a"}"#);
        let sent = loop {
            let m = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap();
            if m.channel == "t:sendMessageToAll" {
                break serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap();
            }
        };
        assert_eq!(sent["traceparent"], TRACEPARENT);
        assert_eq!(sent["tracestate"], "k=v");
        assert_eq!(
            sent["publishedAtUs"].is_u64(),
            cfg!(feature = "metrics"),
            "{sent}"
        );
        // The rest is the documented contract, unchanged.
        assert_eq!(sent["to"], "all");
        assert_eq!(
            sent["frame"],
            serde_json::json!({"type": "t", "action": "a"})
        );

        // Received: a valid context is extracted into the delivery span; a missing or
        // malformed one (any JSON type) is ignored and the send delivered all the same.
        let node = FakeNode::default();
        let frame = r#"{"type":"t","action":"a"}"#;
        for extra in [
            format!(r#""traceparent":"{TRACEPARENT}","tracestate":"k=v","publishedAtUs":1,"#),
            String::new(),
            r#""traceparent":"00-garbage","tracestate":["x"],"publishedAtUs":-3,"#.into(),
            r#""traceparent":17,"publishedAtUs":"now","#.into(),
            r#""traceparent":null,"tracestate":{"a":1},"publishedAtUs":1e99,"#.into(),
        ] {
            let payload = format!(r#"{{"origin":"{PEER}",{extra}"to":"all","frame":{frame}}}"#);
            c.receive(&node, &raw("t:sendMessageToAll", &payload));
        }
        assert_eq!(node.delivered.lock().unwrap().len(), 5);
        assert_eq!(*propagator.0.lock().unwrap(), vec![TRACEPARENT.to_owned()]);
    }

    #[test]
    fn room_and_direct_channels_deliver_what_is_theirs_and_drop_the_rest() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let node = FakeNode {
            served: vec!["b".into(), "c".into()],
            ..FakeNode::default()
        };
        let frame = r#"{"type":"t","action":"a"}"#;
        let send = |to: &str| format!(r#"{{"origin":"{PEER}",{to},"frame":{frame}}}"#);
        let rooms = send(r#""to":"rooms","rooms":["a","b","c"]"#);
        // The copy on `c` is delivered for `c` (index 2); `b` is served here too, so the
        // subscribers' event comes with the copy on `b`.
        c.receive(&node, &raw("t:{room:c}:send", &rooms));
        c.receive(&node, &raw("t:{room:b}:send", &rooms));
        assert_eq!(*node.via.lock().unwrap(), vec![2, 1]);
        // A direct send for us is delivered as it says.
        let user = send(r#""to":"user","userId":"u1""#);
        c.receive(&node, &raw(&format!("t:{{instance:{US}}}:direct"), &user));
        assert_eq!(node.delivered.lock().unwrap().len(), 3);
        assert_eq!(node.delivered.lock().unwrap()[2].0, Target::user("u1"));
        // Malformed, misdirected or echoed traffic delivers nothing and counts nothing.
        let ours = format!(r#"{{"origin":"{US}","to":"rooms","rooms":["b"],"frame":{frame}}}"#);
        for (channel, payload) in [
            ("t:{room:b}:send", "not json"),
            ("t:{room:b}:send", "{}"),
            ("t:{room:b}:send", &send(r#""to":"all""#)),
            ("t:{room:zz}:send", &rooms),
            ("t:{room:b}:send", &ours),
            ("t:{room:b}:send", &send(r#""to":"rooms","rooms":"b""#)),
            ("t:{instance:00000000000000c3}:direct", &user),
            (&format!("t:{{instance:{US}}}:direct"), "[1,2]"),
            ("t:{room:b}:send}", &rooms),
        ] {
            c.receive(&node, &raw(channel, payload));
        }
        assert_eq!(node.delivered.lock().unwrap().len(), 3);
        assert_eq!(Metrics::get(&c.metrics.bus_messages_in), 3);
        // None of it made up an instance.
        assert!(c.view().instances().is_empty());
    }

    #[tokio::test]
    async fn sends_are_published_on_the_channels_of_their_recipients() {
        let bus = MemoryBus::new();
        let mut stream = bus.subscribe();
        let _peer = bus.subscribe();
        let c = cluster(&bus);
        let frame = r#"{"type":"t","action":"a"}"#;
        c.publish_send(&Target::rooms(["x", "y", "x"]), frame);
        c.publish_send(&Target::user("u1"), frame);
        c.publish_send(&Target::client(id(1)), frame);
        c.publish_send(&Target::all(), frame);
        let mut channels = Vec::new();
        while channels.len() < 5 {
            let m = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap();
            // The resync marker, and what the cluster published about itself.
            if !m.is_resync() && m.channel != "t:snapshotRequest" {
                channels.push(m.channel);
            }
        }
        assert_eq!(
            channels,
            [
                "t:{room:x}:send".to_owned(),
                "t:{room:y}:send".to_owned(),
                "t:{user:u1}:send".to_owned(),
                format!("t:{{client:{}}}:send", id(1)),
                "t:sendMessageToAll".to_owned(),
            ]
        );
    }

    #[test]
    fn user_and_client_channels_deliver_what_is_theirs_and_drop_the_rest() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let node = FakeNode::default();
        let frame = r#"{"type":"t","action":"a"}"#;
        let send = |to: &str| format!(r#"{{"origin":"{PEER}",{to},"frame":{frame}}}"#);
        let to_u1 = send(r#""to":"user","userId":"u1""#);
        let to_c1 = send(&format!(r#""to":"client","clientId":"{}""#, id(1)));
        let client_ch = |n: u8| format!("t:{{client:{}}}:send", id(n));
        c.receive(&node, &raw("t:{user:u1}:send", &to_u1));
        c.receive(&node, &raw(&client_ch(1), &to_c1));
        // On another user's or client's channel, or a room send there: dropped.
        c.receive(&node, &raw("t:{user:u2}:send", &to_u1));
        c.receive(&node, &raw(&client_ch(2), &to_c1));
        c.receive(
            &node,
            &raw("t:{user:u1}:send", &send(r#""to":"rooms","rooms":["a"]"#)),
        );
        // Our own echo: dropped.
        let own = format!(r#"{{"origin":"{US}","to":"user","userId":"u1","frame":{frame}}}"#);
        c.receive(&node, &raw("t:{user:u1}:send", &own));
        let delivered = node.delivered.lock().unwrap().clone();
        assert_eq!(
            delivered,
            vec![
                (Target::user("u1"), frame.to_owned()),
                (Target::client(id(1)), frame.to_owned()),
            ]
        );
    }

    #[test]
    fn membership_events_build_the_view_and_a_leaving_instance_is_purged() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let node = FakeNode::default();
        let a = id(1);
        c.receive(
            &node,
            &bus_msg(
                CLIENT_CONNECTED,
                serde_json::json!({"origin": PEER, "clientId": a.to_string(), "userId": "u1",
                                   "username": "ann", "connectedAt": 5}),
            ),
        );
        c.receive(
            &node,
            &bus_msg(
                CLIENT_JOINED_ROOM,
                serde_json::json!({"origin": PEER, "clientId": a.to_string(), "roomName": "lobby"}),
            ),
        );
        assert!(c.view().contains(a));
        assert_eq!(c.view().members("lobby"), vec![a]);
        assert_eq!(c.view().user_clients("u1"), vec![a]);
        assert_eq!(c.view().instances(), vec![PEER.to_owned()]);
        c.receive(
            &node,
            &bus_msg(
                CLIENT_LEFT_ROOM,
                serde_json::json!({"origin": PEER, "clientId": a.to_string(), "roomName": "lobby"}),
            ),
        );
        assert!(c.view().members("lobby").is_empty());
        c.receive(
            &node,
            &bus_msg(
                INSTANCE_HEARTBEAT,
                serde_json::json!({"origin": PEER, "ttlMs": 0, "clients": 1}),
            ),
        );
        assert!(!c.view().contains(a));
        assert!(c.view().instances().is_empty());
        // Nothing of this touched the local node.
        assert!(node.delivered.lock().unwrap().is_empty());
        assert!(node.pushed.lock().unwrap().is_empty());
    }

    #[test]
    fn requests_for_local_clients_reach_the_node_and_others_are_ignored() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let here = Arc::new(ClientState::new(id(3), Default::default(), None));
        let node = FakeNode {
            local: vec![here.clone()],
            ..FakeNode::default()
        };
        for target in [id(3), id(4)] {
            c.receive(
                &node,
                &bus_msg(
                    DISCONNECT_CLIENT,
                    serde_json::json!({"origin": PEER, "clientId": target.to_string(),
                                       "code": 4003, "reason": "banned"}),
                ),
            );
            c.receive(
                &node,
                &bus_msg(
                    MESSAGE_ERROR,
                    serde_json::json!({"origin": PEER, "clientId": target.to_string(),
                                       "frame": {"type": "error", "action": "message"}}),
                ),
            );
            c.receive(
                &node,
                &bus_msg(
                    QUEUE_JOB_ERROR,
                    serde_json::json!({"origin": PEER, "webSocketClientId": target.to_string(),
                                       "jobId": "j1", "error": "boom"}),
                ),
            );
        }
        assert_eq!(
            *node.closed.lock().unwrap(),
            vec![(id(3), 4003, "banned".to_owned())]
        );
        let pushed = node.pushed.lock().unwrap().clone();
        assert_eq!(pushed.len(), 2, "{pushed:?}");
        assert_eq!(pushed[0].0, id(3));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pushed[0].1).unwrap(),
            serde_json::json!({"type": "error", "action": "message"})
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pushed[1].1).unwrap(),
            serde_json::json!({"type": "queue", "action": "jobError",
                               "data": {"jobId": "j1", "error": "boom"}})
        );
    }

    #[tokio::test]
    async fn a_snapshot_request_is_answered_with_the_local_clients_and_rooms() {
        let bus = MemoryBus::new();
        let c = cluster(&bus);
        let here = Arc::new(ClientState::new(id(5), Default::default(), None));
        let lock = MembershipLock::default();
        crate::rooms::RoomTable::default().join(&lock.lock(), &here, "lobby");
        let node = FakeNode {
            local: vec![here],
            ..FakeNode::default()
        };
        let mut stream = bus.subscribe();
        let _peer = bus.subscribe();
        // A request for another instance is not ours to answer.
        c.receive(
            &node,
            &bus_msg(
                SNAPSHOT_REQUEST,
                serde_json::json!({"origin": PEER, "target": "00000000000000c3"}),
            ),
        );
        assert_eq!(*node.snapshots.lock().unwrap(), 0);
        c.receive(
            &node,
            &bus_msg(
                SNAPSHOT_REQUEST,
                serde_json::json!({"origin": PEER, "target": US}),
            ),
        );
        assert_eq!(*node.snapshots.lock().unwrap(), 1);
        // The unknown peer proved alive first, so we asked it for its own snapshot.
        let mut seen = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            if m.is_resync() {
                continue;
            }
            let done = m.channel == "t:snapshot";
            seen.push(m);
            if done {
                break;
            }
        }
        let channels: Vec<&str> = seen.iter().map(|m| m.channel.as_str()).collect();
        assert_eq!(channels, ["t:snapshotRequest", "t:snapshot"]);
        let ask: serde_json::Value = serde_json::from_slice(&seen[0].payload).unwrap();
        assert_eq!(ask, serde_json::json!({"origin": US, "target": PEER}));
        let snap: serde_json::Value = serde_json::from_slice(&seen[1].payload).unwrap();
        assert_eq!(snap["origin"], US);
        assert_eq!(snap["clients"][0]["clientId"], id(5).to_string());
        assert_eq!(snap["clients"][0]["rooms"], serde_json::json!(["lobby"]));
    }

    #[test]
    fn membership_announcements_are_published_for_peers() {
        let bus = MemoryBus::new();
        let mut stream = bus.subscribe();
        let _peer = bus.subscribe();
        let c = cluster(&bus);
        let lock = MembershipLock::default();
        let here = ClientState::new(id(6), Default::default(), None);
        c.joined(&lock.lock(), here.id, "lobby");
        c.client_disconnected(&lock.lock(), here.id);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got: Vec<(String, serde_json::Value)> = rt.block_on(async {
            let mut v = Vec::new();
            while v.len() < 2 {
                let m = tokio::time::timeout(Duration::from_secs(5), stream.next())
                    .await
                    .unwrap()
                    .unwrap();
                if m.is_resync() {
                    continue;
                }
                v.push((
                    m.channel.clone(),
                    serde_json::from_slice(&m.payload).unwrap(),
                ));
            }
            v
        });
        assert_eq!(
            got,
            vec![
                (
                    "t:clientJoinedRoom".to_owned(),
                    serde_json::json!({"origin": US, "clientId": id(6).to_string(), "roomName": "lobby"})
                ),
                (
                    "t:clientDisconnected".to_owned(),
                    serde_json::json!({"origin": US, "clientId": id(6).to_string()})
                ),
            ]
        );
    }
}
