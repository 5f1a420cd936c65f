//! Heartbeat, inactive clients, system ping, health, graceful shutdown, nesting.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pxl_ws::WsConfig;
use pxl_ws_tests::raw::RawSocket;
use pxl_ws_tests::{HttpResponse, TestClient, TestServer, WAIT, http_get};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::app::builder;

#[tokio::test]
async fn system_ping_answers_pong() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut c = srv.connect().await;
    let r = c.request("system", "ping", json!(null)).await;
    assert_eq!(
        r,
        json!({"type": "system", "action": "ping", "response": "pong", "id": "r1"})
    );
    srv.stop().await;
}

#[tokio::test]
async fn inactive_clients_are_disconnected_and_active_ones_are_not() {
    let mut config = WsConfig::default();
    config.disconnect_inactive_clients.enabled = true;
    config.disconnect_inactive_clients.inactive_time = Duration::from_millis(400);
    config.disconnect_inactive_clients.interval_check_time = Duration::from_millis(50);
    config.disconnect_inactive_clients.log = true;
    let srv = TestServer::start(builder(config)).await;
    // Before the idle client connects: its inactivity counts from its connection.
    let started = Instant::now();
    let mut idle = srv.connect().await;
    let mut busy = srv.connect().await;
    let busy_task = tokio::spawn(async move {
        for _ in 0..12 {
            busy.request("test", "unit", json!(null)).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        busy
    });
    let (closed, _) = idle.expect_close().await;
    assert_eq!(closed.code, Some(4000));
    assert_eq!(closed.reason, "inactive");
    assert!(started.elapsed() >= Duration::from_millis(400));
    let mut busy = busy_task.await.unwrap();
    // 1.2 s of regular messages: still connected.
    assert_eq!(
        busy.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn heartbeat_pings_and_drops_silent_peers() {
    let mut config = WsConfig::default();
    config.heartbeat.interval = Duration::from_millis(100);
    config.heartbeat.timeout = Duration::from_millis(150);
    let srv = TestServer::start(builder(config)).await;

    // A client that keeps reading answers pings (tungstenite replies automatically):
    // after six pings (twice `interval + timeout`) it is still served.
    let mut alive = srv.connect().await;
    let mut pings = 0;
    while pings < 6 {
        match alive.next_message(WAIT).await {
            Some(Message::Ping(_)) => pings += 1,
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert_eq!(
        alive.request("test", "unit", json!(null)).await["action"],
        "unit"
    );

    // A socket that never answers pings: closed with 1011 after interval + timeout.
    let mut silent = RawSocket::connect(srv.addr, "/ws", "").await;
    let t = silent.read_until_close().await;
    assert_eq!(t.frames.len(), 1, "only system/connected: {t:?}");
    assert_eq!(t.frames[0]["action"], "connected");
    assert_eq!(
        (t.close, t.reason.as_str()),
        (Some(1011), "heartbeat timeout")
    );
    drop(alive);
    srv.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_closes_every_socket_with_1001() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let url = srv.url();
    let mut clients = Vec::new();
    for _ in 0..5 {
        // Not through `srv.connect`: the test reads the close itself.
        let mut c = TestClient::connect(&url).await;
        c.join("room").await;
        clients.push(c);
    }
    let handle = srv.handle.clone();
    let stopping = tokio::spawn(srv.stop());
    for c in &mut clients {
        let (closed, before) = c.expect_close().await;
        assert_eq!(closed.code, Some(1001));
        assert_eq!(closed.reason, "server shutting down");
        assert!(before.is_empty(), "{before:?}");
    }
    stopping.await.unwrap();
    assert_eq!(handle.connection_count(), 0);
    assert!(handle.rooms().is_empty());
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn shutdown_sends_the_frames_already_queued_before_1001() {
    // Far more than the socket buffers hold: most of it is still queued at shutdown.
    const FRAMES: usize = 4000;
    let mut config = WsConfig::default();
    config.limits.outbound.queue_bytes = 2 * FRAMES * 2048;
    config.limits.outbound.budget_bytes = 2 * FRAMES * 2048;
    let srv = TestServer::start(builder(config)).await;
    let mut c = TestClient::connect(&srv.url()).await;
    let id = c.id.parse().unwrap();
    let handle = srv.handle.clone();
    let payload = "x".repeat(1024);
    for seq in 0..FRAMES {
        let f = pxl_ws::Frame::new("t", "msg", &json!({"seq": seq, "pad": payload})).unwrap();
        assert_eq!(handle.send_to_client(id, &f), 1);
    }
    let stopping = tokio::spawn(srv.stop());
    let (closed, before) = c.expect_close().await;
    let seqs: Vec<u64> = before
        .iter()
        .map(|f| f["data"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..FRAMES as u64).collect::<Vec<_>>());
    assert_eq!(closed.code, Some(1001));
    assert_eq!(closed.reason, "server shutting down");
    stopping.await.unwrap();
    assert_eq!(handle.health().slow_clients_dropped, 0);
}

#[tokio::test]
async fn shutdown_stops_waiting_for_a_client_that_never_answers_at_the_shutdown_timeout() {
    let logs = pxl_ws_tests::logs::LogCapture::start();
    let mut config = WsConfig::default();
    config.shutdown_timeout = Duration::from_millis(200);
    let srv = TestServer::start(builder(config)).await;
    // Reads nothing and never answers the close.
    let mut mute = RawSocket::connect(srv.addr, "/ws", "").await;
    let handle = srv.handle.clone();
    tokio::time::timeout(WAIT, handle.shutdown())
        .await
        .expect("shutdown returns");
    // It returned while the socket still waits for its close reply (the connection
    // gives a peer 5 s for that): the shutdown timeout cut the wait short.
    assert_eq!(handle.connection_count(), 1);
    let log = logs.text();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("shutdown timeout passed with sockets still open")
            && l.contains("remaining=1")),
        "{log}"
    );
    // The socket did get its 1001.
    let t = mute.read_data(2).await;
    assert_eq!(
        (t.close, t.reason.as_str()),
        (Some(1001), "server shutting down")
    );
    drop(mute);
    srv.stop().await;
}

#[tokio::test]
async fn health_reports_counts_and_is_served_when_configured() {
    let mut config = WsConfig::default();
    config.health_path = Some("/health".into());
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("x").await;
    let h = srv.handle.health();
    assert_eq!(h.active_connections, 1);
    assert_eq!(h.rooms, 1);
    assert_eq!(h.messages_in, 1);
    // system/connected and the join's reply.
    assert_eq!(h.messages_out, 2);
    let resp = HttpResponse::parse(&http_get(srv.addr, "/health").await);
    assert_eq!(resp.status, 200, "{resp:?}");
    let json = resp.body;
    assert_eq!(json["status"], "ok");
    assert_eq!(json["activeConnections"], 1);
    assert_eq!(json["rooms"], 1);
    assert_eq!(json["bus"]["kind"], "memory");
    srv.stop().await;
}

#[tokio::test]
async fn into_router_nests_under_another_axum_app() {
    pxl_ws_tests::init_tracing();
    let ws = builder(WsConfig::default()).build().unwrap();
    let handle = ws.handle();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .nest("/api", ws.into_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h2 = handle.clone();
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { h2.shutdown_requested().await })
        .await
        .unwrap();
    });
    let mut c = TestClient::connect(&format!("ws://{addr}/api/ws")).await;
    assert_eq!(
        c.request("test", "add", json!({"a": 1, "b": 2})).await["response"]["sum"],
        3
    );
    let info = handle.get_client(c.id.parse().unwrap()).unwrap();
    assert_eq!(info.id.to_string(), c.id);
    let home = http_get(addr, "/").await;
    assert!(home.ends_with("home"), "{home}");
    let (_, (closed, _)) = tokio::join!(handle.shutdown(), c.expect_close());
    assert_eq!(closed.code, Some(1001));
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
}
