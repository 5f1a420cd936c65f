//! Room history on one instance (the memory engine): frames to a history room carry
//! `stream`, a rejoin with `since` gets exactly the frames it missed (and nothing twice,
//! even while others keep sending), gaps and foreign epochs answer `recovered: false`,
//! `history: K` gives the last K, the TTL expires messages, and malformed requests are
//! answered without disturbing the others.

use std::time::Duration;

use pxl_ws::client::{ConnectionEvent, WsClient};
use pxl_ws::{Frame, Server, Target, WsConfig, WsServer};
use pxl_ws_tests::history::{join_with, offsets};
use pxl_ws_tests::{TestServer, WAIT};
use serde_json::{Value, json};

fn config(size: usize) -> WsConfig {
    let mut c = WsConfig::default();
    c.rooms.history.size = size;
    c.limits.rate_limit.enabled = false;
    c.heartbeat.enabled = false;
    c
}

async fn server(config: WsConfig) -> TestServer {
    TestServer::start(WsServer::builder().config(config)).await
}

fn send(server: &Server, room: &str, seq: u64) {
    let f = Frame::new("chat", "message", &json!({ "seq": seq })).unwrap();
    server.send(&Target::room(room), &f);
}

fn stream(reply: &Value) -> &Value {
    &reply["data"]["stream"]
}

#[tokio::test]
async fn a_rejoin_with_since_gets_exactly_the_missed_frames_as_they_were_sent() {
    let srv = server(config(10)).await;
    let mut carol = srv.connect().await; // stays: sees everything live
    let first = join_with(&mut carol, "lobby", json!({})).await;
    assert_eq!(stream(&first)["offset"], 0);
    assert_eq!(stream(&first)["recovered"], true);
    assert_eq!(stream(&first)["missed"], json!([]));
    let epoch = stream(&first)["epoch"].as_str().unwrap().to_owned();
    assert_eq!(epoch.len(), 16);

    let mut bob = srv.connect().await;
    join_with(&mut bob, "lobby", json!({})).await;
    for seq in 1..=3 {
        send(&srv.handle, "lobby", seq);
    }
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(carol.recv().await);
        bob.recv().await;
    }
    assert_eq!(
        live[2],
        json!({"type": "chat", "action": "message", "data": {"seq": 3},
               "stream": {"room": "lobby", "offset": 3, "epoch": epoch}})
    );
    bob.close().await;
    for seq in 4..=6 {
        send(&srv.handle, "lobby", seq);
    }
    for _ in 0..3 {
        live.push(carol.recv().await);
    }

    let mut bob = srv.connect().await;
    let r = join_with(
        &mut bob,
        "lobby",
        json!({"since": {"offset": 3, "epoch": epoch}}),
    )
    .await;
    let s = stream(&r);
    assert_eq!(s["recovered"], true);
    assert_eq!(s["offset"], 6);
    assert_eq!(s["epoch"], epoch.as_str());
    assert_eq!(
        s["missed"],
        json!(live[3..]),
        "the missed frames, exactly as sent live"
    );
    // Live again after the reply, nothing twice.
    send(&srv.handle, "lobby", 7);
    assert_eq!(bob.recv().await["stream"]["offset"], 7);
    bob.assert_nothing_queued().await;
    srv.stop().await;
}

#[tokio::test]
async fn a_gap_beyond_the_history_or_another_epoch_is_not_recovered() {
    let srv = server(config(3)).await;
    let mut c = srv.connect().await;
    let epoch = stream(&join_with(&mut c, "r", json!({})).await)["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    for seq in 1..=8 {
        send(&srv.handle, "r", seq);
    }
    for _ in 0..8 {
        c.recv().await;
    }
    let mut late = srv.connect().await;
    let r = join_with(
        &mut late,
        "r",
        json!({"since": {"offset": 2, "epoch": epoch}}),
    )
    .await;
    let s = stream(&r);
    assert_eq!(
        s["recovered"], false,
        "offsets 3 to 5 fell out of a history of 3"
    );
    assert_eq!(
        offsets(s["missed"].as_array().unwrap()),
        [6, 7, 8],
        "what there is"
    );

    let mut other = srv.connect().await;
    let r = join_with(
        &mut other,
        "r",
        json!({"since": {"offset": 7, "epoch": "0000000000000000"}}),
    )
    .await;
    assert_eq!(stream(&r)["recovered"], false);
    assert_eq!(stream(&r)["epoch"], epoch.as_str());
    assert_eq!(offsets(stream(&r)["missed"].as_array().unwrap()), [6, 7, 8]);

    // Up to date: recovered, nothing missed.
    let mut fresh = srv.connect().await;
    let r = join_with(
        &mut fresh,
        "r",
        json!({"since": {"offset": 8, "epoch": epoch}}),
    )
    .await;
    assert_eq!(stream(&r)["recovered"], true);
    assert_eq!(stream(&r)["missed"], json!([]));
    srv.stop().await;
}

#[tokio::test]
async fn history_k_gives_the_last_k_and_rooms_outside_the_pattern_have_none() {
    let mut cfg = config(50);
    cfg.rooms.history.rooms = Some("^chat:".into());
    let srv = server(cfg).await;
    for seq in 1..=5 {
        send(&srv.handle, "chat:a", seq);
        send(&srv.handle, "plain", seq);
    }
    let mut c = srv.connect().await;
    let r = join_with(&mut c, "chat:a", json!({"history": 2})).await;
    assert_eq!(stream(&r)["recovered"], true);
    let missed = stream(&r)["missed"].as_array().unwrap().clone();
    assert_eq!(offsets(&missed), [4, 5]);
    assert_eq!(missed[1]["data"]["seq"], 5);
    let r = join_with(&mut c, "plain", json!({"history": 2})).await;
    assert!(
        r["data"].get("stream").is_none(),
        "no history outside the pattern: {r}"
    );
    send(&srv.handle, "plain", 6);
    let f = c.recv().await;
    assert!(f.get("stream").is_none(), "{f}");
    srv.stop().await;
}

#[tokio::test]
async fn history_expires_after_its_ttl() {
    let mut cfg = config(50);
    cfg.rooms.history.ttl = Some(Duration::from_millis(200));
    let srv = server(cfg).await;
    send(&srv.handle, "r", 1);
    let mut c = srv.connect().await;
    let r = join_with(&mut c, "r", json!({"history": 10})).await;
    assert_eq!(offsets(stream(&r)["missed"].as_array().unwrap()), [1]);
    let epoch = stream(&r)["epoch"].as_str().unwrap().to_owned();
    // Time must pass for a TTL to lapse: nothing to await but the clock.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut late = srv.connect().await;
    let r = join_with(
        &mut late,
        "r",
        json!({"since": {"offset": 0, "epoch": epoch}}),
    )
    .await;
    assert_eq!(stream(&r)["recovered"], false, "{r}");
    assert_eq!(stream(&r)["missed"], json!([]));
    assert_ne!(
        stream(&r)["epoch"],
        epoch.as_str(),
        "an expired stream starts a new epoch"
    );
    srv.stop().await;
}

#[tokio::test]
async fn malformed_resume_requests_are_answered_and_others_keep_being_served() {
    let srv = server(config(10)).await;
    let mut watcher = srv.connect().await;
    join_with(&mut watcher, "r", json!({})).await;
    let mut c = srv.connect().await;
    for bad in [
        json!({"roomName": "r", "since": "yesterday"}),
        json!({"roomName": "r", "since": {"offset": -1, "epoch": "e"}}),
        json!({"roomName": "r", "since": {"offset": 1}}),
        json!({"roomName": "r", "history": "all"}),
        json!({"roomName": "r", "since": {"offset": 1, "epoch": "e"}, "history": 3}),
    ] {
        let r = c.request("system", "joinRoom", bad.clone()).await;
        assert_eq!(r["type"], "error", "{bad} → {r}");
        assert_eq!(r["data"]["code"], "INVALID_PAYLOAD", "{bad} → {r}");
    }
    // A huge offset from the same epoch is a position this stream never reached.
    let epoch = stream(&join_with(&mut c, "r", json!({})).await)["epoch"].clone();
    let r = join_with(
        &mut c,
        "r",
        json!({"since": {"offset": u64::MAX, "epoch": epoch}}),
    )
    .await;
    assert_eq!(stream(&r)["recovered"], false);
    send(&srv.handle, "r", 1);
    assert_eq!(watcher.recv().await["data"]["seq"], 1);
    assert_eq!(c.recv().await["data"]["seq"], 1);
    srv.stop().await;
}

/// A reader that reconnects again and again while a sender never stops: the frames it
/// sees (missed, then live) are every offset exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoining_while_others_send_never_duplicates_or_skips() {
    const TOTAL: u64 = 3000;
    let mut cfg = config(100_000);
    cfg.limits.outbound.queue_bytes = 64 * 1024 * 1024; // the reader is slow on purpose
    let srv = server(cfg).await;
    let handle = srv.handle.clone();
    let sender = tokio::spawn(async move {
        for seq in 1..=TOTAL {
            send(&handle, "busy", seq);
            if seq % 16 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut seen: Vec<u64> = Vec::new();
    let mut since: Option<Value> = None;
    let mut rounds = 0;
    while seen.last().copied() != Some(TOTAL) {
        rounds += 1;
        let mut c = srv.connect().await;
        let extra = match &since {
            Some(p) => json!({ "since": p }),
            // The first time: everything so far.
            None => json!({ "history": TOTAL }),
        };
        let r = join_with(&mut c, "busy", extra).await;
        let s = stream(&r);
        assert_eq!(s["recovered"], true, "round {rounds}: {s}");
        seen.extend(offsets(s["missed"].as_array().unwrap()));
        let mut last = s["offset"].as_u64().unwrap();
        // A few live frames, then drop the connection.
        let mut live = 0;
        while live < 40 && last < TOTAL {
            let f = c.recv().await;
            let o = f["stream"]["offset"].as_u64().unwrap();
            seen.push(o);
            last = o;
            live += 1;
        }
        since = Some(json!({"offset": seen.last().copied().unwrap_or(0), "epoch": s["epoch"]}));
        drop(c);
    }
    sender.await.unwrap();
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(seen.len(), expected.len(), "after {rounds} rounds");
    assert_eq!(seen, expected);
    assert!(rounds > 1);
    srv.stop().await;
}

/// The Rust client remembers the last position and resumes by itself.
#[tokio::test]
async fn the_rust_client_resumes_after_a_reconnect_and_reports_what_was_not_recovered() {
    let srv = server(config(100)).await;
    let client = WsClient::builder(srv.url()).connect().await.unwrap();
    let mut frames = client.frames();
    let mut events = client.events();
    let js = client.join_room_with_history("lobby", 10).await.unwrap();
    assert!(js.recovered);
    send(&srv.handle, "lobby", 1);
    let f = tokio::time::timeout(WAIT, frames.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.data.unwrap()["seq"], 1);
    assert_eq!(client.stream_position("lobby").unwrap().offset, 1);

    // The server drops the connection; messages go on meanwhile.
    let id = client.client_id().unwrap().parse().unwrap();
    srv.handle.disconnect_client(id, 4000, "gone");
    loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(e, ConnectionEvent::Disconnected { .. }) {
            break;
        }
    }
    for seq in 2..=4 {
        send(&srv.handle, "lobby", seq);
    }
    let not_recovered = loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ConnectionEvent::Reconnected { not_recovered, .. } = e {
            break not_recovered;
        }
    };
    assert!(not_recovered.is_empty());
    let mut got = Vec::new();
    while got.len() < 3 {
        let f = tokio::time::timeout(WAIT, frames.recv())
            .await
            .unwrap()
            .unwrap();
        if f.ty == "chat" {
            got.push(f.data.unwrap()["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(got, [2, 3, 4]);
    send(&srv.handle, "lobby", 5);
    let f = loop {
        let f = tokio::time::timeout(WAIT, frames.recv())
            .await
            .unwrap()
            .unwrap();
        if f.ty == "chat" {
            break f;
        }
    };
    assert_eq!(f.data.unwrap()["seq"], 5, "nothing twice");
    assert_eq!(client.stream_position("lobby").unwrap().offset, 5);
    client.close().await;
    srv.stop().await;
}
