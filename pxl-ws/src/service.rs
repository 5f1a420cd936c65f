//! The app-facing [`Server`] handle: send to all / rooms / users / clients, client and
//! room management, health, shutdown. Every send serialises its frame once, delivers to
//! local clients at once and publishes once on the bus for the other instances.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::Bus;
use crate::clients::{Client, ClientId, ClientInfo, ClientState, Registry};
use crate::cluster;
use crate::config::WsConfig;
use crate::health::{Health, HealthStatus, LimitCounts, Metrics};
use crate::hooks::Hooks;
use crate::limits::Limits;
use crate::protocol::event_frame;
use crate::rooms::{RoomTable, Rooms};
use crate::router::Router;
use crate::state::StateMap;

/// A serialised server frame, shared by every recipient of a send.
///
/// ```
/// let frame = pxl_ws::Frame::new("chat", "message", &serde_json::json!({"text": "hi"})).unwrap();
/// assert_eq!(frame.as_str(), r#"{"type":"chat","action":"message","data":{"text":"hi"}}"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(Utf8Bytes);

impl Frame {
    /// Serialises `{"type": ty, "action": action, "data": data}`.
    pub fn new<T: Serialize + ?Sized>(
        ty: &str,
        action: &str,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self(event_frame(ty, action, data)?.into()))
    }

    /// A frame from text the caller already built, sent as is to local clients. It must
    /// be JSON to reach other instances: a send checks it before publishing and drops
    /// (and logs) one that is not.
    pub fn raw(json: impl Into<String>) -> Self {
        Self(json.into().into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn to_message(&self) -> Message {
        Message::Text(self.0.clone())
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&self.as_str()).finish()
    }
}

/// A data message exactly as the client sent it, handed to the
/// [`fallback`](crate::WsServerBuilder::fallback) handler when no route takes it.
/// [`Client::send_raw`] sends it (or any other) back unchanged, without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage(pub(crate) Message);

impl RawMessage {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self(Message::Text(text.into().into()))
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<bytes::Bytes>) -> Self {
        Self(Message::Binary(bytes.into()))
    }

    /// Whether it came as a binary frame.
    pub fn is_binary(&self) -> bool {
        matches!(self.0, Message::Binary(_))
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
            _ => &[],
        }
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("binary", &self.is_binary())
            .field("len", &self.as_bytes().len())
            .finish()
    }
}

/// Who a send reaches: everyone, rooms, a user's connections or one client, optionally
/// except one client (typically the sender).
///
/// ```
/// use pxl_ws::{ClientId, Target};
/// let me = ClientId::random();
/// let t = Target::room("lobby").except(me);
/// # let _ = t;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(flatten)]
    pub(crate) to: To,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) except: Option<ClientId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(crate) enum To {
    All,
    Rooms { rooms: Vec<String> },
    User { user_id: String },
    Client { client_id: ClientId },
}

impl Target {
    /// Every connected client.
    pub fn all() -> Self {
        Self::new(To::All)
    }

    /// The members of one room.
    pub fn room(room: impl Into<String>) -> Self {
        Self::new(To::Rooms {
            rooms: vec![room.into()],
        })
    }

    /// The members of several rooms; a client in more than one of them gets one copy.
    pub fn rooms<I, S>(rooms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(To::Rooms {
            rooms: rooms.into_iter().map(Into::into).collect(),
        })
    }

    /// Every connection of one user.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self::new(To::User {
            user_id: user_id.into(),
        })
    }

    /// One client.
    pub fn client(id: ClientId) -> Self {
        Self::new(To::Client { client_id: id })
    }

    /// Leaves `id` out.
    pub fn except(mut self, id: ClientId) -> Self {
        self.except = Some(id);
        self
    }

    fn new(to: To) -> Self {
        Self { to, except: None }
    }
}

/// Everything the server shares between connections and handles.
pub(crate) struct Shared {
    pub(crate) config: WsConfig,
    pub(crate) instance_id: String,
    pub(crate) clients: Registry,
    pub(crate) rooms: RoomTable,
    pub(crate) router: Router,
    pub(crate) state: StateMap,
    pub(crate) hooks: Hooks,
    pub(crate) metrics: Metrics,
    pub(crate) bus: Arc<dyn Bus>,
    /// The view of the other instances and the custom-event channel.
    pub(crate) cluster: cluster::Cluster,
    /// Token checks, when authentication is configured.
    pub(crate) verifier: Option<crate::auth::TokenVerifier>,
    /// Cancelled when graceful shutdown begins.
    pub(crate) shutdown: CancellationToken,
    /// Connection tasks, waited for on shutdown.
    pub(crate) tasks: TaskTracker,
    pub(crate) started_at: Instant,
    pub(crate) started: AtomicBool,
    /// Upgrade-time limits: origins, connection caps.
    pub(crate) limits: Limits,
    /// Subscribers in run order, and their dispatch queue.
    pub(crate) subscribers: crate::subscribers::Subscribers,
}

/// A cheap, cloneable handle on a running server: the `Server` extractor.
///
/// Sends deliver to this instance's clients at once and reach the other instances
/// through the bus.
///
/// ```no_run
/// # fn f(server: pxl_ws::Server, me: pxl_ws::ClientId) -> Result<(), serde_json::Error> {
/// use pxl_ws::{Frame, Target};
/// let frame = Frame::new("chat", "message", &serde_json::json!({"text": "hi"}))?;
/// server.send_to_room("lobby", &frame, Some(me)); // everyone in the lobby but me
/// server.send(&Target::user("42"), &frame);        // all of user 42's connections
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("instance_id", &self.shared.instance_id)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// This process's random instance id (16 hex characters).
    pub fn instance_id(&self) -> &str {
        &self.shared.instance_id
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &WsConfig {
        &self.shared.config
    }

    /// The route table (the built-in `system` routes first).
    pub fn routes(&self) -> Vec<crate::controller::RouteInfo> {
        self.shared.router.routes().to_vec()
    }

    /// State registered on the builder.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared.state.get::<T>()
    }

    /// Sends `frame` to `target`. Returns how many clients of *this* instance got it.
    pub fn send(&self, target: &Target, frame: &Frame) -> usize {
        let n = self.deliver_local(target, frame.to_message());
        let delivered_to_the_one_client = matches!(target.to, To::Client { .. }) && n > 0;
        if !delivered_to_the_one_client {
            cluster::publish_send(&self.shared, target, frame.as_str());
        }
        n
    }

    /// Sends to every client, optionally except one.
    pub fn send_to_all(&self, frame: &Frame, except: Option<ClientId>) -> usize {
        self.send(&with_except(Target::all(), except), frame)
    }

    /// Sends to the members of `room`, optionally except one.
    pub fn send_to_room(&self, room: &str, frame: &Frame, except: Option<ClientId>) -> usize {
        self.send(&with_except(Target::room(room), except), frame)
    }

    /// Sends to the members of several rooms (one copy per client), optionally except one.
    pub fn send_to_rooms<S: AsRef<str>>(
        &self,
        rooms: &[S],
        frame: &Frame,
        except: Option<ClientId>,
    ) -> usize {
        let t = Target::rooms(rooms.iter().map(|r| r.as_ref().to_owned()));
        self.send(&with_except(t, except), frame)
    }

    /// Sends to every connection of `user_id`.
    pub fn send_to_user(&self, user_id: &str, frame: &Frame) -> usize {
        self.send(&Target::user(user_id), frame)
    }

    /// Sends to one client, wherever it is connected.
    pub fn send_to_client(&self, id: ClientId, frame: &Frame) -> usize {
        self.send(&Target::client(id), frame)
    }

    /// Sends `frame` to `target`'s clients on *this* instance only, returning how many
    /// got it. For subscribers, which run on every instance: each delivers to its own
    /// clients, so every client gets the frame once.
    pub fn send_local(&self, target: &Target, frame: &Frame) -> usize {
        self.deliver_local(target, frame.to_message())
    }

    /// Delivers to this instance's clients only.
    pub(crate) fn deliver_local(&self, target: &Target, msg: Message) -> usize {
        let sh = &self.shared;
        let mut n = 0;
        let mut push = |c: &Arc<ClientState>| {
            if Some(c.id) != target.except && c.push(msg.clone(), &sh.metrics) {
                n += 1;
            }
        };
        match &target.to {
            To::All => sh.clients.for_each(&mut push),
            To::Rooms { rooms } if rooms.len() == 1 => {
                sh.rooms.for_each_member(&rooms[0], &mut push);
            }
            To::Rooms { rooms } => {
                let mut seen = std::collections::HashSet::new();
                for room in rooms {
                    sh.rooms.for_each_member(room, |c| {
                        if seen.insert(c.id) {
                            push(c);
                        }
                    });
                }
            }
            To::User { user_id } => sh.clients.for_user(user_id, &mut push),
            To::Client { client_id } => {
                if let Some(c) = sh.clients.get(*client_id) {
                    push(&c);
                }
            }
        }
        n
    }

    /// A snapshot of a client's record, wherever it is connected (for a client of
    /// another instance, from this instance's cluster view: `instance_id` is set,
    /// `metadata` holds only `username`, `last_activity` is its connection time).
    pub fn get_client(&self, id: ClientId) -> Option<ClientInfo> {
        match self.shared.clients.get(id) {
            Some(c) => Some(c.info()),
            None => self.shared.cluster.view.client(id),
        }
    }

    /// The connections of `user_id` on every instance.
    pub fn user_client_ids(&self, user_id: &str) -> Vec<ClientId> {
        let mut ids = Vec::new();
        self.shared.clients.for_user(user_id, |c| ids.push(c.id));
        ids.extend(self.shared.cluster.view.user_clients(user_id));
        ids
    }

    /// The ids of every client in the cluster (this instance's and the others').
    pub fn cluster_client_ids(&self) -> Vec<ClientId> {
        let mut ids = self.client_ids();
        ids.extend(self.shared.cluster.view.client_ids());
        ids
    }

    /// The live instances this one knows of, itself included, sorted.
    pub fn instances(&self) -> Vec<String> {
        let mut v = self.shared.cluster.view.instances();
        v.push(self.shared.instance_id.clone());
        v.sort();
        v
    }

    /// Sends an `error/message` frame (`{"error","code",...details}`) to a client,
    /// wherever it is connected (the `messageError` event).
    pub fn send_error(&self, id: ClientId, error: &crate::ActionError) {
        let frame = crate::protocol::error_frame(error, None, None, None);
        match self.shared.clients.get(id) {
            Some(c) => {
                c.push(Message::Text(frame.into()), &self.shared.metrics);
            }
            None => cluster::message_error(&self.shared, id, &frame),
        }
    }

    /// Reports a finished background job to the client that asked for it, wherever it is
    /// connected (the `queueJobCompleted` event): it gets
    /// `{"type":"queue","action":"jobCompleted","data":{"jobId","result"}}`.
    pub fn queue_job_completed<T: Serialize + ?Sized>(
        &self,
        client: ClientId,
        job_id: Option<&str>,
        result: &T,
    ) -> Result<(), serde_json::Error> {
        self.queue_job(client, job_id, Ok(serde_json::to_value(result)?));
        Ok(())
    }

    /// Reports a failed background job to the client that asked for it, wherever it is
    /// connected (the `queueJobError` event): it gets
    /// `{"type":"queue","action":"jobError","data":{"jobId","error"}}`.
    pub fn queue_job_error(&self, client: ClientId, job_id: Option<&str>, error: &str) {
        self.queue_job(client, job_id, Err(error.into()));
    }

    fn queue_job(
        &self,
        client: ClientId,
        job_id: Option<&str>,
        outcome: Result<serde_json::Value, serde_json::Value>,
    ) {
        cluster::queue_job(
            &self.shared,
            client,
            job_id.map(serde_json::Value::from),
            outcome,
        );
    }

    /// Publishes an application event to every instance: subscribers from
    /// [`subscribe_custom`](Self::subscribe_custom) on each instance (this one included,
    /// at once) receive it once. Nothing is sent to sockets.
    pub fn publish_custom<T: Serialize + ?Sized>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<(), serde_json::Error> {
        cluster::custom(&self.shared, name, serde_json::to_value(data)?);
        Ok(())
    }

    /// Publishes `message` on the app channel `channel`: the subscribers matching it run
    /// on every instance (this one included), once each. Nothing is sent to sockets.
    /// Channel names of the built-in [`Event`](crate::subscriber::Event)s are best avoided: their
    /// subscribers would run for both.
    ///
    /// ```no_run
    /// # fn f(server: pxl_ws::Server) -> Result<(), serde_json::Error> {
    /// server.publish("analytics:pageview", &serde_json::json!({"segment": "vip"}))?;
    /// # Ok(()) }
    /// ```
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        channel: &str,
        message: &T,
    ) -> Result<(), serde_json::Error> {
        let message = serde_json::to_value(message)?;
        cluster::app_channel(&self.shared, channel, message);
        Ok(())
    }

    /// The registered subscribers' names, in run order.
    pub fn subscribers(&self) -> Vec<String> {
        self.shared.subscribers.names()
    }

    /// Custom events published on any instance, from now on.
    ///
    /// ```no_run
    /// # async fn f(server: pxl_ws::Server) {
    /// let mut events = server.subscribe_custom();
    /// while let Some(ev) = events.recv().await {
    ///     println!("{} from {}: {}", ev.name, ev.origin, ev.data);
    /// }
    /// # }
    /// ```
    pub fn subscribe_custom(&self) -> cluster::CustomEvents {
        self.shared.cluster.subscribe_custom()
    }

    /// A handle on a local client.
    pub fn client(&self, id: ClientId) -> Option<Client> {
        self.shared.clients.get(id).map(|state| Client {
            state,
            server: self.clone(),
        })
    }

    /// The ids of this instance's clients.
    pub fn client_ids(&self) -> Vec<ClientId> {
        let mut ids = Vec::with_capacity(self.shared.clients.len());
        self.shared.clients.for_each(|c| ids.push(c.id));
        ids
    }

    /// Sockets open on this instance.
    pub fn connection_count(&self) -> usize {
        self.shared.clients.len()
    }

    /// Sets a free-form metadata value on a client. `false` if there is no such client.
    pub fn update_client(&self, id: ClientId, key: &str, value: serde_json::Value) -> bool {
        let set = self.shared.clients.set_metadata(id, key, value);
        if set
            && key == "username"
            && let Some(c) = self.shared.clients.get(id)
        {
            self.client_updated(&c);
        }
        set
    }

    /// Puts a client in `room` (leaving its other rooms first when
    /// `rooms.client_can_join_multiple_rooms` is off). `Some(false)` if it was already a
    /// member, `None` if there is no such client.
    pub fn join_room(&self, id: ClientId, room: &str) -> Option<bool> {
        let c = self.shared.clients.get(id)?;
        Some(self.join_state(&c, room))
    }

    /// Takes a client out of `room`. `Some(false)` if it was not a member.
    pub fn leave_room(&self, id: ClientId, room: &str) -> Option<bool> {
        let c = self.shared.clients.get(id)?;
        Some(self.leave_state(&c, room))
    }

    /// Takes a client out of every room; returns the rooms it left.
    pub fn leave_all_rooms(&self, id: ClientId) -> Vec<String> {
        match self.shared.clients.get(id) {
            Some(c) => self.leave_all_state(&c),
            None => Vec::new(),
        }
    }

    /// The room table.
    pub fn rooms(&self) -> Rooms {
        Rooms {
            server: self.clone(),
        }
    }

    /// Logs the room table (PXL's `printRooms`).
    pub fn print_rooms(&self) {
        self.rooms().print();
    }

    /// Closes a client's socket with `code` and `reason` after the frames already queued,
    /// wherever it is connected (another instance is asked with `disconnectClient`).
    /// `false` if no instance is known to hold it (the request is published anyway).
    ///
    /// The close frame is always valid: a `code` outside 1000–1003, 1007–1013 and
    /// 3000–4999 is sent as 1000, and a `reason` longer than 123 bytes is cut at the last
    /// character boundary before byte 123. Application codes belong in 4000–4999.
    ///
    /// ```no_run
    /// # fn f(server: pxl_ws::Server, id: pxl_ws::ClientId) {
    /// server.disconnect_client(id, 4003, "banned");
    /// # }
    /// ```
    pub fn disconnect_client(&self, id: ClientId, code: u16, reason: &str) -> bool {
        match self.shared.clients.get(id) {
            Some(c) => {
                c.request_close(code, reason.to_owned(), true);
                true
            }
            None => {
                cluster::disconnect_client(&self.shared, id, code, reason);
                self.shared.cluster.view.contains(id)
            }
        }
    }

    /// A health snapshot.
    pub fn health(&self) -> Health {
        let sh = &self.shared;
        let bus = sh.bus.status();
        let status = if sh.shutdown.is_cancelled() {
            HealthStatus::ShuttingDown
        } else if !bus.connected {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        let m = &sh.metrics;
        Health {
            status,
            instance_id: sh.instance_id.clone(),
            active_connections: sh.clients.len(),
            connections_total: Metrics::get(&m.connections_total),
            rooms: sh.rooms.len(),
            messages_in: Metrics::get(&m.messages_in),
            messages_out: Metrics::get(&m.messages_out),
            errors_sent: Metrics::get(&m.errors_sent),
            protocol_errors: Metrics::get(&m.protocol_errors),
            slow_clients_dropped: Metrics::get(&m.slow_clients_dropped),
            bus_messages_in: Metrics::get(&m.bus_messages_in),
            cluster_instances: sh.cluster.view.instances().len() + 1,
            cluster_connections: sh.clients.len() + sh.cluster.view.client_count(),
            auth_rejected: Metrics::get(&m.auth_rejected),
            tokens_expired: Metrics::get(&m.tokens_expired),
            uptime_secs: sh.started_at.elapsed().as_secs(),
            bus,
            limits: LimitCounts::from_metrics(m),
        }
    }

    /// Whether graceful shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Starts graceful shutdown (if not yet started) and waits until every socket has
    /// closed or `shutdown_timeout` has passed: new upgrades get 503, every client gets
    /// close 1001 after its queued frames, timers stop.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let sh = &self.shared;
        sh.tasks.close();
        if tokio::time::timeout(sh.config.shutdown_timeout, sh.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = sh.clients.len(),
                "shutdown timeout passed with sockets still open"
            );
        }
        // Tell the other instances at once rather than letting our liveness lapse.
        cluster::heartbeat(sh, std::time::Duration::ZERO);
        sh.bus.flush(std::time::Duration::from_secs(1)).await;
    }

    /// Resolves once graceful shutdown has begun (it does not begin it).
    pub async fn shutdown_requested(&self) {
        self.shared.shutdown.cancelled().await;
    }

    /// Waits for SIGINT, SIGTERM or a shutdown begun elsewhere, then shuts down
    /// gracefully (see [`shutdown`](Self::shutdown)). Made for axum's
    /// `with_graceful_shutdown` when the socket is nested with
    /// [`WsServer::into_router`](crate::WsServer::into_router).
    pub async fn shutdown_on_signal(&self) {
        crate::server::shutdown_signal(self).await;
        self.shutdown().await;
    }

    pub(crate) fn begin_shutdown(&self) {
        let sh = &self.shared;
        if sh.shutdown.is_cancelled() {
            return;
        }
        tracing::info!(
            clients = sh.clients.len(),
            "graceful shutdown: closing sockets"
        );
        sh.shutdown.cancel();
        sh.clients.for_each(|c| {
            c.request_close(1001, "server shutting down", true);
        });
    }

    // ---- client lifecycle, announced to the other instances ----

    /// Registers a new local client and announces it.
    pub(crate) fn register(&self, c: &Arc<ClientState>) {
        let sh = &self.shared;
        let _guard = sh.cluster.lock();
        sh.clients.insert(c.clone());
        cluster::client_connected(sh, c);
    }

    /// Announces that a local client is gone (once it left the registry and its rooms).
    pub(crate) fn announce_gone(&self, id: ClientId) {
        let sh = &self.shared;
        let _guard = sh.cluster.lock();
        cluster::client_disconnected(sh, id);
    }

    /// Announces a change of a local client's user id or username.
    pub(crate) fn client_updated(&self, c: &ClientState) {
        let sh = &self.shared;
        let _guard = sh.cluster.lock();
        cluster::client_connected(sh, c);
    }

    // ---- room state changes with their side effects (presence, leftRoom) ----

    pub(crate) fn join_state(&self, c: &Arc<ClientState>, room: &str) -> bool {
        let sh = &self.shared;
        if !sh.config.rooms.client_can_join_multiple_rooms {
            let others: Vec<Arc<str>> = c
                .rooms
                .lock()
                .expect("rooms lock")
                .iter()
                .filter(|r| &***r != room)
                .cloned()
                .collect();
            for other in others {
                if self.leave_state(c, &other) {
                    self.notify_left(c, &other);
                }
            }
        }
        let joined = {
            let _guard = sh.cluster.lock();
            let joined = sh.rooms.join(c, room);
            if joined {
                cluster::joined(sh, c.id, room);
            }
            joined
        };
        if joined && sh.config.rooms.presence_events {
            self.presence(c, room, "memberJoined");
        }
        joined
    }

    pub(crate) fn leave_state(&self, c: &ClientState, room: &str) -> bool {
        let left = {
            let _guard = self.shared.cluster.lock();
            let left = self.shared.rooms.leave(c, room);
            if left {
                cluster::left(&self.shared, c.id, room);
            }
            left
        };
        if left && self.shared.config.rooms.presence_events {
            self.presence(c, room, "memberLeft");
        }
        left
    }

    pub(crate) fn leave_all_state(&self, c: &ClientState) -> Vec<String> {
        let left = {
            let _guard = self.shared.cluster.lock();
            let left = self.shared.rooms.leave_all(c);
            for room in &left {
                cluster::left(&self.shared, c.id, room);
            }
            left
        };
        if self.shared.config.rooms.presence_events {
            for room in &left {
                self.presence(c, room, "memberLeft");
            }
        }
        left.iter().map(|r| r.to_string()).collect()
    }

    /// Tells a client it left a room: `{"type":"user","action":"leftRoom","data":{"roomName"}}`.
    pub(crate) fn notify_left(&self, c: &ClientState, room: &str) {
        if let Ok(f) = Frame::new("user", "leftRoom", &serde_json::json!({ "roomName": room })) {
            c.push(f.to_message(), &self.shared.metrics);
        }
    }

    fn presence(&self, c: &ClientState, room: &str, action: &str) {
        let username = c.metadata_str("username");
        let data = serde_json::json!({
            "roomName": room,
            "clientId": c.id,
            "userId": c.user_id().as_deref(),
            "username": username,
        });
        if let Ok(f) = Frame::new("room", action, &data) {
            self.send(&Target::room(room).except(c.id), &f);
        }
    }
}

fn with_except(t: Target, except: Option<ClientId>) -> Target {
    match except {
        Some(id) => t.except(id),
        None => t,
    }
}
