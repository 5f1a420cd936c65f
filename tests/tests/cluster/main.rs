//! Cluster tests: instances sharing a real `redis-server` (started per test on a free
//! loopback port). Instances run in this process where that is enough, and as separate
//! OS processes (`pxl-ws-test-node`) where killing one must matter.

mod admin;
mod delivery;
mod directory;
mod events;
mod history;
mod liveness;
mod membership;
mod outage;
mod presence;
mod rooms;
mod sharded;
mod subscribers;
mod tokens;

use std::time::Duration;

use pxl_ws::Frame;
use pxl_ws_tests::cluster::{Node, cluster_config, probe_builder};
use pxl_ws_tests::{TestClient, TestServer, eventually, poll_until};
use serde_json::{Value, json};

/// The node binary built from `tests/src/bin/pxl-ws-test-node.rs`.
pub(crate) const NODE_BIN: &str = env!("CARGO_BIN_EXE_pxl-ws-test-node");

/// Polls a node's view of `rooms` (through `probe`) until `cond` holds; fails after
/// `within` naming `what` and showing the last view.
pub(crate) async fn wait_view(
    probe: &mut TestClient,
    rooms: &[&str],
    within: Duration,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    poll_until(what, within, async || {
        let v = view(probe, rooms).await;
        if cond(&v) { Ok(v) } else { Err(v.to_string()) }
    })
    .await
}

/// The sorted member ids of `room` in a view.
pub(crate) fn members(v: &Value, room: &str) -> Vec<String> {
    serde_json::from_value(v["rooms"][room].clone()).unwrap_or_default()
}

/// The instance ids in a view.
pub(crate) fn instances(v: &Value) -> Vec<String> {
    serde_json::from_value(v["instances"].clone()).unwrap_or_default()
}

/// Asks a node (through `probe`, a client connected to it) for its view of `rooms`.
pub(crate) async fn view(probe: &mut TestClient, rooms: &[&str]) -> Value {
    let r = probe.request("t", "view", json!(rooms)).await;
    r["response"].clone()
}

/// Connects a probe client to a node.
pub(crate) async fn probe(node: &Node) -> TestClient {
    TestClient::connect(&node.url()).await
}

/// Sorted ids.
pub(crate) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// A numbered app frame, `t/msg {seq}`, for the channel tests.
pub(crate) fn msg(seq: u64) -> Frame {
    Frame::new("t", "msg", &json!({ "seq": seq })).unwrap()
}

/// The `seq` of the next frame, which must be a `t/msg`.
pub(crate) async fn next_seq(c: &mut TestClient) -> u64 {
    let v: Value = c.recv().await;
    assert_eq!(
        (v["type"].as_str(), v["action"].as_str()),
        (Some("t"), Some("msg")),
        "{v}"
    );
    v["data"]["seq"].as_u64().unwrap()
}

/// Three in-process instances on the Redis (or Redis Cluster seed list) at `url`, once
/// each sees the three and its bus is connected.
pub(crate) async fn three_instances(url: &str, prefix: &str, ttl: Duration) -> [TestServer; 3] {
    let config = cluster_config(url, prefix, ttl);
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config.clone())).await;
    let s3 = TestServer::start(probe_builder(config)).await;
    eventually("the three instances see each other", || {
        [&s1, &s2, &s3]
            .iter()
            .all(|s| s.handle.instances().len() == 3 && s.handle.health().bus.connected)
    })
    .await;
    [s1, s2, s3]
}
