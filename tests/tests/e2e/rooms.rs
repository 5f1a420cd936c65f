//! Rooms: join and leave with PXL's response shapes, single-room mode, broadcasts to
//! members only, exclusion, presence events.

use pxl_ws::{WsConfig, config::RoomsConfig};
use pxl_ws_tests::raw::{self, RawSocket};
use pxl_ws_tests::record::Recorder;
use pxl_ws_tests::{TestServer, WAIT, eventually};
use serde_json::json;

use crate::app::builder;

async fn server(rooms: RoomsConfig) -> TestServer {
    let mut config = WsConfig::default();
    config.rooms = rooms;
    TestServer::start(builder(config)).await
}

fn rooms(multiple: bool, presence: bool) -> RoomsConfig {
    {
        let mut cfg = RoomsConfig::default();
        cfg.client_can_join_multiple_rooms = multiple;
        cfg.presence_events = presence;
        cfg
    }
}

#[tokio::test]
async fn join_and_leave_reply_after_the_state_changed() {
    let srv = server(rooms(true, false)).await;
    let mut c = srv.connect().await;
    let id: pxl_ws::ClientId = c.id.parse().unwrap();

    let r = c
        .request(
            "system",
            "joinRoom",
            json!({"roomName": "lobby", "userId": "spoofed"}),
        )
        .await;
    let resp = &r["response"];
    assert_eq!(resp["success"], true);
    assert_eq!(resp["message"], "Successfully joined room: lobby");
    assert_eq!(resp["data"]["roomName"], "lobby");
    assert_eq!(resp["data"]["userType"], "user");
    // Identity comes from the connection, never from the payload.
    assert_eq!(resp["data"]["userId"], c.id.as_str());
    assert_eq!(resp["data"]["username"], format!("user_{}", &c.id[..8]));
    assert!(resp["data"]["joinedAt"].as_str().unwrap().ends_with('Z'));
    // The reply came after the join: the room already lists the client.
    assert_eq!(srv.handle.rooms().get("lobby"), Some(vec![id]));
    assert_eq!(srv.handle.get_client(id).unwrap().rooms, vec!["lobby"]);

    // Joining twice is harmless.
    assert_eq!(
        c.request("system", "joinRoom", json!({"roomName": "lobby"}))
            .await["response"]["success"],
        true
    );
    assert_eq!(srv.handle.rooms().get("lobby").unwrap().len(), 1);

    // Leaving: `user/leftRoom` first, then the reply.
    c.send_json(
        &json!({"type": "system", "action": "leaveRoom", "data": {"roomName": "lobby"}, "id": 9}),
    )
    .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "user", "action": "leftRoom", "data": {"roomName": "lobby"}})
    );
    let r = c.recv().await;
    assert_eq!(r["id"], 9);
    assert_eq!(r["response"]["success"], true);
    assert_eq!(r["response"]["message"], "Successfully left room: lobby");
    assert_eq!(r["response"]["clientId"], c.id.as_str());
    assert_eq!(r["response"]["data"]["roomName"], "lobby");
    // Empty rooms are removed.
    assert_eq!(srv.handle.rooms().get("lobby"), None);
    assert!(srv.handle.rooms().is_empty());

    // Leaving a room you are not in says so.
    let r = c
        .request("system", "leaveRoom", json!({"roomName": "lobby"}))
        .await;
    assert_eq!(r["response"]["success"], false);
    assert_eq!(r["response"]["error"], "Not a member of room: lobby");
    srv.stop().await;
}

#[tokio::test]
async fn room_name_is_required_and_checked() {
    let srv = server(rooms(true, false)).await;
    let mut c = srv.connect().await;
    for data in [json!({}), json!(null), json!({"roomName": ""})] {
        let r = c.request("system", "joinRoom", data.clone()).await;
        assert_eq!(
            r["response"],
            json!({"success": false, "error": "Room name is required", "clientId": c.id}),
            "data: {data}"
        );
    }
    // Missing `data` altogether (PXL crashed with a TypeError here).
    c.send_json(&json!({"type": "system", "action": "joinRoom", "id": "nodata"}))
        .await;
    assert_eq!(c.recv().await["response"]["error"], "Room name is required");
    let r = c
        .request("system", "joinRoom", json!({"roomName": 5}))
        .await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD");
    assert_eq!(r["data"]["path"], "roomName");
    let r = c
        .request("system", "joinRoom", json!({"roomName": "x".repeat(300)}))
        .await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD");
    assert!(srv.handle.rooms().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn broadcast_reaches_members_only_and_exclude_works() {
    let srv = server(rooms(true, false)).await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    let mut outsider = srv.connect().await;
    a.join("r1").await;
    b.join("r1").await;
    outsider.join("r2").await;

    a.send_json(&json!({"type": "test", "action": "broadcast", "data": {"room": "r1", "text": "hello"}, "id": 1}))
        .await;
    let msg = json!({"type": "test", "action": "message", "data": "hello"});
    // The sender is a member: it gets the broadcast, then the reply (queued after it).
    assert_eq!(a.recv().await, msg);
    assert_eq!(a.recv().await["response"], 2);
    assert_eq!(b.recv().await, msg);
    outsider.assert_nothing_queued().await;

    let r = a
        .request(
            "test",
            "broadcast",
            json!({"room": "r1", "text": "x", "exclude_me": true}),
        )
        .await;
    assert_eq!(r["response"], 1);
    assert_eq!(b.recv().await["data"], "x");
    a.assert_nothing_queued().await;

    // A client in several rooms gets one copy of a multi-room send.
    b.join("r2").await;
    let frame = pxl_ws::Frame::new("multi", "m", &1).unwrap();
    assert_eq!(srv.handle.send_to_rooms(&["r1", "r2"], &frame, None), 3);
    assert_eq!(a.recv().await["type"], "multi");
    assert_eq!(b.recv().await["type"], "multi");
    assert_eq!(outsider.recv().await["type"], "multi");
    b.assert_nothing_queued().await;

    // Disconnecting leaves every room.
    let b_id = b.id.parse().unwrap();
    b.close().await;
    pxl_ws_tests::eventually("b left its rooms", || {
        srv.handle
            .rooms()
            .get("r1")
            .is_some_and(|m| !m.contains(&b_id))
    })
    .await;
    assert_eq!(
        srv.handle.rooms().list(),
        vec![("r1".into(), 1), ("r2".into(), 1)]
    );
    let text = srv.handle.rooms().render();
    assert!(text.contains("Rooms (Count: 2)"), "{text}");
    assert!(text.contains(&a.id), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn single_room_mode_really_leaves_the_old_room() {
    let srv = server(rooms(false, false)).await;
    let mut c = srv.connect().await;
    let id = c.id.parse().unwrap();
    c.join("a").await;
    c.send_json(
        &json!({"type": "system", "action": "joinRoom", "data": {"roomName": "b"}, "id": 1}),
    )
    .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "user", "action": "leftRoom", "data": {"roomName": "a"}})
    );
    assert_eq!(c.recv().await["response"]["success"], true);
    assert_eq!(srv.handle.get_client(id).unwrap().rooms, vec!["b"]);
    assert_eq!(srv.handle.rooms().get("a"), None);

    // With the default (multiple rooms), clients collect rooms.
    let srv2 = server(rooms(true, false)).await;
    let mut d = srv2.connect().await;
    d.join("a").await;
    d.join("b").await;
    let mut r = srv2.handle.get_client(d.id.parse().unwrap()).unwrap().rooms;
    r.sort();
    assert_eq!(r, vec!["a", "b"]);
    srv.stop().await;
    srv2.stop().await;
}

#[tokio::test]
async fn presence_events_go_to_the_room_members() {
    let srv = server(rooms(true, true)).await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    let mut outsider = srv.connect().await;
    a.join("p").await;
    b.join("p").await;
    assert_eq!(
        a.recv().await,
        json!({"type": "room", "action": "memberJoined", "data": {"roomName": "p", "clientId": b.id, "userId": null, "username": null}})
    );
    b.leave("p").await;
    assert_eq!(
        a.recv().await,
        json!({"type": "room", "action": "memberLeft", "data": {"roomName": "p", "clientId": b.id, "userId": null, "username": null}})
    );
    b.join("p").await;
    assert_eq!(a.recv().await["action"], "memberJoined");
    b.close().await;
    assert_eq!(a.recv().await["action"], "memberLeft");
    outsider.assert_nothing_queued().await;
    srv.stop().await;
}

#[tokio::test]
async fn presence_is_off_by_default() {
    let srv = server(rooms(true, false)).await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    a.join("p").await;
    b.join("p").await;
    a.assert_nothing_queued().await;
    srv.stop().await;
}

#[tokio::test]
async fn a_member_that_does_not_read_does_not_stall_a_room_broadcast() {
    const BATCH: u64 = 16;
    const MAX_FRAMES: u64 = 4000;
    let mut config = WsConfig::default();
    // 64 frames of 16 KiB; closed as soon as it is over that.
    config.limits.outbound.queue_bytes = 64 * 16 * 1024;
    config.limits.outbound.grace = std::time::Duration::ZERO;
    let srv = TestServer::start(builder(config)).await;
    let mut fast = Vec::new();
    for _ in 0..2 {
        let mut c = srv.connect().await;
        c.join("r").await;
        fast.push(Recorder::start(c));
    }
    // Joins, then never reads again.
    let mut slow = RawSocket::connect(srv.addr, "/ws", "").await;
    slow.send(&raw::text(
        br#"{"type":"system","action":"joinRoom","data":{"roomName":"r"}}"#,
    ))
    .await;
    eventually("the slow member joined", || {
        srv.handle.rooms().get("r").is_some_and(|m| m.len() == 3)
    })
    .await;

    // 16 KiB frames, a batch at a time; the readers get each batch while the slow
    // member's socket buffers and queue fill up, until it is dropped with 1008. Then a
    // few more batches.
    let pad = "x".repeat(16 * 1024);
    let mut sent = 0;
    let mut after_drop = 0;
    while after_drop < 4 {
        assert!(sent < MAX_FRAMES, "the slow member was never dropped");
        for seq in sent..sent + BATCH {
            let f = pxl_ws::Frame::new("t", "msg", &json!({"seq": seq, "pad": pad})).unwrap();
            srv.handle.send_to_room("r", &f, None);
        }
        sent += BATCH;
        for rec in &fast {
            rec.wait_for("the readers get the batch", WAIT, |f| {
                f.last().and_then(|f| f["data"]["seq"].as_u64()) == Some(sent - 1)
            })
            .await;
        }
        if srv.handle.health().slow_clients_dropped == 1 {
            after_drop += 1;
        }
    }
    for rec in &fast {
        assert_eq!(rec.seqs(), (0..sent).collect::<Vec<_>>());
    }
    assert_eq!(srv.handle.health().slow_clients_dropped, 1);
    // The slow member got a prefix, in order, then the close.
    let t = slow.read_until_close().await;
    assert_eq!(
        (t.close, t.reason.as_str()),
        (Some(1008), "outbound queue over limit")
    );
    let got: Vec<u64> = t
        .frames
        .iter()
        .filter_map(|f| f["data"]["seq"].as_u64())
        .collect();
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    assert!(got.len() < sent as usize);
    eventually("the dropped member left the room", || {
        srv.handle.rooms().get("r").is_some_and(|m| m.len() == 2)
    })
    .await;
    srv.stop().await;
}
