//! The floor server of the benchmark suite: a bare axum WebSocket server speaking the
//! bench protocol. `PXL_WS_PORT=9002 cargo run --release -p pxl-ws-bench --bin bench-floor`
//! (socket at `/ws`, host `PXL_WS_HOST` or 0.0.0.0). Prints `pid N` once listening.
//! Built like a tuned hand-written server: 8 KiB read buffer, the workspace's release
//! profile (fat LTO, one codegen unit) and mimalloc as the allocator.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PXL_WS_PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3000,
    };
    let host = std::env::var("PXL_WS_HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let mut config = pxl_ws_bench::floor::FloorConfig::default();
    if let Ok(size) = std::env::var("FLOOR_READ_BUFFER") {
        config.read_buffer = size.parse()?;
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("floor server on ws://{}/ws", listener.local_addr()?);
    println!("pid {}", std::process::id());
    axum::serve(listener, pxl_ws_bench::floor::router(config)).await?;
    Ok(())
}
