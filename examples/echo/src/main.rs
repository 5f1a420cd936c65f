//! Raw echo server: every text and binary message comes back unchanged. It runs the
//! full pxl-ws connection layer (upgrade, reader loop, writer task, close handshake,
//! protocol faults); only routing is replaced, by a `fallback` handler that echoes.
//! This is the server the Autobahn conformance suite runs against:
//!
//! ```sh
//! PXL_WS_PORT=9002 cargo run --release -p example-echo &
//! ../shared/conformance/run-autobahn.sh ws://127.0.0.1:9002/ws
//! ```
//!
//! Settings come from `WsConfig::from_env` (port `PXL_WS_PORT`, path `/ws`), without the
//! `system/connected` greeting. Unless set in
//! the environment, the limits meant for chat clients are relaxed for a test peer:
//! no rate limit, any origin, 16 MiB messages.

use pxl_ws::{WsConfig, WsServer};

fn unset(var: &str) -> bool {
    std::env::var_os(var).is_none()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let mut config = WsConfig::from_env()?;
    // Raw frames only: no `system/connected` greeting.
    config.connected_frame = false;
    if unset("PXL_WS_RATE_LIMIT") {
        config.limits.rate_limit.enabled = false;
    }
    if unset("PXL_WS_ALLOWED_ORIGINS") {
        config.limits.allowed_origins = vec!["*".into()];
    }
    if unset("PXL_WS_MAX_MESSAGE_SIZE") {
        config.max_message_size = 16 * 1024 * 1024;
    }
    let addr = config.addr();
    let server = WsServer::builder()
        .config(config)
        .fallback(|client, message| {
            client.send_raw(message);
        })
        .build()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "echo server on ws://{}{} (pid {})",
        listener.local_addr()?,
        server.handle().config().path,
        std::process::id()
    );
    server.serve_listener(listener).await?;
    Ok(())
}
