//! Outbound flow control: clients that read are never cut off by a burst, a client that
//! stops reading is closed with 1008 with its queue bounded, droppable and coalesced
//! frames behave as documented, and the process budget bounds all queues.

use std::time::Duration;

use futures_util::SinkExt;
use pxl_ws::{ClientId, Frame, WsConfig};
use pxl_ws_tests::logs::LogCapture;
use pxl_ws_tests::raw::{self, RawSocket};
use pxl_ws_tests::record::Recorder;
use pxl_ws_tests::{TestServer, WAIT, eventually};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::app::builder;

/// The frame count of the old slow-consumer rule (1024 frames, then 1008).
const OLD_FRAME_LIMIT: u64 = 1024;

fn msg(seq: u64, pad: &str) -> Frame {
    Frame::new("t", "msg", &json!({"seq": seq, "pad": pad})).unwrap()
}

/// Joins `room` on a raw socket with a small receive buffer that is never read (until
/// the test reads it) and returns it with its client id.
async fn stalled_member(srv: &TestServer, room: &str) -> (RawSocket, ClientId) {
    let before = srv.handle.client_ids();
    let mut s = RawSocket::connect_small(srv.addr, "/ws", 4096).await;
    let connected = s.read_data(1).await;
    let id: ClientId = connected.frames[0]["data"]["clientId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(!before.contains(&id));
    s.send(&raw::text(
        format!(r#"{{"type":"system","action":"joinRoom","data":{{"roomName":"{room}"}}}}"#)
            .as_bytes(),
    ))
    .await;
    eventually("the stalled member joined", || {
        srv.handle
            .rooms()
            .get(room)
            .is_some_and(|m| m.contains(&id))
    })
    .await;
    let joined = s.read_data(1).await;
    assert_eq!(joined.frames[0]["response"]["success"], true);
    (s, id)
}

fn outbound_bytes(srv: &TestServer, id: ClientId) -> usize {
    srv.handle.client(id).map_or(0, |c| c.outbound_bytes())
}

#[tokio::test]
async fn twenty_five_members_sending_190_messages_each_keep_every_reader() {
    const MEMBERS: usize = 25;
    const EACH: usize = 190;
    // Within the default rate limit (a burst of 200).
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut members = Vec::new();
    let mut senders = Vec::new();
    for i in 0..MEMBERS {
        let mut c = srv.connect().await;
        c.join("busy").await;
        let (rec, mut sink) = Recorder::split(c);
        members.push(rec);
        senders.push(async move {
            for n in 0..EACH {
                let m = json!({"type": "test", "action": "broadcast",
                    "data": {"room": "busy", "text": format!("{i}:{n}")}});
                sink.send(Message::text(m.to_string())).await.unwrap();
            }
            sink
        });
    }
    // All members send at once.
    let sinks = futures_util::future::join_all(senders).await;
    let total = MEMBERS * EACH;
    for rec in &members {
        rec.wait_for("every room message arrives", WAIT * 3, |f| {
            f.iter().filter(|f| f["action"] == "message").count() == total
        })
        .await;
    }
    for rec in &members {
        let frames = rec.frames();
        // From each sender, in its order.
        for i in 0..MEMBERS {
            let prefix = format!("{i}:");
            let got: Vec<&str> = frames
                .iter()
                .filter(|f| f["action"] == "message")
                .filter_map(|f| f["data"].as_str())
                .filter(|t| t.starts_with(&prefix))
                .collect();
            let want: Vec<String> = (0..EACH).map(|n| format!("{i}:{n}")).collect();
            assert_eq!(got, want);
        }
        // Every request answered.
        assert_eq!(
            frames.iter().filter(|f| f["action"] == "broadcast").count(),
            EACH
        );
    }
    let h = srv.handle.health();
    assert_eq!(h.slow_clients_dropped, 0);
    assert_eq!(h.limits.rate_limited, 0);
    assert_eq!(h.active_connections, MEMBERS);
    drop(sinks);
    srv.stop().await;
}

#[tokio::test]
async fn a_burst_of_ten_times_the_old_frame_limit_reaches_readers_that_keep_up() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut c = srv.connect().await;
        c.join("burst").await;
        readers.push(Recorder::start(c));
    }
    let n = 10 * OLD_FRAME_LIMIT;
    let pad = "x".repeat(100);
    // In one go, without yielding: every frame is queued before any writer runs.
    for seq in 0..n {
        assert_eq!(srv.handle.send_to_room("burst", &msg(seq, &pad), None), 3);
    }
    for rec in &readers {
        rec.wait_for("the whole burst arrives", WAIT * 3, |f| {
            f.len() == n as usize
        })
        .await;
        assert_eq!(rec.seqs(), (0..n).collect::<Vec<_>>());
    }
    let h = srv.handle.health();
    assert_eq!(h.slow_clients_dropped, 0);
    assert_eq!(h.flow.closed_over_limit + h.flow.closed_over_budget, 0);
    assert_eq!(h.flow.frames_dropped, 0);
    // Drained: nothing is held from the budget any more.
    eventually("the budget is given back", || {
        srv.handle.health().flow.budget_reserved_bytes == 0
    })
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn a_stalled_reader_is_closed_with_1008_and_its_queue_stays_under_the_limit() {
    const LIMIT: usize = 64 * 1024;
    let logs = LogCapture::start();
    let mut config = WsConfig::default();
    config.limits.outbound.queue_bytes = LIMIT;
    config.limits.outbound.soft_bytes = 16 * 1024;
    config.limits.outbound.grace = Duration::ZERO;
    config.limits.write_timeout = Duration::from_secs(600);
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("r").await;
    let reader = Recorder::start(c);
    let (mut stalled, id) = stalled_member(&srv, "r").await;

    // Three 16 KiB frames a batch: the reader's queue stays under the limit.
    let pad = "x".repeat(16 * 1024);
    let mut sent = 0;
    let mut peak = 0;
    while srv.handle.health().flow.closed_over_limit == 0 {
        assert!(sent < 10_000, "the stalled reader was never closed");
        for _ in 0..3 {
            srv.handle.send_to_room("r", &msg(sent, &pad), None);
            sent += 1;
            peak = peak.max(outbound_bytes(&srv, id));
        }
        reader
            .wait_for("the reader keeps up", WAIT, |f| {
                f.last().and_then(|f| f["data"]["seq"].as_u64()) == Some(sent - 1)
            })
            .await;
    }
    assert!(peak > 16 * 1024, "the queue did fill ({peak} bytes)");
    assert!(peak <= LIMIT, "{peak} bytes queued, over the {LIMIT} limit");
    // A few more batches: the reader still gets them.
    for _ in 0..2 {
        for _ in 0..3 {
            srv.handle.send_to_room("r", &msg(sent, &pad), None);
            sent += 1;
        }
        reader
            .wait_for("the reader gets the rest", WAIT, |f| {
                f.last().and_then(|f| f["data"]["seq"].as_u64()) == Some(sent - 1)
            })
            .await;
    }
    assert_eq!(reader.seqs(), (0..sent).collect::<Vec<_>>());

    let t = stalled.read_until_close().await;
    assert_eq!(
        (t.close, t.reason.as_str()),
        (Some(1008), "outbound queue over limit")
    );
    // What it got is a prefix, in order.
    let got: Vec<u64> = t
        .frames
        .iter()
        .filter_map(|f| f["data"]["seq"].as_u64())
        .collect();
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    let h = srv.handle.health();
    assert_eq!(h.slow_clients_dropped, 1);
    assert_eq!(h.flow.closed_over_limit, 1);
    eventually("the closed client's queue is released", || {
        srv.handle.health().flow.budget_reserved_bytes == 0
    })
    .await;
    let log = logs.text();
    assert_eq!(
        log.matches("slow client closed with 1008").count(),
        1,
        "{log}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_client_behind_holds_one_typing_frame_per_key_and_no_droppable_frame() {
    let logs = LogCapture::start();
    let mut config = WsConfig::default();
    config.limits.outbound.soft_bytes = 16 * 1024;
    let srv = TestServer::start(builder(config)).await;
    let (mut stalled, id) = stalled_member(&srv, "chat").await;

    // All in one go, without yielding, so the writer takes none of it meanwhile: kept
    // frames over the soft mark, then typing frames of two users interleaved with
    // droppable ticks, then a kept marker.
    let filler = "f".repeat(4096);
    for seq in 0..5 {
        srv.handle.send_to_room("chat", &msg(seq, &filler), None);
    }
    let before = outbound_bytes(&srv, id);
    assert!(before > 16 * 1024);
    let typing = |user: &str, n: u64| {
        Frame::new("chat", "typing", &json!({"user": user, "n": n}))
            .unwrap()
            .coalesce(format!("typing:chat:{user}"))
    };
    let mut delivered = 0;
    for n in 0..100 {
        delivered += srv.handle.send_to_room("chat", &typing("alice", n), None);
        delivered += srv.handle.send_to_room("chat", &typing("bob", n), None);
        let tick = Frame::new("chat", "tick", &n).unwrap().droppable();
        assert_eq!(srv.handle.send_to_room("chat", &tick, None), 0);
    }
    // Coalesced frames count as delivered (the client gets the latest).
    assert_eq!(delivered, 200);
    let one = |user: &str| typing(user, 99).as_str().len() + 64;
    assert_eq!(
        outbound_bytes(&srv, id),
        before + one("alice") + one("bob"),
        "the queue holds one typing frame per user"
    );
    srv.handle.send_to_room("chat", &msg(5, "end"), None);
    let h = srv.handle.health();
    assert_eq!(h.flow.frames_coalesced, 198);
    assert_eq!(h.flow.frames_dropped, 100);
    assert_eq!(h.slow_clients_dropped, 0);

    // Reading again, the client gets the kept frames, the latest typing frame of each
    // user in the place of the first one, and no tick.
    let t = stalled.read_data(5 + 2 + 1).await;
    let kinds: Vec<String> = t
        .frames
        .iter()
        .map(|f| match f["action"].as_str().unwrap() {
            "typing" => format!("typing {} {}", f["data"]["user"], f["data"]["n"]),
            other => format!("{other} {}", f["data"]["seq"]),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "msg 0",
            "msg 1",
            "msg 2",
            "msg 3",
            "msg 4",
            r#"typing "alice" 99"#,
            r#"typing "bob" 99"#,
            "msg 5"
        ]
    );
    // Logged once for the client, not once per frame.
    let log = logs.text();
    assert_eq!(
        log.matches("dropping its droppable frames").count(),
        1,
        "{log}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn the_process_budget_holds_with_many_stalled_clients() {
    const STALLED: usize = 20;
    const BUDGET: usize = 512 * 1024;
    const SOFT: usize = 32 * 1024;
    let mut config = WsConfig::default();
    config.limits.outbound.queue_bytes = 256 * 1024;
    config.limits.outbound.soft_bytes = SOFT;
    config.limits.outbound.budget_bytes = BUDGET;
    config.limits.outbound.grace = Duration::from_secs(600);
    // The close frames wait behind the unread output until each client reads again,
    // however long the loop below takes on a loaded machine.
    config.limits.write_timeout = Duration::from_secs(600);
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    c.join("r").await;
    let reader = Recorder::start(c);
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(stalled_member(&srv, "r").await);
    }

    // Three 8 KiB frames a batch: the reader stays under its soft mark.
    let pad = "x".repeat(8 * 1024);
    let mut sent = 0;
    let mut peak_reserved = 0;
    let mut peak_total = 0;
    while srv.handle.health().flow.closed_over_budget < STALLED as u64 {
        assert!(sent < 20_000, "the stalled clients were never closed");
        for _ in 0..3 {
            srv.handle.send_to_room("r", &msg(sent, &pad), None);
            sent += 1;
        }
        let total: usize = stalled
            .iter()
            .map(|(_, id)| outbound_bytes(&srv, *id))
            .sum();
        peak_total = peak_total.max(total);
        peak_reserved = peak_reserved.max(srv.handle.health().flow.budget_reserved_bytes);
        reader
            .wait_for("the reader keeps up", WAIT, |f| {
                f.last().and_then(|f| f["data"]["seq"].as_u64()) == Some(sent - 1)
            })
            .await;
    }
    assert!(peak_reserved as usize <= BUDGET, "{peak_reserved}");
    // Each queue holds at most its free first chunk (16 KiB) or its soft mark beyond
    // what it reserved.
    let bound = BUDGET + STALLED * SOFT.max(16 * 1024);
    assert!(
        peak_total <= bound,
        "{peak_total} bytes queued, bound {bound}"
    );
    assert!(
        peak_total > BUDGET / 2,
        "the queues did fill ({peak_total})"
    );
    // The reader, under its soft mark throughout, got everything.
    assert_eq!(reader.seqs(), (0..sent).collect::<Vec<_>>());
    for (s, _) in &mut stalled {
        let t = s.read_until_close().await;
        assert_eq!(
            (t.close, t.reason.as_str()),
            (Some(1008), "server outbound budget exhausted")
        );
    }
    assert_eq!(srv.handle.health().flow.closed_over_limit, 0);
    eventually("only the reader is left", || {
        srv.handle.connection_count() == 1
    })
    .await;
    eventually("the budget is given back", || {
        srv.handle.health().flow.budget_reserved_bytes == 0
    })
    .await;
    let _: Vec<Value> = reader.take();
    srv.stop().await;
}
