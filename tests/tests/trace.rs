//! Trace context across the bus: a send made in a handler on instance A reaches a client
//! of instance B through a real `redis-server`, and B's `deliver` span is a child of A's
//! `message` span in one OpenTelemetry trace. The tracing layer is
//! `tracing-opentelemetry` over the SDK's in-memory exporter, installed for this test
//! binary; both instances run in this process so it sees the spans of both, but
//! nothing passes between them except the Redis payload.
//!
//! Sends without trace context (older instances, instances without a propagator) and
//! with a malformed one are delivered all the same, with no remote parent.

use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use pxl_ws::trace::OtelPropagator;
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{RedisServer, TestClient, TestServer, WAIT, eventually, poll_until};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

const PREFIX: &str = "trace";

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The finished spans named `name`, once `n` of them are there.
async fn spans(exporter: &InMemorySpanExporter, name: &str, n: usize) -> Vec<SpanData> {
    poll_until(&format!("{n} finished `{name}` spans"), WAIT, async || {
        let all = exporter.get_finished_spans().map_err(|e| e.to_string())?;
        let named: Vec<SpanData> = all.into_iter().filter(|s| s.name == name).collect();
        match named.len() {
            k if k == n => Ok(named),
            k => Err(format!("{k} of them")),
        }
    })
    .await
}

async fn expect_msg(c: &mut TestClient, seq: u64) {
    let f = c.recv().await;
    assert_eq!(
        (
            f["type"].as_str(),
            f["action"].as_str(),
            f["data"]["seq"].as_u64()
        ),
        (Some("t"), Some("msg"), Some(seq)),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_crosses_two_instances_over_redis() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("pxl-ws-test")));
    tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");

    let redis = RedisServer::start().await;
    let config = || cluster_config(&redis.url(), PREFIX, Duration::from_secs(15));
    let a = TestServer::start(probe_builder(config()).propagator(OtelPropagator)).await;
    let b = TestServer::start(probe_builder(config()).propagator(OtelPropagator)).await;
    // Each has heard the other on the bus: both publishers and subscribers are up (the
    // count includes the instance itself).
    eventually("the two instances see each other", || {
        a.handle.health().cluster_instances == 2 && b.handle.health().cluster_instances == 2
    })
    .await;
    let mut sender = a.connect().await;
    let mut receiver = b.connect().await;
    receiver.join("r").await;

    // 1. A handler on A sends to room `r`; B's client gets it.
    let send = |seq: u64| json!({"kind": "rooms", "rooms": ["r"], "seq": seq});
    assert_eq!(sender.request("t", "send", send(1)).await["response"], 0);
    expect_msg(&mut receiver, 1).await;
    let deliver = spans(&exporter, "deliver", 1).await;
    let messages: Vec<SpanData> = spans(&exporter, "message", 2)
        .await
        .into_iter()
        .filter(|s| attr(s, "type").as_deref() == Some("t"))
        .collect();
    // B's joinRoom and A's t/send; the send is the one of type `t`.
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (sent_in, delivered_in) = (&messages[0], &deliver[0]);
    assert_eq!(attr(sent_in, "action").as_deref(), Some("send"));
    assert_eq!(
        delivered_in.span_context.trace_id(),
        sent_in.span_context.trace_id(),
        "one trace from A's handler to B's delivery"
    );
    assert_eq!(delivered_in.parent_span_id, sent_in.span_context.span_id());
    assert!(delivered_in.parent_span_is_remote);
    assert_eq!(
        attr(delivered_in, "messaging.destination.name").as_deref(),
        Some("trace:{room:r}:send")
    );
    assert_eq!(
        attr(delivered_in, "origin"),
        Some(a.handle.health().instance_id.to_string())
    );

    // 2. Published straight to Redis: a send with no trace context (as an instance
    // without a propagator, or an older one, sends it) and sends with malformed ones.
    // Every one is delivered; none makes a `deliver` span.
    let frame = |seq: u64| format!(r#"{{"type":"t","action":"msg","data":{{"seq":{seq}}}}}"#);
    let payloads = [
        format!(
            r#"{{"origin":"00000000000000ee","to":"rooms","rooms":["r"],"frame":{}}}"#,
            frame(2)
        ),
        format!(
            r#"{{"origin":"00000000000000ee","traceparent":"00-not-a-trace","tracestate":7,"publishedAtUs":"soon","to":"rooms","rooms":["r"],"frame":{}}}"#,
            frame(3)
        ),
        format!(
            r#"{{"origin":"00000000000000ee","traceparent":{{"nested":true}},"to":"rooms","rooms":["r"],"frame":{}}}"#,
            frame(4)
        ),
        format!(
            r#"{{"origin":"00000000000000ee","traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01","to":"rooms","rooms":["r"],"frame":{}}}"#,
            frame(5)
        ),
    ];
    for p in &payloads {
        redis.command(&["PUBLISH", "trace:{room:r}:send", p]);
    }
    for seq in 2..=5 {
        expect_msg(&mut receiver, seq).await;
    }

    // 3. Then another traced send: B handles its bus in order, so had any of those made
    // a span it would be finished by now. Exactly two `deliver` spans, both children of
    // A's `t/send` spans.
    assert_eq!(sender.request("t", "send", send(6)).await["response"], 0);
    expect_msg(&mut receiver, 6).await;
    let deliver = spans(&exporter, "deliver", 2).await;
    let sends: Vec<SpanData> = spans(&exporter, "message", 3)
        .await
        .into_iter()
        .filter(|s| attr(s, "type").as_deref() == Some("t"))
        .collect();
    assert_eq!(sends.len(), 2);
    for d in &deliver {
        assert!(
            sends
                .iter()
                .any(|s| s.span_context.span_id() == d.parent_span_id
                    && s.span_context.trace_id() == d.span_context.trace_id()),
            "a deliver span without its sender: {d:?}"
        );
        assert_ne!(d.parent_span_id, SpanId::INVALID);
    }

    sender.close().await;
    receiver.close().await;
    a.stop().await;
    b.stop().await;
    let _ = provider.shutdown();
}
