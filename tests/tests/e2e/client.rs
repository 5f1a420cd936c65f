//! The Rust client (`pxl_ws::client`) against a real server: requests and typed
//! replies, typed server errors, pushes routed to client-side controllers, first-connect
//! failures, reconnect with room rejoin after a restart on the same port, pending
//! requests failed on disconnect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pxl_ws::client::{
    ClientError, ConnectionEvent, ConnectionState, Events, ReconnectPolicy, WsClient,
};
use pxl_ws::{ActionError, BuildError, Client, Data, State, WsConfig, WsServer, ws_controller};
use pxl_ws_tests::{TestClient, TestServer, WAIT, eventually};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::builder;

fn config() -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.shutdown_timeout = Duration::from_millis(500);
        cfg
    }
}

async fn server() -> TestServer {
    TestServer::start(builder(config())).await
}

/// Quick retries, so tests do not wait long for a restarted server.
fn fast_reconnect() -> ReconnectPolicy {
    let mut policy = ReconnectPolicy::default();
    policy.initial_delay = Duration::from_millis(20);
    policy.max_delay = Duration::from_millis(200);
    policy.max_attempts = None;
    policy
}

/// The next event matching `pred`, failing after [`WAIT`].
pub(crate) async fn event_where(
    events: &mut Events,
    what: &str,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => continue,
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} event within {WAIT:?}"))
}

#[derive(Debug, Deserialize, PartialEq)]
struct Sum {
    sum: i64,
}

#[tokio::test]
async fn client_request_resolves_with_the_typed_response() {
    let srv = server().await;
    let client = WsClient::connect(srv.url()).await.expect("connects");
    assert!(client.state().is_connected());
    let id = client
        .client_id()
        .expect("a client id from system/connected");
    assert!(
        srv.handle.client(id.parse().unwrap()).is_some(),
        "the server knows {id}"
    );

    let sum: Sum = client
        .request("test", "add", json!({"a": 2, "b": 40}))
        .await
        .expect("reply");
    assert_eq!(sum, Sum { sum: 42 });
    let pong: String = client.request("system", "ping", ()).await.unwrap();
    assert_eq!(pong, "pong");
    // A reply without `response` decodes as ().
    let () = client.request("test", "unit", ()).await.unwrap();
    // Many requests in flight at once each get their own answer.
    let answers = futures_util::future::join_all(
        (0..20).map(|i| client.request::<Sum>("test", "add", json!({"a": i, "b": 1000}))),
    )
    .await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.unwrap().sum, i as i64 + 1000);
    }
    // A response of the wrong shape is a decode error naming the route.
    let err = client
        .request::<Sum>("test", "echo", json!("not a sum"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Decode { ty, action, .. } if ty == "test" && action == "echo"),
        "{err:?}"
    );
    client.close().await;
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(matches!(
        client.send("system", "ping", ()).await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn client_gets_the_servers_errors_as_typed_errors() {
    let srv = server().await;
    let client = WsClient::connect(srv.url()).await.unwrap();

    let err = client.request::<()>("test", "fail", ()).await.unwrap_err();
    let e = err
        .server_error()
        .unwrap_or_else(|| panic!("a server error: {err:?}"));
    assert_eq!(e.code, "NOPE");
    assert_eq!(e.message, "not today");
    assert_eq!(e.details["retry"], false);
    assert_eq!(e.details["type"], "test");
    assert_eq!(e.details["action"], "fail");

    let err = client
        .request::<Value>("nope", "nothing", ())
        .await
        .unwrap_err();
    assert_eq!(err.server_error().unwrap().code, "UNKNOWN_ROUTE");

    let err = client
        .request::<Sum>("test", "add", json!({"a": "two", "b": 1}))
        .await
        .unwrap_err();
    let e = err.server_error().unwrap();
    assert_eq!(e.code, "INVALID_PAYLOAD");
    assert_eq!(e.details["path"], "a");

    // PXL's `success: false` room replies become errors too.
    let err = client.leave_room("never-joined").await.unwrap_err();
    let e = err.server_error().unwrap();
    assert_eq!(e.code, "LEAVE_REFUSED");
    assert_eq!(e.message, "Not a member of room: never-joined");
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
struct Seen {
    room_size: usize,
    text: String,
    client_id: Option<String>,
}

/// A client-side controller: the server pushes `test/message` (a room broadcast).
struct Inbox;

#[ws_controller(type = "test")]
impl Inbox {
    #[action("message")]
    async fn message(
        &self,
        client: WsClient,
        State(tx): State<mpsc::UnboundedSender<Seen>>,
        Data(text): Data<String>,
    ) {
        // A client-side action may make requests of its own.
        let room_size = client.rooms().len();
        let echo: String = client.request("test", "echo", &text).await.expect("echo");
        let _ = tx.send(Seen {
            room_size,
            text: echo,
            client_id: client.client_id(),
        });
    }

    /// Never called: replies to `send` carry an id and are not routed as pushes.
    #[action("echo")]
    async fn echo(&self, State(tx): State<mpsc::UnboundedSender<Seen>>) {
        let _ = tx.send(Seen {
            room_size: 0,
            text: "a reply was routed as a push".into(),
            client_id: None,
        });
    }
}

#[tokio::test]
async fn client_routes_pushes_to_client_side_controllers_and_the_frame_stream() {
    let srv = server().await;
    let (tx, mut seen) = mpsc::unbounded_channel::<Seen>();
    let client = WsClient::builder(srv.url())
        .controller(Inbox)
        .state(tx)
        .connect()
        .await
        .unwrap();
    let mut frames = client.frames();
    client.join_room("lobby").await.unwrap();
    assert_eq!(client.rooms(), ["lobby"]);

    // A fire-and-forget `echo`: its reply reaches the frame stream, not the controller.
    client.send("test", "echo", "fire").await.unwrap();
    let (_other, got) = push_via_other(&srv, &mut seen, "hello").await;
    assert_eq!(
        got,
        Seen {
            room_size: 1,
            text: "hello".into(),
            client_id: client.client_id()
        }
    );
    let mut saw_reply = false;
    let mut saw_push = false;
    while !(saw_reply && saw_push) {
        let f = tokio::time::timeout(WAIT, frames.recv())
            .await
            .unwrap()
            .unwrap();
        match (f.ty.as_str(), f.action.as_str()) {
            ("test", "echo") => {
                assert_eq!(f.response, Some(json!("fire")));
                assert!(f.id.is_some());
                saw_reply = true;
            }
            ("test", "message") => {
                assert_eq!(f.data_as::<String>().unwrap(), "hello");
                assert_eq!(f.id, None);
                saw_push = true;
            }
            _ => {}
        }
    }
    // The reply to `send` never reached the controller's `echo` action.
    assert!(seen.try_recv().is_err());

    // Errors to fire-and-forget frames show up on the stream as typed errors.
    client.send("test", "fail", ()).await.unwrap();
    let err = loop {
        let f = tokio::time::timeout(WAIT, frames.recv())
            .await
            .unwrap()
            .unwrap();
        if let Some(e) = f.error() {
            break e;
        }
    };
    assert_eq!(err.code, "NOPE");
}

/// A client-side controller that asks for a server-only extractor.
struct Confused;

#[ws_controller(type = "test")]
impl Confused {
    #[action("message")]
    async fn message(&self, client: Client) {
        let _ = client;
    }
}

/// A server-side controller that asks for the client-only extractor.
struct Backwards;

#[ws_controller(type = "back")]
impl Backwards {
    #[action("wards")]
    async fn wards(&self, client: WsClient) {
        let _ = client;
    }
}

#[tokio::test]
async fn extractors_of_the_wrong_side_are_refused_when_building() {
    let srv = server().await;
    let err = WsClient::builder(srv.url())
        .controller(Confused)
        .connect()
        .await
        .unwrap_err();
    let ClientError::Build(problems) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`Client` is only available in server-side controllers"),
        "{}",
        problems[0]
    );
    // The refused client never connected.
    assert_eq!(srv.handle.connection_count(), 0);

    let Err(err) = WsServer::builder().controller(Backwards).build() else {
        panic!("built")
    };
    assert!(
        matches!(&err, BuildError::MissingState(p) if p[0].contains("`WsClient` is only available in client-side controllers")),
        "{err}"
    );
}

#[tokio::test]
async fn first_connect_fails_with_an_error_instead_of_hanging() {
    // Nothing listens on this port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = tokio::time::timeout(WAIT, WsClient::connect(format!("ws://{closed}/ws")))
        .await
        .expect("connect returns")
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");

    // A peer that accepts TCP but never answers the upgrade: the connect timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let err = tokio::time::timeout(
        WAIT,
        WsClient::builder(format!("ws://{addr}/ws"))
            .connect_timeout(Duration::from_millis(300))
            .connect(),
    )
    .await
    .expect("connect returns")
    .unwrap_err();
    assert!(
        matches!(err, ClientError::ConnectTimeout(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    drop(silent);

    // Bad settings are explained before anything is sent.
    let err = WsClient::connect("http://127.0.0.1:1/ws")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must start with ws://"), "{err}");
    let err = WsClient::builder("ws://127.0.0.1:1/ws")
        .header("bad header", "x")
        .connect()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("bad header name `bad header`"),
        "{err}"
    );
}

#[tokio::test]
async fn client_sends_its_token_and_reports_refusals() {
    let mut config = config();
    config.auth = pxl_ws::config::AuthConfig::default();
    config.auth.jwt_secret = Some("client-test-secret".into());
    config.auth.required = true;
    let srv = TestServer::start(builder(config)).await;
    let err = WsClient::connect(srv.url()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Refused { status: 401, code: Some(c), .. } if c == "TOKEN_MISSING"),
        "{err:?}"
    );
    let token =
        pxl_ws_tests::jwt::hs256(b"client-test-secret", &pxl_ws_tests::jwt::claims("alice"));
    let client = WsClient::builder(srv.url())
        .token(token)
        .connect()
        .await
        .unwrap();
    let id = client.client_id().unwrap();
    let info = srv.handle.get_client(id.parse().unwrap()).unwrap();
    assert_eq!(info.user_id.as_deref(), Some("alice"));
}

#[tokio::test]
async fn client_reconnects_after_a_restart_on_the_same_port_and_rejoins_its_rooms() {
    let srv = server().await;
    let addr: SocketAddr = srv.addr;
    let (tx, mut seen) = mpsc::unbounded_channel::<Seen>();
    let client = WsClient::builder(srv.url())
        .reconnect(fast_reconnect())
        .controller(Inbox)
        .state(tx)
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut states = client.state_changes();
    client.join_room("lobby").await.unwrap();
    client.join_room("games").await.unwrap();
    client.leave_room("games").await.unwrap();
    client
        .send(
            "system",
            "joinRoom",
            json!({"roomName": "news", "username": "ann"}),
        )
        .await
        .unwrap();
    eventually("the news room is tracked", || client.rooms().len() == 2).await;
    assert_eq!(client.rooms(), ["lobby", "news"]);
    let first_id = client.client_id().unwrap();

    srv.stop().await;
    let e = event_where(&mut events, "Disconnected", |e| {
        matches!(e, ConnectionEvent::Disconnected { .. })
    })
    .await;
    let ConnectionEvent::Disconnected { reason } = e else {
        unreachable!()
    };
    assert!(reason.contains("1001"), "{reason}");
    tokio::time::timeout(
        WAIT,
        states.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    // While reconnecting, calls fail at once instead of queueing.
    assert!(matches!(
        client.request::<String>("system", "ping", ()).await,
        Err(ClientError::NotConnected)
    ));
    // At least one attempt fails while nothing listens.
    event_where(&mut events, "ReconnectAttemptFailed", |e| {
        matches!(e, ConnectionEvent::ReconnectAttemptFailed { .. })
    })
    .await;

    let srv = TestServer::start_on(builder(config()), addr).await;
    let e = event_where(&mut events, "Reconnected", |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    let ConnectionEvent::Reconnected {
        client_id, rooms, ..
    } = e
    else {
        unreachable!()
    };
    assert_ne!(client_id, first_id, "a new connection has a new id");
    assert_eq!(Some(client_id.clone()), client.client_id());
    assert_eq!(rooms, ["lobby", "news"]);
    assert!(client.state().is_connected());

    // The new server has the client in both rooms, with the name it offered.
    let id: pxl_ws::ClientId = client_id.parse().unwrap();
    assert_eq!(srv.handle.rooms().get("lobby"), Some(vec![id]));
    assert_eq!(srv.handle.rooms().get("news"), Some(vec![id]));
    assert_eq!(srv.handle.rooms().get("games"), None);

    // Pushes reach the client-side controller again.
    let (_other, got) = push_via_other(&srv, &mut seen, "welcome back").await;
    assert_eq!(got.text, "welcome back");
    assert_eq!(got.client_id, Some(client_id));
}

#[tokio::test]
async fn client_gives_up_after_max_attempts_and_closes() {
    let srv = server().await;
    let mut policy = fast_reconnect();
    policy.max_attempts = Some(2);
    let client = WsClient::builder(srv.url())
        .reconnect(policy)
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    srv.stop().await;
    let mut attempts = Vec::new();
    let last = loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        match e {
            ConnectionEvent::Reconnecting { attempt, delay } => {
                assert!(delay <= Duration::from_millis(200));
                attempts.push(attempt);
            }
            ConnectionEvent::ReconnectFailed { .. } => break e,
            _ => {}
        }
    };
    assert_eq!(attempts, [1, 2]);
    assert_eq!(last, ConnectionEvent::ReconnectFailed { attempts: 2 });
    assert_eq!(
        tokio::time::timeout(WAIT, events.recv()).await.unwrap(),
        Some(ConnectionEvent::Closed)
    );
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(matches!(
        client.request::<String>("system", "ping", ()).await,
        Err(ClientError::Closed)
    ));
}

/// A server-side action that never answers on its own.
struct Slow;

#[ws_controller(type = "slow")]
impl Slow {
    #[action("wait")]
    async fn wait(&self) -> Result<(), ActionError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
}

#[tokio::test]
async fn pending_requests_fail_when_the_connection_is_lost() {
    let srv = TestServer::start(builder(config()).controller(Slow)).await;
    let client = WsClient::builder(srv.url())
        .reconnect(fast_reconnect())
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.request::<()>("slow", "wait", ()).await })
    };
    let id: pxl_ws::ClientId = client.client_id().unwrap().parse().unwrap();
    eventually("the request reached the server", || {
        srv.handle.health().messages_in >= 1
    })
    .await;
    assert!(srv.handle.disconnect_client(id, 4002, "test disconnect"));
    let result = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("the request ends")
        .unwrap();
    assert!(
        matches!(result, Err(ClientError::Disconnected)),
        "{result:?}"
    );
    let e = event_where(&mut events, "Disconnected", |e| {
        matches!(e, ConnectionEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        e,
        ConnectionEvent::Disconnected {
            reason: "closed by the server (close code 4002: test disconnect)".into()
        }
    );

    // A request that times out is answered with Timeout, and the client goes on.
    event_where(&mut events, "Reconnected", |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    let err = client
        .request_with_timeout::<()>("slow", "wait", (), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn the_browser_client_is_served_only_when_asked_for() {
    let off = server().await;
    let r = pxl_ws_tests::http_get(off.addr, "/pxl-ws.js").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");

    let on = TestServer::start(builder(config()).serve_browser_client(true)).await;
    let r = pxl_ws_tests::http_get(on.addr, "/pxl-ws.js").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{r}"
    );
    assert!(
        r.contains("export class PxlWsClient"),
        "the module is in the body"
    );
    let r = pxl_ws_tests::http_get(on.addr, "/pxl-ws.d.ts").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.contains("export class PxlWsClient"),
        "the declarations are in the body"
    );
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let srv = server().await;
    let client = WsClient::connect(srv.url()).await.unwrap();
    let copy = client.clone();
    eventually("the server has the client", || {
        srv.handle.connection_count() == 1
    })
    .await;
    drop(client);
    // The clone still works.
    let pong: String = copy.request("system", "ping", ()).await.unwrap();
    assert_eq!(pong, "pong");
    drop(copy);
    eventually("the server saw the client go", || {
        srv.handle.connection_count() == 0
    })
    .await;
}

/// Another client joins `lobby` and broadcasts `text` there (excluding itself); returns
/// it (kept connected) and what the client-side controller saw.
async fn push_via_other(
    srv: &TestServer,
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    text: &str,
) -> (TestClient, Seen) {
    let mut other = srv.connect().await;
    other.join("lobby").await;
    other
        .request(
            "test",
            "broadcast",
            json!({"room": "lobby", "text": text, "exclude_me": true}),
        )
        .await;
    let got = tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("a push within WAIT")
        .expect("the controller is alive");
    (other, got)
}

#[tokio::test]
async fn a_room_refused_on_rejoin_is_reported_and_forgotten() {
    let deny = Arc::new(AtomicBool::new(false));
    let d = deny.clone();
    let srv = TestServer::start(builder(config()).authorize_join(move |_, room| {
        std::future::ready(!(d.load(Ordering::SeqCst) && room == "vip"))
    }))
    .await;
    let client = WsClient::builder(srv.url())
        .reconnect(fast_reconnect())
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    client.join_room("lobby").await.unwrap();
    client.join_room("vip").await.unwrap();
    assert_eq!(client.rooms(), ["lobby", "vip"]);

    // The server stops admitting anyone to "vip", then drops the connection.
    deny.store(true, Ordering::SeqCst);
    let id: pxl_ws::ClientId = client.client_id().unwrap().parse().unwrap();
    assert!(srv.handle.disconnect_client(id, 4002, "test disconnect"));
    let e = event_where(&mut events, "RejoinFailed", |e| {
        matches!(e, ConnectionEvent::RejoinFailed { .. })
    })
    .await;
    let ConnectionEvent::RejoinFailed { room, error } = e else {
        unreachable!()
    };
    assert_eq!(room, "vip");
    assert!(error.contains("Not allowed to join room: vip"), "{error}");
    let e = event_where(&mut events, "Reconnected", |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
    let ConnectionEvent::Reconnected {
        client_id, rooms, ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(rooms, ["lobby"]);
    assert_eq!(client.rooms(), ["lobby"]);
    let new_id: pxl_ws::ClientId = client_id.parse().unwrap();
    assert_eq!(srv.handle.rooms().get("lobby"), Some(vec![new_id]));
    assert_eq!(srv.handle.rooms().get("vip"), None);
    client.close().await;
    srv.stop().await;
}
