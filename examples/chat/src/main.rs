//! Browser chat: cargo run -p example-chat, then open http://127.0.0.1:3000
//!
//! One controller (`type: "chat"`) with three actions, the built-in `system/joinRoom` and
//! `system/leaveRoom` for rooms, presence events on, and a single-page client served at
//! `/` next to the socket at `/ws`; the page uses the pxl-ws browser client, which the
//! server serves at `/pxl-ws.js`. Port and host come from `PXL_WS_PORT` / `PXL_WS_HOST`.
//!
//! Scale out unchanged: with `REDIS_URL=redis://127.0.0.1:6379` set, run it twice on two
//! ports (`PXL_WS_PORT=3001`, `PXL_WS_PORT=3002`); users on either see each other.
//!
//! | client sends | server answers | others in the room get |
//! |---|---|---|
//! | `chat/setName {name}` | `{name}` | — |
//! | `chat/send {room, text}` | `{delivered}` | `chat/message {room, from, userId, clientId, text, at}` (sender too) |
//! | `chat/typing {room, typing}` | (empty reply) | `chat/typing {room, from, userId, clientId, typing}` |
//!
//! Every payload, reply and push is typed (`#[derive(JsonSchema)]`, `#[derive(Push)]`), so
//! the server knows its contract: `cargo run -p example-chat -- contract ts > chat.ts`
//! prints the TypeScript (types and a typed facade over `/pxl-ws.js`), `contract asyncapi`
//! the AsyncAPI 3.0 document, `contract json` the snapshot committed as `contract.json`
//! (a test fails on an incompatible change to it). With `PXL_WS_CONTRACT=true` the server
//! also serves them at `GET /asyncapi.json` and `GET /contract.ts`.
//!
//! `from` is the display name; `userId` is the sender's verified user id (null for an
//! anonymous sender). A signed-in user's display name is the token's user id, and
//! `chat/setName` answers `NAME_FROM_TOKEN`; anonymous names follow the room-name
//! character rules (`INVALID_NAME` otherwise).
//!
//! Prometheus metrics: `PXL_WS_METRICS_PATH=/metrics` serves them at `/metrics`.
//!
//! Admin dashboard: `PXL_WS_ADMIN_PATH=/admin PXL_WS_ADMIN_TOKEN=<16+ characters>` serves
//! it at `/admin` (sign in with the token; or set `PXL_WS_JWT_SECRET` and open
//! `/admin#token=<a JWT with the admin role>`). See `docs/admin.md`.
//!
//! Typing frames are coalesced (`Frame::coalesce`, key `typing:<room>:<client>`): a member
//! who falls behind gets each sender's latest typing state, not every keystroke.
//!
//! With auth: set `PXL_WS_JWT_SECRET` (and `PXL_WS_AUTH_REQUIRED=true` to refuse anonymous
//! sockets). For local trials `CHAT_DEV_TOKENS=1` adds `GET /dev/token?user=NAME`, which
//! mints an HS256 token for NAME valid one hour — a development aid only: anyone who can
//! reach it can become anyone. Open `http://127.0.0.1:3000/?token=...` to connect with it.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use pxl_ws::{
    ActionError, Client, ClientId, Data, Frame, Push, Server, Target, WsConfig, WsServer,
    WsServerBuilder, ws_controller,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

// ---- payloads (the `data` of each message and the `response` of each reply) -----------

#[derive(Deserialize, JsonSchema)]
struct SetName {
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct NameSet {
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct SendMsg {
    room: String,
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Sent {
    /// How many clients of this instance (the sender included) the message reached;
    /// members on other instances get it through the bus.
    delivered: usize,
}

#[derive(Deserialize, JsonSchema)]
struct Typing {
    room: String,
    typing: bool,
}

// ---- pushes (frames the server sends), each bound to its `(type, action)` -------------

/// A message in a room, sent to every member (the sender too).
#[derive(Serialize, JsonSchema, Push)]
#[push(type = "chat", action = "message")]
#[serde(rename_all = "camelCase")]
struct ChatMessage {
    room: String,
    /// The sender's display name.
    from: String,
    /// The sender's verified user id; null for an anonymous sender.
    user_id: Option<String>,
    client_id: ClientId,
    text: String,
    /// Unix milliseconds.
    at: u64,
}

/// Someone in the room started or stopped typing (not sent to them).
#[derive(Serialize, JsonSchema, Push)]
#[push(type = "chat", action = "typing")]
#[serde(rename_all = "camelCase")]
struct TypingNotice {
    room: String,
    from: String,
    user_id: Option<String>,
    client_id: ClientId,
    typing: bool,
}

// ---- the controller: handles {"type": "chat", "action": ...} ---------------------------

struct ChatController;

#[ws_controller(type = "chat", pushes = [ChatMessage, TypingNotice])]
impl ChatController {
    /// `chat/setName {name}`: remembers the display name on this connection. A signed-in
    /// user (a token on connect or `system/refreshToken`) is named by the token instead
    /// (`NAME_FROM_TOKEN`), so nobody can post under another user's name. Names follow the
    /// server's room-name character rules (`rooms.name_chars`: by default no control,
    /// bidirectional-override or invisible characters).
    #[action("setName", errors = ["NAME_FROM_TOKEN", "INVALID_NAME"])]
    async fn set_name(
        &self,
        client: Client,
        server: Server,
        Data(req): Data<SetName>,
    ) -> Result<NameSet, ActionError> {
        if let Some(user) = client.user_id() {
            return Err(ActionError::new(
                "NAME_FROM_TOKEN",
                format!("signed-in users are named by their token: you are `{user}`"),
            ));
        }
        let name = req.name.trim();
        if !(1..=32).contains(&name.chars().count()) {
            return Err(ActionError::new(
                "INVALID_NAME",
                "name must be 1 to 32 characters",
            ));
        }
        if let Err(reason) = server.config().rooms.name_chars.check(name) {
            return Err(ActionError::new("INVALID_NAME", format!("name {reason}")));
        }
        // Per-connection metadata; `system/joinRoom` reports it as `username` too.
        client.set_metadata("username", name);
        Ok(NameSet { name: name.into() })
    }

    /// `chat/send {room, text}`: broadcasts `chat/message` to the room, sender included.
    #[action("send", errors = ["NOT_IN_ROOM", "INVALID_TEXT"])]
    async fn send(
        &self,
        client: Client,
        server: Server,
        Data(msg): Data<SendMsg>,
    ) -> Result<Sent, ActionError> {
        require_member(&client, &msg.room)?;
        let text = msg.text.trim();
        if !(1..=2000).contains(&text.chars().count()) {
            return Err(ActionError::new(
                "INVALID_TEXT",
                "text must be 1 to 2000 characters",
            ));
        }
        // Serialised once, however many clients receive it.
        let message = ChatMessage {
            room: msg.room.clone(),
            from: username(&client),
            user_id: client.user_id(),
            client_id: client.id(),
            text: text.to_owned(),
            at: unix_ms(),
        };
        let delivered = server.send_to_room(&msg.room, &message, None);
        Ok(Sent { delivered })
    }

    /// `chat/typing {room, typing}`: tells the rest of the room (not the sender).
    #[action("typing", errors = ["NOT_IN_ROOM"])]
    async fn typing(
        &self,
        client: Client,
        server: Server,
        Data(t): Data<Typing>,
    ) -> Result<(), ActionError> {
        require_member(&client, &t.room)?;
        let notice = TypingNotice {
            room: t.room.clone(),
            from: username(&client),
            user_id: client.user_id(),
            client_id: client.id(),
            typing: t.typing,
        };
        let frame = Frame::push(&notice)
            .map_err(ActionError::internal)?
            // Only the latest state matters: a member that is behind gets one typing frame
            // per sender and room, not every keystroke's.
            .coalesce(typing_key(&t.room, client.id()));
        // Typing is ephemeral: not kept in the room's history.
        server.send(
            &Target::room(&t.room).except(client.id()).unrecorded(),
            &frame,
        );
        Ok(())
    }
}

/// The coalescing key of `client`'s typing frames in `room`.
fn typing_key(room: &str, client: pxl_ws::ClientId) -> String {
    format!("typing:{room}:{client}")
}

/// `NOT_IN_ROOM` unless the client has joined `room` (with `system/joinRoom`).
fn require_member(client: &Client, room: &str) -> Result<(), ActionError> {
    if client.in_room(room) {
        Ok(())
    } else {
        Err(ActionError::new(
            "NOT_IN_ROOM",
            format!("join room `{room}` first"),
        ))
    }
}

/// The authenticated user id (from the token), else the name set with `chat/setName`,
/// else `user_` and the first 8 characters of the client id (what `system/joinRoom`
/// reports too).
fn username(client: &Client) -> String {
    if let Some(user) = client.user_id() {
        return user;
    }
    match client.metadata("username") {
        Some(serde_json::Value::String(name)) => name,
        _ => format!("user_{}", &client.id().to_string()[..8]),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The chat's WebSocket server: the controller on `config` (main turns presence events
/// on). The unit tests below run it with `pxl_ws::test`.
fn chat_server(config: WsConfig) -> WsServerBuilder {
    WsServer::builder()
        .config(config)
        .controller(ChatController)
        .contract_info("example-chat", env!("CARGO_PKG_VERSION"))
}

/// `contract ts|asyncapi|json`: the chat's contract on stdout.
fn print_contract(format: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let contract = chat_server(WsConfig::from_env()?).build()?.contract();
    let out = match format {
        Some("ts") => contract.typescript(),
        Some("asyncapi") => serde_json::to_string_pretty(&contract.asyncapi())? + "\n",
        Some("json") => contract.to_json(),
        other => {
            return Err(format!(
                "unknown contract format {other:?}: expected `contract ts`, `contract asyncapi` or `contract json`"
            )
            .into());
        }
    };
    print!("{out}");
    Ok(())
}

/// `PXL_WS_CONTRACT`: serve `/asyncapi.json` and `/contract.ts` (default off).
fn serve_contract_env() -> Result<bool, String> {
    match std::env::var("PXL_WS_CONTRACT") {
        Err(std::env::VarError::NotPresent) => Ok(false),
        Ok(v) if matches!(v.as_str(), "true" | "1") => Ok(true),
        Ok(v) if matches!(v.as_str(), "false" | "0" | "") => Ok(false),
        Ok(v) => Err(format!(
            "environment variable PXL_WS_CONTRACT={v:?} is invalid: expected true or false"
        )),
        Err(e) => Err(format!(
            "environment variable PXL_WS_CONTRACT is invalid: {e}"
        )),
    }
}

// ---- the HTTP app ---------------------------------------------------------------------

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

#[derive(Deserialize)]
struct TokenQuery {
    user: String,
}

/// `GET /dev/token?user=NAME` (only with `CHAT_DEV_TOKENS=1`): an HS256 token for NAME,
/// valid one hour, signed with `PXL_WS_JWT_SECRET`. Development only.
fn dev_token_route(secret: String) -> Router {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .expect("an HMAC key accepts any bytes");
    Router::new().route(
        "/dev/token",
        get(move |Query(q): Query<TokenQuery>| async move {
            let user = q.user.trim();
            if !(1..=32).contains(&user.chars().count()) {
                let body =
                    json!({"error": "user must be 1 to 32 characters", "code": "INVALID_USER"});
                return (StatusCode::BAD_REQUEST, Json(body));
            }
            let exp = unix_ms() / 1000 + 3600;
            let claims = json!({ "sub": user, "exp": exp, "name": user });
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            match jsonwebtoken::encode(&header, &claims, &key) {
                Ok(token) => (
                    StatusCode::OK,
                    Json(json!({ "token": token, "expiresIn": 3600 })),
                ),
                Err(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "could not sign", "code": "INTERNAL_ERROR"})),
                ),
            }
        }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("contract") {
        return print_contract(args.get(1).map(String::as_str));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let mut config = WsConfig::from_env()?;
    // Presence lines ("bob joined") need room events; an explicit env setting wins.
    if std::env::var_os("PXL_WS_PRESENCE_EVENTS").is_none() {
        config.rooms.presence_events = true;
    }
    // A user joining sees the room's last 50 messages, and a reconnecting page gets what
    // it missed; `PXL_WS_HISTORY_SIZE` wins (`0` turns it off).
    if std::env::var_os("PXL_WS_HISTORY_SIZE").is_none() {
        config.rooms.history.size = 50;
    }
    let addr = config.addr();
    let admin_path = config.admin.path.clone();
    let serve_contract = serve_contract_env()?;
    let dev_tokens = std::env::var("CHAT_DEV_TOKENS").is_ok_and(|v| v == "1" || v == "true");
    let dev_secret = match (dev_tokens, &config.auth.jwt_secret) {
        (false, _) => None,
        (true, Some(secret)) => Some(secret.expose().to_owned()),
        (true, None) => {
            return Err(
                "CHAT_DEV_TOKENS=1 needs PXL_WS_JWT_SECRET (the secret tokens are signed with)"
                    .into(),
            );
        }
    };

    let mut app = Router::new().route("/", get(index));
    if let Some(secret) = dev_secret {
        tracing::warn!(
            "CHAT_DEV_TOKENS is on: GET /dev/token mints tokens for anyone (development only)"
        );
        app = app.merge(dev_token_route(secret));
    }
    let mut ws = chat_server(config)
        // The page imports the browser client from /pxl-ws.js.
        .serve_browser_client(true);
    if serve_contract {
        ws = ws
            .serve_contract("/asyncapi.json")
            .serve_contract_ts("/contract.ts");
    }
    let ws = ws
        // The page, served by the server's own accept loop (its connection limits and
        // header timeout cover it too).
        .routes(app)
        .build()?;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!("chat running at http://{local}/ (socket at ws://{local}/ws)");
    println!("Open http://{local}/ in a browser (Ctrl-C to stop)");
    if let Some(admin) = &admin_path {
        println!("Admin dashboard: http://{local}{admin}");
    }

    // SIGINT / SIGTERM: close every socket with 1001, then stop HTTP.
    ws.serve_listener(listener).await?;
    tracing::info!("chat stopped");
    Ok(())
}

// ---- unit tests, with the test kit (feature `test-util`) ------------------------------

#[cfg(test)]
mod tests {
    use pxl_ws::test::{TestClient, TestServer};
    use serde_json::{Value, json};

    use super::*;

    /// The chat as `main` runs it: presence events on.
    async fn chat() -> TestServer {
        let mut config = WsConfig::default();
        config.rooms.presence_events = true;
        TestServer::new(chat_server(config)).await
    }

    /// A client in `room`, named `name`.
    async fn member(kit: &TestServer, name: &str, room: &str) -> TestClient {
        let mut c = kit.connect().await;
        let named = c.request("chat", "setName", json!({ "name": name })).await;
        assert_eq!(named.response(), &json!({ "name": name }));
        c.join(room).await;
        c
    }

    #[tokio::test]
    async fn a_message_reaches_the_room_sender_included() {
        let kit = chat().await;
        let mut alice = member(&kit, "alice", "lobby").await;
        let mut bob = member(&kit, "bob", "lobby").await;
        let mut carol = member(&kit, "carol", "kitchen").await;

        let sent = alice
            .request(
                "chat",
                "send",
                json!({ "room": "lobby", "text": " hi bob " }),
            )
            .await;
        assert_eq!(sent.response(), &json!({ "delivered": 2 }));
        let alice_id = json!(alice.id());
        for c in [&mut alice, &mut bob] {
            let msg = c.expect_push("chat", "message").await;
            assert_eq!(msg["from"], "alice");
            assert_eq!(msg["text"], "hi bob", "trimmed");
            assert_eq!(msg["userId"], Value::Null, "anonymous sender");
            assert_eq!(msg["clientId"], alice_id);
        }
        carol.refute_push("chat", "message").await;
    }

    #[tokio::test]
    async fn sending_needs_membership_and_a_text() {
        let kit = chat().await;
        let mut alice = member(&kit, "alice", "lobby").await;
        let not_in = alice
            .request("chat", "send", json!({ "room": "kitchen", "text": "hi" }))
            .await;
        assert_eq!(not_in.error_code(), "NOT_IN_ROOM");
        let empty = alice
            .request("chat", "send", json!({ "room": "lobby", "text": "   " }))
            .await;
        assert_eq!(empty.error_code(), "INVALID_TEXT");
        let no_room = alice.request("chat", "send", json!({ "text": "hi" })).await;
        assert_eq!(no_room.error_code(), "INVALID_PAYLOAD");
        alice.refute_push("chat", "message").await;
    }

    #[tokio::test]
    async fn typing_goes_to_the_others_only() {
        let kit = chat().await;
        let mut alice = member(&kit, "alice", "lobby").await;
        let mut bob = member(&kit, "bob", "lobby").await;
        let reply = alice
            .request("chat", "typing", json!({ "room": "lobby", "typing": true }))
            .await;
        assert_eq!(reply.response(), &Value::Null, "an empty reply");
        let typing = bob.expect_push("chat", "typing").await;
        assert_eq!(
            (&typing["from"], &typing["typing"]),
            (&json!("alice"), &json!(true))
        );
        alice.refute_push("chat", "typing").await;
    }

    #[test]
    fn typing_frames_coalesce_per_sender_and_room() {
        let a = pxl_ws::ClientId::random();
        let b = pxl_ws::ClientId::random();
        assert_eq!(typing_key("lobby", a), format!("typing:lobby:{a}"));
        assert_ne!(typing_key("lobby", a), typing_key("lobby", b));
        assert_ne!(typing_key("lobby", a), typing_key("help", a));
    }

    #[tokio::test]
    async fn names_follow_the_rules_and_signed_in_users_keep_theirs() {
        let kit = chat().await;
        let mut anon = kit.connect().await;
        for bad in ["", "   ", "a\u{202e}b", &"x".repeat(33)] {
            let refused = anon
                .request("chat", "setName", json!({ "name": bad }))
                .await;
            assert_eq!(refused.error_code(), "INVALID_NAME", "{bad:?}");
        }

        let mut ada = kit.connect_as("ada", &[]).await;
        let refused = ada
            .request("chat", "setName", json!({ "name": "eve" }))
            .await;
        assert_eq!(refused.error_code(), "NAME_FROM_TOKEN");
        ada.join("lobby").await;
        ada.request("chat", "send", json!({ "room": "lobby", "text": "hello" }))
            .await;
        let msg = ada.expect_push("chat", "message").await;
        assert_eq!(
            (&msg["from"], &msg["userId"]),
            (&json!("ada"), &json!("ada"))
        );
    }

    #[tokio::test]
    async fn the_room_hears_who_joins_and_leaves() {
        let kit = chat().await;
        let mut alice = member(&kit, "alice", "lobby").await;
        let mut bob = member(&kit, "bob", "lobby").await;
        let joined = alice.expect_push("room", "memberJoined").await;
        assert_eq!(
            (&joined["username"], &joined["clientId"]),
            (&json!("bob"), &json!(bob.id()))
        );
        bob.leave("lobby").await;
        assert_eq!(
            bob.expect_push("user", "leftRoom").await["roomName"],
            "lobby"
        );
        let left = alice.expect_push("room", "memberLeft").await;
        assert_eq!(left["username"], "bob");
    }
}
