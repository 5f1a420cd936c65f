//! Prometheus metrics (feature `metrics`): the text a real server serves at
//! `metrics_path`, checked by Prometheus's own parser (`promtool check metrics`, Debian
//! package `prometheus`) and for exact values after a scripted session.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use pxl_ws::bus::MemoryBus;
use pxl_ws::subscriber::SubscriberError;
use pxl_ws::{
    ActionError, Client, Data, Frame, Server, Target, WsConfig, WsServer, subscriber, subscribers,
    ws_controller,
};
use pxl_ws_tests::jwt::{claims, hs256};
use pxl_ws_tests::{HttpResponse, TestClient, TestServer, eventually, http_get};
use serde_json::{Value, json};

const SECRET: &str = "a test secret of at least thirty-two bytes";

struct Shop;

#[ws_controller(type = "shop")]
impl Shop {
    #[action("echo")]
    async fn echo(&self, Data(v): Data<Value>) -> Value {
        v
    }

    #[action("fail")]
    async fn fail(&self) -> Result<(), ActionError> {
        Err(ActionError::new("OUT_OF_STOCK", "nothing left"))
    }

    /// Sends `shop/news n` to room `news` (on every instance).
    #[action("announce")]
    async fn announce(&self, server: Server, Data(n): Data<u64>) -> usize {
        server.send(
            &Target::room("news"),
            &Frame::new("shop", "news", &n).expect("frame"),
        )
    }

    #[action("flood")]
    async fn flood(&self, client: Client, Data(n): Data<usize>) {
        let frame = Frame::new("shop", "flood", &"x".repeat(4096)).expect("frame");
        for _ in 0..n {
            if !client.send(&frame) {
                break;
            }
        }
    }
}

#[subscriber(channel = "clientJoinedRoom")]
async fn joins() {}

#[subscriber(channel = "clientLeftRoom")]
async fn leaves() -> Result<(), SubscriberError> {
    Err(SubscriberError::msg("audit store down"))
}

/// `promtool check metrics` on `text`: a missing binary fails loudly with the package
/// to install; a parse error fails with promtool's output.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install it with `apt-get install prometheus`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `name{labels}` → value, from the exposition text.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_owned(), v.parse().expect("sample value"))
        })
        .collect()
}

async fn scrape(srv: &TestServer) -> (String, BTreeMap<String, f64>) {
    let resp = http_get(srv.addr, "/metrics").await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    (body.to_owned(), samples(body))
}

#[tokio::test]
async fn a_scripted_session_is_counted_exactly_and_promtool_accepts_the_text() {
    let mut config = WsConfig::default();
    // A small outbound limit and no grace: the slow consumer below is closed at once.
    config.limits.outbound.queue_bytes = 16 * 1024;
    config.limits.outbound.soft_bytes = 16 * 1024;
    config.limits.outbound.grace = std::time::Duration::ZERO;
    config.auth.jwt_secret = Some(SECRET.into());
    config.auth.required = false;
    // Shared with a second instance at the end (until then nobody else listens on it).
    let bus = MemoryBus::new();
    let srv = TestServer::start(
        WsServer::builder()
            .config(config)
            .bus(bus.clone())
            .serve_metrics("/metrics")
            .controller(Shop)
            .subscribers(subscribers![joins, leaves]),
    )
    .await;

    // Before any traffic the text already parses, and lists the route table at zero.
    let (text, m) = scrape(&srv).await;
    promtool_check(&text);
    assert_eq!(
        m[r#"pxl_ws_route_handled_total{type="shop",action="echo"}"#],
        0.0
    );
    assert_eq!(m["pxl_ws_connections_open"], 0.0);

    let mut alice = srv.connect().await;
    let mut bob = srv.connect().await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    for i in 0..3 {
        assert_eq!(alice.request("shop", "echo", json!(i)).await["response"], i);
    }
    let err = alice.request("shop", "fail", json!(null)).await;
    assert_eq!(err["data"]["code"], "OUT_OF_STOCK");
    let err = alice.request("shop", "nope", json!(null)).await;
    assert_eq!(err["data"]["code"], "UNKNOWN_ROUTE");
    alice.send_text("{not json").await;
    assert_eq!(alice.recv().await["data"]["code"], "INVALID_JSON");
    bob.leave("lobby").await;
    bob.join("lobby").await;

    // A slow consumer: its handler queues more than its 16 KiB queue holds.
    let mut slow = srv.connect().await;
    slow.send("shop", "flood", json!(100_000)).await;
    let (closed, _) = slow.expect_close().await;
    assert_eq!(closed.code, Some(1008));

    // A refused token.
    let bad = hs256(
        b"another secret, also thirty-two bytes long",
        &claims("mallory"),
    );
    let refused: HttpResponse =
        TestClient::connect_with(&srv.url(), &[("Authorization", &format!("Bearer {bad}"))])
            .await
            .map(|_| ())
            .expect_err("a token signed with another key is refused");
    assert_eq!(refused.status, 401);

    alice.close().await;
    eventually("alice and the slow client are gone", || {
        srv.handle.connection_count() == 1
    })
    .await;
    let health = srv.handle.health();

    let (text, m) = scrape(&srv).await;
    promtool_check(&text);
    let route = |ty: &str, action: &str| format!(r#"{{type="{ty}",action="{action}"}}"#);
    let expect = [
        ("pxl_ws_connections_open".to_owned(), 1.0),
        ("pxl_ws_connections_opened_total".to_owned(), 3.0),
        (
            r#"pxl_ws_connections_closed_total{code="1000"}"#.to_owned(),
            1.0,
        ),
        (
            r#"pxl_ws_connections_closed_total{code="1008"}"#.to_owned(),
            1.0,
        ),
        // alice: join, 3 echo, fail, nope, bad JSON; bob: join, leave, join; slow: flood.
        ("pxl_ws_messages_in_total".to_owned(), 11.0),
        // 3 connected frames; alice 7 answers; bob 3 answers and `user/leftRoom`; the
        // slow client's 3 queued flood frames (about 4.1 KiB each: the 4th would take its
        // queue over 16 KiB, and with no grace it is closed).
        ("pxl_ws_messages_out_total".to_owned(), 17.0),
        (
            format!("pxl_ws_route_handled_total{}", route("shop", "echo")),
            3.0,
        ),
        (
            format!("pxl_ws_route_handled_total{}", route("shop", "fail")),
            1.0,
        ),
        (
            format!("pxl_ws_route_handled_total{}", route("shop", "flood")),
            1.0,
        ),
        (
            format!("pxl_ws_route_handled_total{}", route("system", "joinRoom")),
            3.0,
        ),
        (
            format!("pxl_ws_route_handled_total{}", route("system", "leaveRoom")),
            1.0,
        ),
        (
            format!(
                "pxl_ws_route_handled_total{}",
                route("_unknown", "_unknown")
            ),
            2.0,
        ),
        (
            r#"pxl_ws_route_errors_total{type="shop",action="fail",code="OUT_OF_STOCK"}"#
                .to_owned(),
            1.0,
        ),
        (
            r#"pxl_ws_route_errors_total{type="_unknown",action="_unknown",code="UNKNOWN_ROUTE"}"#
                .to_owned(),
            1.0,
        ),
        (
            r#"pxl_ws_route_errors_total{type="_unknown",action="_unknown",code="INVALID_JSON"}"#
                .to_owned(),
            1.0,
        ),
        (
            format!(
                "pxl_ws_route_duration_seconds_count{}",
                route("shop", "echo")
            ),
            3.0,
        ),
        (
            format!(
                "pxl_ws_route_duration_seconds_count{}",
                route("shop", "fail")
            ),
            1.0,
        ),
        ("pxl_ws_rooms".to_owned(), 1.0),
        ("pxl_ws_room_memberships".to_owned(), 1.0),
        ("pxl_ws_outbound_queue_bytes".to_owned(), 0.0),
        ("pxl_ws_slow_consumer_closes_total".to_owned(), 1.0),
        (
            r#"pxl_ws_auth_rejections_total{code="TOKEN_SIGNATURE_INVALID"}"#.to_owned(),
            1.0,
        ),
        (
            r#"pxl_ws_limits_hit_total{kind="rate_limit"}"#.to_owned(),
            0.0,
        ),
        (r#"pxl_ws_limits_hit_total{kind="origin"}"#.to_owned(), 0.0),
        (
            r#"pxl_ws_subscriber_runs_total{subscriber="joins"}"#.to_owned(),
            3.0,
        ),
        (
            r#"pxl_ws_subscriber_runs_total{subscriber="leaves"}"#.to_owned(),
            2.0,
        ),
        (
            r#"pxl_ws_subscriber_errors_total{subscriber="leaves"}"#.to_owned(),
            2.0,
        ),
        (
            r#"pxl_ws_subscriber_duration_seconds_count{subscriber="joins"}"#.to_owned(),
            3.0,
        ),
    ];
    let mut wrong = Vec::new();
    for (key, want) in &expect {
        match m.get(key) {
            Some(got) if got == want => {}
            got => wrong.push(format!("{key}: want {want}, got {got:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "wrong samples:\n  {}\n--- metrics ---\n{text}",
        wrong.join("\n  ")
    );
    // The same events as the JSON health counters.
    assert_eq!(m["pxl_ws_messages_in_total"], health.messages_in as f64);
    assert_eq!(m["pxl_ws_messages_out_total"], health.messages_out as f64);
    // No subscriber error for `joins`, and histograms have their buckets.
    assert!(!m.contains_key(r#"pxl_ws_subscriber_errors_total{subscriber="joins"}"#));
    assert!(text.contains(
        r#"pxl_ws_route_duration_seconds_bucket{type="shop",action="echo",le="+Inf"} 3"#
    ));
    // Every metric has its HELP line.
    for name in [
        "pxl_ws_route_duration_seconds",
        "pxl_ws_connections_closed_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    // Label values only from the static table: no client-chosen `nope` anywhere.
    assert!(!text.contains("nope"));
    // Nothing was received from another instance yet: no delivery latency observed.
    assert_eq!(m["pxl_ws_bus_delivery_latency_seconds_count"], 0.0);

    // Across instances: a second instance on the bus gets three room sends from this one
    // and records each one's publish-to-delivery latency (both in this process, so both
    // record into the one recorder this server renders).
    let peer = TestServer::start(WsServer::builder().bus(bus.clone())).await;
    let mut carol = peer.connect().await;
    carol.join("news").await;
    for i in 0..3u64 {
        // No local member of `news` here: 0 delivered locally.
        assert_eq!(
            bob.request("shop", "announce", json!(i)).await["response"],
            0
        );
        let got = carol.recv().await;
        assert_eq!(
            (got["action"].as_str(), got["data"].as_u64()),
            (Some("news"), Some(i))
        );
    }
    let (text, m) = scrape(&srv).await;
    promtool_check(&text);
    assert_eq!(m["pxl_ws_bus_delivery_latency_seconds_count"], 3.0);
    assert_eq!(
        m[r#"pxl_ws_bus_delivery_latency_seconds_bucket{le="+Inf"}"#],
        3.0
    );
    // One process, one clock: each latency is non-negative and well under the 5 s the
    // requests above took at most.
    let sum = m["pxl_ws_bus_delivery_latency_seconds_sum"];
    assert!((0.0..15.0).contains(&sum), "latency sum {sum}");
    assert!(text.contains("# HELP pxl_ws_bus_delivery_latency_seconds "));
    carol.close().await;
    peer.stop().await;
    bob.close().await;
    srv.stop().await;
}

#[tokio::test]
async fn metrics_path_from_the_environment_and_its_validation() {
    let c =
        WsConfig::from_lookup(|k| (k == "PXL_WS_METRICS_PATH").then(|| "/metrics".into())).unwrap();
    assert_eq!(c.metrics_path.as_deref(), Some("/metrics"));
    let c = WsConfig::from_lookup(|k| (k == "PXL_WS_METRICS_PATH").then(String::new)).unwrap();
    assert_eq!(c.metrics_path, None);

    let err = WsServer::builder()
        .serve_metrics("metrics")
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "invalid setting `metrics_path`: must start with `/`"
    );
    let err = WsServer::builder()
        .serve_metrics("/ws")
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "invalid setting `metrics_path`: must differ from `path` and `health_path`"
    );
    // Off by default: no route.
    let srv = TestServer::start(WsServer::builder()).await;
    let resp = http_get(srv.addr, "/metrics").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    srv.stop().await;
}
