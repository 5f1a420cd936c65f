//! Routing, replies, extractors, build-time validation, sends by target.

use pxl_ws::{BuildError, Frame, Target, WsConfig, WsServer, bus::MemoryBus};
use pxl_ws_tests::{TestServer, eventually};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::app::{Counter, TestController, builder};

fn app() -> pxl_ws::WsServerBuilder {
    builder(WsConfig::default())
}

#[tokio::test]
async fn routes_and_replies_with_and_without_id() {
    let srv = TestServer::start(app()).await;
    let mut c = srv.connect().await;

    // With a string id: the reply carries it.
    let r = c.request("test", "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(
        r,
        json!({"type": "test", "action": "add", "response": {"sum": 42}, "id": "r1"})
    );

    // A numeric id is echoed as a number.
    c.send_json(&json!({"type": "test", "action": "echo", "data": [1, "two"], "id": 7}))
        .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "test", "action": "echo", "response": [1, "two"], "id": 7})
    );

    // Without an id: no id in the reply (PXL's envelope).
    c.send("test", "echo", json!({"x": null})).await;
    assert_eq!(
        c.recv().await,
        json!({"type": "test", "action": "echo", "response": {"x": null}})
    );

    // A unit handler replies without a `response` key.
    c.send("test", "unit", json!(null)).await;
    assert_eq!(c.recv().await, json!({"type": "test", "action": "unit"}));

    // Extra top-level fields are ignored; a missing `data` is `null`.
    c.send_json(&json!({"type": "test", "action": "raw", "extra": true}))
        .await;
    assert_eq!(
        c.recv().await,
        json!({"type": "test", "action": "raw", "response": null})
    );
    srv.stop().await;
}

#[tokio::test]
async fn binary_frames_carrying_json_are_routed() {
    let srv = TestServer::start(app()).await;
    let mut c = srv.connect().await;
    let body = json!({"type": "test", "action": "add", "data": {"a": 1, "b": 1}, "id": "b"});
    c.send_raw(Message::binary(body.to_string().into_bytes()))
        .await;
    assert_eq!(c.recv().await["response"], json!({"sum": 2}));
    srv.stop().await;
}

#[tokio::test]
async fn extractors_client_state_and_user() {
    let counter = Counter::default();
    let srv = TestServer::start(
        WsServer::builder()
            .controller(TestController)
            .state(counter.clone()),
    )
    .await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    assert_ne!(a.id, b.id);
    assert_eq!(a.id.len(), 32);

    let r = a.request("test", "whoami", json!(null)).await;
    assert_eq!(r["response"], a.id.as_str());

    assert_eq!(a.request("test", "count", json!(null)).await["response"], 1);
    assert_eq!(b.request("test", "count", json!(null)).await["response"], 2);
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A user id set by a handler is visible in the registry and targets user sends.
    a.request("test", "login", json!("user-1")).await;
    b.request("test", "login", json!("user-2")).await;
    let id_a = a.id.parse().unwrap();
    let info = srv.handle.get_client(id_a).unwrap();
    assert_eq!(info.user_id.as_deref(), Some("user-1"));
    let frame = Frame::new("note", "hello", &json!({"n": 1})).unwrap();
    assert_eq!(srv.handle.send_to_user("user-1", &frame), 1);
    assert_eq!(
        a.recv().await,
        json!({"type": "note", "action": "hello", "data": {"n": 1}})
    );
    b.assert_nothing_queued().await;

    // update_client stores free-form metadata (PXL's allowlist bug not copied).
    assert!(
        srv.handle
            .update_client(id_a, "preferences", json!({"theme": "dark"}))
    );
    assert_eq!(
        srv.handle.get_client(id_a).unwrap().metadata["preferences"],
        json!({"theme": "dark"})
    );
    assert!(
        !srv.handle
            .update_client(pxl_ws::ClientId::random(), "x", json!(1))
    );

    // send_to_client reaches exactly one client.
    assert_eq!(srv.handle.send_to_client(b.id.parse().unwrap(), &frame), 1);
    assert_eq!(b.recv().await["action"], "hello");
    a.assert_nothing_queued().await;
    srv.stop().await;
}

#[tokio::test]
async fn last_activity_is_refreshed_by_inbound_frames() {
    let srv = TestServer::start(app()).await;
    let mut c = srv.connect().await;
    let id = c.id.parse().unwrap();
    let first = srv.handle.get_client(id).unwrap().last_activity;
    // The clock moves past the connection's millisecond before the next frame.
    eventually("a later millisecond", || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        now > u128::from(first)
    })
    .await;
    c.request("test", "unit", json!(null)).await;
    let second = srv.handle.get_client(id).unwrap().last_activity;
    assert!(second > first, "{second} > {first}");
    srv.stop().await;
}

#[test]
fn build_lists_every_route_collision_with_locations() {
    struct Again;
    #[pxl_ws::ws_controller(type = "test")]
    impl Again {
        #[action("echo")]
        async fn echo_again(&self) {}
        #[action("add")]
        async fn add_again(&self) {}
        #[action("fresh")]
        async fn fresh(&self) {}
    }
    let err = WsServer::builder()
        .controller(TestController)
        .controller(Again)
        .state(Counter::default())
        .build()
        .err()
        .expect("collisions are rejected");
    let BuildError::RouteCollisions(list) = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(list.len(), 2, "{list:?}");
    let text = err.to_string();
    assert!(text.contains("`test/echo` is defined twice"), "{text}");
    assert!(text.contains("`test/add` is defined twice"), "{text}");
    assert!(text.contains("echo_again"), "{text}");
    assert!(text.contains("routing.rs:"), "{text}");
}

#[test]
fn build_rejects_overriding_the_system_routes() {
    struct Sys;
    #[pxl_ws::ws_controller(type = "system")]
    impl Sys {
        #[action("joinRoom")]
        async fn join(&self) {}
    }
    let err = WsServer::builder().controller(Sys).build().err().unwrap();
    assert!(
        err.to_string()
            .contains("`system/joinRoom` is defined twice"),
        "{err}"
    );
}

#[test]
fn build_rejects_unregistered_state() {
    let err = WsServer::builder()
        .controller(TestController)
        .build()
        .err()
        .expect("missing state is rejected");
    let text = err.to_string();
    assert!(matches!(err, BuildError::MissingState(_)), "{text}");
    assert!(text.contains("Counter"), "{text}");
    assert!(text.contains("test/count"), "{text}");
}

#[tokio::test]
async fn servers_sharing_a_memory_bus_fan_out_to_each_other() {
    let bus = MemoryBus::new();
    let s1 = TestServer::start(app().bus(bus.clone())).await;
    let s2 = TestServer::start(app().bus(bus.clone())).await;
    let mut a = s1.connect().await;
    let mut b = s2.connect().await;
    let mut c = s2.connect().await;
    a.join("r").await;
    b.join("r").await;

    // A room broadcast from instance 1 reaches the member on instance 2, once.
    let r = a
        .request(
            "test",
            "broadcast",
            json!({"room": "r", "text": "hi", "exclude_me": true}),
        )
        .await;
    assert_eq!(r["response"], 0, "no local member besides the sender");
    assert_eq!(
        b.recv().await,
        json!({"type": "test", "action": "message", "data": "hi"})
    );
    // A marker sent after it from instance 1 comes next for everyone: b got one copy,
    // and c and the excluded sender none.
    let marker = Frame::new("marker", "m", &json!(1)).unwrap();
    s1.handle.send_to_all(&marker, None);
    for x in [&mut b, &mut c, &mut a] {
        assert_eq!(x.recv().await["type"], "marker");
    }

    // A send to a client on another instance is routed there.
    let frame = Frame::new("dm", "hello", &json!(1)).unwrap();
    assert_eq!(
        s1.handle
            .send(&Target::client(c.id.parse().unwrap()), &frame),
        0
    );
    assert_eq!(c.recv().await["type"], "dm");

    // Send to all, except one client.
    s2.handle.send_to_all(&frame, Some(b.id.parse().unwrap()));
    assert_eq!(a.recv().await["type"], "dm");
    assert_eq!(c.recv().await["type"], "dm");
    b.assert_nothing_queued().await;
    assert_eq!(s1.handle.health().connections_total, 1);
    eventually("health counts bus traffic", || {
        s1.handle.health().bus_messages_in == 1 && s2.handle.health().bus_messages_in == 3
    })
    .await;
    s1.stop().await;
    s2.stop().await;
}

mod raw {
    //! A look-alike `RawValue`: any `Serialize` type spelled `Box<RawValue>` still works,
    //! and so does an extractor of the app's spelled `Data<Box<RawValue>>`.
    use pxl_ws::ActionError;
    use pxl_ws::controller::{FromMessage, MessageContext};

    #[derive(serde::Serialize)]
    pub(super) struct RawValue {
        pub(super) look_alike: bool,
    }

    pub(super) struct Data<T>(pub(super) T);

    impl FromMessage for Data<Box<RawValue>> {
        fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
            Ok(Data(Box::new(RawValue {
                look_alike: ctx.action() == "lookAlikeData",
            })))
        }
    }
}

/// Handlers returning `Box<RawValue>` (taken as the response as it is) and
/// `Result<Box<RawValue>, _>`, next to a type merely spelled so.
struct RawReplies;

#[pxl_ws::ws_controller(type = "raw")]
impl RawReplies {
    #[action("echo")]
    async fn echo(
        &self,
        pxl_ws::Data(data): pxl_ws::Data<Box<serde_json::value::RawValue>>,
    ) -> Box<serde_json::value::RawValue> {
        data
    }

    #[action("checked")]
    async fn checked(
        &self,
        pxl_ws::Data(data): pxl_ws::Data<Box<serde_json::value::RawValue>>,
    ) -> Result<Box<serde_json::value::RawValue>, pxl_ws::ActionError> {
        if data.get() == "null" {
            return Err(pxl_ws::ActionError::new("EMPTY", "nothing to echo"));
        }
        Ok(data)
    }

    #[action("lookAlike")]
    async fn look_alike(&self) -> Box<raw::RawValue> {
        Box::new(raw::RawValue { look_alike: true })
    }

    #[action("lookAlikeData")]
    async fn look_alike_data(&self, raw::Data(v): raw::Data<Box<raw::RawValue>>) -> bool {
        v.look_alike
    }
}

#[tokio::test]
async fn raw_json_replies_are_sent_as_they_are() {
    let srv = TestServer::start(WsServer::builder().controller(RawReplies)).await;
    let mut c = srv.connect().await;
    // The reply's bytes: the raw response is spliced in unchanged, spacing included.
    c.send_text(r#"{"type":"raw","action":"echo","data":{ "a" : [1, 2.50] },"id":3}"#)
        .await;
    match c.next_message(std::time::Duration::from_secs(5)).await {
        Some(Message::Text(t)) => assert_eq!(
            t.as_str(),
            r#"{"type":"raw","action":"echo","response":{ "a" : [1, 2.50] },"id":3}"#
        ),
        other => panic!("expected the reply, got {other:?}"),
    }
    let r = c.request("raw", "checked", json!({"b": "x"})).await;
    assert_eq!(r["response"], json!({"b": "x"}));
    let r = c.request("raw", "checked", json!(null)).await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["data"]["code"], "EMPTY", "{r}");
    // No `data` at all: `null`, as for any `Data<T>`.
    c.send_text(r#"{"type":"raw","action":"checked","id":4}"#)
        .await;
    let r = c.recv().await;
    assert_eq!(
        (&r["type"], &r["data"]["code"]),
        (&json!("error"), &json!("EMPTY")),
        "{r}"
    );
    let r = c.request("raw", "lookAlike", json!(null)).await;
    assert_eq!(r["response"], json!({"look_alike": true}));
    // The app's own `Data` spelled like the raw one goes through its `FromMessage`.
    let r = c.request("raw", "lookAlikeData", json!(null)).await;
    assert_eq!(r["response"], json!(true), "{r}");
    srv.stop().await;
}
