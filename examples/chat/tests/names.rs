//! Display names: under token authentication a user is named by the token and cannot
//! take another name; names follow the server's room-name character rules; every message
//! carries the verified `userId` (null for anonymous senders).

use pxl_ws_tests::TestClient;
use pxl_ws_tests::jwt::{claims, hs256};
use serde_json::{Value, json};
use tokio::process::Child;

mod common;
use common::spawn_chat;

const SECRET: &str = "chat names test secret, thirty-two bytes or more";

/// Starts `example-chat` with token authentication on (optional); returns it and its
/// socket URL.
async fn chat() -> (Child, String) {
    spawn_chat(&[("PXL_WS_JWT_SECRET", SECRET)]).await
}

/// Connects as `user` with a token and reads `auth/authenticated`.
async fn login(url: &str, user: &str) -> TestClient {
    let token = hs256(SECRET.as_bytes(), &claims(user));
    let mut c = TestClient::connect(&format!("{url}?token={token}")).await;
    let auth = c.recv().await;
    assert_eq!(auth["action"], "authenticated", "{auth}");
    c
}

/// The next `chat/<action>` frame (presence frames are skipped).
async fn next_chat(c: &mut TestClient, action: &str) -> Value {
    loop {
        let f = c.recv().await;
        if f["type"] == "chat" && f["action"] == action {
            return f;
        }
        assert_eq!(f["type"], "room", "unexpected frame: {f}");
    }
}

async fn set_name(c: &mut TestClient, name: &str) -> Value {
    c.request("chat", "setName", json!({ "name": name })).await
}

#[tokio::test]
async fn a_signed_in_user_is_named_by_the_token_and_cannot_post_as_someone_else() {
    let (_chat, url) = chat().await;
    let mut alice = login(&url, "alice").await;
    let mut mallory = login(&url, "mallory").await;
    alice.join("lobby").await;
    mallory.join("lobby").await;

    let r = set_name(&mut mallory, "alice").await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["data"]["code"], "NAME_FROM_TOKEN", "{r}");

    mallory
        .send(
            "chat",
            "send",
            json!({"room": "lobby", "text": "it's me, alice"}),
        )
        .await;
    let m = next_chat(&mut alice, "message").await;
    assert_eq!(m["data"]["from"], "mallory", "{m}");
    assert_eq!(m["data"]["userId"], "mallory", "{m}");
    assert_eq!(m["data"]["text"], "it's me, alice");
    mallory
        .send("chat", "typing", json!({"room": "lobby", "typing": true}))
        .await;
    let t = next_chat(&mut alice, "typing").await;
    assert_eq!(t["data"]["from"], "mallory", "{t}");
    assert_eq!(t["data"]["userId"], "mallory", "{t}");
}

#[tokio::test]
async fn display_names_follow_the_room_name_rules_and_anonymous_messages_carry_no_user_id() {
    let (_chat, url) = chat().await;
    let mut alice = login(&url, "alice").await;
    alice.join("lobby").await;
    let mut anon = TestClient::connect(&url).await;
    for bad in [
        "\u{202E}ecila",    // right-to-left override
        "al\u{200B}ice",    // zero-width space
        "a\u{0}b",          // NUL
        "\u{1b}[31mred",    // ESC (terminal colours)
        "\u{3164}",         // Hangul filler: looks like no name at all
        "ali\u{00AD}ce",    // soft hyphen
        "bob\u{2028}alice", // line separator
    ] {
        let r = set_name(&mut anon, bad).await;
        assert_eq!(r["type"], "error", "{bad:?}: {r}");
        assert_eq!(r["data"]["code"], "INVALID_NAME", "{bad:?}: {r}");
    }
    // A good name is still accepted, padded or not, and shown as sent.
    let r = set_name(&mut anon, "  Zoë ☕ ").await;
    assert_eq!(r["response"]["name"], "Zoë ☕", "{r}");
    anon.join("lobby").await;
    anon.send("chat", "send", json!({"room": "lobby", "text": "hello"}))
        .await;
    let m = next_chat(&mut alice, "message").await;
    assert_eq!(m["data"]["from"], "Zoë ☕", "{m}");
    assert_eq!(m["data"]["userId"], Value::Null, "{m}");
}
