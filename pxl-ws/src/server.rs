//! [`WsServer`]: the builder that validates everything up front, the axum router, `serve`
//! with signal handling, background timers, and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router as AxumRouter;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::StreamExt;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept;
use crate::admin::{Admin, AdminController, TailSubscriber};
use crate::bus::{Bus, MemoryBus};
use crate::cluster::Cluster;
use crate::config::{ConfigError, WsConfig};
use crate::contract::serve::ContractSetup;
use crate::handles::Client;
use crate::health::{HealthStatus, Metrics};
use crate::hooks::{DisconnectInfo, ErrorEvent, Hooks, MessageInfo};
use crate::hub::{Hub, RoomRules};
use crate::limits::Limits;
use crate::router::{Controller, Router};
use crate::service::{RawMessage, Server, Shared};
use crate::state::StateMap;
use crate::subscribers::{Subscriber, Subscribers};
use crate::system::SystemController;
use crate::trace::Propagator;
use crate::upgrade;
use crate::util::time::now_ms;

/// Why [`WsServerBuilder::build`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Two handlers claim the same `(type, action)`. Lists every collision.
    #[error("{} route collision(s):\n  {}", .0.len(), .0.join("\n  "))]
    RouteCollisions(Vec<String>),
    /// Handlers use extractors the builder cannot satisfy (e.g. unregistered `State<T>`).
    #[error("{} unsatisfied extractor(s):\n  {}", .0.len(), .0.join("\n  "))]
    MissingState(Vec<String>),
    /// Two subscribers share a name. Lists every duplicate.
    #[error("{} duplicate subscriber name(s):\n  {}", .0.len(), .0.join("\n  "))]
    DuplicateSubscribers(Vec<String>),
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding or accepting failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Configures and builds a [`WsServer`].
#[must_use]
pub struct WsServerBuilder {
    config: WsConfig,
    controllers: Vec<Arc<dyn Controller>>,
    state: StateMap,
    hooks: Hooks,
    bus: Option<Arc<dyn Bus>>,
    propagator: Option<Arc<dyn Propagator>>,
    browser_client: bool,
    subscribers: Vec<Arc<dyn Subscriber>>,
    routes: Option<AxumRouter>,
    /// Pushes and contract routes (`contract/serve.rs`).
    pub(crate) contract: ContractSetup,
}

impl WsServerBuilder {
    /// Serves Prometheus metrics at `path` (e.g. `"/metrics"`; sets
    /// [`WsConfig::metrics_path`], env `PXL_WS_METRICS_PATH`). Needs the `metrics`
    /// feature: without it, [`build`](Self::build) fails naming `metrics_path`. The
    /// metrics and their labels are listed in `docs/metrics.md`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = pxl_ws::WsServer::builder().serve_metrics("/metrics").build()?;
    /// server.serve("127.0.0.1:3000").await?; // GET /metrics next to the socket at /ws
    /// # Ok(()) }
    /// ```
    pub fn serve_metrics(mut self, path: impl Into<String>) -> Self {
        self.config.metrics_path = Some(path.into());
        self
    }

    /// Serves the admin dashboard at `path` (e.g. `"/admin"`; sets
    /// [`AdminConfig::path`](crate::config::AdminConfig::path), env `PXL_WS_ADMIN_PATH`):
    /// a page that shows the instances, connections, rooms, per-route counts and a live
    /// tail, and can disconnect clients. Off by default and never open: access needs an
    /// admin token (`admin.token`, `PXL_WS_ADMIN_TOKEN`) or JWT authentication for users
    /// with `admin.role`; with neither, [`build`](Self::build) fails naming `admin.path`.
    /// Call it after [`config`](Self::config), which replaces the whole configuration.
    /// See `docs/admin.md`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = pxl_ws::WsConfig::from_env()?;
    /// config.admin.token = Some("a-long-random-admin-token".into());
    /// let server = pxl_ws::WsServer::builder().config(config).serve_admin("/admin").build()?;
    /// server.serve("127.0.0.1:3000").await?; // GET /admin next to the socket at /ws
    /// # Ok(()) }
    /// ```
    pub fn serve_admin(mut self, path: impl Into<String>) -> Self {
        self.config.admin.path = Some(path.into());
        self
    }

    /// Replaces the configuration (default: [`WsConfig::default`]).
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers a controller (one written with `#[ws_controller]`, or by hand).
    pub fn controller(mut self, controller: impl Controller) -> Self {
        self.controllers.push(Arc::new(controller));
        self
    }

    /// Registers subscribers, e.g. `subscribers![queue_dashboard, segment_targeting]`
    /// (see [`subscribers!`](crate::subscribers)). Equal priorities run in registration
    /// order.
    pub fn subscribers(mut self, list: Vec<Arc<dyn Subscriber>>) -> Self {
        self.subscribers.extend(list);
        self
    }

    /// Registers one subscriber (e.g. a hand-written [`Subscriber`] impl).
    pub fn subscriber(mut self, subscriber: impl Subscriber) -> Self {
        self.subscribers.push(Arc::new(subscriber));
        self
    }

    /// Registers application state, available to handlers as `State<T>`. It is per
    /// process: each instance of a cluster has its own, never shared over the bus.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Serves the browser client, a dependency-free ES module, at `GET /pxl-ws.js` (and
    /// its TypeScript declarations at `GET /pxl-ws.d.ts`) next to the socket (default:
    /// off). A page then does `import { PxlWsClient } from "/pxl-ws.js"`.
    pub fn serve_browser_client(mut self, on: bool) -> Self {
        self.browser_client = on;
        self
    }

    /// Adds the app's own HTTP routes (pages, APIs), served next to the socket by
    /// [`serve`](WsServer::serve) and [`serve_listener`](WsServer::serve_listener) —
    /// through their accept loop, so the pending-connection caps and the header-read
    /// timeout protect them too — and merged into
    /// [`into_router`](WsServer::into_router). Called again, the routers are merged. A
    /// route on `config.path` (or another of the server's own paths) panics, as in
    /// [`axum::Router::merge`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::routing::get;
    /// let server = pxl_ws::WsServer::builder()
    ///     .routes(axum::Router::new().route("/", get(|| async { "hello" })))
    ///     .build()?;
    /// server.serve("127.0.0.1:3000").await?; // `/` and the socket at `/ws`
    /// # Ok(()) }
    /// ```
    pub fn routes(mut self, router: AxumRouter) -> Self {
        self.routes = Some(match self.routes.take() {
            Some(routes) => routes.merge(router),
            None => router,
        });
        self
    }

    /// Uses `bus` for fan-out between instances (default: a private [`MemoryBus`]).
    pub fn bus(mut self, bus: impl Bus) -> Self {
        self.bus = Some(Arc::new(bus));
        self
    }

    /// Carries the trace context of each send across the bus with `propagator`: the
    /// sending span's W3C `traceparent` (and `tracestate`) goes in the bus payload, and
    /// the receiving instance delivers the send in a `deliver` span (target
    /// `pxl_ws::trace`) whose parent it becomes. With feature `otel`,
    /// [`OtelPropagator`](crate::trace::OtelPropagator) is the one for OpenTelemetry;
    /// see [`trace`](crate::trace) and `docs/metrics.md`. Default: none, nothing is
    /// injected and no delivery span is made.
    ///
    /// ```
    /// # #[cfg(feature = "otel")]
    /// let server = pxl_ws::WsServer::builder()
    ///     .propagator(pxl_ws::trace::OtelPropagator)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn propagator(mut self, propagator: impl Propagator) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// Runs once the server starts serving.
    pub fn on_server_started(mut self, f: impl Fn(&Server) + Send + Sync + 'static) -> Self {
        self.hooks.server_started.push(Arc::new(f));
        self
    }

    /// Runs for every new client, after it got its `system/connected` frame.
    pub fn on_connected(mut self, f: impl Fn(&Client) + Send + Sync + 'static) -> Self {
        self.hooks.connected.push(Arc::new(f));
        self
    }

    /// Runs when a client's socket has closed and it has left its rooms.
    pub fn on_disconnected(mut self, f: impl Fn(&DisconnectInfo) + Send + Sync + 'static) -> Self {
        self.hooks.disconnected.push(Arc::new(f));
        self
    }

    /// Runs for every inbound message that passed the rate limit and parsed, before it
    /// is routed.
    pub fn on_message(mut self, f: impl Fn(&Client, &MessageInfo) + Send + Sync + 'static) -> Self {
        self.hooks.message.push(Arc::new(f));
        self
    }

    /// Runs for every error: protocol faults, bad frames, unknown routes, failed or
    /// panicking handlers.
    pub fn on_error(mut self, f: impl Fn(&ErrorEvent) + Send + Sync + 'static) -> Self {
        self.hooks.error.push(Arc::new(f));
        self
    }

    /// Takes every data message no route takes — text that is not an envelope, binary
    /// data, envelopes without a handler — instead of the error frame the client would
    /// get. It runs inline in the client's reader task (spawn for slow work). With it,
    /// a server can speak another protocol next to its routes, or none: a raw echo
    /// server is
    ///
    /// ```
    /// let server = pxl_ws::WsServer::builder()
    ///     .fallback(|client, message| {
    ///         client.send_raw(message);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn fallback(mut self, f: impl Fn(&Client, RawMessage) + Send + Sync + 'static) -> Self {
        self.hooks.fallback = Some(Arc::new(f));
        self
    }

    /// Decides whether a client may join a room through `system/joinRoom`. The check gets
    /// the client (a cheap handle) and the room name, owned, and returns a future of
    /// `bool`; `false` answers the client `FORBIDDEN` (`Not allowed to join room: R`).
    /// It runs after the name rules and the room limit, only for rooms the client is not
    /// in yet, and before the join; the client's next message waits for it. Several
    /// checks must all allow; a panicking check denies. Joins made by app code
    /// ([`Client::join`], [`Server::join_room`]) are not checked.
    ///
    /// A synchronous check wraps its answer in [`std::future::ready`]; an async one is an
    /// `async move` block:
    ///
    /// ```
    /// use pxl_ws::{Client, WsServer};
    ///
    /// # async fn may_enter(_user: Option<String>, _room: &str) -> bool { true }
    /// let server = WsServer::builder()
    ///     // `admin:*` rooms need the `admin` role.
    ///     .authorize_join(|client: Client, room: String| {
    ///         std::future::ready(
    ///             !room.starts_with("admin:")
    ///                 || client.auth_user().is_some_and(|u| u.has_role("admin")),
    ///         )
    ///     })
    ///     // Ask the app's own store.
    ///     .authorize_join(|client: Client, room: String| async move {
    ///         may_enter(client.user_id(), &room).await
    ///     })
    ///     .build()?;
    /// # Ok::<(), pxl_ws::BuildError>(())
    /// ```
    pub fn authorize_join<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(Client, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.hooks
            .authorize_join
            .push(Arc::new(move |client, room| Box::pin(check(client, room))));
        self
    }

    /// Decides who may ask for a room's presence (`system/presence`,
    /// `system/presenceStats`). Without any check only the room's members may; with
    /// checks, every one must allow (membership is not required then). A panicking check
    /// denies.
    ///
    /// ```
    /// use pxl_ws::{Client, WsServer};
    /// // Moderators may look into any room; others only into rooms they are in.
    /// let server = WsServer::builder()
    ///     .authorize_presence(|client: Client, room: String| {
    ///         std::future::ready(
    ///             client.in_room(&room)
    ///                 || client.auth_user().is_some_and(|u| u.has_role("moderator")),
    ///         )
    ///     })
    ///     .build()?;
    /// # Ok::<(), pxl_ws::BuildError>(())
    /// ```
    pub fn authorize_presence<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(Client, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.hooks
            .authorize_presence
            .push(Arc::new(move |client, room| Box::pin(check(client, room))));
        self
    }

    /// Validates the configuration and the route table (every collision reported at
    /// once) and checks that every extractor can be satisfied.
    pub fn build(self) -> Result<WsServer, BuildError> {
        let verifier = self.config.validate_with_verifier()?;
        // Before any metric handle is registered (the router's, the counters').
        #[cfg(feature = "metrics")]
        let prometheus = crate::scrape::install(self.config.metrics_path.as_deref())?;
        self.contract.validate()?;
        let mut controllers: Vec<Arc<dyn Controller>> = vec![Arc::new(SystemController)];
        controllers.extend(self.controllers);
        let mut hooks = self.hooks;
        let mut subscribers = self.subscribers;
        let admin = Admin::new(&self.config.admin);
        if let Some(admin) = &admin {
            controllers.push(Arc::new(AdminController(admin.clone())));
            subscribers.push(Arc::new(TailSubscriber(admin.clone())));
            let a = admin.clone();
            hooks
                .disconnected
                .push(Arc::new(move |d| a.disconnected(d)));
            let a = admin.clone();
            hooks.error.push(Arc::new(move |e| a.error(e)));
        }
        let router = Router::new(controllers).map_err(BuildError::RouteCollisions)?;
        let mut missing: Vec<String> = router
            .controllers()
            .flat_map(|c| c.check(&self.state))
            .collect();
        let subscribers = match Subscribers::new(subscribers, &self.state) {
            Ok(s) => s,
            Err((duplicates, unsatisfied)) => {
                if !duplicates.is_empty() {
                    return Err(BuildError::DuplicateSubscribers(duplicates));
                }
                missing.extend(unsatisfied);
                return Err(BuildError::MissingState(missing));
            }
        };
        if !missing.is_empty() {
            return Err(BuildError::MissingState(missing));
        }
        let table = router
            .routes()
            .iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n");
        if self.config.debug.print_routes {
            tracing::info!("routes:\n{table}");
        } else {
            tracing::debug!("routes:\n{table}");
        }
        if !subscribers.names().is_empty() {
            let table = subscribers.table();
            if self.config.debug.print_routes {
                tracing::info!("subscribers:\n{table}");
            } else {
                tracing::debug!("subscribers:\n{table}");
            }
        }
        let bus = match self.bus {
            Some(bus) => bus,
            None => default_bus(&self.config)?,
        };
        let metrics = Arc::new(Metrics::default());
        let subscribers = Arc::new(subscribers);
        let instance_id = format!("{:016x}", rand::random::<u64>());
        let history = crate::history::build(&self.config, &instance_id)?;
        if let Some(admin) = &admin {
            admin.set_instance(&instance_id);
        }
        let cluster = Cluster::new(
            &self.config.cluster.prefix,
            instance_id,
            self.config.cluster.liveness_ttl,
            bus,
            subscribers.clone(),
            metrics.clone(),
        )
        .with_propagator(self.propagator);
        #[cfg(feature = "redis")]
        let cluster = {
            let directory = crate::cluster::directory::build(&self.config, cluster.instance_id())?;
            cluster.with_directory(directory)
        };
        let rules = RoomRules {
            multiple_rooms: self.config.rooms.client_can_join_multiple_rooms,
            presence_events: self.config.rooms.presence_events,
            user_presence_events: self.config.rooms.user_presence_events,
        };
        let shared = Shared {
            hub: Hub::new(cluster, metrics.clone(), rules).with_history(history),
            routes: router.routes().to_vec(),
            route_stats: router.stats.clone(),
            state: self.state,
            hooks,
            metrics,
            verifier,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            started_at: Instant::now(),
            started: AtomicBool::new(false),
            limits: Limits::new(&self.config.limits),
            flow: Arc::new(crate::flow::Flow::new(&self.config.limits.outbound)),
            subscribers,
            config: self.config,
        };
        Ok(WsServer {
            server: Server {
                shared: Arc::new(shared),
            },
            router: Arc::new(router),
            browser_client: self.browser_client,
            routes: self.routes,
            #[cfg(feature = "metrics")]
            prometheus,
            contract: self.contract,
        })
    }
}

/// The bus the configuration asks for: Redis when `cluster.redis_url` (or a Redis Cluster
/// when `cluster.redis_cluster_urls`) is set.
fn default_bus(config: &WsConfig) -> Result<Arc<dyn Bus>, BuildError> {
    #[cfg(feature = "redis")]
    if config.cluster.uses_redis() {
        let bus = crate::bus::RedisBus::new(&config.cluster)?;
        tracing::info!(
            prefix = %config.cluster.prefix,
            sharded = !config.cluster.redis_cluster_urls.is_empty(),
            "cluster: fan-out through redis"
        );
        return Ok(Arc::new(bus));
    }
    let _ = config;
    Ok(Arc::new(MemoryBus::new()))
}

/// A built server, ready to [`serve`](WsServer::serve) or to nest with
/// [`into_router`](WsServer::into_router).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = pxl_ws::WsServer::builder().build()?;
/// let handle = server.handle(); // send, inspect, shut down from anywhere
/// server.serve("127.0.0.1:3000").await?;
/// # Ok(()) }
/// ```
pub struct WsServer {
    server: Server,
    /// Dispatches every connection's messages (handed to the endpoint).
    router: Arc<Router>,
    browser_client: bool,
    routes: Option<AxumRouter>,
    /// The Prometheus recorder served at `metrics_path`.
    #[cfg(feature = "metrics")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    contract: ContractSetup,
}

impl WsServer {
    /// A builder with default settings.
    pub fn builder() -> WsServerBuilder {
        WsServerBuilder {
            config: WsConfig::default(),
            controllers: Vec::new(),
            state: StateMap::default(),
            hooks: Hooks::default(),
            bus: None,
            propagator: None,
            browser_client: false,
            subscribers: Vec::new(),
            routes: None,
            contract: ContractSetup::default(),
        }
    }

    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    pub(crate) fn contract_setup(&self) -> &ContractSetup {
        &self.contract
    }

    /// A handle for sending and inspecting from outside handlers (and for shutdown).
    pub fn handle(&self) -> Server {
        self.server.clone()
    }

    /// The routes, as registered (the built-in `system` routes first).
    pub fn routes(&self) -> Vec<crate::router::RouteInfo> {
        self.server.routes()
    }

    /// An axum router serving the WebSocket endpoint at `config.path` (and the health
    /// route and the browser client, if configured), to merge or nest into an existing app. Starts the
    /// server's timers; call it inside a tokio runtime. Shut down with
    /// [`Server::shutdown_on_signal`] in axum's `with_graceful_shutdown`.
    ///
    /// The endpoint keeps every upgrade-time limit (origins, connection caps, tokens) and
    /// every socket limit. What [`serve`](Self::serve) adds before a request is read is
    /// then up to the server you run it in: `axum::serve` has no header-read timeout
    /// and no cap on connections that have not finished their handshake
    /// (`limits.max_pending_connections*`, `limits.header_read_timeout` do not apply).
    /// Serve with `into_make_service_with_connect_info::<SocketAddr>()` so the per-IP
    /// cap sees peer addresses. See `docs/security.md`, "Before the upgrade".
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let ws = pxl_ws::WsServer::builder().build()?;
    /// let handle = ws.handle();
    /// let app = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .nest("/api", ws.into_router()); // socket at /api/ws
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
    ///     .with_graceful_shutdown(async move { handle.shutdown_on_signal().await })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn into_router(self) -> AxumRouter {
        let contract = self.contract_routes();
        start(&self.server);
        let shared = self.server.shared.clone();
        let endpoint = Arc::new(upgrade::Endpoint {
            shared: shared.clone(),
            router: self.router,
        });
        let mut socket = AxumRouter::new().route(&shared.config.path, any(upgrade::endpoint));
        if shared.config.pxl.path_prefix {
            socket = socket.fallback(upgrade::prefix_endpoint);
        }
        let socket = socket.with_state(endpoint);
        let mut router = AxumRouter::new();
        if let Some(path) = &shared.config.health_path {
            router = router.route(path, get(health_route));
        }
        if self.browser_client {
            router = router
                .route(
                    "/pxl-ws.js",
                    get(|| async { browser_asset("text/javascript; charset=utf-8", BROWSER_JS) }),
                )
                .route(
                    "/pxl-ws.d.ts",
                    get(|| async {
                        browser_asset("application/typescript; charset=utf-8", BROWSER_DTS)
                    }),
                );
        }
        let mut router = router.with_state(shared.clone()).merge(socket);
        #[cfg(feature = "metrics")]
        if let (Some(path), Some(handle)) = (&shared.config.metrics_path, self.prometheus) {
            router = router.merge(crate::scrape::route(path, shared.clone(), handle));
        }
        if let Some(contract) = contract {
            router = router.merge(contract);
        }
        if let Some(path) = &shared.config.admin.path {
            router = router.merge(crate::admin::page::route(path, &shared.config.path));
        }
        match self.routes {
            Some(routes) => router.merge(routes),
            None => router,
        }
    }

    /// Binds `addr` and serves until SIGINT / SIGTERM or [`Server::shutdown`], then shuts
    /// down gracefully. Connections are accepted by the server's own loop, which caps
    /// connections that are not WebSockets yet (`limits.max_pending_connections`, total
    /// and per IP, checked before a byte is read) and closes requests whose headers take
    /// longer than `limits.header_read_timeout`, idle keep-alive connections included.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> Result<(), ServeError> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_listener(listener).await
    }

    /// Serves on an already bound listener (e.g. `127.0.0.1:0` in tests).
    pub async fn serve_listener(self, listener: TcpListener) -> Result<(), ServeError> {
        let addr = listener.local_addr()?;
        let server = self.server.clone();
        let app = self.into_router();
        tracing::info!(%addr, path = %server.shared.config.path, "pxl-ws listening");
        accept::serve(listener, app, &server).await;
        server.shutdown().await;
        tracing::info!("pxl-ws stopped");
        Ok(())
    }
}

/// The browser client (`src/browser/pxl-ws.js`), served with `serve_browser_client(true)`.
pub(crate) const BROWSER_JS: &str = include_str!("browser/pxl-ws.js");
/// Its TypeScript declarations.
const BROWSER_DTS: &str = include_str!("browser/pxl-ws.d.ts");

fn browser_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn health_route(State(shared): State<Arc<Shared>>) -> Response {
    let health = Server { shared }.health();
    let status = match health.status {
        HealthStatus::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    (status, axum::Json(health)).into_response()
}

pub(crate) async fn shutdown_signal(server: &Server) {
    crate::util::signals::shutdown_signal(&server.shared.shutdown).await;
}

/// How often the gauges (connections, rooms, memberships, queued bytes) are sampled
/// when the metrics go to the app's own recorder (`metrics_path` unset).
#[cfg(feature = "metrics")]
const GAUGE_SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// Starts the background tasks once: bus receiver, heartbeat, inactivity sweep, and
/// (feature `metrics`, app's own recorder) the gauge sampler.
fn start(server: &Server) {
    let sh = &server.shared;
    if sh.started.swap(true, Ordering::SeqCst) {
        return;
    }
    let stop = sh.shutdown.clone();

    sh.subscribers.clone().spawn(server);

    if let Some(h) = sh.hub.history() {
        let weak = Arc::downgrade(&server.shared);
        h.set_fallback(Box::new(move |room, frame| {
            if let Some(sh) = weak.upgrade() {
                sh.hub.deliver_local(
                    &crate::frame::Target::room(room),
                    tokio_tungstenite::tungstenite::Message::Text(frame),
                    &crate::flow::Overflow::Keep,
                );
            }
        }));
    }

    // User presence decisions that wait for the cluster directory, in order.
    if let Some(mut rx) = sh.hub.pending_user_presence().take() {
        let weak = Arc::downgrade(&server.shared);
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let d = tokio::select! {
                    _ = stop.cancelled() => break,
                    d = rx.recv() => match d {
                        Some(d) => d,
                        None => break,
                    },
                };
                let Some(sh) = weak.upgrade() else { break };
                crate::presence::decide(&sh.hub, d).await;
            }
        });
    }

    let mut stream = sh.hub.bus().subscribe();
    let s = server.clone();
    let stop2 = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop2.cancelled() => break,
                m = stream.next() => match m {
                    Some(m) => s.hub().receive(&m),
                    None => break,
                },
            }
        }
    });

    // Liveness: announce ourselves every third of the TTL; purge lapsed instances
    // every tenth of it.
    let ttl = sh.config.cluster.liveness_ttl;
    let s = server.clone();
    spawn_every(ttl / 3, stop.clone(), move || s.hub().heartbeat(ttl));
    let s = server.clone();
    spawn_every(ttl / 10, stop.clone(), move || s.hub().sweep());

    let hb = sh.config.heartbeat.clone();
    if hb.enabled {
        let s = server.clone();
        spawn_every(hb.interval, stop.clone(), move || {
            let deadline = (hb.interval + hb.timeout).as_millis() as u64;
            let now = now_ms();
            s.hub().for_each_client(|c| {
                if now.saturating_sub(c.last_seen_ms()) > deadline {
                    tracing::info!(client = %c.id, "heartbeat timeout; closing");
                    c.request_close(1011, "heartbeat timeout", false);
                } else {
                    c.push(Message::Ping(Default::default()), &s.shared.metrics);
                }
            });
        });
    }

    // With the app's own recorder nobody scrapes pxl-ws's route, which samples the
    // gauges: sample them on a timer instead.
    // (Not when pxl-ws's recorder serves another server of this process: its scrapes
    // sample that server.)
    #[cfg(feature = "metrics")]
    if sh.config.metrics_path.is_none() && !crate::metrics::prometheus_installed() {
        let s = server.clone();
        spawn_every(GAUGE_SAMPLE_PERIOD, stop.clone(), move || {
            crate::scrape::sample(&s.shared)
        });
    }

    let ic = sh.config.disconnect_inactive_clients.clone();
    if ic.enabled {
        let s = server.clone();
        spawn_every(ic.interval_check_time, stop, move || {
            let limit = ic.inactive_time.as_millis() as u64;
            let now = now_ms();
            s.hub().for_each_client(|c| {
                let idle = now.saturating_sub(c.last_activity_ms());
                if idle > limit && c.request_close(4000, "inactive", true) && ic.log {
                    tracing::info!(client = %c.id, inactive_ms = idle, "disconnected inactive client");
                }
            });
        });
    }

    sh.hooks.server_started(server);
}

fn spawn_every(period: Duration, stop: CancellationToken, mut tick: impl FnMut() + Send + 'static) {
    tokio::spawn(async move {
        let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = iv.tick() => tick(),
            }
        }
    });
}
