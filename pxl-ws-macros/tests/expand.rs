//! What `#[ws_controller]` generates, observed through the `Controller` trait: the type,
//! the static route table (with source locations and authorization requirements) and the
//! build-time checks. Dispatch (`call`, including the `UNAUTHENTICATED` / `FORBIDDEN`
//! replies) needs a `MessageContext`, which only the runtime builds: it is covered by the
//! runtime's end-to-end tests.

use pxl_ws::{
    ActionError, Client, Data, Server, State,
    controller::{Controller, RouteInfo, StateMap},
    ws_controller,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct SendMsg {
    text: String,
}

#[derive(Serialize)]
struct Ack {
    delivered: bool,
}

#[derive(Clone)]
struct Db;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    const SEND_LINE: u32 = line!() + 1;
    #[action("send")]
    async fn send(&self, _client: Client, Data(msg): Data<SendMsg>) -> Result<Ack, ActionError> {
        Ok(Ack {
            delivered: !msg.text.is_empty(),
        })
    }

    const JOIN_LINE: u32 = line!() + 2;
    /// Doc comments and other attributes may surround `#[action]`.
    #[action("room.join")]
    #[allow(clippy::unused_async)]
    async fn join(&self, _server: Server, State(_db): State<Db>) {}

    const PING_LINE: u32 = line!() + 1;
    #[action("ping")]
    async fn ping(&self, _raw: serde_json::Value, Data(_nums): Data<Vec<Option<u8>>>) -> u32 {
        self.helper()
    }

    // The line is the one of `#[action`, not the one of the name.
    const MULTI_LINE: u32 = line!() + 2;
    #[rustfmt::skip]
    #[action(
        "multi-line"
    )]
    async fn multi(&self) {}

    fn helper(&self) -> u32 {
        7
    }
}

/// Controller-level `auth`: every action needs an authenticated client, any roles.
struct Admin;

#[ws_controller(type = "admin", auth)]
impl Admin {
    #[action("stats")]
    async fn stats(&self) {}

    #[action("ban", roles = ["admin", "moderator"])]
    async fn ban(&self) {}
}

/// Controller-level `roles`: they imply `auth` and apply to every action unless the
/// action gives its own.
struct Moderation;

#[ws_controller(type = "moderation", roles = ["admin", "moderator"])]
impl Moderation {
    #[action("warn")]
    async fn warn(&self) {}

    #[action("purge", roles = ["admin"])]
    async fn purge(&self) {}

    #[action("mute", auth)]
    async fn mute(&self) {}
}

/// Action-level keys on an otherwise public controller.
struct Profile;

#[ws_controller(type = "profile")]
impl Profile {
    #[action("view")]
    async fn view(&self) {}

    #[action("edit", auth)]
    async fn edit(&self) {}

    #[action("delete", roles = ["admin"], auth)]
    async fn delete(&self) {}
}

/// `(action, auth, roles)` of every route.
fn requirements(controller: &dyn Controller) -> Vec<(&'static str, bool, &'static [&'static str])> {
    controller
        .routes()
        .iter()
        .map(|r| (r.action, r.auth, r.roles))
        .collect()
}

#[test]
fn controller_type() {
    assert_eq!(Chat.controller_type(), "chat");
}

#[test]
fn route_table() {
    let file = file!();
    assert_eq!(
        Chat.routes(),
        &[
            RouteInfo::new(
                "chat",
                "send",
                "send",
                Some("SendMsg"),
                file,
                Chat::SEND_LINE
            ),
            RouteInfo::new("chat", "room.join", "join", None, file, Chat::JOIN_LINE),
            RouteInfo::new(
                "chat",
                "ping",
                "ping",
                Some("Vec<Option<u8>>"),
                file,
                Chat::PING_LINE
            ),
            RouteInfo::new("chat", "multi-line", "multi", None, file, Chat::MULTI_LINE),
        ]
    );
}

#[test]
fn plain_routes_need_no_auth() {
    for route in Chat.routes() {
        assert!(!route.auth, "{route}");
        assert!(route.roles.is_empty(), "{route}");
    }
}

#[test]
fn controller_auth() {
    assert_eq!(
        requirements(&Admin),
        [
            ("stats", true, &[][..]),
            ("ban", true, &["admin", "moderator"][..])
        ]
    );
}

#[test]
fn controller_roles() {
    assert_eq!(
        requirements(&Moderation),
        [
            ("warn", true, &["admin", "moderator"][..]),
            // The action's roles replace the controller's.
            ("purge", true, &["admin"][..]),
            // `auth` alone keeps them.
            ("mute", true, &["admin", "moderator"][..]),
        ]
    );
}

#[test]
fn action_auth_and_roles() {
    assert_eq!(
        requirements(&Profile),
        [
            ("view", false, &[][..]),
            ("edit", true, &[][..]),
            ("delete", true, &["admin"][..]),
        ]
    );
}

#[test]
fn auth_routes_are_built_with_with_auth() {
    let file = file!();
    let line = Moderation.routes()[1].line;
    assert_eq!(
        Moderation.routes()[1],
        RouteInfo::new("moderation", "purge", "purge", None, file, line).with_auth(&["admin"])
    );
}

#[test]
fn route_table_is_static() {
    let routes: &'static [RouteInfo] = Chat.routes();
    assert!(std::ptr::eq(routes, Chat.routes()));
}

#[test]
fn inherent_methods_stay_callable() {
    assert_eq!(Chat.helper(), 7);
}

#[test]
fn check_reports_missing_state() {
    let problems = Chat.check(&StateMap::default());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("action `chat/room.join`, argument `State(_db): State<Db>`: "),
        "{}",
        problems[0]
    );
    assert!(problems[0].contains("Db"), "{}", problems[0]);
}

#[test]
fn check_passes_with_state() {
    let mut state = StateMap::default();
    state.insert(Db);
    assert_eq!(Chat.check(&state), Vec::<String>::new());
}

#[test]
fn usable_as_trait_object() {
    let controllers: Vec<Box<dyn Controller>> = vec![Box::new(Chat)];
    assert_eq!(controllers[0].routes().len(), 4);
}
