//! Subscribers on pxl-ws: cargo run -p example-subscribers (see the library docs).

use pxl_ws::WsConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = WsConfig::from_env()?;
    config.debug.print_routes = true;
    let addr = config.addr();
    let (builder, mut analytics) = example_subscribers::app();
    // The pretend analytics worker.
    tokio::spawn(async move {
        while let Some(item) = analytics.recv().await {
            tracing::info!(%item, "analytics worker: queued VIP event");
        }
    });
    builder.config(config).build()?.serve(addr).await?;
    Ok(())
}
