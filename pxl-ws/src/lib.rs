//! # pxl-ws
//!
//! Real-time WebSocket applications on tokio + axum: controllers routed by
//! `{type, action}`, rooms, presence, health and graceful shutdown, with the routing
//! tables generated and checked at compile time.
//!
//! ```no_run
//! use pxl_ws::{ws_controller, ActionError, Client, Data, Push, Server, WsConfig, WsServer};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct SendMsg { room: String, text: String }
//!
//! #[derive(Serialize)]
//! struct Ack { delivered: bool }
//!
//! /// A typed push: `{"type":"chat","action":"message","data":{"text":..}}`.
//! #[derive(Serialize, Push)]
//! #[push(type = "chat", action = "message")]
//! struct ChatMessage { text: String }
//!
//! struct ChatController;
//!
//! #[ws_controller(type = "chat", pushes = [ChatMessage])]
//! impl ChatController {
//!     #[action("send", errors = ["NOT_IN_ROOM"])]
//!     async fn send(&self, client: Client, server: Server, Data(msg): Data<SendMsg>) -> Result<Ack, ActionError> {
//!         if !client.in_room(&msg.room) {
//!             return Err(ActionError::new("NOT_IN_ROOM", "join the room first"));
//!         }
//!         server.send_to_room(&msg.room, &ChatMessage { text: msg.text }, None);
//!         Ok(Ack { delivered: true })
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = WsConfig::from_env()?;
//! let addr = config.addr();
//! WsServer::builder()
//!     .config(config)
//!     .controller(ChatController)
//!     .build()?
//!     .serve(addr)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Clients send `{"type":"chat","action":"send","data":{...},"id":1}` and get
//! `{"type":"chat","action":"send","response":{"delivered":true},"id":1}` back.
//!
//! ## The path of a message
//!
//! socket → [`connection`](crate::WsServer) reader → router (`type` lookup, then the
//! controller's generated `match` on `action`) → handler with its extractors → reply
//! frame → the client's bounded outbound queue → its writer task. Sends
//! ([`Server::send_to_room`] and friends) serialise the frame once, deliver to local
//! clients' queues and publish once on the [`Bus`](bus::Bus) for other instances.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[ws_controller]`, `#[action]` and `#[subscriber]` (re-exported from `pxl-ws-macros`), and `subscribers!` |
//! | `client` | no | `pxl_ws::client`: the Rust client (`WsClient`), with client-side controllers and reconnect |
//! | `redis` | yes | [`bus::RedisBus`] and `cluster.redis_url` (one Redis) or `cluster.redis_cluster_urls` (a Redis Cluster, sharded pub/sub): several instances as one app (see `docs/cluster.md`) |
//! | `metrics` | no | Prometheus metrics through the `metrics` facade: `serve_metrics("/metrics")` (or `metrics_path`, `PXL_WS_METRICS_PATH`), or the app's own recorder; see `docs/metrics.md`. Off, recording compiles to nothing |
//! | `otel` | no | [`trace::OtelPropagator`]: a send's OpenTelemetry trace context crosses the bus to the instances that deliver it (`tracing-opentelemetry`); the core carries W3C trace context for any [`trace::Propagator`] without it (see `docs/metrics.md`) |
//! | `schema` | no | JSON Schemas (schemars) of every `Data<T>`, response and push whose type implements `JsonSchema`, in [`contract`] (AsyncAPI, TypeScript, the breaking-change check); without it nothing requires `JsonSchema` and the contract is untyped |
//! | `test-util` | no | `pxl_ws::test`: a test kit for controllers — an in-process server without TCP, test clients through the real connection path, users with roles without a JWT; works with `tokio::time::pause` |
//!
//! ## The crate root and its modules
//!
//! The root holds what a first app needs: the builder ([`WsServer`], [`WsServerBuilder`]),
//! the settings ([`WsConfig`]), the handles ([`Server`], [`Client`], [`Rooms`],
//! [`WsService`] — PXL's `WebSocketService`), the extractors ([`Data`], [`State`],
//! [`AuthUser`]), the frames ([`Frame`], [`RawMessage`]), who a send reaches ([`Target`],
//! [`ClientId`]), [`ActionError`], [`Push`] (typed pushes) and the macros. The rest is namespaced by concept:
//!
//! | module | what is in it |
//! |---|---|
//! | [`config`] | every settings struct under [`WsConfig`]: rooms, limits against hostile clients, auth, cluster, heartbeat; [`ConfigError`](config::ConfigError) |
//! | [`controller`] | the [`Controller`](controller::Controller) trait the macro implements, [`FromMessage`](controller::FromMessage), [`Reply`](controller::Reply), route metadata: controllers without the macro |
//! | [`subscriber`](mod@subscriber) | [`Subscriber`](subscriber::Subscriber), [`Event`](subscriber::Event), [`Matcher`](subscriber::Matcher), the event extractors and middleware: handlers of bus events on every instance |
//! | [`auth`] | [`AuthUser`] and token errors |
//! | [`bus`] | the [`Bus`](bus::Bus) trait, [`MemoryBus`](bus::MemoryBus) and (feature `redis`) `RedisBus` |
//! | [`cluster`] | PXL's custom-event API ([`CustomEvent`](cluster::CustomEvent)) |
//! | [`hooks`] | what the builder's event hooks receive |
//! | [`health`] | the [`Health`](health::Health) snapshot |
//! | [`protocol`] | the wire format and error codes |
//! | [`trace`] | W3C trace context across the bus: [`TraceContext`](trace::TraceContext), the [`Propagator`](trace::Propagator) hook, (feature `otel`) `OtelPropagator` |
//! | [`push`] | typed pushes: [`Push`] (and `#[derive(Push)]`), [`ToFrame`](push::ToFrame), what sends take |
//! | [`contract`] | the protocol contract from the code: [`WsServer::contract`], AsyncAPI 3.0, TypeScript, [`diff`](contract::diff) (see `docs/contract.md`) |
//! | `client` | (feature `client`) the Rust client, `WsClient` |
//! | `test` | (feature `test-util`) the test kit for controllers: `TestServer`, `TestClient` |
//!
//! ## Application events between instances
//!
//! The recommended way is [`Server::publish`] with `#[subscriber]` functions: the event
//! reaches the matching subscribers of every instance, with channel patterns,
//! priorities, extractors and middleware. [`Server::publish_custom`] with
//! [`Server::subscribe_custom`] is PXL's `custom` event, kept for apps ported from PXL.
//!
//! `serve_browser_client(true)` on the builder also serves the browser client at
//! `/pxl-ws.js`.
//!
//! ## Operating it
//!
//! [`Server::health`] is a snapshot of the counters; `health_path` serves it as JSON.
//! With the `metrics` feature, `serve_metrics("/metrics")` serves Prometheus metrics.
//! [`serve_admin("/admin")`](WsServerBuilder::serve_admin) (or `PXL_WS_ADMIN_PATH`)
//! serves an admin dashboard — instances, connections, rooms, per-route rates and errors,
//! a live tail, disconnects — talking to a built-in `admin` controller over the socket;
//! access needs an admin token or a JWT role, and without either `build()` refuses (see
//! `docs/admin.md`).

mod accept;
mod admin;
pub mod auth;
pub mod bus;
#[cfg(feature = "client")]
pub mod client;
mod client_list;
mod clients;
pub mod cluster;
pub mod config;
mod connection;
pub mod contract;
mod events;
mod flow;
mod frame;
mod handles;
pub mod health;
mod history;
pub mod hooks;
mod hub;
mod limits;
mod lock;
mod metrics;
mod outbox;
mod presence;
pub mod protocol;
pub mod push;
mod read_stage;
#[cfg(feature = "redis")]
mod redis_target;
mod rooms;
mod route;
mod route_stats;
mod router;
#[cfg(feature = "metrics")]
mod scrape;
mod server;
mod service;
mod state;
mod subscribers;
mod system;
#[cfg(feature = "test-util")]
pub mod test;
pub mod trace;
mod upgrade;
mod util;
mod ws_service;

pub use auth::AuthUser;
pub use clients::{ClientId, ClientInfo, InvalidClientId};
pub use config::WsConfig;
pub use handles::{Client, Directory, Rooms};
pub use protocol::ActionError;
pub use push::Push;
pub use router::{Data, State};
pub use server::{BuildError, ServeError, WsServer, WsServerBuilder};
pub use service::{Frame, RawMessage, Server, Target};
pub use ws_service::WsService;

/// Controllers without the macros: the [`Controller`](controller::Controller) trait
/// that `#[ws_controller]` implements, the extraction trait, replies and route
/// metadata. The extractors themselves ([`Data`], [`State`], [`Client`], [`AuthUser`],
/// ...) are at the crate root.
pub mod controller {
    pub use crate::router::{BoxFuture, Controller, FromMessage, MessageContext, Reply, RouteInfo};
    pub use crate::state::StateMap;
}

/// Subscribers: handlers of bus events on every instance, fed by the built-in events
/// (connects, room changes, sends, queue jobs) and by [`Server::publish`] — the
/// recommended way to pass application events between instances. `#[subscriber]`
/// implements [`Subscriber`](subscriber::Subscriber); [`subscribers!`] lists them for
/// the builder.
pub mod subscriber {
    pub use crate::subscribers::{
        Channel, Event, FromEvent, LoggingMiddleware, Matcher, Message, Middleware, Predicate,
        RateLimitMiddleware, Subscriber, SubscriberContext, SubscriberError, SubscriberReturn,
        TimingMiddleware,
    };
}

#[cfg(feature = "macros")]
pub use pxl_ws_macros::{Push, action, subscriber, ws_controller};

/// Items used by code that the macros generate. Not a public API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::auth::authorize;
    pub use crate::contract::schema::{HasSchema, NoSchema, Probe};
    pub use crate::router::{
        DataFromMessage, DataRawValue, RawData, RawReply, ReplyRawValue, ReplySerialize,
        reply_error, reply_result, reply_result_unit, reply_unit, reply_value,
    };
    pub use regex;
    pub use std;
    /// `serde_json::Value`, as an alias: a re-export of the crate would change how
    /// rustc names serde_json's types in users' error messages.
    pub type JsonValue = serde_json::Value;
}
