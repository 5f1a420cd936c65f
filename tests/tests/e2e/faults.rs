//! Protocol faults close only the offending socket, with the right close code; the
//! server keeps serving everyone else. Non-WebSocket requests get HTTP answers.

use pxl_ws::WsConfig;
use pxl_ws_tests::raw::{KEY, VALID_HANDSHAKE, upgrade_request};
use pxl_ws_tests::{TestServer, eventually, http};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::app::builder;

async fn server(config: WsConfig) -> TestServer {
    TestServer::start(builder(config)).await
}

#[tokio::test]
async fn oversize_message_closes_with_1009_and_others_keep_working() {
    let mut config = WsConfig::default();
    config.max_message_size = 1024;
    let srv = server(config).await;
    let mut big = srv.connect().await;
    let mut bystander = srv.connect().await;
    let payload = json!({"type": "test", "action": "echo", "data": "x".repeat(2000)});
    big.send_json(&payload).await;
    let (closed, _) = big.expect_close().await;
    assert_eq!(closed.code, Some(1009));
    assert_eq!(closed.reason, "message too big");
    // Just under the limit still works for everyone.
    let ok = bystander
        .request("test", "echo", json!("x".repeat(900)))
        .await;
    assert_eq!(ok["response"].as_str().unwrap().len(), 900);
    let mut fresh = srv.connect().await;
    assert_eq!(
        fresh.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    eventually("the oversize socket is gone", || {
        srv.handle.connection_count() == 2
    })
    .await;
    assert_eq!(srv.handle.health().protocol_errors, 1);
    srv.stop().await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    let srv = server(WsConfig::default()).await;
    let mut bad = srv.connect().await;
    let mut bystander = srv.connect().await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    bad.send_raw(Message::Frame(frame)).await;
    let (closed, _) = bad.expect_close().await;
    assert_eq!(closed.code, Some(1007));
    assert_eq!(
        bystander.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn invalid_close_code_is_answered_with_1002() {
    let srv = server(WsConfig::default()).await;
    let mut bad = srv.connect().await;
    // Close code 999 is not allowed on the wire.
    let frame = Frame::close(Some(CloseFrame {
        code: 999.into(),
        reason: "".into(),
    }));
    bad.send_raw(Message::Frame(frame)).await;
    let (closed, _) = bad.expect_close().await;
    assert_eq!(closed.code, Some(1002));
    let mut fresh = srv.connect().await;
    assert_eq!(
        fresh.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn binary_garbage_gets_an_error_frame_not_a_crash() {
    let srv = server(WsConfig::default()).await;
    let mut c = srv.connect().await;
    c.send_raw(Message::binary(vec![0u8, 159, 146, 150, 255]))
        .await;
    assert_eq!(c.recv().await["data"]["code"], "INVALID_JSON");
    let deep = "[".repeat(10_000);
    c.send_text(&deep).await;
    assert_eq!(c.recv().await["data"]["code"], "INVALID_JSON");
    assert_eq!(
        c.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_with_1008() {
    let mut config = WsConfig::default();
    config.limits.outbound.queue_bytes = 16 * 1024;
    config.limits.outbound.soft_bytes = 16 * 1024;
    config.limits.outbound.grace = std::time::Duration::ZERO;
    let srv = server(config).await;
    let mut slow = srv.connect().await;
    let mut bystander = srv.connect().await;
    // The handler queues far more than the socket and the queue can hold.
    slow.send("test", "flood", json!(100_000)).await;
    eventually("the slow client is dropped", || {
        srv.handle.health().slow_clients_dropped == 1
    })
    .await;
    let (closed, before) = slow.expect_close().await;
    assert_eq!(closed.code, Some(1008));
    assert_eq!(closed.reason, "outbound queue over limit");
    // The handler pushes without yielding, so the writer sent nothing meanwhile: the
    // queue took the frames that fit in 16 KiB (each costs its length + 64 bytes), and
    // a close for being over the limit drops them unsent.
    assert_eq!(before, Vec::<serde_json::Value>::new());
    let frame = pxl_ws::Frame::new("test", "flood", &"x".repeat(4096)).unwrap();
    let fit = (16 * 1024) / (frame.as_str().len() + 64);
    // Two `system/connected` frames and the queued ones.
    assert_eq!(srv.handle.health().messages_out, 2 + fit as u64);
    assert_eq!(srv.handle.health().flow.closed_over_limit, 1);
    assert_eq!(
        bystander.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn plain_http_requests_get_http_answers() {
    let srv = server(WsConfig::default()).await;
    let resp = http(
        srv.addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    assert!(resp.contains(r#""code":"UPGRADE_REQUIRED""#), "{resp}");

    let resp = http(
        srv.addr,
        &upgrade_request(
            "GET",
            "/ws",
            &format!("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n"),
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{resp}"
    );

    let resp = http(
        srv.addr,
        &upgrade_request(
            "GET",
            "/ws",
            "Sec-WebSocket-Version: 13\r\nConnection: close\r\n",
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("Sec-WebSocket-Key"), "{resp}");

    // Wrong paths (PXL accepted any `/ws…` prefix) are ordinary 404s.
    let resp = http(srv.addr, &upgrade_request("GET", "/wsfoo", VALID_HANDSHAKE)).await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let mut c = srv.connect().await;
    assert_eq!(
        c.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}
