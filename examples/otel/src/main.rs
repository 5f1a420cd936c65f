//! One OpenTelemetry trace across two instances: `cargo run -p example-otel`
//!
//! Starts two instances of one app on free loopback ports, on one bus: an in-process
//! bus, or Redis when `PXL_WS_REDIS_URL` is set (e.g. `redis://127.0.0.1:6379`; then
//! the two could as well be two processes on two hosts). A client of instance B joins
//! room `lobby`; a client of instance A sends `chat/say`, whose handler sends the text
//! to the room. B gets the send from the bus and delivers it to its client.
//!
//! Both servers use [`OtelPropagator`]: A's send carries its `message` span's W3C
//! `traceparent` in the bus payload, and B delivers it in a `deliver` span whose parent
//! is that span. The spans are printed by OpenTelemetry's stdout exporter (no collector
//! needed): `message` (chat/say, instance A) and `deliver` (instance B) show the same
//! `TraceId`, and `deliver`'s `ParentSpanId` is `message`'s `SpanId` (the handler also
//! prints its trace id).
//!
//! The `message` span is at DEBUG level, so the OpenTelemetry layer has its own filter
//! (`pxl_ws=debug`), while the log output stays at `RUST_LOG` (default `info`).

use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use pxl_ws::client::WsClient;
use pxl_ws::trace::OtelPropagator;
use pxl_ws::{Data, Frame, Server, Target, WsConfig, WsServer, ws_controller};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    /// Sends `text` to room `lobby` on every instance; answers how many clients of this
    /// instance got it.
    #[action("say")]
    async fn say(&self, server: Server, Data(text): Data<String>) -> usize {
        let trace_id = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id();
        println!("instance A: chat/say handled in trace {trace_id}");
        match Frame::new("chat", "message", &text) {
            Ok(frame) => server.send(&Target::room("lobby"), &frame),
            Err(_) => 0,
        }
    }
}

/// One instance on `bus` (or on Redis, when the config names it), serving on a free
/// port; returns its handle and its socket URL.
async fn instance(
    config: WsConfig,
    bus: &pxl_ws::bus::MemoryBus,
) -> Result<(Server, String), Box<dyn std::error::Error>> {
    let mut builder = WsServer::builder()
        .propagator(OtelPropagator)
        .controller(Chat);
    builder = if config.cluster.redis_url.is_some() {
        builder.config(config)
    } else {
        builder.config(config).bus(bus.clone())
    };
    let server = builder.build()?;
    let handle = server.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = server.serve_listener(listener).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok((handle, url))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("example-otel"))
        .with_filter(Targets::new().with_target("pxl_ws", tracing::Level::DEBUG));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .with(otel)
        .init();

    let config = WsConfig::from_env()?;
    let bus = pxl_ws::bus::MemoryBus::new();
    let (a, a_url) = instance(config.clone(), &bus).await?;
    let (b, b_url) = instance(config, &bus).await?;

    let on_b = WsClient::connect(b_url).await?;
    let mut frames = on_b.frames();
    on_b.join_room("lobby").await?;
    let on_a = WsClient::connect(a_url).await?;
    let here: usize = on_a.request("chat", "say", "hello from A").await?;
    println!("instance A: delivered to {here} local clients, published for the others");
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(f) = frames.recv().await {
            if f.ty == "chat" && f.action == "message" {
                return Some(f);
            }
        }
        None
    })
    .await;
    match got {
        Ok(Some(f)) => println!("instance B: its client got chat/message {:?}", f.data),
        _ => return Err("instance B's client got no chat/message within 5 s".into()),
    }

    on_a.close().await;
    on_b.close().await;
    a.shutdown().await;
    b.shutdown().await;
    // Flushes the exporter: the spans above are printed by now.
    provider.shutdown()?;
    println!("see the `message` span (chat/say) and the `deliver` span above: one TraceId");
    Ok(())
}
