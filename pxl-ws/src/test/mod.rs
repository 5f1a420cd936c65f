//! A test kit for controllers (feature `test-util`), in the spirit of Phoenix's
//! `ChannelTest` and axum's `oneshot`: a server built from your [`WsServerBuilder`] runs
//! in-process, and [`TestClient`]s talk to it without TCP.
//!
//! A test client is a real WebSocket client on one end of an in-memory pipe
//! ([`tokio::io::duplex`]); the other end is served by hyper with the server's own axum
//! router. So everything a socket client meets is on the path: the upgrade checks and
//! limits, token checks, rate limits, the routing, the generated `auth` / `roles` check,
//! extractors, the handler, its reply, rooms, presence, hooks, subscribers and the bus.
//! Only the accept loop of [`serve`](crate::WsServer::serve) is not (its pending-connection
//! caps and header-read timeout), as with [`into_router`](crate::WsServer::into_router).
//!
//! ```
//! use pxl_ws::test::TestServer;
//! use pxl_ws::{ws_controller, ActionError, AuthUser, Data, Server, WsServer, Frame};
//! use serde_json::json;
//!
//! struct Chat;
//!
//! #[ws_controller(type = "chat")]
//! impl Chat {
//!     #[action("send", auth)]
//!     async fn send(&self, user: AuthUser, server: Server, Data(text): Data<String>) -> Result<usize, ActionError> {
//!         let frame = Frame::new("chat", "message", &json!({ "from": user.user_id(), "text": text }))
//!             .map_err(ActionError::internal)?;
//!         Ok(server.send_to_room("lobby", &frame, None))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let kit = TestServer::new(WsServer::builder().controller(Chat)).await;
//! let mut alice = kit.connect().await;
//! alice.as_user("alice", &["member"]);
//! alice.join("lobby").await;
//! let mut room = kit.room_observer("lobby").await; // records what the room receives
//!
//! let reply = alice.request("chat", "send", json!("hi")).await;
//! assert_eq!(reply.response(), &json!(2)); // alice and the observer
//! let pushed = room.expect_push("chat", "message").await;
//! assert_eq!(pushed, json!({ "from": "alice", "text": "hi" }));
//!
//! // Without a user, the route's `auth` check answers UNAUTHENTICATED.
//! let mut anonymous = kit.connect().await;
//! let refused = anonymous.request("chat", "send", json!("hi")).await;
//! assert_eq!(refused.error_code(), "UNAUTHENTICATED");
//! # }
//! ```
//!
//! Every wait of the kit is a [`tokio::time::timeout`] (10 s unless
//! [`TestServer::with_timeout`] says otherwise), never a polling sleep, so tests may run
//! with `tokio::time::pause` (`#[tokio::test(start_paused = true)]`): while everything is
//! idle, paused time jumps to the next timer, so a handler's or subscriber's
//! `tokio::time::sleep` ends at once, and so does a wait for a frame that never comes.
//! The kit's timeout counts in that time too. Checks the server makes against the wall
//! clock (a client's inactivity, heartbeat replies, token expiry) do not move with paused
//! time. A failed expectation panics with the last frames the client received.
//!
//! Several instances in one process share a [`MemoryBus`](crate::bus::MemoryBus): build each
//! `TestServer` with `.bus(bus.clone())`, and sends, rooms and subscribers work across
//! them as across processes on Redis.

mod client;

pub use client::{TestClient, TestReply};

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, http};

use crate::BuildError;
use crate::Server;
use crate::WsServerBuilder;

/// How long a wait of the kit lasts before it fails, unless set otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes buffered in each direction of a test client's in-memory pipe.
const PIPE_BUFFER: usize = 64 * 1024;

/// A server running in-process, without a listener: connect [`TestClient`]s to it.
///
/// It starts like a served server (bus receiver, subscribers, timers). Test clients
/// appear to come from `127.0.0.1`, one port each, so per-IP limits apply as to local
/// clients. Use [`server`](Self::server) for the app-facing handle (sends, rooms,
/// health), exactly as handlers and background tasks see it.
pub struct TestServer {
    server: Server,
    router: axum::Router,
    timeout: Duration,
    next_port: Arc<AtomicU16>,
}

/// A connection the server refused at the upgrade: its HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Refused {
    /// The HTTP status, e.g. 401 for a bad token, 429 for the per-IP cap.
    pub status: u16,
    /// The JSON body (`{"error", "code"}`), or `Null` when it was not JSON.
    pub body: serde_json::Value,
}

impl Refused {
    /// The body's `code`, e.g. `TOKEN_EXPIRED` (empty when there is none).
    pub fn code(&self) -> &str {
        self.body
            .get("code")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upgrade refused with HTTP {}: {}",
            self.status, self.body
        )
    }
}

impl std::error::Error for Refused {}

impl TestServer {
    /// Builds the server and starts it. Panics with the [`BuildError`] if the builder is
    /// invalid (use [`try_new`](Self::try_new) to test that).
    pub async fn new(builder: WsServerBuilder) -> Self {
        match Self::try_new(builder).await {
            Ok(kit) => kit,
            Err(e) => panic!("TestServer: the server does not build: {e}"),
        }
    }

    /// Builds the server and starts it, or returns why it does not build.
    pub async fn try_new(builder: WsServerBuilder) -> Result<Self, BuildError> {
        let ws = builder.build()?;
        let server = ws.handle();
        let router = ws.into_router();
        Ok(Self {
            server,
            router,
            timeout: DEFAULT_TIMEOUT,
            next_port: Arc::new(AtomicU16::new(1)),
        })
    }

    /// Sets how long each wait of this kit's clients lasts before failing (10 s by
    /// default); clients connected later take it over.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The app-facing handle of this server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// An upgrade request for this server's socket path (with the WebSocket headers and
    /// `Host: localhost`), to add headers to before [`try_connect`](Self::try_connect):
    /// a token, an `Origin`, another `Host`.
    pub fn upgrade_request(&self) -> http::Request<()> {
        let url = format!("ws://localhost{}", self.server.config().path);
        url.into_client_request()
            .expect("ws://localhost and the configured path form a valid request")
    }

    /// Connects an anonymous test client. Returns once the server registered it (after
    /// `system/connected`, which the client takes; later frames, such as
    /// `auth/authenticated`, wait for the test). Panics if the server refuses the upgrade.
    pub async fn connect(&self) -> TestClient {
        match self.try_connect(self.upgrade_request()).await {
            Ok(c) => c,
            Err(refused) => panic!("TestServer::connect: {refused}"),
        }
    }

    /// Connects a test client and authenticates it as `user_id` with `roles`, as
    /// [`TestClient::as_user`] does.
    pub async fn connect_as(&self, user_id: &str, roles: &[&str]) -> TestClient {
        let mut c = self.connect().await;
        c.as_user(user_id, roles);
        c
    }

    /// Connects with `request` (see [`upgrade_request`](Self::upgrade_request)); `Err` is
    /// the server's refusal of the upgrade (status and body), e.g. 401 for a bad token.
    pub async fn try_connect(&self, request: http::Request<()>) -> Result<TestClient, Refused> {
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let remote = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (near, far) = tokio::io::duplex(PIPE_BUFFER);
        let app = self
            .router
            .clone()
            .layer(axum::Extension(ConnectInfo(remote)));
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(far), TowerToHyperService::new(app))
            .with_upgrades();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "test connection ended with an error");
            }
        });
        let handshake = tokio_tungstenite::client_async(request, near);
        let socket = match tokio::time::timeout(self.timeout, handshake).await {
            Err(_) => panic!(
                "TestServer: no answer to the upgrade within {:?}",
                self.timeout
            ),
            Ok(Ok((socket, _))) => socket,
            Ok(Err(WsError::Http(resp))) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(serde_json::Value::Null);
                return Err(Refused { status, body });
            }
            Ok(Err(e)) => panic!("TestServer: the upgrade failed: {e}"),
        };
        Ok(TestClient::start(self.server.clone(), socket, remote, self.timeout).await)
    }

    /// A test client that is a member of `room` (joined on the server side, without a
    /// `system/joinRoom` message), to assert on what the room receives. It counts as a
    /// member like any other (presence events, `Rooms`, send counts).
    pub async fn room_observer(&self, room: &str) -> TestClient {
        let c = self.connect().await;
        if self.server.join_room(c.id(), room) != Some(true) {
            panic!("TestServer::room_observer: could not join room `{room}`");
        }
        c
    }

    /// A test client bound to `user_id` (without roles), to assert on what
    /// [`Server::send_to_user`] and [`Target::user`](crate::Target::user) deliver.
    pub async fn user_observer(&self, user_id: &str) -> TestClient {
        let c = self.connect().await;
        match self.server.client(c.id()) {
            Some(handle) => handle.set_user_id(user_id),
            None => panic!("TestServer::user_observer: the client is gone"),
        }
        c
    }

    /// Shuts the server down gracefully (every client gets 1001) and waits for it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
