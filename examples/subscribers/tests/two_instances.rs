//! The example across two instances sharing a bus: a job run on one instance reaches
//! the dashboards on both, once each; a VIP analytics event tracked on one reaches the
//! VIP feed on the other, and non-VIP events do not.

use pxl_ws::MemoryBus;
use pxl_ws_tests::{TestServer, eventually};
use serde_json::json;

type Queue = tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>;

/// Two instances of the app on one bus, with their analytics queues.
async fn pair() -> (TestServer, TestServer, Queue, Queue) {
    let bus = MemoryBus::new();
    let (a, queue_a) = example_subscribers::app();
    let (b, queue_b) = example_subscribers::app();
    let a = TestServer::start(a.bus(bus.clone())).await;
    let b = TestServer::start(b.bus(bus)).await;
    let (ha, hb) = (a.handle.clone(), b.handle.clone());
    eventually("peers", || {
        ha.instances().len() == 2 && hb.instances().len() == 2
    })
    .await;
    (a, b, queue_a, queue_b)
}

#[tokio::test]
async fn job_outcomes_reach_every_dashboard_once() {
    let (a, b, _qa, _qb) = pair().await;
    let mut dash_a = a.connect().await;
    let mut dash_b = b.connect().await;
    dash_a.join(example_subscribers::DASHBOARD).await;
    dash_b.join(example_subscribers::DASHBOARD).await;
    let mut worker = a.connect().await;
    // The caller gets the reply and its job's outcome (in either order).
    for (job, outcome) in [
        (json!({"jobId": "j1"}), "jobCompleted"),
        (json!({"jobId": "j2", "fail": true}), "jobError"),
    ] {
        worker.send("jobs", "run", job).await;
        let mut actions = vec![
            worker.recv().await["action"].as_str().unwrap().to_owned(),
            worker.recv().await["action"].as_str().unwrap().to_owned(),
        ];
        actions.sort();
        let mut want = vec![outcome.to_owned(), "run".to_owned()];
        want.sort();
        assert_eq!(actions, want);
    }
    for d in [&mut dash_a, &mut dash_b] {
        let done = d.recv().await;
        assert_eq!(
            (done["type"].as_str(), done["action"].as_str()),
            (Some("queue"), Some("done")),
            "{done}"
        );
        assert_eq!(done["data"]["jobId"], "j1");
        let errored = d.recv().await;
        assert_eq!(errored["action"], "errored", "{errored}");
        assert_eq!(errored["data"]["jobId"], "j2");
        assert_eq!(errored["data"]["error"], "the job failed");
    }
    // A third job is the next update on both dashboards: nobody got one twice.
    worker.send("jobs", "run", json!({"jobId": "j3"})).await;
    worker.recv().await;
    worker.recv().await;
    for d in [&mut dash_a, &mut dash_b] {
        let next = d.recv().await;
        assert_eq!(next["data"]["jobId"], "j3", "{next}");
    }
    for c in [dash_a, dash_b, worker] {
        c.close().await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn vip_analytics_reach_the_vip_feed_on_the_other_instance() {
    let (a, b, mut queue_a, _qb) = pair().await;
    let mut feed = b.connect().await;
    feed.join(example_subscribers::VIP_FEED).await;
    let mut tracker = a.connect().await;
    tracker
        .request(
            "analytics",
            "track",
            json!({"event": "pageview", "segment": "basic", "page": "/"}),
        )
        .await;
    tracker
        .request(
            "analytics",
            "track",
            json!({"event": "pageview", "segment": "vip", "page": "/pricing"}),
        )
        .await;
    let got = feed.recv().await;
    assert_eq!(got["action"], "vip", "{got}");
    assert_eq!(got["data"]["channel"], "analytics:pageview");
    assert_eq!(got["data"]["data"]["page"], "/pricing");
    // Another VIP event is the next frame on the feed: the first came once.
    tracker
        .request(
            "analytics",
            "track",
            json!({"event": "pageview", "segment": "vip", "page": "/after"}),
        )
        .await;
    assert_eq!(feed.recv().await["data"]["data"]["page"], "/after");
    // Instance A's analytics worker queued it too.
    let queued = tokio::time::timeout(pxl_ws_tests::WAIT, queue_a.recv())
        .await
        .expect("queued within WAIT")
        .unwrap();
    assert_eq!(queued["message"]["page"], "/pricing");
    feed.close().await;
    tracker.close().await;
    a.stop().await;
    b.stop().await;
}
