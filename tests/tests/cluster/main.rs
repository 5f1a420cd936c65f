//! Cluster tests: instances sharing a real `redis-server` (started per test on a free
//! loopback port). Instances run in this process where that is enough, and as separate
//! OS processes (`pxl-ws-test-node`) where killing one must matter.

mod admin;
mod delivery;
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

use pxl_ws_tests::cluster::Node;
use pxl_ws_tests::{TestClient, poll_until};
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
