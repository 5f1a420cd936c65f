//! The remaining cluster events: `disconnectClient` from any instance, `messageError`
//! and `queueJobCompleted` / `queueJobError` routed to the instance holding the client,
//! `custom` events reaching subscribers on every instance once.

use std::time::Duration;

use pxl_ws::ClientId;
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{RedisServer, TestServer, eventually_async};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnects_errors_jobs_and_custom_events_cross_instances() {
    let redis = RedisServer::start().await;
    let config = cluster_config(&redis.url(), "events", Duration::from_secs(5));
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config)).await;
    let mut admin = s1.connect().await;
    let mut target = s2.connect().await;
    let target_id: ClientId = target.id.parse().unwrap();
    eventually_async("instance 1 knows the client on instance 2", async || {
        s1.handle
            .directory()
            .client(target_id)
            .await
            .is_ok_and(|c| c.is_some())
    })
    .await;

    // messageError: an error frame reaches the socket on the other instance.
    admin
        .request("t", "error", json!({"clientId": target.id, "jobId": "j1"}))
        .await;
    assert_eq!(
        target.recv().await,
        json!({"type": "error", "action": "message",
               "data": {"error": "it broke", "code": "JOB_FAILED", "jobId": "j1"}})
    );

    // queueJobCompleted / queueJobError: forwarded to the client named in the payload.
    admin
        .request(
            "t",
            "job",
            json!({"clientId": target.id, "jobId": "j2", "ok": true}),
        )
        .await;
    assert_eq!(
        target.recv().await,
        json!({"type": "queue", "action": "jobCompleted",
               "data": {"jobId": "j2", "result": {"rows": 3}}})
    );
    admin
        .request(
            "t",
            "job",
            json!({"clientId": target.id, "jobId": "j3", "ok": false}),
        )
        .await;
    assert_eq!(
        target.recv().await,
        json!({"type": "queue", "action": "jobError",
               "data": {"jobId": "j3", "error": "timed out"}})
    );
    // A job for a local client is delivered at once, without the bus.
    s2.handle
        .queue_job_completed(target_id, None, &json!("done"))
        .unwrap();
    assert_eq!(
        target.recv().await["data"],
        json!({"jobId": null, "result": "done"})
    );

    // custom: watchers on both instances get the event exactly once, the publishing
    // instance's too.
    let mut w1 = s1.connect().await;
    w1.join("custom-watchers").await;
    let mut w2 = s2.connect().await;
    w2.join("custom-watchers").await;
    admin.request("t", "custom", json!({"n": 7})).await;
    for w in [&mut w1, &mut w2] {
        let ev = w.recv().await;
        assert_eq!(ev["action"], "custom", "{ev}");
        assert_eq!(ev["data"]["name"], "probe");
        assert_eq!(ev["data"]["data"], json!({"n": 7}));
        assert_eq!(ev["data"]["origin"], s1.handle.instance_id());
    }
    // A second event is the next frame for both: the first came once.
    admin.request("t", "custom", json!({"n": 8})).await;
    for w in [&mut w1, &mut w2] {
        let ev = w.recv().await;
        assert_eq!(ev["data"]["data"], json!({"n": 8}), "{ev}");
    }

    // disconnectClient: instance 1 closes a socket held by instance 2.
    let r = admin
        .request("t", "disconnect", json!({"clientId": target.id}))
        .await;
    assert_eq!(r["response"], true, "instance 1 knows the client: {r}");
    let (closed, _) = target.expect_close().await;
    assert_eq!(closed.code, Some(4001));
    assert_eq!(closed.reason, "kicked");
    eventually_async(
        "the disconnected client leaves both directories",
        async || {
            for s in [&s1, &s2] {
                if !s
                    .handle
                    .directory()
                    .client(target_id)
                    .await
                    .is_ok_and(|c| c.is_none())
                {
                    return false;
                }
            }
            true
        },
    )
    .await;
    // An unknown client: no instance holds it (`disconnect_client` publishes the request
    // all the same; with the directory in Redis it cannot tell synchronously).
    let unknown = ClientId::random();
    assert_eq!(s1.handle.directory().client(unknown).await.unwrap(), None);
    s1.handle.disconnect_client(unknown, 4001, "x");
    drop((admin, w1, w2));
    s1.stop().await;
    s2.stop().await;
}
