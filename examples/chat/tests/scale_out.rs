//! The chat scales out unchanged: two processes on two ports sharing one Redis
//! (`REDIS_URL`), a user on each, see each other's presence and messages.

use pxl_ws_tests::{RedisServer, TestClient};
use serde_json::json;
use tokio::process::Child;

mod common;
use common::spawn_chat;

/// Starts `example-chat` on a free port against `redis_url`; returns it and its socket URL.
async fn chat(redis_url: &str) -> (Child, String) {
    spawn_chat(&[("REDIS_URL", redis_url)]).await
}

#[tokio::test]
async fn two_chat_instances_on_one_redis_see_each_others_users() {
    let redis = RedisServer::start().await;
    let (_a, url_a) = chat(&redis.url()).await;
    let (_b, url_b) = chat(&redis.url()).await;
    assert_ne!(url_a, url_b);

    let mut alice = TestClient::connect(&url_a).await;
    let mut bob = TestClient::connect(&url_b).await;
    for (c, name) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let r = c.request("chat", "setName", json!({"name": name})).await;
        assert_eq!(r["response"]["name"], name);
    }
    alice.join("lobby").await;
    // Bob's instance learns of alice's join over Redis; if that lands just after bob
    // joined, bob also hears "alice joined" (before or after his reply): skip it.
    bob.send_json(&json!({
        "type": "system", "action": "joinRoom", "data": {"roomName": "lobby"}, "id": "join"
    }))
    .await;
    loop {
        let f = bob.recv().await;
        if f["id"] == "join" {
            assert_eq!(f["response"]["success"], true, "{f}");
            break;
        }
        assert_eq!(f["action"], "memberJoined", "{f}");
        assert_eq!(f["data"]["username"], "alice", "{f}");
    }
    // Presence crosses instances: alice hears that bob (on the other process) joined.
    let joined = alice.recv().await;
    assert_eq!(joined["type"], "room", "{joined}");
    assert_eq!(joined["action"], "memberJoined");
    assert_eq!(joined["data"]["username"], "bob");
    assert_eq!(joined["data"]["clientId"], bob.id.as_str());

    // A message from bob reaches alice on the other instance.
    bob.send(
        "chat",
        "send",
        json!({"room": "lobby", "text": "hi from b"}),
    )
    .await;
    let got = alice.recv().await;
    assert_eq!(got["action"], "message", "{got}");
    assert_eq!(got["data"]["from"], "bob");
    assert_eq!(got["data"]["text"], "hi from b");
    // And back.
    alice
        .send(
            "chat",
            "send",
            json!({"room": "lobby", "text": "hi from a"}),
        )
        .await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let f = bob.recv().await;
        if f["action"] == "message" {
            texts.push(f["data"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(texts, ["hi from b", "hi from a"]);
}
