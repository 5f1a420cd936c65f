//! The server's PXL compatibility settings (`WsConfig::pxl`, `WsConfig::pxl_compatible`),
//! each on and off, with the frames a PXL client (`@scpxl/nodejs-framework`'s
//! `WebSocketClient` v1.0.57) really sends: no `id`, `?token=`, PXL's `joinRoom` payload.

use std::time::Duration;

use pxl_ws::WsConfig;
use pxl_ws::client::WsClient;
use pxl_ws::config::Secret;
use pxl_ws_tests::logs::LogCapture;
use pxl_ws_tests::{TestClient, TestServer, http_get, jwt};
use serde_json::{Value, json};

use crate::app::builder;

/// PXL's `auth.jwtSecretKey` (base64url; the HMAC key is its decoding).
const PXL_SECRET: &str = "c2VjcmV0LWtleS1mb3ItcHhsLXRlc3Rz";

fn with_secret(mut cfg: WsConfig) -> WsConfig {
    cfg.auth.jwt_secret = Some(Secret::new(PXL_SECRET));
    cfg.shutdown_timeout = Duration::from_millis(500);
    cfg
}

async fn server(cfg: WsConfig) -> TestServer {
    TestServer::start(builder(cfg)).await
}

/// `ws://…/ws?token=…`, as a PXL client puts it.
fn token_url(srv: &TestServer, token: &str) -> String {
    format!("{}?token={token}", srv.url())
}

#[tokio::test]
async fn pxl_secret_decoding_verifies_tokens_from_pxls_generate_jwt_token() {
    let token = jwt::pxl_hs256(PXL_SECRET, &jwt::claims("42"));
    // Default: the secret's UTF-8 bytes are the key, so PXL's token fails, and the log
    // says which setting would accept it.
    let logs = LogCapture::start();
    let plain = server(with_secret(WsConfig::default())).await;
    let refused = TestClient::connect_with(&token_url(&plain, &token), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["code"], "TOKEN_SIGNATURE_INVALID");
    let log = logs.text();
    assert!(
        log.contains("pxl.jwt_secret_base64url") && log.contains("PXL_WS_PXL_JWT_SECRET_BASE64URL"),
        "the refusal's log names the setting: {log}"
    );
    let signature = token.rsplit('.').next().unwrap();
    // (The test client's own tungstenite logs its request line at TRACE.)
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(signature) && l.contains("pxl_ws"))
        .collect();
    assert!(
        leaks.is_empty(),
        "the server never logs the token: {leaks:#?}"
    );

    let mut cfg = with_secret(WsConfig::default());
    cfg.pxl.jwt_secret_base64url = true;
    let pxl = server(cfg).await;
    let mut c = TestClient::connect(&token_url(&pxl, &token)).await;
    let auth = c.recv().await;
    assert_eq!(auth["type"], "auth");
    assert_eq!(auth["data"]["userId"], "42", "numeric_user_id is off");
    // A token signed with the raw bytes is now the one refused.
    let raw = jwt::hs256(PXL_SECRET.as_bytes(), &jwt::claims("42"));
    let refused = TestClient::connect_with(&token_url(&pxl, &raw), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.body["code"], "TOKEN_SIGNATURE_INVALID");

    // A secret PXL could not decode either is refused at build, naming the setting.
    let mut bad = WsConfig::default();
    bad.auth.jwt_secret = Some(Secret::new("abcde"));
    bad.pxl.jwt_secret_base64url = true;
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("auth.jwt_secret") && err.contains("base64url"),
        "{err}"
    );
}

#[tokio::test]
async fn tokens_without_exp_need_require_exp_off() {
    let token = jwt::pxl_hs256(PXL_SECRET, &json!({"sub": "7"}));
    let mut cfg = with_secret(WsConfig::default());
    cfg.pxl.jwt_secret_base64url = true;
    let strict = server(cfg.clone()).await;
    let refused = TestClient::connect_with(&token_url(&strict, &token), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.body["code"], "TOKEN_CLAIMS_INVALID");
    cfg.auth.require_exp = false;
    let lax = server(cfg).await;
    let mut c = TestClient::connect(&token_url(&lax, &token)).await;
    assert_eq!(c.recv().await["data"]["userId"], "7");
}

#[tokio::test]
async fn numeric_user_id_sends_pxls_number() {
    let mut cfg = WsConfig::pxl_compatible();
    cfg.auth.jwt_secret = Some(Secret::new(PXL_SECRET));
    let srv = server(cfg).await;
    let mut c = TestClient::connect(&token_url(
        &srv,
        &jwt::pxl_hs256(PXL_SECRET, &jwt::claims("42")),
    ))
    .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "auth", "action": "authenticated",
               "data": {"userId": 42, "message": "Authentication successful"}})
    );
    // A subject that is not all digits stays a string (PXL's parseInt would read
    // "42abc" as 42; pxl-ws does not guess).
    let mut other = TestClient::connect(&token_url(
        &srv,
        &jwt::pxl_hs256(PXL_SECRET, &jwt::claims("42abc")),
    ))
    .await;
    assert_eq!(other.recv().await["data"]["userId"], "42abc");
}

#[tokio::test]
async fn path_prefix_upgrades_every_path_under_ws() {
    let exact = server(WsConfig::default()).await;
    let refused = TestClient::connect_with(&format!("ws://{}/ws2", exact.addr), &[])
        .await
        .err()
        .expect("exact path by default");
    assert_eq!(refused.status, 404);

    let mut cfg = WsConfig::default();
    cfg.pxl.path_prefix = true;
    let srv = server(cfg).await;
    for path in ["/ws", "/ws2", "/wsfoo", "/ws/room/1", "/ws?token="] {
        let mut c = TestClient::connect(&format!("ws://{}{path}", srv.addr)).await;
        c.assert_nothing_queued().await;
    }
    let refused = TestClient::connect_with(&format!("ws://{}/other", srv.addr), &[])
        .await
        .err()
        .expect("other paths are not the socket");
    assert_eq!(refused.status, 404);
    // Plain HTTP on a prefixed path gets the endpoint's own answer, not a dropped socket.
    let resp = http_get(srv.addr, "/ws-anything").await;
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
}

#[tokio::test]
async fn join_identity_honours_pxls_join_room_fields_for_anonymous_clients() {
    let mut cfg = WsConfig::default();
    cfg.rooms.presence_events = true;
    let plain = server(cfg.clone()).await;
    let mut c = TestClient::connect(&plain.url()).await;
    c.send(
        "system",
        "joinRoom",
        json!({"roomName": "r", "userId": 7, "userType": "admin", "username": "ada"}),
    )
    .await;
    let reply = c.recv().await;
    let id = c.id.clone();
    assert_eq!(
        reply["response"]["data"]["userId"], id,
        "ids ignored by default"
    );
    assert_eq!(reply["response"]["data"]["userType"], "user");

    cfg.pxl.join_identity = true;
    let srv = server(cfg).await;
    let mut watcher = srv.connect().await;
    watcher.join("r").await;
    let mut c = srv.connect().await;
    // PXL's frame: no id.
    c.send(
        "system",
        "joinRoom",
        json!({"roomName": "r", "userId": 7, "userType": "admin", "username": "ada"}),
    )
    .await;
    let reply = c.recv().await;
    assert_eq!(reply["type"], "system");
    assert_eq!(reply.get("id"), None);
    let data = &reply["response"]["data"];
    assert_eq!(reply["response"]["success"], true);
    assert_eq!(data["userId"], 7, "echoed as sent, a number");
    assert_eq!(data["userType"], "admin");
    assert_eq!(data["username"], "ada");
    let joined = watcher.recv().await;
    assert_eq!(joined["action"], "memberJoined");
    assert_eq!(joined["data"]["username"], "ada");
    assert_eq!(joined["data"]["userId"], "7");
    let cid = c.id.parse().unwrap();
    let info = srv.handle.get_client(cid).unwrap();
    assert_eq!(info.user_id.as_deref(), Some("7"));
    assert_eq!(info.metadata["userType"], "admin");

    // Malformed identity fields: a userId that is neither string nor number is
    // ignored; a userType that is not a string is an INVALID_PAYLOAD error frame.
    c.send(
        "system",
        "joinRoom",
        json!({"roomName": "s", "userId": {"x": 1}}),
    )
    .await;
    let r = c.recv().await;
    assert_eq!(r["response"]["success"], true);
    assert_eq!(r["response"]["data"]["userId"], "7", "the bound id stays");
    c.send(
        "system",
        "joinRoom",
        json!({"roomName": "s", "userType": 5}),
    )
    .await;
    let r = c.recv().await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD");
    c.assert_nothing_queued().await;
    watcher.assert_nothing_queued().await;
}

#[tokio::test]
async fn join_identity_never_overrides_an_authenticated_user() {
    let mut cfg = with_secret(WsConfig::pxl_compatible());
    cfg.rooms.presence_events = false;
    let srv = server(cfg).await;
    let token = jwt::pxl_hs256(PXL_SECRET, &jwt::claims("42"));
    let mut c = TestClient::connect(&token_url(&srv, &token)).await;
    let _auth = c.recv().await;
    let _list = c.recv().await;
    c.send(
        "system",
        "joinRoom",
        json!({"roomName": "r", "userId": 1, "username": "impostor"}),
    )
    .await;
    let reply = c.recv().await;
    assert_eq!(reply["response"]["data"]["userId"], "42");
    assert_eq!(reply["response"]["data"]["username"], "impostor");
    let info = srv.handle.get_client(c.id.parse().unwrap()).unwrap();
    assert_eq!(info.user_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn silent_unknown_routes_answer_nothing() {
    let plain = server(WsConfig::default()).await;
    let mut c = plain.connect().await;
    c.send_json(&json!({"type": "nope", "action": "x"})).await;
    assert_eq!(c.recv().await["data"]["code"], "UNKNOWN_ROUTE");

    let mut cfg = WsConfig::default();
    cfg.pxl.silent_unknown_routes = true;
    let srv = server(cfg).await;
    let mut c = srv.connect().await;
    let mut other = srv.connect().await;
    for _ in 0..50 {
        c.send_json(&json!({"type": "nope", "action": "x", "data": {"big": "x".repeat(1000)}}))
            .await;
    }
    // Nothing was answered, and the server keeps serving this client and the others.
    c.assert_nothing_queued().await;
    other.assert_nothing_queued().await;
    // Malformed frames are still answered with PXL's texts.
    c.send_text("{not json").await;
    assert_eq!(c.recv().await["data"]["error"], "Failed to parse JSON");
}

#[tokio::test]
async fn leave_any_room_answers_pxls_success() {
    let plain = server(WsConfig::default()).await;
    let mut c = plain.connect().await;
    c.send("system", "leaveRoom", json!({"roomName": "never"}))
        .await;
    assert_eq!(c.recv().await["response"]["success"], false);

    let mut cfg = WsConfig::default();
    cfg.pxl.leave_any_room = true;
    let srv = server(cfg).await;
    let mut c = srv.connect().await;
    c.send("system", "leaveRoom", json!({"roomName": "never"}))
        .await;
    let reply = c.recv().await;
    assert_eq!(reply["type"], "system");
    assert_eq!(reply["action"], "leaveRoom");
    let r = &reply["response"];
    assert_eq!(r["success"], true);
    assert_eq!(r["message"], "Successfully left room: never");
    assert_eq!(r["data"]["roomName"], "never");
    assert_eq!(r["clientId"], c.id.as_str());
    // No `user/leftRoom` for a room that was not left.
    c.assert_nothing_queued().await;
    // A real leave still sends it.
    c.join("r").await;
    c.leave("r").await;
}

#[tokio::test]
async fn keep_expired_sessions_checks_exp_at_connect_only() {
    let exp_in = 1; // seconds
    let claims = json!({"sub": "1", "exp": jwt::now() + exp_in});
    let mut cfg = with_secret(WsConfig::default());
    cfg.pxl.jwt_secret_base64url = true;
    cfg.auth.leeway = Duration::ZERO;
    cfg.auth.refresh_grace = Duration::from_millis(100);
    let strict = server(cfg.clone()).await;
    cfg.pxl.keep_expired_sessions = true;
    let keep = server(cfg).await;
    let token = jwt::pxl_hs256(PXL_SECRET, &claims);
    let mut closing = TestClient::connect(&token_url(&strict, &token)).await;
    let mut kept = TestClient::connect(&token_url(&keep, &token)).await;
    let _ = closing.recv().await;
    let _ = kept.recv().await;
    // The default closes the expired session: auth/expired, then 4001.
    assert_eq!(closing.recv().await["action"], "expired");
    let (closed, _) = closing.expect_close().await;
    assert_eq!(closed.code, Some(4001));
    // By now the other session's token has expired too: it is still served, and was
    // sent no auth/expired.
    kept.assert_nothing_queued().await;
    // Reconnecting with the expired token is refused (exp is checked at connect) once
    // the clock has passed `exp` (whole seconds).
    let url = token_url(&keep, &token);
    let code = pxl_ws_tests::poll_until(
        "a refusal of the expired token",
        Duration::from_secs(5),
        async || match TestClient::connect_with(&url, &[]).await {
            Err(refused) => Ok(refused.body["code"].clone()),
            Ok(_) => Err("still accepted".into()),
        },
    )
    .await;
    assert_eq!(code, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn client_list_is_one_bounded_frame_to_the_new_client() {
    let mut cfg = WsConfig::default();
    cfg.pxl.client_list = Some(2);
    let srv = server(cfg).await;
    let mut first = srv.connect().await;
    let list = first.recv().await;
    assert_eq!(list["action"], "clientList");
    assert_eq!(
        list["data"],
        json!([{"clientId": first.id, "ws": null,
                "lastActivity": list["data"][0]["lastActivity"], "user": null}])
    );
    let mut others = Vec::new();
    for _ in 0..3 {
        let mut c = srv.connect().await;
        let _ = c.recv().await;
        others.push(c);
    }
    let mut last = srv.connect().await;
    let list = last.recv().await;
    assert_eq!(list["type"], "system");
    assert_eq!(list["clientListType"], "addClient");
    let entries = list["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "capped at pxl.client_list: {list}");
    assert_eq!(
        entries[0]["clientId"],
        last.id.as_str(),
        "the new client first"
    );
    // No storm: the clients already connected were sent nothing.
    first.assert_nothing_queued().await;
    for c in &mut others {
        c.assert_nothing_queued().await;
    }
    // Off by default.
    let plain = server(WsConfig::default()).await;
    plain.connect().await.assert_nothing_queued().await;
}

#[tokio::test]
async fn pxl_profile_serves_a_pxl_client_end_to_end() {
    let mut cfg = with_secret(WsConfig::pxl_compatible());
    cfg.rooms.presence_events = true;
    let srv = server(cfg).await;
    // A PXL client: token (no exp, HS384) in the query, a path under /ws, no ids.
    let token = {
        use base64::Engine as _;
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(PXL_SECRET)
            .unwrap();
        encode(
            &Header::new(Algorithm::HS384),
            &json!({"sub": "5"}),
            &EncodingKey::from_secret(&key).unwrap(),
        )
        .unwrap()
    };
    let mut c = TestClient::connect(&format!("ws://{}/ws/app?token={token}", srv.addr)).await;
    assert_eq!(c.recv().await["data"]["userId"], 5);
    let list = c.recv().await;
    assert_eq!(list["action"], "clientList");
    assert_eq!(list["data"][0]["user"], json!({"userId": 5}));
    c.send_json(&json!({"type": "system", "action": "joinRoom",
                        "data": {"userId": 5, "userType": "user", "username": "bo", "roomName": "lobby"}}))
        .await;
    let joined = c.recv().await;
    assert_eq!(joined["response"]["success"], true);
    assert_eq!(joined["response"]["data"]["roomName"], "lobby");
    c.send_json(&json!({"type": "system", "action": "leaveRoom", "data": {"roomName": "gone"}}))
        .await;
    assert_eq!(c.recv().await["response"]["success"], true);
    c.send_json(&json!({"type": "nothing", "action": "here"}))
        .await;
    c.assert_nothing_queued().await;
    // Same-origin stays on in the profile: a foreign Origin is refused.
    let refused = TestClient::connect_with(&srv.url(), &[("Origin", "http://evil.example")])
        .await
        .err()
        .expect("Origin check kept");
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn rust_client_in_pxl_mode_works_against_a_pxl_ws_server() {
    let mut cfg = with_secret(WsConfig::pxl_compatible());
    cfg.shutdown_timeout = Duration::from_millis(500);
    let srv = server(cfg).await;
    let token = jwt::pxl_hs256(PXL_SECRET, &jwt::claims("9"));
    let client = WsClient::builder(srv.url())
        .token(token)
        .pxl_compatible()
        .connect()
        .await
        .expect("query token accepted");
    assert!(client.client_id().is_some(), "pxl-ws names the id");
    client.join_room("lobby").await.unwrap();
    let pong: String = client.request("system", "ping", ()).await.unwrap();
    assert_eq!(pong, "pong");
    let id = client.client_id().unwrap().parse().unwrap();
    assert_eq!(
        srv.handle.get_client(id).unwrap().user_id.as_deref(),
        Some("9")
    );
    let v: Value = client.request("test", "echo", json!("x")).await.unwrap();
    assert_eq!(v, json!("x"));
}
