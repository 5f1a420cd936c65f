//! The test kit (`pxl_ws::test`) on a small app: requests and replies, rooms, the
//! generated auth check, hooks and subscribers, two instances on one bus, paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pxl_ws::test::TestServer;
use pxl_ws::{
    ActionError, AuthUser, Client, Data, Frame, Server, WsConfig, WsServer, WsServerBuilder,
    bus::MemoryBus,
    config::Secret,
    subscriber,
    subscriber::{SubscriberContext, SubscriberError},
    subscribers, ws_controller,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Say {
    room: String,
    text: String,
}

#[derive(Default)]
struct Notes {
    /// How many times `notes/admin` ran.
    admin_calls: Mutex<u32>,
}

struct NotesController(Arc<Notes>);

#[ws_controller(type = "notes")]
impl NotesController {
    /// Pushes `notes/said` to the room; answers how many local clients got it.
    #[action("say")]
    async fn say(
        &self,
        client: Client,
        server: Server,
        Data(say): Data<Say>,
    ) -> Result<usize, ActionError> {
        let frame = Frame::new(
            "notes",
            "said",
            &json!({ "from": client.user_id(), "text": say.text }),
        )
        .map_err(ActionError::internal)?;
        Ok(server.send_to_room(&say.room, &frame, None))
    }

    /// Who the caller is; needs a user.
    #[action("whoami", auth)]
    async fn whoami(&self, user: AuthUser) -> Value {
        json!({ "user": user.user_id(), "roles": user.roles() })
    }

    /// Needs the `admin` role.
    #[action("admin", roles = ["admin"])]
    async fn admin(&self) -> &'static str {
        *self.0.admin_calls.lock().unwrap() += 1;
        "done"
    }

    /// Publishes `{text}` on the app channel `notes` (for the subscriber).
    #[action("publish")]
    async fn publish(&self, server: Server, Data(text): Data<String>) -> Result<(), ActionError> {
        server
            .publish("notes", &json!({ "text": text }))
            .map_err(ActionError::internal)
    }

    /// Waits an hour (tokio time), then answers.
    #[action("later")]
    async fn later(&self) -> &'static str {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        "an hour later"
    }
}

/// Tells the user `watcher` about every message on the `notes` channel.
#[subscriber(channels = ["notes"])]
async fn notes_watcher(ctx: SubscriberContext) -> Result<(), SubscriberError> {
    let frame = Frame::new(
        "watch",
        "note",
        &json!({ "channel": ctx.channel(), "message": ctx.message() }),
    )
    .map_err(SubscriberError::msg)?;
    ctx.server().send_to_user("watcher", &frame);
    Ok(())
}

fn app(notes: &Arc<Notes>) -> WsServerBuilder {
    WsServer::builder()
        .controller(NotesController(notes.clone()))
        .subscribers(subscribers![notes_watcher])
}

#[tokio::test]
async fn a_request_is_answered_and_the_room_gets_the_push() {
    let kit = TestServer::new(app(&Arc::default())).await;
    let mut alice = kit.connect().await;
    let mut bob = kit.connect().await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    let mut outsider = kit.connect().await;

    let reply = alice
        .request("notes", "say", json!({ "room": "lobby", "text": "hi" }))
        .await;
    assert_eq!(reply.response(), &json!(2), "alice and bob got it");
    let said = json!({ "from": null, "text": "hi" });
    assert_eq!(bob.expect_push("notes", "said").await, said);
    assert_eq!(alice.expect_push("notes", "said").await, said);
    outsider.refute_push("notes", "said").await;

    // Bad data: INVALID_PAYLOAD from the `Data` extractor, and alice is still served.
    let bad = alice.request("notes", "say", json!({ "room": 1 })).await;
    assert_eq!(bad.error_code(), "INVALID_PAYLOAD");
    // Not JSON at all: INVALID_JSON, as for a socket client.
    alice.send_text("{").await;
    assert_eq!(
        alice.expect_error("INVALID_JSON").await["error"],
        "Failed to parse JSON"
    );
    let reply = alice
        .request("notes", "say", json!({ "room": "lobby", "text": "again" }))
        .await;
    assert_eq!(reply.response(), &json!(2));
}

#[tokio::test]
async fn the_auth_check_refuses_an_unauthenticated_test_client() {
    let notes = Arc::<Notes>::default();
    let kit = TestServer::new(app(&notes)).await;
    let mut anonymous = kit.connect().await;
    let refused = anonymous.request("notes", "whoami", Value::Null).await;
    assert_eq!(refused.error_code(), "UNAUTHENTICATED");
    let refused = anonymous.request("notes", "admin", Value::Null).await;
    assert_eq!(refused.error_code(), "UNAUTHENTICATED");

    // A user without the role: FORBIDDEN, and the handler did not run.
    let mut member = kit.connect_as("mia", &["member"]).await;
    assert_eq!(
        member
            .request("notes", "whoami", Value::Null)
            .await
            .response(),
        &json!({ "user": "mia", "roles": ["member"] })
    );
    let forbidden = member.request("notes", "admin", Value::Null).await;
    assert_eq!(forbidden.error_code(), "FORBIDDEN");
    assert_eq!(*notes.admin_calls.lock().unwrap(), 0);

    // The anonymous client becomes an admin and is served.
    anonymous.as_user("ada", &["admin"]);
    let ok = anonymous.request("notes", "admin", Value::Null).await;
    assert_eq!(ok.response(), &json!("done"));
    assert_eq!(*notes.admin_calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_hook_and_a_subscriber_observe_the_test_clients_message() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let builder = app(&Arc::default()).on_message(move |client, info| {
        hook_seen.lock().unwrap().push((
            client.id(),
            format!("{}/{}", info.message_type, info.action),
        ));
    });
    let kit = TestServer::new(builder).await;
    let mut watcher = kit.user_observer("watcher").await;
    let mut alice = kit.connect().await;

    let reply = alice.request("notes", "publish", json!("remember")).await;
    assert_eq!(reply.response(), &Value::Null);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(alice.id(), "notes/publish".to_string())],
        "on_message saw the message before the reply"
    );
    let note = watcher.expect_push("watch", "note").await;
    assert_eq!(note["channel"], "notes");
    assert_eq!(note["message"]["text"], "remember", "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_memory_bus() {
    let bus = MemoryBus::new();
    let notes = Arc::<Notes>::default();
    let a = TestServer::new(app(&notes).bus(bus.clone())).await;
    let b = TestServer::new(app(&notes).bus(bus)).await;
    let mut alice = a.connect().await;
    let mut bob = b.connect().await;
    alice.join("lobby").await;
    bob.join("lobby").await;

    let reply = alice
        .request("notes", "say", json!({ "room": "lobby", "text": "across" }))
        .await;
    assert_eq!(reply.response(), &json!(1), "one local delivery: alice");
    assert_eq!(bob.expect_push("notes", "said").await["text"], "across");

    // A subscriber runs on every instance: both tell the watcher on `b` about a publish
    // on `a` (b's directly, a's through the bus).
    // `a` sends to user `watcher` only once it has heard that `b` holds it (a send to a
    // user with no known connection elsewhere is delivered locally only).
    let mut watcher = b.user_observer("watcher").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while a.server().user_client_ids("watcher").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance a never heard of user watcher on b"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    alice.request("notes", "publish", json!("hello b")).await;
    for _ in 0..2 {
        let note = watcher.expect_push("watch", "note").await;
        assert_eq!(note["message"]["text"], "hello b");
    }
}

#[tokio::test(start_paused = true)]
async fn works_with_paused_time() {
    // The kit's waits run on tokio time too: allow more than the handler's hour.
    let kit = TestServer::new(app(&Arc::default()))
        .await
        .with_timeout(Duration::from_secs(2 * 3600));
    let mut alice = kit.connect().await;
    let start = tokio::time::Instant::now();
    let reply = alice.request("notes", "later", Value::Null).await;
    assert_eq!(reply.response(), &json!("an hour later"));
    let elapsed = start.elapsed();
    assert!(
        (Duration::from_secs(3600)..Duration::from_secs(2 * 3600)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "timed out after 10s waiting for a notes/said frame")]
async fn a_missing_push_fails_at_once_with_paused_time() {
    let kit = TestServer::new(app(&Arc::default())).await;
    let mut alice = kit.connect().await;
    alice.join("lobby").await;
    alice.expect_push("notes", "said").await;
}

#[tokio::test]
async fn a_refused_upgrade_reports_status_and_code_and_others_connect() {
    let mut config = WsConfig::default();
    config.auth.jwt_secret = Some(Secret::new("a-test-secret-of-32-bytes-or-more!!"));
    config.auth.required = true;
    let kit = TestServer::new(app(&Arc::default()).config(config)).await;
    let refused = kit
        .try_connect(kit.upgrade_request())
        .await
        .expect_err("no token, auth required");
    assert_eq!((refused.status, refused.code()), (401, "TOKEN_MISSING"));

    // A client with a valid token is admitted and authenticated by it.
    let claims = json!({ "sub": "tia", "exp": 4_102_444_800u64 });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"a-test-secret-of-32-bytes-or-more!!").unwrap(),
    )
    .unwrap();
    let mut req = kit.upgrade_request();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut tia = kit.try_connect(req).await.expect("a valid token");
    assert_eq!(
        tia.expect_push("auth", "authenticated").await["userId"],
        "tia"
    );
    let me = tia.request("notes", "whoami", Value::Null).await;
    assert_eq!(me.response()["user"], "tia");
}

#[tokio::test]
async fn the_server_closing_a_client_is_seen() {
    let kit = TestServer::new(app(&Arc::default())).await;
    let mut alice = kit.connect().await;
    let mut bob = kit.connect().await;
    assert!(kit.server().disconnect_client(alice.id(), 4100, "bye"));
    assert_eq!(alice.expect_closed().await, Some((4100, "bye".into())));
    bob.sync().await;
    // A client closing: the server answers the close handshake with the same code.
    bob.close().await;
    assert_eq!(bob.expect_closed().await, Some((1000, String::new())));
}

#[tokio::test]
async fn limits_apply_to_test_clients() {
    let mut config = WsConfig::default();
    config.limits.max_connections_per_ip = Some(2);
    config.limits.rate_limit.enabled = true;
    config.limits.rate_limit.per_second = 0.001;
    config.limits.rate_limit.burst = 2;
    config.limits.rate_limit.max_violations = 100;
    let kit = TestServer::new(app(&Arc::default()).config(config)).await;
    let mut alice = kit.connect().await;
    let mut bob = kit.connect().await;

    // Test clients come from 127.0.0.1: the third one is over the per-IP cap.
    let refused = kit
        .try_connect(kit.upgrade_request())
        .await
        .expect_err("over the per-IP cap");
    assert_eq!(refused.status, 429, "{refused}");

    // Two messages fit the burst; the third is answered RATE_LIMITED, not routed.
    for _ in 0..2 {
        assert_eq!(
            alice
                .request("system", "ping", Value::Null)
                .await
                .response(),
            "pong"
        );
    }
    let limited = alice.request("system", "ping", Value::Null).await;
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    // Bob has his own bucket.
    assert_eq!(
        bob.request("system", "ping", Value::Null).await.response(),
        "pong"
    );
}

#[tokio::test]
async fn connects_without_the_connected_frame() {
    let mut config = WsConfig::default();
    config.connected_frame = false;
    let kit = TestServer::new(app(&Arc::default()).config(config)).await;
    let mut alice = kit.connect().await;
    let mut bob = kit.connect().await;
    assert_ne!(alice.id(), bob.id());
    assert_eq!(kit.server().client_ids().len(), 2);
    alice.as_user("alice", &[]);
    let me = alice.request("notes", "whoami", Value::Null).await;
    assert_eq!(me.response()["user"], "alice");
    assert!(kit.server().client_ids().contains(&bob.id()));
    bob.sync().await;
    assert!(bob.take_frames().is_empty(), "no greeting, nothing else");
}

#[tokio::test]
async fn dropping_a_test_client_disconnects_it() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let builder = app(&Arc::default()).on_disconnected(move |d| {
        let _ = tx.send((d.client_id, d.code, d.rooms.clone()));
    });
    let kit = TestServer::new(builder).await;
    let mut alice = kit.connect().await;
    alice.join("lobby").await;
    let id = alice.id();
    drop(alice);
    let (gone, code, rooms) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("on_disconnected within 10 s")
        .expect("the hook ran");
    assert_eq!((gone, code, rooms), (id, None, vec!["lobby".to_string()]));
    assert!(kit.server().client(id).is_none());
    assert_eq!(
        kit.server().rooms().get("lobby"),
        None,
        "the empty room is gone"
    );
}
