//! # pxl-ws
//!
//! Real-time WebSocket applications on tokio + axum: controllers routed by
//! `{type, action}`, rooms, presence, health and graceful shutdown, with the routing
//! tables generated and checked at compile time.
//!
//! ```no_run
//! use pxl_ws::{ws_controller, ActionError, Client, Data, Frame, Server, WsConfig, WsServer};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct SendMsg { room: String, text: String }
//!
//! #[derive(Serialize)]
//! struct Ack { delivered: bool }
//!
//! struct ChatController;
//!
//! #[ws_controller(type = "chat")]
//! impl ChatController {
//!     #[action("send")]
//!     async fn send(&self, client: Client, server: Server, Data(msg): Data<SendMsg>) -> Result<Ack, ActionError> {
//!         if !client.in_room(&msg.room) {
//!             return Err(ActionError::new("NOT_IN_ROOM", "join the room first"));
//!         }
//!         let frame = Frame::new("chat", "message", &serde_json::json!({ "text": msg.text }))
//!             .map_err(ActionError::internal)?;
//!         server.send_to_room(&msg.room, &frame, None);
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
//! clients' queues and publish once on the [`Bus`] for other instances.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[ws_controller]`, `#[action]` and `#[subscriber]` (re-exported from `pxl-ws-macros`), and `subscribers!` |
//! | `client` | no | `pxl_ws::client`: the Rust client (`WsClient`), with client-side controllers and reconnect |
//! | `redis` | yes | [`RedisBus`] and `cluster.redis_url`: several instances as one app (see `docs/cluster.md`) |
//! | `test-util` | no | `pxl_ws::test`: a test kit for controllers — an in-process server without TCP, test clients through the real connection path, users with roles without a JWT; works with `tokio::time::pause` |
//!
//! ## Modules by concept
//!
//! [`WsConfig`] (settings), [`protocol`] (wire format and error codes), the router
//! ([`Controller`], [`FromMessage`], [`Reply`]), clients ([`Client`], [`ClientId`]), rooms
//! ([`Rooms`]), the bus ([`Bus`], [`MemoryBus`], `RedisBus`) and the cluster view
//! ([`ClusterConfig`], [`CustomEvent`]), the app-facing [`Server`] handle, and
//! subscribers ([`Subscriber`], [`Matcher`], [`Event`], [`FromEvent`], [`Middleware`]:
//! handlers of bus events on every instance, fed by [`Server::publish`] and the built-in
//! events), [`WsService`] (PXL's `WebSocketService`), and
//! [`WsServer`] (builder, serve, shutdown; `serve_browser_client(true)` also serves the
//! browser client at `/pxl-ws.js`). [`LimitsConfig`] and [`RoomsConfig`] hold the limits
//! against hostile clients (origins, connection caps, message rate, rooms). With the
//! `client` feature, `pxl_ws::client` is the Rust client (`WsClient`). With the
//! `test-util` feature, `pxl_ws::test` is the test kit for controllers (`TestServer`,
//! `TestClient`).

mod accept;
mod auth;
mod bus;
#[cfg(feature = "client")]
pub mod client;
mod clients;
mod cluster;
mod config;
mod connection;
mod events;
mod frame;
mod handles;
mod health;
mod hooks;
mod hub;
mod limits;
mod lock;
mod outbox;
pub mod protocol;
mod rooms;
mod router;
mod server;
mod service;
mod state;
mod subscribers;
mod system;
#[cfg(feature = "test-util")]
pub mod test;
mod upgrade;
mod util;
mod ws_service;

pub use auth::{AuthUser, TokenError};
#[cfg(feature = "redis")]
pub use bus::RedisBus;
pub use bus::{Bus, BusMessage, BusStatus, BusStream, MemoryBus};
pub use clients::{ClientId, ClientInfo, InvalidClientId};
pub use cluster::{CustomEvent, CustomEvents};
pub use config::{
    AuthConfig, ClusterConfig, ConfigError, DebugConfig, HeartbeatConfig, InactiveClientsConfig,
    RoomsConfig, Secret, WsConfig,
};
pub use config::{LimitsConfig, RateLimitConfig, RoomNameChars};
pub use handles::{Client, Rooms};
pub use health::{Health, HealthStatus, LimitCounts};
pub use hooks::{DisconnectInfo, ErrorEvent, ErrorKind, MessageInfo};
pub use protocol::ActionError;
pub use router::{
    BoxFuture, Controller, Data, FromMessage, MessageContext, Reply, RouteInfo, State,
};
pub use server::{BuildError, ServeError, WsServer, WsServerBuilder};
pub use service::{Frame, RawMessage, Server, Target};
pub use state::StateMap;
pub use subscribers::{
    Channel, Event, FromEvent, LoggingMiddleware, Matcher, Message, Middleware, Predicate,
    RateLimitMiddleware, Subscriber, SubscriberContext, SubscriberError, SubscriberReturn,
    TimingMiddleware,
};
pub use ws_service::WsService;

#[cfg(feature = "macros")]
pub use pxl_ws_macros::{action, subscriber, ws_controller};

/// Items used by code that the macros generate. Not a public API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::auth::authorize;
    pub use crate::router::{reply_result, reply_result_unit, reply_unit, reply_value};
    pub use regex;
    pub use std;
}
