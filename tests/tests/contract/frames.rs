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
