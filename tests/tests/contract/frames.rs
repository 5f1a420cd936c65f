//! The AsyncAPI document against real traffic: every frame a real server sends (replies,
//! pushes, system frames, error frames) validates against the payload of the message the
//! document names for it, and so does every request a client sends; a request the
//! schema rejects is one the server answers with INVALID_PAYLOAD.

use futures_util::StreamExt;
use pxl_ws_tests::TestServer;
use serde_json::{Value, json};

use super::app::board;
use super::roundtrip::validator;

struct Doc(Value);

impl Doc {
    fn check(&self, key: &str, frame: &Value) {
        let message = &self.0["channels"]["socket"]["messages"][key];
        assert!(message.is_object(), "message {key} in the document");
        let v = validator(&self.0["components"], &message["payload"]);
        if let Err(e) = v.validate(frame) {
            panic!("frame does not match message {key}: {e}\n{frame}");
        }
    }

    fn rejects(&self, key: &str, frame: &Value) {
        let message = &self.0["channels"]["socket"]["messages"][key];
        let v = validator(&self.0["components"], &message["payload"]);
        assert!(!v.is_valid(frame), "message {key} rejects {frame}");
    }
}

#[tokio::test]
async fn every_frame_of_a_session_matches_its_asyncapi_message() {
    let builder = board();
    let doc = Doc(builder_contract().asyncapi());
    let server = TestServer::start(builder).await;

    let mut alice = server.connect().await;
    // `connect` reads `system/connected`; look at one on a raw socket.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    doc.check("push.system.connected", &first);
    drop(ws);

    let mut bob = server.connect().await;
    let join = json!({"type": "system", "action": "joinRoom", "data": {"roomName": "r"}, "id": 1});
    doc.check("action.system.joinRoom", &join);
    alice.send_json(&join).await;
    doc.check("reply.system.joinRoom", &alice.recv().await);
    bob.send_json(&join).await;
    doc.check("reply.system.joinRoom", &bob.recv().await);
    let presence = alice.recv().await;
    assert_eq!(presence["action"], "memberJoined");
    doc.check("push.room.memberJoined", &presence);

    let post = json!({"type": "board", "action": "post", "data": {"room": "r", "text": "hi", "tags": ["x"]}, "id": "p1"});
    doc.check("action.board.post", &post);
    alice.send_json(&post).await;
    // The room push, the sender's receipt, then the reply.
    let pushed = alice.recv().await;
    doc.check("push.board.posted", &pushed);
    let receipt = alice.recv().await;
    doc.check("push.board.receipt", &receipt);
    let reply = alice.recv().await;
    doc.check("reply.board.post", &reply);
    assert_eq!(reply["response"]["delivered"], 2);
    doc.check("push.board.posted", &bob.recv().await);

    // Not in the room: an app error code, in the error frame.
    let elsewhere =
        json!({"type": "board", "action": "post", "data": {"room": "x", "text": "hi"}, "id": 2});
    alice.send_json(&elsewhere).await;
    let error = alice.recv().await;
    assert_eq!(error["data"]["code"], "NOT_IN_ROOM");
    doc.check("error", &error);

    // A request the schema rejects is one the server refuses.
    let bad = json!({"type": "board", "action": "post", "data": {"room": "r", "text": 5}, "id": 3});
    doc.rejects("action.board.post", &bad);
    alice.send_json(&bad).await;
    let error = alice.recv().await;
    assert_eq!(error["data"]["code"], "INVALID_PAYLOAD");
    doc.check("error", &error);

    // Roles: anonymous gets UNAUTHENTICATED, listed for the action.
    let r = alice.request("board", "moderate", Value::Null).await;
    assert_eq!(r["data"]["code"], "UNAUTHENTICATED");
    doc.check("error", &r);

    let ping = json!({"type": "system", "action": "ping", "id": 4});
    doc.check("action.system.ping", &ping);
    alice.send_json(&ping).await;
    doc.check("reply.system.ping", &alice.recv().await);

    let unit = alice.request("board", "broken", Value::Null).await;
    doc.check("reply.board.broken", &unit);

    let leave =
        json!({"type": "system", "action": "leaveRoom", "data": {"roomName": "r"}, "id": 5});
    alice.send_json(&leave).await;
    doc.check("push.user.leftRoom", &alice.recv().await);
    doc.check("reply.system.leaveRoom", &alice.recv().await);
    doc.check("push.room.memberLeft", &bob.recv().await);

    server.stop().await;
}

fn builder_contract() -> pxl_ws::contract::Contract {
    board().build().unwrap().contract()
}

/// The history and presence parts of the `system` actions: `joinRoom` with `since` and
/// `history` and its `stream` reply (recovered or not, with the missed frames as sent),
/// `presence`, `presenceStats` and the user-level presence pushes, all as the document
/// says; wrong `since` / `history` types are rejected by the schema and refused by the
/// server.
#[tokio::test]
async fn history_and_presence_frames_match_their_asyncapi_messages() {
    let mut config = pxl_ws::WsConfig::default();
    config.rooms.history.size = 5;
    config.rooms.user_presence_events = true;
    let builder = pxl_ws::WsServer::builder()
        .config(config)
        .controller(super::app::Board)
        .push::<super::app::Notice>();
    let doc = Doc(pxl_ws::WsServer::builder()
        .controller(super::app::Board)
        .push::<super::app::Notice>()
        .build()
        .unwrap()
        .contract()
        .asyncapi());
    let server = TestServer::start(builder).await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;

    let join = json!({"type": "system", "action": "joinRoom", "data": {"roomName": "h", "history": 3}, "id": 1});
    doc.check("action.system.joinRoom", &join);
    alice.send_json(&join).await;
    let reply = alice.recv().await;
    assert_eq!(reply["response"]["data"]["stream"]["offset"], 0, "{reply}");
    doc.check("reply.system.joinRoom", &reply);
    let epoch = reply["response"]["data"]["stream"]["epoch"].clone();

    bob.join("h").await;
    let joined = alice.recv().await;
    assert_eq!(joined["action"], "userJoined", "{joined}");
    doc.check("push.room.userJoined", &joined);

    for (n, text) in ["one", "two"].into_iter().enumerate() {
        let post = json!({"type": "board", "action": "post", "data": {"room": "h", "text": text}, "id": text});
        alice.send_json(&post).await;
        // The room push (stamped with its place in the stream), the receipt, the reply.
        let pushed = alice.recv().await;
        assert_eq!(pushed["stream"]["offset"], n + 1, "{pushed}");
        doc.check("push.board.posted", &pushed);
        alice.recv().await;
        assert_eq!(alice.recv().await["id"], text);
        assert_eq!(bob.recv().await["stream"]["offset"], n + 1);
    }

    // Resume from offset 0 on another connection: both frames, recovered.
    let mut carol = server.connect().await;
    let resume = json!({"type": "system", "action": "joinRoom",
        "data": {"roomName": "h", "since": {"offset": 0, "epoch": epoch}}, "id": 2});
    doc.check("action.system.joinRoom", &resume);
    carol.send_json(&resume).await;
    let reply = carol.recv().await;
    let stream = &reply["response"]["data"]["stream"];
    assert_eq!(stream["recovered"], true, "{reply}");
    assert_eq!(
        stream["missed"].as_array().map(Vec::len),
        Some(2),
        "{reply}"
    );
    doc.check("reply.system.joinRoom", &reply);
    for member in [&mut alice, &mut bob] {
        assert_eq!(member.recv().await["action"], "userJoined");
    }
    // Another epoch: not recovered, still the documented shape.
    let mut dave = server.connect().await;
    let stale = json!({"type": "system", "action": "joinRoom",
        "data": {"roomName": "h", "since": {"offset": 1, "epoch": "gone"}}, "id": 3});
    dave.send_json(&stale).await;
    let reply = dave.recv().await;
    assert_eq!(
        reply["response"]["data"]["stream"]["recovered"], false,
        "{reply}"
    );
    doc.check("reply.system.joinRoom", &reply);
    for member in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(member.recv().await["action"], "userJoined");
    }

    let ask = json!({"type": "system", "action": "presence", "data": {"roomName": "h"}, "id": 4});
    doc.check("action.system.presence", &ask);
    alice.send_json(&ask).await;
    let presence = alice.recv().await;
    assert_eq!(presence["response"]["count"], 4, "{presence}");
    doc.check("reply.system.presence", &presence);
    let ask =
        json!({"type": "system", "action": "presenceStats", "data": {"roomName": "h"}, "id": 5});
    doc.check("action.system.presenceStats", &ask);
    alice.send_json(&ask).await;
    let stats = alice.recv().await;
    assert_eq!(stats["response"]["clients"], 4, "{stats}");
    doc.check("reply.system.presenceStats", &stats);
    // A non-member is refused: the error frame, with FORBIDDEN listed for the action.
    let mut eve = server.connect().await;
    let refused = eve
        .request("system", "presence", json!({"roomName": "h"}))
        .await;
    assert_eq!(refused["data"]["code"], "FORBIDDEN", "{refused}");
    doc.check("error", &refused);

    // Wrong types: the schema rejects them and the server refuses them.
    for bad in [
        json!({"roomName": "h", "history": "3"}),
        json!({"roomName": "h", "since": {"offset": "1", "epoch": "e"}}),
        json!({"roomName": "h", "since": {"offset": 1}}),
    ] {
        let frame = json!({"type": "system", "action": "joinRoom", "data": bad, "id": 9});
        doc.rejects("action.system.joinRoom", &frame);
        let r = eve.request("system", "joinRoom", bad.clone()).await;
        assert_eq!(r["data"]["code"], "INVALID_PAYLOAD", "{bad}: {r}");
    }
    doc.rejects(
        "action.system.presence",
        &json!({"type": "system", "action": "presence", "data": {}, "id": 10}),
    );

    // userLeft when bob's only connection goes.
    bob.leave("h").await;
    let left = alice.recv().await;
    assert_eq!(left["action"], "userLeft", "{left}");
    doc.check("push.room.userLeft", &left);
    server.stop().await;
}
