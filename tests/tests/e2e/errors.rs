//! Every error code the client can see, with the exact frame, and the connection keeps
//! working after each one.

use pxl_ws::WsConfig;
use pxl_ws_tests::TestServer;
use serde_json::{Value, json};

use crate::app::builder;

async fn server() -> TestServer {
    TestServer::start(builder(WsConfig::default())).await
}

fn error(data: Value) -> Value {
    json!({"type": "error", "action": "message", "data": data})
}

#[tokio::test]
async fn parser_errors_use_pxl_texts_and_stable_codes() {
    let srv = server().await;
    let mut c = srv.connect().await;
    let cases: &[(&str, Value)] = &[
        (
            "{not json",
            error(json!({"error": "Failed to parse JSON", "code": "INVALID_JSON"})),
        ),
        (
            "",
            error(json!({"error": "Failed to parse JSON", "code": "INVALID_JSON"})),
        ),
        (
            "null",
            error(json!({"error": "Invalid WebSocket message", "code": "INVALID_MESSAGE"})),
        ),
        (
            "42",
            error(json!({"error": "Invalid WebSocket message", "code": "INVALID_MESSAGE"})),
        ),
        (
            r#"["test","echo"]"#,
            error(json!({"error": "Invalid WebSocket message", "code": "INVALID_MESSAGE"})),
        ),
        (
            r#"{"action":"echo"}"#,
            error(json!({"error": "Missing WebSocket message type", "code": "MISSING_TYPE"})),
        ),
        (
            r#"{"type":"","action":"echo"}"#,
            error(json!({"error": "Missing WebSocket message type", "code": "MISSING_TYPE"})),
        ),
        (
            r#"{"type":7,"action":"echo"}"#,
            error(
                json!({"error": "Missing WebSocket message type", "code": "MISSING_TYPE", "reason": "`type` must be a non-empty string"}),
            ),
        ),
        (
            r#"{"type":"test"}"#,
            error(json!({"error": "Missing WebSocket message action", "code": "MISSING_ACTION"})),
        ),
        (
            r#"{"type":"test","action":"echo","id":{"x":1}}"#,
            error(
                json!({"error": "Invalid WebSocket message", "code": "INVALID_MESSAGE", "reason": "`id` must be a string or a number"}),
            ),
        ),
    ];
    for (input, expected) in cases {
        c.send_text(input).await;
        assert_eq!(&c.recv().await, expected, "input: {input}");
    }
    // The id is echoed on errors when it was readable.
    c.send_text(r#"{"type":"test","id":"q"}"#).await;
    assert_eq!(
        c.recv().await,
        json!({"type": "error", "action": "message", "data": {"error": "Missing WebSocket message action", "code": "MISSING_ACTION"}, "id": "q"})
    );
    // Still serving.
    assert_eq!(
        c.request("test", "add", json!({"a": 1, "b": 2})).await["response"]["sum"],
        3
    );
    assert_eq!(srv.handle.health().errors_sent, cases.len() as u64 + 1);
    srv.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_answered() {
    let srv = server().await;
    let mut c = srv.connect().await;
    c.send_json(&json!({"type": "nope", "action": "x", "id": 3}))
        .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "error", "action": "message", "id": 3, "data": {
            "error": "No handler for type `nope` and action `x`",
            "code": "UNKNOWN_ROUTE", "type": "nope", "action": "x"
        }})
    );
    // Known type, unknown action.
    c.send("test", "ech0", json!(null)).await;
    assert_eq!(c.recv().await["data"]["code"], "UNKNOWN_ROUTE");
    assert_eq!(
        c.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn bad_payloads_name_the_field_path_and_reason() {
    let srv = server().await;
    let mut c = srv.connect().await;
    let r = c
        .request(
            "test",
            "order",
            json!({"item": {"name": "tea", "qty": "three"}}),
        )
        .await;
    assert_eq!(
        r,
        json!({"type": "error", "action": "message", "id": "r1", "data": {
            "error": "invalid payload at `item.qty`: invalid type: string \"three\", expected u32",
            "code": "INVALID_PAYLOAD", "type": "test", "action": "order",
            "path": "item.qty", "reason": "invalid type: string \"three\", expected u32"
        }})
    );
    let r = c
        .request("test", "order", json!({"item": {"qty": 1}}))
        .await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD");
    assert_eq!(
        r["data"]["error"],
        "invalid payload at `item`: missing field `name`"
    );
    let r = c.request("test", "add", json!(null)).await;
    assert_eq!(
        r["data"]["error"],
        "invalid payload: invalid type: null, expected struct Add"
    );
    assert_eq!(
        c.request("test", "order", json!({"item": {"name": "tea", "qty": 3}}))
            .await["response"],
        3
    );
    srv.stop().await;
}

#[tokio::test]
async fn handler_errors_are_sent_and_internal_details_are_not() {
    let srv = server().await;
    let mut c = srv.connect().await;
    let r = c.request("test", "fail", json!(null)).await;
    assert_eq!(
        r["data"],
        json!({"error": "not today", "code": "NOPE", "type": "test", "action": "fail", "retry": false})
    );
    let r = c
        .request("test", "add", json!({"a": i64::MAX, "b": 1}))
        .await;
    assert_eq!(r["data"]["code"], "OVERFLOW");
    let r = c.request("test", "internal", json!(null)).await;
    assert_eq!(
        r["data"],
        json!({"error": "Internal server error", "code": "INTERNAL_ERROR", "type": "test", "action": "internal"})
    );
    assert!(!r.to_string().contains("hunter2"));
    srv.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_error_and_the_socket_survives() {
    let srv = server().await;
    let mut c = srv.connect().await;
    let mut other = srv.connect().await;
    let r = c.request("test", "panic", json!(null)).await;
    assert_eq!(r["data"]["code"], "INTERNAL_ERROR");
    assert!(!r.to_string().contains("exploded"));
    assert_eq!(
        c.request("test", "add", json!({"a": 1, "b": 1})).await["response"]["sum"],
        2
    );
    assert_eq!(
        other.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}
