//! Subscribers over real servers: matching, ordering, isolation, middleware, app
//! channels and built-in events across two instances sharing a bus, and `WsService`
//! observed by real clients.

use std::sync::{Arc, Mutex};

use pxl_ws::{
    BuildError, Channel, Event, Frame, MemoryBus, Message, Middleware, State, SubscriberContext,
    SubscriberError, WsServer, WsService, subscriber, subscribers,
};
use pxl_ws_tests::{TestServer, eventually};
use serde_json::{Value, json};

/// What the subscribers of one server did, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn count(&self, s: &str) -> usize {
        self.all().iter().filter(|e| *e == s).count()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Runs last for every event on `done`: marks that everything before it was handled.
#[subscriber(channel = "done", priority = -100)]
async fn done(State(log): State<Log>, msg: Value) {
    log.push(format!("done:{msg}"));
}

/// Publishes a sentinel on `done` and waits until `log` saw it: every event published
/// before it has been fully dispatched.
async fn settle(server: &pxl_ws::Server, log: &Log, tag: u32) {
    server.publish("done", &tag).unwrap();
    let want = format!("done:{tag}");
    eventually(&want.clone(), || log.count(&want) == 1).await;
}

// ---- matchers --------------------------------------------------------------------------

#[subscriber(channel = "orders")]
async fn exact(State(log): State<Log>, Channel(c): Channel) {
    log.push(format!("exact:{c}"));
}

#[subscriber(matches = ["*"])]
async fn wildcard(State(log): State<Log>, Channel(c): Channel) {
    if c != "done" {
        log.push(format!("wildcard:{c}"));
    }
}

#[subscriber(matches = [regex("^analytics:")])]
async fn by_regex(State(log): State<Log>, Channel(c): Channel) {
    log.push(format!("regex:{c}"));
}

fn is_vip(_channel: &str, message: &Value) -> bool {
    message["segment"] == "vip"
}

#[subscriber(matches = [predicate(is_vip)])]
async fn by_predicate(State(log): State<Log>, Channel(c): Channel) {
    log.push(format!("predicate:{c}"));
}

#[subscriber(channels = [Event::Custom, "billing"])]
async fn by_list(State(log): State<Log>, Channel(c): Channel) {
    log.push(format!("list:{c}"));
}

#[tokio::test]
async fn each_matcher_kind_selects_its_channels_and_runs_once() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![
                exact,
                wildcard,
                by_regex,
                by_predicate,
                by_list,
                done
            ]),
    )
    .await;
    let h = &s.handle;
    h.publish("orders", &json!({})).unwrap();
    h.publish("analytics:view", &json!({"segment": "vip"}))
        .unwrap();
    h.publish("billing", &json!(1)).unwrap();
    h.publish_custom("hello", &json!({})).unwrap();
    settle(h, &log, 1).await;
    assert_eq!(
        log.all(),
        [
            "exact:orders",
            "wildcard:orders",
            "wildcard:analytics:view",
            "regex:analytics:view",
            "predicate:analytics:view",
            "wildcard:billing",
            "list:billing",
            "wildcard:custom",
            "list:custom",
            "done:1",
        ]
    );
    s.stop().await;
}

// ---- ordering ----------------------------------------------------------------------------

#[subscriber(channel = "order", priority = 1, name = "low")]
async fn low(State(log): State<Log>) {
    log.push("low");
}

#[subscriber(channel = "order", priority = 5, name = "tieA")]
async fn tie_a(State(log): State<Log>) {
    log.push("tieA");
}

#[subscriber(channel = "order", name = "none")]
async fn no_priority(State(log): State<Log>) {
    log.push("none");
}

#[subscriber(matches = ["order"], priority = 5, name = "tieB")]
async fn tie_b(State(log): State<Log>) {
    log.push("tieB");
}

#[subscriber(channel = "order", priority = 9, name = "high")]
async fn high(State(log): State<Log>) {
    log.push("high");
}

#[tokio::test]
async fn higher_priority_runs_first_and_ties_keep_registration_order() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![low, tie_a, no_priority, tie_b, high, done]),
    )
    .await;
    assert_eq!(
        s.handle.subscribers(),
        ["high", "tieA", "tieB", "low", "none", "done"]
    );
    s.handle.publish("order", &()).unwrap();
    settle(&s.handle, &log, 1).await;
    assert_eq!(log.all(), ["high", "tieA", "tieB", "low", "none", "done:1"]);
    s.stop().await;
}

// ---- isolation ---------------------------------------------------------------------------

#[subscriber(channel = "job", priority = 4)]
async fn fails(State(log): State<Log>) -> Result<(), SubscriberError> {
    log.push("fails");
    Err(SubscriberError::msg("boom"))
}

#[subscriber(channel = "job", priority = 3)]
#[allow(clippy::unused_async)]
async fn panics(State(log): State<Log>) {
    log.push("panics");
    panic!("subscriber panic on purpose");
}

#[derive(serde::Deserialize)]
struct Job {
    id: u32,
}

#[subscriber(channel = "job", priority = 2)]
async fn typed(State(log): State<Log>, Message(job): Message<Job>) {
    log.push(format!("typed:{}", job.id));
}

#[subscriber(channel = "job", priority = 1)]
async fn survivor(State(log): State<Log>, raw: Value) {
    log.push(format!("survivor:{raw}"));
}

#[tokio::test]
async fn errors_panics_and_decode_failures_do_not_stop_the_others() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![fails, panics, typed, survivor, done]),
    )
    .await;
    s.handle
        .publish("job", &json!({"id": "not a number"}))
        .unwrap();
    s.handle.publish("job", &json!({"id": 7})).unwrap();
    settle(&s.handle, &log, 1).await;
    assert_eq!(
        log.all(),
        [
            "fails",
            "panics",
            // the typed subscriber could not decode the first message
            r#"survivor:{"id":"not a number"}"#,
            "fails",
            "panics",
            "typed:7",
            r#"survivor:{"id":7}"#,
            "done:1",
        ]
    );
    // The dispatch task survived the panics: the server still serves.
    let mut c = s.connect().await;
    let pong = c.request("system", "ping", json!({})).await;
    assert_eq!(pong["action"], "ping");
    c.close().await;
    s.stop().await;
}

// ---- middleware ----------------------------------------------------------------------------

/// Records its hooks; skips messages with `"skip": true`; suppresses errors when
/// `suppress` is set.
struct Recorder {
    tag: &'static str,
    log: Log,
    suppress: bool,
}

impl Middleware for Recorder {
    fn name(&self) -> &str {
        self.tag
    }
    fn before(&self, subscriber: &str, ctx: &SubscriberContext) -> bool {
        self.log.push(format!("{}.before:{subscriber}", self.tag));
        ctx.message()["skip"] != true
    }
    fn after(&self, subscriber: &str, _ctx: &SubscriberContext, _elapsed: std::time::Duration) {
        self.log.push(format!("{}.after:{subscriber}", self.tag));
    }
    fn on_error(
        &self,
        subscriber: &str,
        _ctx: &SubscriberContext,
        error: &SubscriberError,
    ) -> bool {
        self.log
            .push(format!("{}.error:{subscriber}:{error}", self.tag));
        self.suppress
    }
}

static MW_LOG: std::sync::LazyLock<Log> = std::sync::LazyLock::new(Log::default);

#[subscriber(
    channel = "mw",
    priority = 2,
    middleware = [
        Recorder { tag: "outer", log: MW_LOG.clone(), suppress: false },
        Recorder { tag: "inner", log: MW_LOG.clone(), suppress: true },
    ]
)]
async fn guarded(msg: Value) -> Result<(), SubscriberError> {
    MW_LOG.push("guarded");
    if msg["fail"] == true {
        return Err(SubscriberError::msg("asked to fail"));
    }
    Ok(())
}

#[subscriber(channel = "mw", priority = 1)]
async fn after_guarded() {
    MW_LOG.push("next");
}

#[tokio::test]
async fn middleware_runs_in_order_skips_and_suppresses() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![guarded, after_guarded, done]),
    )
    .await;
    MW_LOG.clear();
    s.handle.publish("mw", &json!({})).unwrap();
    s.handle.publish("mw", &json!({"skip": true})).unwrap();
    s.handle.publish("mw", &json!({"fail": true})).unwrap();
    settle(&s.handle, &log, 1).await;
    assert_eq!(
        MW_LOG.all(),
        [
            // success: befores in order, the handler, afters in order
            "outer.before:guarded",
            "inner.before:guarded",
            "guarded",
            "outer.after:guarded",
            "inner.after:guarded",
            "next",
            // skipped by the first before: the handler does not run, the next one does
            "outer.before:guarded",
            "next",
            // failure: on_error hooks in order until one suppresses
            "outer.before:guarded",
            "inner.before:guarded",
            "guarded",
            "outer.error:guarded:asked to fail",
            "inner.error:guarded:asked to fail",
            "next",
        ]
    );
    s.stop().await;
}

#[subscriber(channel = "limited", middleware = [pxl_ws::RateLimitMiddleware::new(2, std::time::Duration::from_secs(3600)), pxl_ws::LoggingMiddleware, pxl_ws::TimingMiddleware::default()])]
async fn limited(State(log): State<Log>) {
    log.push("limited");
}

#[tokio::test]
async fn the_rate_limit_middleware_skips_runs_over_the_limit() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![limited, done]),
    )
    .await;
    for _ in 0..5 {
        s.handle.publish("limited", &()).unwrap();
    }
    settle(&s.handle, &log, 1).await;
    assert_eq!(log.count("limited"), 2);
    s.stop().await;
}

// ---- across instances ------------------------------------------------------------------------

#[subscriber(matches = [regex("^analytics:"), Event::ClientJoinedRoom, Event::QueueJobCompleted])]
async fn everywhere(State(log): State<Log>, Channel(c): Channel, msg: Value) {
    let detail = msg["roomName"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    log.push(format!("{c}{detail}"));
}

async fn pair(log_a: &Log, log_b: &Log) -> (TestServer, TestServer) {
    let bus = MemoryBus::new();
    let a = TestServer::start(
        WsServer::builder()
            .bus(bus.clone())
            .state(log_a.clone())
            .subscribers(subscribers![everywhere, done]),
    )
    .await;
    let b = TestServer::start(
        WsServer::builder()
            .bus(bus)
            .state(log_b.clone())
            .subscribers(subscribers![everywhere, done]),
    )
    .await;
    let (ha, hb) = (a.handle.clone(), b.handle.clone());
    eventually("the instances see each other", || {
        ha.instances().iter().any(|i| i == hb.instance_id())
            && hb.instances().iter().any(|i| i == ha.instance_id())
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn an_app_channel_published_on_one_instance_runs_on_every_instance_once() {
    let (log_a, log_b) = (Log::default(), Log::default());
    let (a, b) = pair(&log_a, &log_b).await;
    a.handle
        .publish("analytics:click", &json!({"x": 1}))
        .unwrap();
    // The sentinel, published after, on each instance: both have handled everything.
    a.handle.publish("done", &1).unwrap();
    eventually("both ran", || {
        log_a.count("done:1") == 1 && log_b.count("done:1") == 1
    })
    .await;
    assert_eq!(log_a.count("analytics:click"), 1);
    assert_eq!(log_b.count("analytics:click"), 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn built_in_events_run_subscribers_on_every_instance() {
    let (log_a, log_b) = (Log::default(), Log::default());
    let (a, b) = pair(&log_a, &log_b).await;
    let mut c = a.connect().await;
    c.join("lobby").await;
    let id: pxl_ws::ClientId = a.handle.client_ids()[0];
    a.handle
        .queue_job_completed(id, Some("j1"), &json!({"ok": true}))
        .unwrap();
    let done = c.recv().await;
    assert_eq!(done["action"], "jobCompleted");
    a.handle.publish("done", &2).unwrap();
    eventually("both ran", || {
        log_a.count("done:2") == 1 && log_b.count("done:2") == 1
    })
    .await;
    for log in [&log_a, &log_b] {
        assert_eq!(log.count("clientJoinedRoomlobby"), 1, "{:?}", log.all());
        assert_eq!(log.count("queueJobCompleted"), 1, "{:?}", log.all());
    }
    c.close().await;
    a.stop().await;
    b.stop().await;
}

// ---- a slow subscriber -------------------------------------------------------------------------

static GATE: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(0));

#[subscriber(channel = "slow")]
async fn slow(State(log): State<Log>) {
    log.push("slow:start");
    let _permit = GATE.acquire().await.unwrap();
    log.push("slow:end");
}

#[tokio::test]
async fn a_slow_subscriber_does_not_stall_sockets() {
    let log = Log::default();
    let s = TestServer::start(
        WsServer::builder()
            .state(log.clone())
            .subscribers(subscribers![slow, done]),
    )
    .await;
    s.handle.publish("slow", &()).unwrap();
    eventually("the slow subscriber started", || {
        log.count("slow:start") == 1
    })
    .await;
    // While it waits, clients connect, talk and get room sends.
    let mut c1 = s.connect().await;
    let mut c2 = s.connect().await;
    c1.join("r").await;
    c2.join("r").await;
    s.handle
        .send_to_room("r", &Frame::new("t", "a", &1).unwrap(), None);
    assert_eq!(c1.recv().await["data"], 1);
    assert_eq!(c2.recv().await["data"], 1);
    assert!(log.all() == ["slow:start"], "{:?}", log.all());
    GATE.add_permits(1);
    settle(&s.handle, &log, 3).await;
    assert_eq!(log.all(), ["slow:start", "slow:end", "done:3"]);
    c1.close().await;
    c2.close().await;
    s.stop().await;
}

// ---- build -------------------------------------------------------------------------------------

#[subscriber(channel = "x", name = "same")]
async fn first_same() {}

#[subscriber(channel = "y", name = "same")]
async fn second_same() {}

#[derive(Clone)]
struct Unregistered;

#[subscriber(channel = "x")]
async fn needs_state(State(_u): State<Unregistered>) {}

#[test]
fn build_rejects_duplicate_names_and_missing_state() {
    let err = WsServer::builder()
        .subscribers(subscribers![first_same, second_same])
        .build()
        .err()
        .expect("duplicate names are refused");
    assert!(
        matches!(err, BuildError::DuplicateSubscribers(ref d) if d.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("`same`"), "{err}");
    let err = WsServer::builder()
        .subscribers(subscribers![needs_state])
        .build()
        .err()
        .expect("missing state is refused");
    assert!(
        err.to_string().contains("needs_state") && err.to_string().contains("Unregistered"),
        "{err}"
    );
}

// ---- WsService -----------------------------------------------------------------------------------

#[tokio::test]
async fn every_ws_service_method_reaches_clients_on_both_instances() {
    let bus = MemoryBus::new();
    let a = TestServer::start(WsServer::builder().bus(bus.clone())).await;
    let b = TestServer::start(WsServer::builder().bus(bus)).await;
    let (ha, hb) = (a.handle.clone(), b.handle.clone());
    eventually("peers", || {
        ha.instances().len() == 2 && hb.instances().len() == 2
    })
    .await;
    let mut on_a = a.connect().await;
    let mut on_b = b.connect().await;
    let mut other_b = b.connect().await;
    on_b.join("room1").await;
    let b_ids = b.handle.client_ids();
    let on_b_id = *b_ids
        .iter()
        .find(|id| b.handle.client(**id).is_some_and(|c| c.in_room("room1")))
        .unwrap();
    eventually("a sees b's clients", || ha.cluster_client_ids().len() == 3).await;
    let ws = WsService::new(a.handle.clone());
    let mut custom = b.handle.subscribe_custom();

    ws.broadcast(&Frame::new("notification", "update", &json!({"m": 1})).unwrap());
    for c in [&mut on_a, &mut on_b, &mut other_b] {
        assert_eq!(
            c.recv().await,
            json!({"type":"notification","action":"update","data":{"m":1}})
        );
    }
    ws.send_to_rooms(
        &["room1", "room2"],
        &Frame::new("chat", "message", &"hi").unwrap(),
    );
    assert_eq!(on_b.recv().await["data"], "hi");
    ws.send_to_clients(&[on_b_id], &Frame::new("direct", "x", &2).unwrap());
    assert_eq!(on_b.recv().await["type"], "direct");
    ws.send_user_message("profileUpdated", &json!({"userId": 123}))
        .unwrap();
    ws.send_system_message("maintenance", &json!({"minutes": 5}))
        .unwrap();
    ws.send_error_message("authFailed", "Invalid token", Some("AUTH"), None)
        .unwrap();
    for c in [&mut on_a, &mut on_b, &mut other_b] {
        assert_eq!(
            c.recv().await,
            json!({"type":"user","action":"profileUpdated","data":{"userId":123}})
        );
        assert_eq!(
            c.recv().await,
            json!({"type":"system","action":"maintenance","data":{"minutes":5}})
        );
        assert_eq!(
            c.recv().await,
            json!({"type":"error","action":"authFailed","data":{"message":"Invalid token","code":"AUTH"}})
        );
    }
    // Only the room member and the addressed client got the scoped sends: a broadcast
    // after them, over the same path, is the next frame for everyone.
    ws.broadcast(&Frame::new("marker", "m", &1).unwrap());
    for c in [&mut on_a, &mut on_b, &mut other_b] {
        assert_eq!(c.recv().await["type"], "marker");
    }
    ws.publish_custom("reindex", &json!({"n": 1})).unwrap();
    let ev = tokio::time::timeout(pxl_ws_tests::WAIT, custom.recv())
        .await
        .expect("the custom event within WAIT")
        .expect("custom events open");
    assert_eq!((ev.name.as_str(), &ev.data), ("reindex", &json!({"n": 1})));
    on_a.close().await;
    on_b.close().await;
    other_b.close().await;
    a.stop().await;
    b.stop().await;
}
