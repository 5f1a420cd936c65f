//! One cluster test instance: the probe controller on `127.0.0.1:0`, configured from the
//! environment (`REDIS_URL`, `PXL_WS_CLUSTER_PREFIX`, `PXL_WS_CLUSTER_TTL_MS`, ...).
//! Prints `listening <addr> <instance id>` once it accepts connections.

use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let config = pxl_ws::WsConfig::from_env()?;
    let server = pxl_ws_tests::cluster::probe_builder(config).build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {addr} {}", server.handle().instance_id())?;
        out.flush()?;
    }
    server.serve_listener(listener).await?;
    Ok(())
}
