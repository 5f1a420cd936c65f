//! The Rust client against a PXL server (the stand-in in `pxl_ws_tests::pxl`, which
//! speaks PXL v1.0.57's frames): the `system/clientList` greeting, replies and error
//! frames without `id`, `?token=` auth with a base64url secret, rooms, and a reconnect
//! that rejoins.

use std::time::Duration;

use crate::client::event_where;
use pxl_ws::client::{ClientError, ConnectionEvent, ReconnectPolicy, WsClient};
use pxl_ws_tests::pxl::PxlServer;
use pxl_ws_tests::{WAIT, eventually, jwt};
use serde::Deserialize;
use serde_json::{Value, json};

/// PXL's `auth.jwtSecretKey`: a base64url string whose decoding is the HMAC key.
const PXL_SECRET: &str = "c2VjcmV0LWtleS1mb3ItcHhsLXRlc3Rz";

#[derive(Debug, Deserialize, PartialEq)]
struct Sum {
    sum: i64,
}

#[tokio::test]
async fn client_connects_to_pxl_and_matches_replies_without_ids() {
    let pxl = PxlServer::start(None).await;
    let client = WsClient::builder(pxl.url())
        .pxl_compatible()
        .connect()
        .await
        .expect("connects although the greeting is system/clientList");
    assert!(client.state().is_connected());
    assert_eq!(client.client_id(), None, "PXL does not name the client id");
    assert_eq!(pxl.clients().len(), 1);

    let sum: Sum = client
        .request("math", "add", json!({"a": 2, "b": 40}))
        .await
        .expect("a reply without id");
    assert_eq!(sum, Sum { sum: 42 });
    // A reply without `response` decodes as ().
    let () = client.request("app", "nothing", ()).await.unwrap();
    // Many requests of one route in flight: answered in order, each its own.
    let answers = futures_util::future::join_all(
        (0..20).map(|i| client.request::<Sum>("math", "add", json!({"a": i, "b": 1000}))),
    )
    .await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.unwrap().sum, i as i64 + 1000);
    }
    // The frames went out with ids, which PXL ignores.
    let sent = pxl.received();
    assert!(sent.iter().all(|f| f["id"].is_u64()), "{sent:?}");
}

#[tokio::test]
async fn pxl_error_frames_without_id_fail_the_oldest_pending_request() {
    let pxl = PxlServer::start(None).await;
    let client = WsClient::builder(pxl.url())
        .pxl_compatible()
        .connect()
        .await
        .unwrap();
    let err = client
        .request::<Value>("app", "throw", ())
        .await
        .unwrap_err();
    let e = err
        .server_error()
        .unwrap_or_else(|| panic!("a server error: {err:?}"));
    assert_eq!(e.message, "boom");
    assert_eq!(e.code, "", "PXL's error frames carry no code");

    // PXL's `{success: false}` in a normal reply is a value, not an error frame.
    let r: Value = client.request("app", "error", ()).await.unwrap();
    assert_eq!(r, json!({"success": false, "error": "Not allowed"}));

    // An unknown route gets nothing from PXL: the request times out, and the
    // connection keeps working.
    let err = client
        .request_with_timeout::<Value>("nope", "nothing", (), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    let sum: Sum = client
        .request("math", "add", json!({"a": 1, "b": 1}))
        .await
        .unwrap();
    assert_eq!(sum.sum, 2);
}

#[tokio::test]
async fn client_joins_and_leaves_rooms_on_pxl() {
    let pxl = PxlServer::start(None).await;
    let client = WsClient::builder(pxl.url())
        .pxl_compatible()
        .connect()
        .await
        .unwrap();
    let mut frames = client.frames();
    client
        .join_room_with(
            "lobby",
            json!({"userId": 7, "userType": "member", "username": "ada"}),
        )
        .await
        .expect("PXL answers success without an id");
    assert_eq!(client.rooms(), vec!["lobby".to_owned()]);
    let members = pxl.room("lobby");
    assert_eq!(members.len(), 1);
    // PXL's storm: a clientList frame reaches the frames stream (it is no answer).
    let list = tokio::time::timeout(WAIT, async {
        loop {
            let f = frames.recv().await.expect("a frame");
            if f.ty == "system" && f.action == "clientList" {
                return f;
            }
        }
    })
    .await
    .expect("a system/clientList frame");
    assert!(list.data.as_ref().is_some_and(Value::is_array));
    let joined = pxl
        .received()
        .into_iter()
        .find(|f| f["action"] == "joinRoom")
        .unwrap();
    assert_eq!(
        joined["data"],
        json!({"roomName": "lobby", "userId": 7, "userType": "member", "username": "ada"})
    );

    client.leave_room("lobby").await.expect("left");
    assert!(client.rooms().is_empty());
    assert!(pxl.room("lobby").is_empty());
    // PXL names the client id in its leaveRoom reply.
    assert_eq!(client.client_id(), Some(members[0].clone()));
    // PXL answers success for a room one is not in.
    client.leave_room("never-joined").await.unwrap();

    // PXL's `success: false` for a missing room name is a refusal.
    let err = client.join_room("").await.unwrap_err();
    let e = err.server_error().unwrap();
    assert_eq!(e.code, "JOIN_REFUSED");
    assert_eq!(e.message, "Room name is required");
    let err = client.join_room_with("x", json!(5)).await.unwrap_err();
    assert!(matches!(err, ClientError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn client_rejoins_its_rooms_on_pxl_after_a_reconnect() {
    let pxl = PxlServer::start(None).await;
    let mut policy = ReconnectPolicy::default();
    policy.initial_delay = Duration::from_millis(20);
    policy.max_delay = Duration::from_millis(100);
    let client = WsClient::builder(pxl.url())
        .pxl_compatible()
        .reconnect(policy)
        .connect()
        .await
        .unwrap();
    client
        .join_room_with("a", json!({"userId": 1}))
        .await
        .unwrap();
    client.join_room("b").await.unwrap();
    let before = pxl.clients();
    let mut events = client.events();

    pxl.drop_connections();
    let e = event_where(&mut events, "Reconnected", |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    let ConnectionEvent::Reconnected { rooms, .. } = e else {
        unreachable!()
    };
    assert_eq!(rooms, vec!["a".to_owned(), "b".to_owned()], "both rejoined");
    assert_eq!(client.rooms(), vec!["a".to_owned(), "b".to_owned()]);
    let after = pxl.clients();
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new PXL client id");
    assert_eq!(pxl.room("a"), after);
    assert_eq!(pxl.room("b"), after);
    // The rejoin sent the same data as the first join.
    let joins: Vec<Value> = pxl
        .received()
        .into_iter()
        .filter(|f| f["action"] == "joinRoom" && f["data"]["roomName"] == "a")
        .map(|f| f["data"].clone())
        .collect();
    assert_eq!(joins, vec![json!({"roomName": "a", "userId": 1}); 2]);
    // Requests work on the new connection.
    let sum: Sum = client
        .request("math", "add", json!({"a": 3, "b": 4}))
        .await
        .unwrap();
    assert_eq!(sum.sum, 7);
}

#[tokio::test]
async fn client_sends_the_token_in_the_query_for_pxl() {
    let pxl = PxlServer::start(Some(PXL_SECRET)).await;
    let token = jwt::pxl_hs256(PXL_SECRET, &json!({"sub": "42"}));
    let client = WsClient::builder(pxl.url())
        .token(&token)
        .pxl_compatible()
        .connect()
        .await
        .expect("PXL accepts ?token=");
    let users = pxl.users();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["userId"], 42, "PXL verified the token: {users:?}");
    assert_eq!(pxl.targets(), vec![format!("/ws?token={token}")]);
    drop(client);

    // The same token as a Bearer header: PXL never reads headers, so it connects
    // anonymously; a bad token in the query gets PXL's bare 401.
    let bad = WsClient::builder(pxl.url())
        .token("not-a-jwt")
        .pxl_compatible()
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad,
            ClientError::Refused {
                status: 401,
                code: None,
                message: None
            }
        ),
        "{bad:?}"
    );
    let anonymous = WsClient::builder(pxl.url())
        .token(&token)
        .connect()
        .await
        .expect("header tokens are ignored by PXL");
    assert!(anonymous.state().is_connected());
    eventually("the anonymous client is registered", || {
        pxl.users() == vec![Value::Null]
    })
    .await;
}

#[tokio::test]
async fn client_without_any_greeting_connects_after_the_greeting_timeout() {
    // A bare WebSocket server that never sends a frame and answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got, mut frames_in) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        use futures_util::StreamExt;
        while let Some(Ok(m)) = ws.next().await {
            if let Ok(t) = m.into_text() {
                let _ = got.send(t.as_str().to_owned());
            }
        }
    });
    let client = WsClient::builder(format!("ws://{addr}/ws"))
        .greeting_timeout(Duration::from_millis(100))
        .connect()
        .await
        .expect("a silent server is connected to");
    assert_eq!(client.client_id(), None);
    client.send("chat", "hello", json!({})).await.unwrap();
    let sent = tokio::time::timeout(WAIT, frames_in.recv())
        .await
        .unwrap()
        .unwrap();
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["type"], "chat");
}
