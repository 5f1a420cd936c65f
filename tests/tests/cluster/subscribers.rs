//! Subscribers over Redis: an app channel and a built-in event published on one
//! instance run the subscribers of every instance once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pxl_ws::{Channel, Event, State, WsServer, subscriber, subscribers};
use pxl_ws_tests::cluster::cluster_config;
use pxl_ws_tests::{RedisServer, TestServer, eventually};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn count(&self, s: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|e| *e == s).count()
    }
    fn count_prefix(&self, p: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with(p))
            .count()
    }
}

#[subscriber(matches = [regex("^orders:"), Event::QueueJobError, "done"])]
async fn record(State(seen): State<Seen>, Channel(c): Channel, msg: Value) {
    seen.0.lock().unwrap().push(format!("{c}:{msg}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_channels_and_built_in_events_run_subscribers_on_every_instance_once() {
    let redis = RedisServer::start().await;
    let config = cluster_config(&redis.url(), "subs", Duration::from_secs(5));
    let (seen1, seen2) = (Seen::default(), Seen::default());
    let s1 = TestServer::start(
        WsServer::builder()
            .config(config.clone())
            .state(seen1.clone())
            .subscribers(subscribers![record]),
    )
    .await;
    let s2 = TestServer::start(
        WsServer::builder()
            .config(config)
            .state(seen2.clone())
            .subscribers(subscribers![record]),
    )
    .await;
    let (h1, h2) = (s1.handle.clone(), s2.handle.clone());
    eventually("the instances see each other", || {
        h1.instances().len() == 2 && h2.instances().len() == 2
    })
    .await;

    s1.handle.publish("orders:new", &json!({"id": 1})).unwrap();
    // A job outcome for a client connected nowhere: still an event on every instance.
    let nobody: pxl_ws::ClientId = "0".repeat(32).parse().unwrap();
    s1.handle.queue_job_error(nobody, Some("j9"), "timed out");
    s1.handle.publish("done", &1).unwrap();
    eventually("both instances handled everything", || {
        seen1.count("done:1") == 1 && seen2.count("done:1") == 1
    })
    .await;
    for seen in [&seen1, &seen2] {
        assert_eq!(seen.count(r#"orders:new:{"id":1}"#), 1);
        assert_eq!(
            seen.count_prefix(r#"queueJobError:{"error":"timed out","jobId":"j9""#),
            1
        );
    }
    s1.stop().await;
    s2.stop().await;
}
