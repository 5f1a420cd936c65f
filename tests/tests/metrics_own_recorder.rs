//! The metrics go to the app's own recorder when it installs one before `build()` and
//! leaves `metrics_path` unset; asking pxl-ws to serve them then is a clear error.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use pxl_ws::{Data, WsServer, ws_controller};
use pxl_ws_tests::TestServer;
use serde_json::{Value, json};

struct Shop;

#[ws_controller(type = "shop")]
impl Shop {
    #[action("echo")]
    async fn echo(&self, Data(v): Data<Value>) -> Value {
        v
    }
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
