//! The pxl-ws server that the benchmark suite (`bench/`) measures, as a library so the
//! suite's smoke test can run it in-process. The binary (`src/main.rs`) is what
//! `bench/run.sh` starts.
//!
//! | client sends | sender gets | room members get |
//! |---|---|---|
//! | `bench/echo DATA` | `response: DATA` | — |
//! | `bench/broadcast {room, ...}` | an empty reply | `bench/message` with the same `data` |
//! | `system/joinRoom {roomName}` | the built-in join reply | — |
//!
//! `data` is never decoded beyond the `room` field: it travels as raw JSON, so the
//! numbers measure the framework (upgrade, parse, route, reply, fan-out), not serde.

use pxl_ws::{ActionError, BuildError, Data, Frame, Server, WsConfig, WsServer, ws_controller};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `type: "bench"`: echo and room broadcast.
pub struct BenchController;

#[derive(Deserialize)]
struct Room<'a> {
    #[serde(borrow)]
    room: std::borrow::Cow<'a, str>,
}

#[ws_controller(type = "bench")]
impl BenchController {
    /// `bench/echo DATA` → `response: DATA`.
    #[action("echo")]
    async fn echo(&self, Data(data): Data<Box<RawValue>>) -> Box<RawValue> {
        data
    }

    /// `bench/broadcast {room, ...}` → every member of `room` gets `bench/message` with
    /// the same `data` (serialised once); the sender gets an empty reply.
    #[action("broadcast")]
    async fn broadcast(
        &self,
        server: Server,
        Data(data): Data<Box<RawValue>>,
    ) -> Result<(), ActionError> {
        let target: Room<'_> = serde_json::from_str(data.get())
            .map_err(|e| ActionError::new("INVALID_PAYLOAD", e.to_string()))?;
        let frame = Frame::new("bench", "message", &data).map_err(ActionError::internal)?;
        server.send_to_room(&target.room, &frame, None);
        Ok(())
    }
}

fn unset(var: &str) -> bool {
    std::env::var_os(var).is_none()
}

/// Relaxes, unless the variable is set in the environment, the limits meant for browser
/// clients, so a load generator on one address can open 10 000 sockets at full speed:
///
/// | setting | default here | env var |
/// |---|---|---|
/// | per-client rate limit | off | `PXL_WS_RATE_LIMIT` |
/// | connections per IP | off | `PXL_WS_MAX_CONNECTIONS_PER_IP` |
/// | connections in total | off | `PXL_WS_MAX_CONNECTIONS` |
/// | pending (not yet upgraded) connections per IP | off | `PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP` |
/// | allowed origins | any | `PXL_WS_ALLOWED_ORIGINS` |
/// | `system/connected` greeting | off | `PXL_WS_CONNECTED_FRAME` |
/// | presence events | off | `PXL_WS_PRESENCE_EVENTS` |
pub fn bench_defaults(config: &mut WsConfig) {
    if unset("PXL_WS_RATE_LIMIT") {
        config.limits.rate_limit.enabled = false;
    }
    if unset("PXL_WS_MAX_CONNECTIONS_PER_IP") {
        config.limits.max_connections_per_ip = None;
    }
    if unset("PXL_WS_MAX_CONNECTIONS") {
        config.limits.max_connections = None;
    }
    if unset("PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP") {
        config.limits.max_pending_connections_per_ip = None;
    }
    if unset("PXL_WS_ALLOWED_ORIGINS") {
        config.limits.allowed_origins = vec!["*".into()];
    }
    if unset("PXL_WS_CONNECTED_FRAME") {
        config.connected_frame = false;
    }
    if unset("PXL_WS_PRESENCE_EVENTS") {
        config.rooms.presence_events = false;
    }
}

/// The benchmark server for `config` (apply [`bench_defaults`] first for the suite's
/// settings).
pub fn build(config: WsConfig) -> Result<WsServer, BuildError> {
    WsServer::builder()
        .config(config)
        .controller(BenchController)
        .build()
}
