//! Room history helpers shared by the single-process and the Redis history tests.

use serde_json::{Value, json};

use crate::TestClient;

/// `system/joinRoom` with extra fields (`since`, `history`); asserts success and returns
/// the reply's `response` (its `data.stream` holds the recovery).
pub async fn join_with(c: &mut TestClient, room: &str, extra: Value) -> Value {
    let mut data = json!({ "roomName": room });
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = c.request("system", "joinRoom", data).await;
    assert_eq!(r["response"]["success"], true, "{r}");
    r["response"].clone()
}

/// The stream offsets of `frames`, in order (each must carry one).
pub fn offsets(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["stream"]["offset"].as_u64().unwrap())
        .collect()
}
