//! The metrics go to the app's own recorder when it installs one before `build()` and
//! leaves `metrics_path` unset, the gauges too (sampled on a timer, since nobody scrapes
//! pxl-ws's route); asking pxl-ws to serve them then is a clear error.

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use pxl_ws::{Data, WsServer, ws_controller};
use pxl_ws_tests::{TestServer, WAIT, poll_until};
use serde_json::{Value, json};

struct Shop;

#[ws_controller(type = "shop")]
impl Shop {
    #[action("echo")]
    async fn echo(&self, Data(v): Data<Value>) -> Value {
        v
    }
}

/// The gauges in the recorder now, by name.
fn gauges(snapshotter: &Snapshotter) -> HashMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(v) => Some((key.key().name().to_owned(), v.into_inner())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_app_recorder_receives_the_metrics_and_serve_metrics_refuses_clearly() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the test's recorder is the first");

    let srv = TestServer::start(WsServer::builder().controller(Shop)).await;
    let mut c = srv.connect().await;
    for i in 0..4 {
        assert_eq!(c.request("shop", "echo", json!(i)).await["response"], i);
    }
    let counters: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => {
                let k = key.key();
                let labels: Vec<String> = k
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                Some((format!("{}{{{}}}", k.name(), labels.join(",")), n))
            }
            _ => None,
        })
        .collect();
    let get = |name: &str| counters.iter().find(|(k, _)| k == name).map(|(_, n)| *n);
    assert_eq!(
        get("pxl_ws_route_handled_total{type=shop,action=echo}"),
        Some(4)
    );
    assert_eq!(get("pxl_ws_messages_in_total{}"), Some(4));
    assert_eq!(get("pxl_ws_connections_opened_total{}"), Some(1));

    // The gauges follow the live tables: two clients, rooms `a` (both) and `b` (one).
    let mut d = srv.connect().await;
    c.join("a").await;
    d.join("a").await;
    d.join("b").await;
    let want = [
        ("pxl_ws_connections_open", 2.0),
        ("pxl_ws_rooms", 2.0),
        ("pxl_ws_room_memberships", 3.0),
        ("pxl_ws_outbound_queue_bytes", 0.0),
    ];
    poll_until("the gauges of two clients in two rooms", WAIT, async || {
        let g = gauges(&snapshotter);
        match want.iter().all(|(k, v)| g.get(*k) == Some(v)) {
            true => Ok(()),
            false => Err(format!("{g:?}")),
        }
    })
    .await;
    d.close().await;
    let now = [
        ("pxl_ws_connections_open", 1.0),
        ("pxl_ws_rooms", 1.0),
        ("pxl_ws_room_memberships", 1.0),
    ];
    poll_until("the gauges after one client left", WAIT, async || {
        let g = gauges(&snapshotter);
        match now.iter().all(|(k, v)| g.get(*k) == Some(v)) {
            true => Ok(()),
            false => Err(format!("{g:?}")),
        }
    })
    .await;

    let err = WsServer::builder()
        .serve_metrics("/metrics")
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "invalid setting `metrics_path`: another metrics recorder is installed: it receives \
         pxl-ws's metrics; serve it yourself and leave `metrics_path` unset"
    );
    c.close().await;
    srv.stop().await;
}
