//! `PXL_WS_METRICS_PATH` turns the chat's Prometheus metrics on with no code change.

use pxl_ws_tests::{TestClient, http_get};
use serde_json::json;

mod common;
use common::spawn_chat;

#[tokio::test]
async fn the_chat_serves_metrics_when_the_environment_asks() {
    let (_chat, url) = spawn_chat(&[("PXL_WS_METRICS_PATH", "/metrics")]).await;
    let mut c = TestClient::connect(&url).await;
    c.join("general").await;
    let r = c.request("chat", "setName", json!({"name": "ada"})).await;
    assert_eq!(r["response"]["name"], "ada", "{r}");
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let resp = http_get(addr, "/metrics").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains(r#"pxl_ws_route_handled_total{type="chat",action="setName"} 1"#),
        "{resp}"
    );
    assert!(resp.contains("pxl_ws_room_memberships 1"), "{resp}");
}
