//! The fallback handler: messages no route takes go to it instead of an error frame.

use pxl_ws::{RawMessage, WsConfig};
use pxl_ws_tests::raw::RawSocket;
use pxl_ws_tests::{TestServer, WAIT};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::app::builder;

async fn echo_server(config: WsConfig) -> TestServer {
    TestServer::start(builder(config).fallback(|client, message: RawMessage| {
        client.send_raw(message);
    }))
    .await
}

#[tokio::test]
async fn unrouted_messages_reach_the_fallback_and_routes_still_work() {
    let srv = echo_server(WsConfig::default()).await;
    let mut c = srv.connect().await;
    for m in [
        Message::text("not json at all"),
        Message::text(r#"{"type":"nope","action":"x","id":1}"#),
        Message::text(r#"{"action":"no type"}"#),
        Message::binary(vec![0u8, 159, 146, 150]),
    ] {
        c.send_raw(m.clone()).await;
        assert_eq!(c.next_message(WAIT).await, Some(m));
    }
    // Routed messages are answered by their handlers as before.
    let r = c.request("test", "echo", json!({"a": 1})).await;
    assert_eq!(r["response"], json!({"a": 1}));
    assert_eq!(srv.handle.health().errors_sent, 0);
}

#[tokio::test]
async fn without_the_connected_frame_the_first_frame_is_the_echo() {
    let mut config = WsConfig::default();
    config.connected_frame = false;
    let srv = echo_server(config).await;
    let mut sock = RawSocket::connect(srv.addr, "/ws", "").await;
    sock.send(&pxl_ws_tests::raw::text(b"first")).await;
    let (opcode, payload) = sock.read_frame().await.expect("a frame");
    assert_eq!((opcode, payload.as_slice()), (1, &b"first"[..]));
}

#[tokio::test]
async fn a_panicking_fallback_is_logged_and_the_socket_survives() {
    let logs = pxl_ws_tests::logs::LogCapture::start();
    let srv = TestServer::start(builder(WsConfig::default()).fallback(|client, message| {
        if message.as_text() == Some("boom") {
            panic!("fallback exploded");
        }
        client.send_raw(message);
    }))
    .await;
    let mut c = srv.connect().await;
    c.send_text("boom").await;
    // The panic sent nothing: the next frame is the barrier's pong.
    c.assert_nothing_queued().await;
    let log = logs.text();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("fallback handler panicked")),
        "{log}"
    );
    c.send_text("fine").await;
    assert_eq!(c.next_message(WAIT).await, Some(Message::text("fine")));
}
