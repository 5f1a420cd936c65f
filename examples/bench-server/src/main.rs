//! Benchmark server: `PXL_WS_PORT=9001 cargo run --release -p example-bench-server`,
//! then drive it with `bench/run.sh` or `pxl-ws-bench` (see docs/performance.md).
//!
//! Settings come from `WsConfig::from_env` (port `PXL_WS_PORT`, path `/ws`; with
//! `REDIS_URL` set, instances share rooms through Redis, which the `cluster` scenario
//! uses; with `PXL_WS_HISTORY_SIZE` set, every room keeps a history, which the suite's
//! `pxl-ws-history` server and the `recover` scenario use). The rate limit and the connection caps are off unless set in the environment
//! (see `example_bench_server::bench_defaults`). Prints `pid N` once listening.

use pxl_ws::WsConfig;

/// With `--features mimalloc` (the suite's `pxl-ws-mimalloc` server): the floor's allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let mut config = WsConfig::from_env()?;
    example_bench_server::bench_defaults(&mut config);
    let addr = config.addr();
    let server = example_bench_server::build(config)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "bench server on ws://{}{}",
        listener.local_addr()?,
        server.handle().config().path
    );
    println!("pid {}", std::process::id());
    server.serve_listener(listener).await?;
    Ok(())
}
