//! Typed pushes over real sockets, the pushes in the contract, and the opt-in contract
//! routes.

use pxl_ws::{Push, Target};
use pxl_ws_tests::{TestServer, http_get};
use serde_json::{Value, json};

use super::app::{Notice, Receipt, board};

#[tokio::test]
async fn a_typed_push_is_sent_without_frame_new_to_rooms_clients_and_targets() {
    let server = TestServer::start(board()).await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    alice.join("r").await;
    bob.join("r").await;
    assert_eq!(alice.recv().await["action"], "memberJoined");

    alice
        .send_json(&json!({"type": "board", "action": "post", "data": {"room": "r", "text": "hello"}, "id": 1}))
        .await;
    // The room push (the sender is in the room), the sender's receipt, then the reply.
    assert_eq!(alice.recv().await["action"], "posted");
    assert_eq!(
        alice.recv().await,
        json!({"type": "board", "action": "receipt", "data": {"id": 5}})
    );
    let reply = alice.recv().await;
    assert_eq!(reply["response"]["delivered"], 2, "{reply}");
    let pushed = bob.recv().await;
    assert_eq!(
        (&pushed["type"], &pushed["action"]),
        (&json!("board"), &json!("posted"))
    );
    assert_eq!(pushed["data"]["post"]["text"], "hello");
    assert_eq!(pushed["data"]["by"], json!(alice.id));
    assert_eq!(
        pushed["data"]["attachment"],
        json!({"kind": "link", "url": "https://example.invalid/"})
    );

    // From outside a handler, by target: the same value, no Frame.
    let handle = &server.handle;
    assert_eq!(
        handle.send(&Target::all(), &Notice { text: "all".into() }),
        2
    );
    assert_eq!(
        handle.send_to_client(bob.id.parse().unwrap(), &Receipt { id: 9 }),
        1
    );
    let frame = pxl_ws::Frame::push(&Receipt { id: 9 }).unwrap();
    assert_eq!(
        frame.as_str(),
        r#"{"type":"board","action":"receipt","data":{"id":9}}"#
    );
    assert_eq!(
        (<Receipt as Push>::TYPE, <Receipt as Push>::ACTION),
        ("board", "receipt")
    );
    let mut bob_frames = Vec::new();
    for _ in 0..2 {
        bob_frames.push(bob.recv().await);
    }
    assert_eq!(
        bob_frames,
        vec![
            json!({"type": "board", "action": "notice", "data": {"text": "all"}}),
            json!({"type": "board", "action": "receipt", "data": {"id": 9}}),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_push_that_cannot_be_serialised_reaches_nobody_and_the_server_keeps_serving() {
    let server = TestServer::start(board()).await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    let reply = alice.request("board", "broken", Value::Null).await;
    assert_eq!(
        reply["response"], 0,
        "not sent to the room nor the sender: {reply}"
    );
    // Nothing was queued for either (the reply was the next frame for alice).
    bob.assert_nothing_queued().await;
    alice.assert_nothing_queued().await;
    let pong = bob.request("system", "ping", Value::Null).await;
    assert_eq!(pong["response"], "pong");
    server.stop().await;
}

#[test]
fn the_contract_lists_every_push_route_auth_and_error_code() {
    let c = board().build().unwrap().contract();
    assert_eq!((c.title.as_str(), c.version.as_str()), ("board", "1.2.3"));
    let app: Vec<String> = c
        .pushes
        .iter()
        .filter(|p| !p.system)
        .map(|p| format!("{}/{} {}", p.ty, p.action, p.data.rust_type))
        .collect();
    assert_eq!(
        app,
        [
            "board/notice Notice",
            "board/posted PostedPush",
            "board/receipt Receipt"
        ]
    );
    let system: Vec<String> = c
        .pushes
        .iter()
        .filter(|p| p.system)
        .map(|p| format!("{}/{}", p.ty, p.action))
        .collect();
    assert!(
        system.contains(&"system/connected".to_owned()),
        "{system:?}"
    );
    assert!(system.contains(&"user/leftRoom".to_owned()), "{system:?}");

    let routes: Vec<String> = c
        .actions
        .iter()
        .map(|a| format!("{}/{}", a.ty, a.action))
        .collect();
    assert_eq!(
        routes,
        [
            "system/joinRoom",
            "system/leaveRoom",
            "system/ping",
            "system/presence",
            "system/presenceStats",
            "system/refreshToken",
            "board/broken",
            "board/loose",
            "board/moderate",
            "board/post",
            "board/quiet"
        ]
    );
    let post = c.action("board", "post").unwrap();
    assert_eq!(
        post.errors,
        [
            "NOT_IN_ROOM",
            "INVALID_PAYLOAD",
            "RATE_LIMITED",
            "INTERNAL_ERROR"
        ]
    );
    assert!(!post.auth);
    let moderate = c.action("board", "moderate").unwrap();
    assert!(moderate.auth);
    assert_eq!(moderate.roles, ["moderator"]);
    assert!(moderate.errors.contains(&"FORBIDDEN".to_owned()));
    assert!(moderate.errors.contains(&"UNAUTHENTICATED".to_owned()));
    let quiet = c.action("board", "quiet").unwrap();
    assert!(quiet.auth && quiet.roles.is_empty());
    assert!(!quiet.errors.contains(&"FORBIDDEN".to_owned()));

    // AsyncAPI: the operations that need a user say so.
    let doc = c.asyncapi();
    let op = &doc["operations"]["action.board.moderate"];
    assert_eq!(op["x-pxl-roles"], json!(["moderator"]));
    assert_eq!(op["security"].as_array().map(Vec::len), Some(2));
    assert!(
        doc["operations"]["action.board.post"]
            .get("security")
            .is_none()
    );
    assert_eq!(doc["operations"]["push.board.posted"]["action"], "send");
    assert_eq!(doc["operations"]["action.board.post"]["action"], "receive");

    // The snapshot form reads back as it was.
    let back = pxl_ws::contract::Contract::from_json(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[tokio::test]
async fn the_contract_routes_are_opt_in() {
    let server = TestServer::start(
        board()
            .serve_contract("/asyncapi.json")
            .serve_contract_ts("/contract.ts"),
    )
    .await;
    let doc = http_get(server.addr, "/asyncapi.json").await;
    assert!(doc.starts_with("HTTP/1.1 200"), "{doc}");
    assert!(
        doc.to_lowercase()
            .contains("content-type: application/json"),
        "{doc}"
    );
    let body: Value = serde_json::from_str(doc.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["asyncapi"], "3.0.0");
    assert_eq!(body["info"]["title"], "board");
    let ts = http_get(server.addr, "/contract.ts").await;
    assert!(ts.starts_with("HTTP/1.1 200"), "{ts}");
    assert!(ts.contains("export interface PostedPush"), "{ts}");
    assert!(ts.contains("import type { Frame, PxlWsClient } from \"./pxl-ws.js\";"));
    server.stop().await;

    let plain = TestServer::start(board()).await;
    for path in ["/asyncapi.json", "/contract.ts"] {
        let r = http_get(plain.addr, path).await;
        assert!(
            r.starts_with("HTTP/1.1 404"),
            "{path} not served by default: {r}"
        );
    }
    plain.stop().await;
}

#[test]
fn a_contract_path_without_a_slash_is_refused_at_build_naming_the_setting() {
    let err = board()
        .serve_contract("asyncapi.json")
        .build()
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("`serve_contract`"), "{text}");
    assert!(text.contains("must start with `/`"), "{text}");
    let err = board()
        .serve_contract_ts("contract.ts")
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("`serve_contract_ts`"), "{err}");
}
