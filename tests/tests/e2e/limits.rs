//! Limits against hostile input: allowed origins, connection caps, the per-client rate
//! limit, room limits and name rules, and `authorize_join`. Each test checks exactly what
//! the offending client sees and that the server keeps serving a well-behaved client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pxl_ws::{
    WsConfig, WsServer,
    config::{LimitsConfig, RoomNameChars, RoomsConfig},
};
use pxl_ws_tests::raw::{KEY, VALID_HANDSHAKE, upgrade_request};
use pxl_ws_tests::{HttpResponse, TestClient, TestServer, WAIT, poll_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{Counter, TestController, builder};

/// Sends a complete upgrade request (plus `extra` header lines) that asks the server to
/// close the connection after a non-101 answer, and parses the answer.
async fn refused_upgrade(addr: SocketAddr, extra: &str) -> HttpResponse {
    let req = upgrade_request(
        "GET",
        "/ws",
        &format!("{VALID_HANDSHAKE}Connection: close\r\n{extra}"),
    );
    let resp = pxl_ws_tests::http(addr, &req).await;
    let answer = HttpResponse::parse(&resp);
    assert_eq!(answer.headers["content-type"], "application/json", "{resp}");
    assert!(answer.body.is_object(), "{resp}");
    answer
}

/// A client with an optional `Origin` header, connecting from `local_ip`. An HTTP
/// refusal is `Err("HTTP <status> <reason>")`.
async fn connect_from(
    srv: &TestServer,
    local_ip: &str,
    origin: Option<&str>,
) -> Result<TestClient, String> {
    let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
    TestClient::connect_from(&srv.url(), Some(local_ip), &headers)
        .await
        .map_err(|r| {
            format!(
                "HTTP {}",
                http::StatusCode::from_u16(r.status).expect("a status")
            )
        })
}

/// A connected test client answers requests.
async fn assert_serves(c: &mut TestClient) {
    assert_eq!(
        c.request("system", "ping", json!(null)).await["response"],
        "pong"
    );
}

/// Connects, retrying while the server is still freeing a slot (and refusing with
/// `refused`).
async fn connect_eventually(srv: &TestServer, refused: &str) -> TestClient {
    poll_until("a free slot", WAIT, async || {
        let r = connect_from(srv, "127.0.0.1", None).await;
        if let Err(e) = &r {
            assert_eq!(e, refused);
        }
        r
    })
    .await
}

fn limits(l: LimitsConfig) -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.limits = l;
        cfg
    }
}

// ---------------------------------------------------------------------------------------
// Origins

#[tokio::test]
async fn limits_cross_site_origin_gets_403_and_same_origin_connects() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let a = refused_upgrade(srv.addr, "Origin: https://evil.example\r\n").await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        json!({"error": "This origin may not open a WebSocket here", "code": "ORIGIN_NOT_ALLOWED"})
    );
    // Same port, other host: still another origin.
    let other = format!("Origin: http://localhost:{}\r\n", srv.addr.port());
    assert_eq!(refused_upgrade(srv.addr, &other).await.status, 403);
    assert_eq!(srv.handle.health().limits.origin_rejected, 2);
    assert_eq!(srv.handle.connection_count(), 0);

    // The page the server itself serves (Origin = Host) connects, case aside.
    let same = format!("HTTP://127.0.0.1:{}", srv.addr.port());
    let mut ws = connect_from(&srv, "127.0.0.1", Some(&same)).await.unwrap();
    assert_serves(&mut ws).await;
    // Non-browser clients send no Origin and are not affected.
    let mut c = srv.connect().await;
    assert_serves(&mut c).await;
    drop(ws);
    srv.stop().await;
}

#[tokio::test]
async fn limits_allowed_origins_list_and_wildcard() {
    let config = limits({
        let mut cfg = LimitsConfig::default();
        cfg.allowed_origins = vec!["https://app.example.com".into()];
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut ws = connect_from(&srv, "127.0.0.1", Some("https://APP.example.com"))
        .await
        .unwrap();
    assert_serves(&mut ws).await;
    for origin in [
        "http://app.example.com",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let a = refused_upgrade(srv.addr, &format!("Origin: {origin}\r\n")).await;
        assert_eq!(a.status, 403, "{origin}");
        assert_eq!(a.body["code"], "ORIGIN_NOT_ALLOWED");
    }
    // A list replaces the same-origin default.
    let same = format!("http://127.0.0.1:{}", srv.addr.port());
    assert_eq!(
        connect_from(&srv, "127.0.0.1", Some(&same)).await.err(),
        Some("HTTP 403 Forbidden".into())
    );
    assert_serves(&mut ws).await;
    drop(ws);
    srv.stop().await;

    let any = limits({
        let mut cfg = LimitsConfig::default();
        cfg.allowed_origins = vec!["*".into()];
        cfg
    });
    let srv = TestServer::start(builder(any)).await;
    let mut ws = connect_from(&srv, "127.0.0.1", Some("https://anywhere.example"))
        .await
        .unwrap();
    assert_serves(&mut ws).await;
    drop(ws);
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// Connection caps

#[tokio::test]
async fn limits_max_connections_answers_503_and_frees_slots() {
    let config = limits({
        let mut cfg = LimitsConfig::default();
        cfg.max_connections = Some(2);
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let c1 = srv.connect().await;
    // Refused handshakes give back the slot they reserved: afterwards a second client
    // still fits.
    for _ in 0..5 {
        let resp = pxl_ws_tests::http(
            srv.addr,
            &upgrade_request(
                "GET",
                "/ws",
                &format!("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n"),
            ),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    }
    let mut c2 = srv.connect().await;
    let a = refused_upgrade(srv.addr, "").await;
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        json!({
            "error": "The server has reached its connection limit; try again later",
            "code": "TOO_MANY_CONNECTIONS"
        })
    );
    assert_eq!(srv.handle.health().limits.connections_rejected, 1);
    assert_serves(&mut c2).await;

    // A closed socket gives its slot back.
    c1.close().await;
    let mut ws = connect_eventually(&srv, "HTTP 503 Service Unavailable").await;
    assert_serves(&mut ws).await;
    drop(ws);

    // So does a client that vanishes right after its 101.
    poll_until("a 101 (then the socket is dropped)", WAIT, async || {
        let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
        tcp.write_all(upgrade_request("GET", "/ws", VALID_HANDSHAKE).as_bytes())
            .await
            .unwrap();
        let mut status = [0u8; 12];
        tokio::time::timeout(WAIT, tcp.read_exact(&mut status))
            .await
            .unwrap()
            .unwrap();
        assert!(
            [&b"HTTP/1.1 101"[..], b"HTTP/1.1 503"].contains(&&status[..]),
            "{status:?}"
        );
        (&status == b"HTTP/1.1 101")
            .then_some(())
            .ok_or_else(|| "503".to_owned())
    })
    .await;
    let mut ws = connect_eventually(&srv, "HTTP 503 Service Unavailable").await;
    assert_serves(&mut ws).await;
    assert_serves(&mut c2).await;
    drop(ws);
    srv.stop().await;
}

#[tokio::test]
async fn limits_max_connections_per_ip_answers_429_to_that_address_only() {
    let config = limits({
        let mut cfg = LimitsConfig::default();
        cfg.max_connections_per_ip = Some(2);
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut a1 = srv.connect().await;
    let _a2 = srv.connect().await;
    let a = refused_upgrade(srv.addr, "").await;
    assert_eq!(a.status, 429);
    assert_eq!(
        a.body,
        json!({"error": "Too many connections from your address", "code": "TOO_MANY_CONNECTIONS_FROM_IP"})
    );
    // Another address still gets in.
    let mut b = connect_from(&srv, "127.0.0.2", None).await.unwrap();
    assert_serves(&mut b).await;
    assert_eq!(
        connect_from(&srv, "127.0.0.1", None).await.err(),
        Some("HTTP 429 Too Many Requests".into())
    );
    let h = srv.handle.health();
    assert_eq!(h.limits.connections_rejected_per_ip, 2);
    assert_eq!(h.limits.connections_rejected, 0);
    assert_eq!(h.active_connections, 3);
    assert_serves(&mut a1).await;
    // Closing one frees a slot for that address.
    a1.close().await;
    let mut again = connect_eventually(&srv, "HTTP 429 Too Many Requests").await;
    assert_serves(&mut again).await;
    drop((again, b));
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// Message rate

/// A bucket that refills one token per 1000 s: nothing refills during a test.
fn rate(burst: u32, max_violations: u32) -> WsConfig {
    limits({
        let mut cfg = LimitsConfig::default();
        cfg.rate_limit.enabled = true;
        cfg.rate_limit.per_second = 0.001;
        cfg.rate_limit.burst = burst;
        cfg.rate_limit.max_violations = max_violations;
        cfg
    })
}

#[tokio::test]
async fn limits_rate_limited_messages_are_answered_not_routed_then_the_client_is_closed() {
    let counter = Counter::default();
    let b = WsServer::builder()
        .config(rate(3, 3))
        .controller(TestController)
        .state(counter.clone());
    let srv = TestServer::start(b).await;
    let mut flood = srv.connect().await;
    let mut bystander = srv.connect().await;
    for n in 1..=3 {
        assert_eq!(
            flood.request("test", "count", json!(null)).await["response"],
            n
        );
    }
    // Over the limit: an error frame carrying the message's type, action and id.
    flood
        .send_json(&json!({"type": "test", "action": "count", "id": "over"}))
        .await;
    let e = flood.recv().await;
    let retry = e["data"]["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!(retry > 900_000 && retry <= 1_000_000, "{e}");
    assert_eq!(
        e,
        json!({
            "type": "error", "action": "message", "id": "over",
            "data": {
                "error": "Too many messages; slow down", "code": "RATE_LIMITED",
                "type": "test", "action": "count", "retryAfterMs": retry
            }
        })
    );
    // Garbage counts too (and still gets RATE_LIMITED, not a parse error).
    flood.send_text("not json").await;
    let e = flood.recv().await;
    assert_eq!(e["data"]["code"], "RATE_LIMITED");
    assert!(e["data"].get("type").is_none(), "{e}");
    // The third violation is answered, then the socket is closed with 1008.
    flood.send("test", "count", json!(null)).await;
    let (closed, before) = flood.expect_close().await;
    assert_eq!(closed.code, Some(1008));
    assert_eq!(closed.reason, "rate limit exceeded");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["data"]["code"], "RATE_LIMITED");

    // Nothing over the limit reached the handler; the bystander has its own bucket.
    assert_eq!(
        bystander.request("test", "count", json!(null)).await["response"],
        4
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 4);
    let h = srv.handle.health();
    assert_eq!(h.limits.rate_limited, 3);
    assert_eq!(h.limits.rate_limit_closes, 1);
    srv.stop().await;
}

#[tokio::test]
async fn limits_without_max_violations_a_limited_client_stays_connected() {
    let srv = TestServer::start(builder(rate(1, 0))).await;
    let mut c = srv.connect().await;
    assert_serves(&mut c).await;
    for i in 0..20 {
        let r = c.request("test", "echo", json!(i)).await;
        assert_eq!(r["data"]["code"], "RATE_LIMITED", "{r}");
    }
    // Still open: the next request is answered too, and nothing came before it.
    let r = c.request("system", "ping", json!(null)).await;
    assert_eq!(r["data"]["code"], "RATE_LIMITED", "{r}");
    assert_eq!(srv.handle.connection_count(), 1);
    let mut other = srv.connect().await;
    assert_serves(&mut other).await;
    srv.stop().await;
}

#[tokio::test]
async fn limits_rate_limit_off_routes_every_message() {
    let config = limits({
        let mut cfg = LimitsConfig::default();
        cfg.rate_limit.enabled = false;
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    // More than the default burst (200), sent at once.
    for i in 0..300 {
        c.send_json(&json!({"type": "test", "action": "echo", "data": i, "id": i}))
            .await;
    }
    for i in 0..300 {
        let r = c.recv().await;
        assert_eq!(r["id"], i, "{r}");
        assert_eq!(r["response"], i, "{r}");
    }
    assert_eq!(srv.handle.health().limits.rate_limited, 0);
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// Rooms

fn rooms(r: RoomsConfig) -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.rooms = r;
        cfg
    }
}

#[tokio::test]
async fn limits_max_rooms_per_client_counts_distinct_client_joins() {
    let config = rooms({
        let mut cfg = RoomsConfig::default();
        cfg.max_rooms_per_client = Some(2);
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("a").await;
    c.join("b").await;
    // Re-joining a room the client is in does not count twice.
    c.join("a").await;
    c.send_json(
        &json!({"type": "system", "action": "joinRoom", "data": {"roomName": "c"}, "id": 7}),
    )
    .await;
    assert_eq!(
        c.recv().await,
        json!({
            "type": "error", "action": "message", "id": 7,
            "data": {
                "error": "Room limit reached: a client may be in at most 2 rooms",
                "code": "TOO_MANY_ROOMS", "type": "system", "action": "joinRoom", "max": 2
            }
        })
    );
    assert_eq!(srv.handle.rooms().get("c"), None);
    // Leaving makes room again.
    c.leave("b").await;
    c.join("c").await;
    // App code is not limited.
    let id = c.id.parse().unwrap();
    assert_eq!(srv.handle.join_room(id, "d"), Some(true));
    assert_eq!(srv.handle.get_client(id).unwrap().rooms.len(), 3);
    let mut other = srv.connect().await;
    other.join("a").await;
    other.join("b").await;
    srv.stop().await;

    // In single-room mode a join replaces the current room, so a limit of 1 is no obstacle.
    let config = rooms({
        let mut cfg = RoomsConfig::default();
        cfg.max_rooms_per_client = Some(1);
        cfg.client_can_join_multiple_rooms = false;
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("a").await;
    c.send("system", "joinRoom", json!({"roomName": "b"})).await;
    assert_eq!(c.recv().await["action"], "leftRoom");
    assert_eq!(c.recv().await["response"]["success"], true);
    srv.stop().await;
}

async fn name_error(c: &mut TestClient, name: &str) -> Value {
    let r = c
        .request("system", "joinRoom", json!({"roomName": name}))
        .await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD", "{name:?}: {r}");
    assert_eq!(r["data"]["path"], "roomName", "{r}");
    r["data"]["reason"].clone()
}

#[tokio::test]
async fn limits_room_names_follow_the_configured_rules() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut c = srv.connect().await;
    c.join(&"x".repeat(128)).await;
    c.join("Salle café ☕").await;
    assert_eq!(
        name_error(&mut c, &"x".repeat(129)).await,
        "longer than 128 bytes"
    );
    let r = c
        .request("system", "joinRoom", json!({"roomName": "y".repeat(129)}))
        .await;
    assert_eq!(
        r["data"]["error"],
        "invalid payload at `roomName`: longer than 128 bytes"
    );
    assert_eq!(
        name_error(&mut c, " lobby").await,
        "starts or ends with whitespace"
    );
    assert_eq!(
        name_error(&mut c, "lob\u{7}by").await,
        "contains a control or bidirectional-override character"
    );
    assert_eq!(
        name_error(&mut c, "abc\u{202E}gpj.exe").await,
        "contains a control or bidirectional-override character"
    );
    assert_eq!(srv.handle.rooms().len(), 2);
    srv.stop().await;

    let config = rooms({
        let mut cfg = RoomsConfig::default();
        cfg.max_name_length = 10;
        cfg.name_chars = RoomNameChars::Ascii("-_".into());
        cfg
    });
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("team-1_a").await;
    assert_eq!(
        name_error(&mut c, "team 1").await,
        "may only contain ASCII letters, digits and `-_`"
    );
    assert_eq!(
        name_error(&mut c, "café").await,
        "may only contain ASCII letters, digits and `-_`"
    );
    assert_eq!(
        name_error(&mut c, "abcdefghijk").await,
        "longer than 10 bytes"
    );
    // A room joined by app code can always be left, whatever its name.
    let id = c.id.parse().unwrap();
    srv.handle.join_room(id, "app room");
    c.leave("app room").await;
    c.join("ok").await;
    srv.stop().await;
}

#[tokio::test]
async fn limits_authorize_join_denies_with_forbidden() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let b = builder(WsConfig::default())
        // Synchronous rule.
        .authorize_join(|_client, room| std::future::ready(room != "vault"))
        // Asynchronous rule: `staff:*` rooms for the user `admin` only.
        .authorize_join(move |client, room| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                !room.starts_with("staff:") || client.user_id().as_deref() == Some("admin")
            }
        })
        .authorize_join(|_client, room| async move {
            assert!(room != "boom", "check exploded");
            true
        });
    let srv = TestServer::start(b).await;
    let mut c = srv.connect().await;
    c.send_json(
        &json!({"type": "system", "action": "joinRoom", "data": {"roomName": "staff:ops"}, "id": "j"}),
    )
    .await;
    assert_eq!(
        c.recv().await,
        json!({
            "type": "error", "action": "message", "id": "j",
            "data": {
                "error": "Not allowed to join room: staff:ops",
                "code": "FORBIDDEN", "type": "system", "action": "joinRoom"
            }
        })
    );
    assert_eq!(srv.handle.rooms().get("staff:ops"), None);
    let r = c
        .request("system", "joinRoom", json!({"roomName": "vault"}))
        .await;
    assert_eq!(r["data"]["error"], "Not allowed to join room: vault");
    // A panicking check denies and the connection carries on.
    let r = c
        .request("system", "joinRoom", json!({"roomName": "boom"}))
        .await;
    assert_eq!(r["data"]["code"], "FORBIDDEN");

    c.request("test", "login", json!("admin")).await;
    c.join("staff:ops").await;
    c.join("lobby").await;
    let before = calls.load(Ordering::SeqCst);
    // Already a member: nothing to decide.
    c.join("lobby").await;
    assert_eq!(calls.load(Ordering::SeqCst), before);
    assert_eq!(
        srv.handle
            .get_client(c.id.parse().unwrap())
            .unwrap()
            .rooms
            .len(),
        2
    );
    let mut other = srv.connect().await;
    other.join("lobby").await;
    assert_serves(&mut other).await;
    srv.stop().await;
}

#[tokio::test]
async fn limits_on_error_sees_each_rate_limited_message() {
    let seen: Arc<std::sync::Mutex<Vec<(pxl_ws::ClientId, pxl_ws::hooks::ErrorKind, String)>>> =
        Arc::default();
    let log = seen.clone();
    let b = builder(rate(2, 0)).on_error(move |ev| {
        log.lock()
            .unwrap()
            .push((ev.client_id, ev.kind, ev.code.clone()));
    });
    let srv = TestServer::start(b).await;
    let mut c = srv.connect().await;
    let id: pxl_ws::ClientId = c.id.parse().unwrap();
    for i in 0..5 {
        let r = c.request("test", "echo", json!(i)).await;
        if i < 2 {
            assert_eq!(r["response"], i, "{r}");
        } else {
            assert_eq!(r["data"]["code"], "RATE_LIMITED", "{r}");
        }
    }
    // One hook call per limited message, made by the reader before it reads on.
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (
                id,
                pxl_ws::hooks::ErrorKind::RateLimited,
                "RATE_LIMITED".to_owned()
            );
            3
        ]
    );
    assert_eq!(srv.handle.health().limits.rate_limited, 3);
    srv.stop().await;
}
