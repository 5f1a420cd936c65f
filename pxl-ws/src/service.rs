//! The app-facing [`Server`] handle: send to all / rooms / users / clients, client and
//! room management, health, shutdown. Every send serialises its frame once, delivers to
//! local clients at once and publishes once on the bus for the other instances.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients::{ClientId, ClientInfo};
use crate::cluster;
use crate::config::WsConfig;
use crate::frame::with_except;
pub use crate::frame::{Frame, RawMessage, Target};
use crate::handles::{Client, Rooms};
use crate::health::{Health, HealthStatus, LimitCounts, Metrics};
use crate::hooks::Hooks;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::push::ToFrame;
use crate::route::RouteInfo;
use crate::state::StateMap;

/// Everything the server shares between connections and handles.
pub(crate) struct Shared {
    pub(crate) config: WsConfig,
    /// Registry, rooms, the cluster layer and the membership lock.
    pub(crate) hub: Hub,
    /// The route table (the built-in `system` routes first); the router that dispatches
    /// by it travels with the endpoint (`upgrade::Endpoint`).
    pub(crate) routes: Vec<RouteInfo>,
    /// The router's per-route counts (the admin dashboard reads them).
    pub(crate) route_stats: Arc<crate::route_stats::RouteStats>,
    pub(crate) state: StateMap,
    pub(crate) hooks: Hooks,
    /// Shared with the hub and the cluster layer.
    pub(crate) metrics: Arc<Metrics>,
    /// The outbound limits and budget, shared by every client's queue.
    pub(crate) flow: Arc<crate::flow::Flow>,
    /// Token checks, when authentication is configured.
    pub(crate) verifier: Option<crate::auth::token::TokenVerifier>,
    /// Cancelled when graceful shutdown begins.
    pub(crate) shutdown: CancellationToken,
    /// Connection tasks, waited for on shutdown.
    pub(crate) tasks: TaskTracker,
    pub(crate) started_at: Instant,
    pub(crate) started: AtomicBool,
    /// Upgrade-time limits: origins, connection caps.
    pub(crate) limits: Limits,
    /// Subscribers in run order, and their dispatch queue.
    pub(crate) subscribers: Arc<dyn SubscriberTable>,
}

/// The subscriber registry as the handles see it (the cluster layer hands it events
/// through `cluster::EventSink`).
pub(crate) trait SubscriberTable: Send + Sync {
    /// The registered names, in run order.
    fn names(&self) -> Vec<String>;
    /// Starts the dispatch task; later calls do nothing.
    fn spawn(self: Arc<Self>, server: &Server);
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
            .field("instance_id", &self.instance_id())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// This process's random instance id (16 hex characters).
    pub fn instance_id(&self) -> &str {
        self.shared.hub.instance_id()
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &WsConfig {
        &self.shared.config
    }

    /// The route table (the built-in `system` routes first).
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.shared.routes.clone()
    }

    /// State registered on the builder.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared.state.get::<T>()
    }

    /// Sends `frame` to `target`. Returns how many clients of *this* instance got it (the
    /// other instances deliver to theirs and report nothing back).
    pub fn send(&self, target: &Target, frame: &(impl ToFrame + ?Sized)) -> usize {
        let Some(frame) = frame.to_frame() else {
            return 0;
        };
        self.hub().send(target, &frame)
    }

    /// Sends to every client, optionally except one. Returns the local deliveries, as
    /// [`send`](Self::send).
    pub fn send_to_all(&self, frame: &(impl ToFrame + ?Sized), except: Option<ClientId>) -> usize {
        self.send(&with_except(Target::all(), except), frame)
    }

    /// Sends to the members of `room`, optionally except one. Returns how many of *this*
    /// instance's clients got it: members on other instances get it too but are not
    /// counted.
    pub fn send_to_room(
        &self,
        room: &str,
        frame: &(impl ToFrame + ?Sized),
        except: Option<ClientId>,
    ) -> usize {
        self.send(&with_except(Target::room(room), except), frame)
    }

    /// Sends to the members of several rooms (one copy per client), optionally except one.
    /// Returns the local deliveries, as [`send`](Self::send).
    pub fn send_to_rooms<S: AsRef<str>>(
        &self,
        rooms: &[S],
        frame: &(impl ToFrame + ?Sized),
        except: Option<ClientId>,
    ) -> usize {
        let t = Target::rooms(rooms.iter().map(|r| r.as_ref().to_owned()));
        self.send(&with_except(t, except), frame)
    }

    /// Sends to every connection of `user_id`. Returns the local deliveries, as
    /// [`send`](Self::send). In a cluster it goes to the instances this one knows hold
    /// the user's connections: a connection made elsewhere a moment ago, whose
    /// `clientConnected` has not arrived yet, can miss it (docs/cluster.md).
    pub fn send_to_user(&self, user_id: &str, frame: &(impl ToFrame + ?Sized)) -> usize {
        self.send(&Target::user(user_id), frame)
    }

    /// Sends to one client, wherever it is connected.
    pub fn send_to_client(&self, id: ClientId, frame: &(impl ToFrame + ?Sized)) -> usize {
        self.send(&Target::client(id), frame)
    }

    /// Sends `frame` to `target`'s clients on *this* instance only, returning how many
    /// got it. For subscribers, which run on every instance: each delivers to its own
    /// clients, so every client gets the frame once.
    pub fn send_local(&self, target: &Target, frame: &(impl ToFrame + ?Sized)) -> usize {
        let Some(frame) = frame.to_frame() else {
            return 0;
        };
        self.hub()
            .deliver_local(target, frame.to_message(), frame.overflow())
    }

    /// A snapshot of a client's record, wherever it is connected (for a client of
    /// another instance, from this instance's cluster view: `instance_id` is set,
    /// `metadata` holds only `username`, `last_activity` is its connection time). With the cluster directory in Redis: this instance's only
    /// (see [`Server::directory`]).
    pub fn get_client(&self, id: ClientId) -> Option<ClientInfo> {
        match self.hub().client(id) {
            Some(c) => Some(c.info()),
            None => self.hub().view().client(id),
        }
    }

    /// The connections of `user_id` on every instance. With the cluster directory in Redis: this instance's only
    /// (see [`Server::directory`]).
    pub fn user_client_ids(&self, user_id: &str) -> Vec<ClientId> {
        let mut ids = Vec::new();
        self.hub().for_user(user_id, |c| ids.push(c.id));
        ids.extend(self.hub().view().user_clients(user_id));
        ids
    }

    /// The ids of every client in the cluster (this instance's and the others'). With the cluster directory in Redis: this instance's only
    /// (see [`Server::directory`]).
    pub fn cluster_client_ids(&self) -> Vec<ClientId> {
        let mut ids = self.client_ids();
        ids.extend(self.hub().view().client_ids());
        ids
    }

    /// The live instances this one knows of, itself included, sorted.
    pub fn instances(&self) -> Vec<String> {
        let mut v = self.hub().view().instances();
        v.push(self.instance_id().to_owned());
        v.sort();
        v
    }

    /// Sends an `error/message` frame (`{"error","code",...details}`) to a client,
    /// wherever it is connected (the `messageError` event).
    pub fn send_error(&self, id: ClientId, error: &crate::ActionError) {
        let frame = crate::protocol::error_frame(error, None, None, None);
        match self.hub().client(id) {
            Some(c) => {
                c.push(Message::Text(frame.into()), self.hub().metrics());
            }
            None => self.hub().cluster().message_error(id, &frame),
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
        self.hub()
            .queue_job(client, job_id.map(serde_json::Value::from), outcome);
    }

    /// PXL's `custom` event, kept for apps ported from PXL: publishes `{name, data}` to
    /// every instance, where [`subscribe_custom`](Self::subscribe_custom) streams and
    /// subscribers of [`Event::Custom`](crate::subscriber::Event::Custom) (this instance
    /// included, at once) receive it once. Nothing is sent to sockets. New code uses
    /// [`publish`](Self::publish) with `#[subscriber]` functions instead.
    pub fn publish_custom<T: Serialize + ?Sized>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<(), serde_json::Error> {
        self.hub()
            .cluster()
            .custom(name, serde_json::to_value(data)?);
        Ok(())
    }

    /// Publishes `message` on the app channel `channel`: the subscribers matching it run
    /// on every instance (this one included), once each. Nothing is sent to sockets.
    /// This is the recommended way to pass application events between instances
    /// (`#[subscriber]` matches channels by name, pattern or predicate);
    /// [`publish_custom`](Self::publish_custom) is PXL's equivalent.
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
        self.hub().cluster().app_channel(channel, message);
        Ok(())
    }

    /// The registered subscribers' names, in run order.
    pub fn subscribers(&self) -> Vec<String> {
        self.shared.subscribers.names()
    }

    /// PXL's `custom` events ([`publish_custom`](Self::publish_custom)) published on any
    /// instance, from now on. Kept for apps ported from PXL; new code handles
    /// application events with `#[subscriber]` functions fed by [`publish`](Self::publish).
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
        self.hub().cluster().subscribe_custom()
    }

    /// A handle on a local client.
    pub fn client(&self, id: ClientId) -> Option<Client> {
        self.hub().client(id).map(|state| Client {
            state,
            server: self.clone(),
        })
    }

    /// The ids of this instance's clients.
    pub fn client_ids(&self) -> Vec<ClientId> {
        let mut ids = Vec::with_capacity(self.hub().client_count());
        self.hub().for_each_client(|c| ids.push(c.id));
        ids
    }

    /// Sockets open on this instance.
    pub fn connection_count(&self) -> usize {
        self.hub().client_count()
    }

    /// Sets a free-form metadata value on a client. `false` if there is no such client.
    pub fn update_client(&self, id: ClientId, key: &str, value: serde_json::Value) -> bool {
        self.hub().update_client(id, key, value)
    }

    /// Puts a client in `room` (leaving its other rooms first when
    /// `rooms.client_can_join_multiple_rooms` is off). `Some(false)` if it was already a
    /// member, `None` if there is no such client.
    pub fn join_room(&self, id: ClientId, room: &str) -> Option<bool> {
        let c = self.hub().client(id)?;
        Some(self.hub().join(&c, room))
    }

    /// Takes a client out of `room`. `Some(false)` if it was not a member.
    pub fn leave_room(&self, id: ClientId, room: &str) -> Option<bool> {
        let c = self.hub().client(id)?;
        Some(self.hub().leave(&c, room))
    }

    /// Takes a client out of every room; returns the rooms it left.
    pub fn leave_all_rooms(&self, id: ClientId) -> Vec<String> {
        match self.hub().client(id) {
            Some(c) => self.hub().leave_all(&c),
            None => Vec::new(),
        }
    }

    /// The room table.
    pub fn rooms(&self) -> Rooms {
        Rooms {
            server: self.clone(),
        }
    }

    /// Cluster-wide answers (live instances, clients, users, room members), from the
    /// cluster directory in Redis when one is configured.
    pub fn directory(&self) -> crate::handles::Directory {
        crate::handles::Directory {
            server: self.clone(),
        }
    }

    /// Logs the room table (PXL's `printRooms`).
    pub fn print_rooms(&self) {
        self.rooms().print();
    }

    /// Closes a client's socket with `code` and `reason` after the frames already queued,
    /// wherever it is connected (another instance is asked with `disconnectClient`).
    /// `false` if no instance is known to hold it (the request is published anyway;
    /// with the cluster directory in Redis, which cannot be asked without waiting,
    /// `true` whenever other instances may hold it: ask
    /// [`directory().client(id)`](crate::Directory::client) first to know).
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
        match self.hub().client(id) {
            Some(c) => {
                c.request_close(code, reason.to_owned(), true);
                true
            }
            None => {
                let cluster = self.hub().cluster();
                cluster.disconnect_client(id, code, reason);
                if cluster.replicates() {
                    self.hub().view().contains(id)
                } else {
                    self.hub().bus().has_peers()
                }
            }
        }
    }

    /// A health snapshot.
    pub fn health(&self) -> Health {
        let sh = &self.shared;
        let hub = &sh.hub;
        let bus = hub.bus().status();
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
            instance_id: hub.instance_id().to_owned(),
            active_connections: hub.client_count(),
            connections_total: Metrics::get(&m.connections_total),
            rooms: hub.rooms().len(),
            messages_in: Metrics::get(&m.messages_in),
            messages_out: Metrics::get(&m.messages_out),
            errors_sent: Metrics::get(&m.errors_sent),
            protocol_errors: Metrics::get(&m.protocol_errors),
            slow_clients_dropped: Metrics::get(&m.slow_clients_dropped),
            bus_messages_in: Metrics::get(&m.bus_messages_in),
            cluster_instances: hub.view().instances().len() + 1,
            cluster_connections: hub.client_count() + hub.cluster().remote_connections(),
            auth_rejected: Metrics::get(&m.auth_rejected),
            tokens_expired: Metrics::get(&m.tokens_expired),
            uptime_secs: sh.started_at.elapsed().as_secs(),
            bus,
            limits: LimitCounts::from_metrics(m),
            flow: sh.flow.counts(),
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
                remaining = sh.hub.client_count(),
                "shutdown timeout passed with sockets still open"
            );
        }
        // Tell the other instances at once rather than letting our liveness lapse.
        sh.hub.heartbeat(std::time::Duration::ZERO);
        sh.hub
            .cluster()
            .flush(std::time::Duration::from_secs(1))
            .await;
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
        crate::util::signals::shutdown_signal(&self.shared.shutdown).await;
        self.shutdown().await;
    }

    pub(crate) fn begin_shutdown(&self) {
        let sh = &self.shared;
        if sh.shutdown.is_cancelled() {
            return;
        }
        tracing::info!(
            clients = sh.hub.client_count(),
            "graceful shutdown: closing sockets"
        );
        sh.shutdown.cancel();
        sh.hub.for_each_client(|c| {
            c.request_close(1001, "server shutting down", true);
        });
    }
}
