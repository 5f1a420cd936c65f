//! The admin dashboard's cluster view: an admin on one instance sees every instance with
//! its connections, the other instance's clients and the rooms' members across both,
//! the other instance's connects, joins and disconnects in the live tail, and can
//! disconnect a client connected to the other instance.

use std::time::Duration;

use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{RedisServer, TestClient, TestServer, poll_until};
use serde_json::{Value, json};

const TTL: Duration = Duration::from_secs(60);
const TOKEN: &str = "cluster-admin-token-0123";

async fn next_event(c: &mut TestClient, kind: &str, client: &str) -> Value {
    loop {
        let f = c.recv().await;
        if f["type"] == "admin"
            && f["action"] == "event"
            && f["data"]["kind"] == kind
            && f["data"]["clientId"] == client
        {
            return f["data"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_on_one_instance_sees_and_acts_on_the_whole_cluster() {
    let redis = RedisServer::start().await;
    let mut config = cluster_config(&redis.url(), "admin", TTL);
    config.admin.path = Some("/admin".into());
    config.admin.token = Some(TOKEN.into());
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config)).await;

    let mut admin = s1.connect().await;
    let r = admin
        .request("admin", "login", json!({"token": TOKEN}))
        .await;
    assert_eq!(r["response"]["admitted"], true, "{r}");
    admin.request("admin", "subscribe", json!(null)).await;

    let mut here = s1.connect().await;
    here.join("lobby").await;
    let mut there = TestClient::connect(&s2.url()).await;
    let e = next_event(&mut admin, "connect", &there.id).await;
    assert_eq!(e["instanceId"], s2.handle.instance_id());
    there.join("lobby").await;
    let e = next_event(&mut admin, "join", &there.id).await;
    assert_eq!(e["room"], "lobby");
    assert_eq!(e["instanceId"], s2.handle.instance_id());

    let (i1, i2) = (s1.handle.instance_id(), s2.handle.instance_id());
    let overview = poll_until(
        "both instances in the overview",
        Duration::from_secs(10),
        async || {
            let o = admin.request("admin", "overview", json!(null)).await["response"].clone();
            let want = json!([
                {"id": i1, "self": true, "connections": 2},
                {"id": i2, "self": false, "connections": 1},
            ]);
            if o["instances"] == want {
                Ok(o)
            } else {
                Err(o["instances"].to_string())
            }
        },
    )
    .await;
    // The health snapshot's cluster count is as of each instance's last heartbeat.
    assert_eq!(overview["health"]["clusterInstances"], 2);

    let c = admin.request("admin", "clients", json!(null)).await["response"].clone();
    assert_eq!(c["total"], 3);
    let remote = c["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["clientId"] == there.id.as_str())
        .cloned()
        .expect("the other instance's client is listed");
    assert_eq!(remote["instanceId"], i2);
    assert_eq!(remote["rooms"], json!(["lobby"]));

    let rooms = admin.request("admin", "rooms", json!(null)).await["response"].clone();
    assert_eq!(
        rooms["rooms"],
        json!([{"name": "lobby", "members": 2, "local": 1}])
    );

    // Disconnecting a client of the other instance goes through the bus.
    let r = admin
        .request("admin", "disconnect", json!({"clientId": there.id}))
        .await;
    assert_eq!(r["response"]["disconnected"], true, "{r}");
    let (closed, _) = there.expect_close().await;
    assert_eq!(closed.code, Some(4010));
    let e = next_event(&mut admin, "disconnect", &there.id).await;
    assert_eq!(e["instanceId"], i2);

    drop(here);
    s2.stop().await;
    s1.stop().await;
}
