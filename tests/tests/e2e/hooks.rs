//! Every event hook fires at its point, with the right data.

use std::sync::{Arc, Mutex};

use pxl_ws::WsServer;
use pxl_ws_tests::{TestServer, eventually};
use serde_json::json;

use crate::app::{Counter, TestController};

#[tokio::test]
async fn each_hook_fires() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = |log: &Arc<Mutex<Vec<String>>>| {
        let log = log.clone();
        move |s: String| log.lock().unwrap().push(s)
    };
    let (a, b, m, d, e) = (l(&log), l(&log), l(&log), l(&log), l(&log));
    let builder = WsServer::builder()
        .controller(TestController)
        .state(Counter::default())
        .on_server_started(move |s| a(format!("started {}", s.instance_id().len())))
        .on_connected(move |c| b(format!("connected {}", c.id())))
        .on_message(move |c, info| {
            m(format!(
                "message {} {}/{} {}",
                c.id(),
                info.message_type,
                info.action,
                info.size
            ))
        })
        .on_error(move |ev| d(format!("error {} {:?} {}", ev.client_id, ev.kind, ev.code)))
        .on_disconnected(move |info| {
            e(format!(
                "disconnected {} {:?} {:?} {}",
                info.client_id, info.code, info.rooms, info.reason
            ))
        });
    let srv = TestServer::start(builder).await;
    eventually("server started hook", || !log.lock().unwrap().is_empty()).await;
    let mut cl = srv.connect().await;
    let id = cl.id.clone();
    cl.join("h").await;
    let msg = json!({"type": "test", "action": "unit"}).to_string();
    cl.send_text(&msg).await;
    cl.recv().await;
    cl.send_text("{oops").await;
    cl.recv().await;
    cl.request("test", "fail", json!(null)).await;
    cl.request("test", "panic", json!(null)).await;
    cl.close().await;
    eventually("disconnected hook", || log.lock().unwrap().len() == 10).await;
    let got = log.lock().unwrap().clone();
    let len = |ty: &str, action: &str, data: serde_json::Value, id: &str| {
        json!({"type": ty, "action": action, "data": data, "id": id})
            .to_string()
            .len()
    };
    let join_len = len("system", "joinRoom", json!({"roomName": "h"}), "r1");
    assert_eq!(
        got,
        vec![
            "started 16".to_string(),
            format!("connected {id}"),
            format!("message {id} system/joinRoom {join_len}"),
            format!("message {id} test/unit {}", msg.len()),
            format!("error {id} InvalidMessage INVALID_JSON"),
            format!(
                "message {id} test/fail {}",
                len("test", "fail", json!(null), "r2")
            ),
            format!("error {id} Action NOPE"),
            format!(
                "message {id} test/panic {}",
                len("test", "panic", json!(null), "r3")
            ),
            format!("error {id} Panic INTERNAL_ERROR"),
            format!("disconnected {id} Some(1000) [\"h\"] closed by client"),
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_panicking_hook_does_not_break_the_connection() {
    let srv = TestServer::start(
        WsServer::builder()
            .controller(TestController)
            .state(Counter::default())
            .on_connected(|_| panic!("hook bug"))
            .on_message(|_, _| panic!("hook bug")),
    )
    .await;
    let mut c = srv.connect().await;
    assert_eq!(
        c.request("test", "unit", json!(null)).await["action"],
        "unit"
    );
    srv.stop().await;
}
