//! Presence on one instance: `system/presence` and `system/presenceStats` (members only,
//! unless the builder's hook decides), the member cap, and the opt-in user-level
//! `room/userJoined` / `room/userLeft` (two tabs of one user are one presence).

use pxl_ws::{Client, WsConfig};
use pxl_ws_tests::cluster::probe_builder;
use pxl_ws_tests::{TestClient, TestServer};
use serde_json::{Value, json};

fn config() -> WsConfig {
    let mut c = WsConfig::default();
    c.rooms.user_presence_events = true;
    c.limits.rate_limit.enabled = false;
    c
}

async fn as_user(srv: &TestServer, user: &str, name: &str) -> TestClient {
    let mut c = srv.connect().await;
    let r = c.request("t", "setUser", json!(user)).await;
    assert_eq!(r["response"], true);
    let r = c
        .request(
            "system",
            "joinRoom",
            json!({"roomName": "lobby", "username": name}),
        )
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
    c
}

async fn presence(c: &mut TestClient, action: &str, room: &str) -> Value {
    c.request("system", action, json!({ "roomName": room }))
        .await
}

#[tokio::test]
async fn presence_lists_members_and_two_tabs_of_one_user_are_one_presence() {
    let srv = TestServer::start(probe_builder(config())).await;
    let mut alice = as_user(&srv, "u-alice", "alice").await;
    let mut bob1 = as_user(&srv, "u-bob", "bob").await;
    let joined = alice.recv().await;
    assert_eq!(
        joined,
        json!({"type": "room", "action": "userJoined",
               "data": {"roomName": "lobby", "userId": "u-bob", "username": null}})
    );
    // Bob's second tab: no second userJoined.
    let mut bob2 = as_user(&srv, "u-bob", "bob").await;
    let r = presence(&mut alice, "presenceStats", "lobby").await;
    assert_eq!(
        r["response"],
        json!({"roomName": "lobby", "clients": 3, "users": 2})
    );
    alice.assert_nothing_queued().await;

    let r = presence(&mut bob2, "presence", "lobby").await;
    let p = &r["response"];
    assert_eq!(p["count"], 3);
    assert_eq!(p["truncated"], false);
    let mut users: Vec<&str> = p["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["u-alice", "u-bob", "u-bob"]);
    let ids: Vec<&str> = p["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["clientId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&alice.id.as_str()) && ids.contains(&bob1.id.as_str()));

    // One tab leaves: bob is still here. The last one leaves: userLeft.
    bob1.leave("lobby").await;
    alice.assert_nothing_queued().await;
    drop(bob2);
    let left = alice.recv().await;
    assert_eq!(left["action"], "userLeft", "{left}");
    assert_eq!(left["data"]["userId"], "u-bob");
    let r = presence(&mut alice, "presenceStats", "lobby").await;
    assert_eq!(r["response"]["clients"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn presence_is_refused_to_non_members_unless_the_hook_allows() {
    let srv = TestServer::start(probe_builder(config())).await;
    let mut member = as_user(&srv, "u1", "one").await;
    let mut outsider = srv.connect().await;
    for action in ["presence", "presenceStats"] {
        let r = presence(&mut outsider, action, "lobby").await;
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["data"]["code"], "FORBIDDEN", "{r}");
    }
    // Malformed requests get the join's answers; the server keeps serving.
    let r = outsider.request("system", "presence", json!({})).await;
    assert_eq!(r["response"]["success"], false, "{r}");
    let r = outsider
        .request("system", "presence", json!({"roomName": 7}))
        .await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD", "{r}");
    let r = presence(&mut member, "presence", "lobby").await;
    assert_eq!(r["response"]["count"], 1);
    srv.stop().await;

    let mut cfg = config();
    cfg.rooms.presence_max_members = 2;
    let srv = TestServer::start(
        probe_builder(cfg)
            .authorize_presence(|_c: Client, room: String| std::future::ready(room == "lobby")),
    )
    .await;
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(as_user(&srv, &format!("u{i}"), "x").await);
    }
    let mut outsider = srv.connect().await;
    let r = presence(&mut outsider, "presence", "lobby").await;
    assert_eq!(r["response"]["count"], 3, "{r}");
    assert_eq!(r["response"]["members"].as_array().unwrap().len(), 2);
    assert_eq!(r["response"]["truncated"], true);
    let r = presence(&mut outsider, "presence", "secret").await;
    assert_eq!(r["data"]["code"], "FORBIDDEN");
    drop(members);
    srv.stop().await;
}
