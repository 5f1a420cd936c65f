//! The admin dashboard's server side: the built-in `admin` controller, the access check
//! in front of every one of its actions, and the live tail's sources.
//!
//! With `admin.path` set (`serve_admin`), `build()` registers [`AdminController`] (a
//! `#[ws_controller(type = "admin")]` like an app's), an internal subscriber that feeds
//! the tail from the cluster's connect / join / leave events, and hooks for local
//! disconnects (with their close code) and errors. The page (`page.rs`) talks to it over
//! the socket through the browser client. Actions:
//!
//! - `login {token}` → `{admitted: true, via: "token"}`: admits this connection with the
//!   admin token (constant-time comparison; a wrong token answers `FORBIDDEN` after a
//!   pause, and is never logged).
//! - `session` → `{admitted, via, role, tokenLogin}`: whether this connection is admitted,
//!   and how it may be (answers everyone; the page asks it first).
//! - `overview` → this instance, the cluster's instances with their client counts, the
//!   health snapshot.
//! - `clients` → the connections on every instance (at most [`MAX_ROWS`]).
//! - `rooms` → the rooms with their members on every instance and here.
//! - `routes` → the route table with this instance's handled / error counts.
//! - `disconnect {clientId, code?, reason?}` → closes a client wherever it is connected
//!   (default close `4010 "disconnected by an administrator"`).
//! - `subscribe` / `unsubscribe` → the live tail: `admin/event` pushes (droppable).
//!
//! Every action but `login` and `session` first checks access: a connection is admitted
//! when its JWT carries `admin.role`, or after a successful `login`. Anonymous clients
//! get `UNAUTHENTICATED`, authenticated ones without the role `FORBIDDEN`.

pub(crate) mod page;
mod tail;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::clients::ClientId;
use crate::config::{AdminConfig, Secret};
use crate::handles::Client;
use crate::hooks::{DisconnectInfo, ErrorEvent};
use crate::protocol::{ActionError, codes};
use crate::service::Server;
use crate::subscribers::{Matcher, Subscriber, SubscriberContext, SubscriberError};
use tail::{Tail, TailEvent};

/// Most rows `clients` and `rooms` answer with (the totals are always exact).
pub(crate) const MAX_ROWS: usize = 500;

/// The close code `disconnect` uses unless the page names one.
pub(crate) const DISCONNECT_CODE: u16 = 4010;
/// Its reason.
pub(crate) const DISCONNECT_REASON: &str = "disconnected by an administrator";

/// How long a wrong `login` token waits before its answer.
const LOGIN_PAUSE: Duration = Duration::from_millis(500);

/// The dashboard's state, shared by the controller, the tail subscriber and the hooks.
pub(crate) struct Admin {
    token: Option<Secret>,
    role: String,
    /// Connections admitted with the token (removed when they disconnect).
    admitted: Mutex<HashSet<ClientId>>,
    tail: Tail,
    /// This instance's id, set by `build()` once it is drawn.
    instance: OnceLock<String>,
}

impl Admin {
    /// The dashboard's state when `admin.path` is set.
    pub(crate) fn new(config: &AdminConfig) -> Option<Arc<Self>> {
        config.path.as_ref()?;
        Some(Arc::new(Self {
            token: config.token.clone(),
            role: config.role.clone(),
            admitted: Mutex::new(HashSet::new()),
            tail: Tail::default(),
            instance: OnceLock::new(),
        }))
    }

    pub(crate) fn set_instance(&self, id: &str) {
        let _ = self.instance.set(id.to_owned());
    }

    fn instance(&self) -> &str {
        self.instance.get().map_or("", String::as_str)
    }

    /// How `client` is admitted, if it is: `"role"` (its JWT has `admin.role`) or
    /// `"token"` (it logged in with the admin token).
    fn admitted_via(&self, client: &Client) -> Option<&'static str> {
        if client.state.auth().is_some_and(|u| u.has_role(&self.role)) {
            return Some("role");
        }
        self.admitted
            .lock()
            .expect("admin admitted")
            .contains(&client.id())
            .then_some("token")
    }

    /// The check in front of every admin action.
    fn check(&self, client: &Client) -> Result<(), ActionError> {
        if self.admitted_via(client).is_some() {
            return Ok(());
        }
        let how = match self.token {
            Some(_) => format!(
                "a token with the `{}` role, or admin/login with the admin token",
                self.role
            ),
            None => format!("a token with the `{}` role", self.role),
        };
        if client.state.auth().is_none() {
            Err(ActionError::new(
                codes::UNAUTHENTICATED,
                format!("Admin access requires {how}"),
            ))
        } else {
            Err(ActionError::new(
                codes::FORBIDDEN,
                format!("Admin access requires {how}"),
            ))
        }
    }

    /// The hooks' and subscriber's way into the tail.
    fn emit(&self, event: TailEvent) {
        self.tail.emit(event);
    }

    /// `on_disconnected`: forgets the connection and tells the tail, with the close code.
    pub(crate) fn disconnected(&self, d: &DisconnectInfo) {
        self.admitted
            .lock()
            .expect("admin admitted")
            .remove(&d.client_id);
        self.tail.unsubscribe(d.client_id);
        self.tail.forget(d.client_id);
        let mut e = TailEvent::new("disconnect", self.instance());
        e.client_id = Some(d.client_id);
        e.user_id = d.user_id.clone();
        e.code = d.code.map(|c| c.to_string());
        e.message = (!d.reason.is_empty()).then(|| d.reason.clone());
        self.emit(e);
    }

    /// `on_error`: an error this instance answered or closed with.
    pub(crate) fn error(&self, err: &ErrorEvent) {
        let mut e = TailEvent::new("error", self.instance());
        e.client_id = Some(err.client_id);
        e.code = Some(err.code.clone());
        e.message = Some(truncate(&err.message, 200));
        self.emit(e);
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = (0..=max)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &s[..cut])
}

/// Whether `given` is the admin token, in time independent of where they differ.
fn token_matches(expected: &Secret, given: &str) -> bool {
    bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes()))
}

/// Reads an action's `data` into `T` (after the access check, so a client that is not
/// admitted learns nothing about the payloads).
fn payload<T: serde::de::DeserializeOwned + Default>(data: Value) -> Result<T, ActionError> {
    if data.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(data)
        .map_err(|e| ActionError::new(codes::INVALID_PAYLOAD, format!("invalid payload: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DisconnectRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    reason: Option<String>,
}

/// The built-in `admin` controller (registered by `build()` when `admin.path` is set).
pub(crate) struct AdminController(pub(crate) Arc<Admin>);

#[pxl_ws_macros::ws_controller(type = "admin", crate = "crate")]
impl AdminController {
    /// Admits this connection with the admin token.
    #[action("login", errors = ["FORBIDDEN"])]
    async fn login(&self, client: Client, data: Value) -> Result<Value, ActionError> {
        let admin = &self.0;
        let req: LoginRequest = payload(data)?;
        let Some(expected) = &admin.token else {
            return Err(ActionError::new(
                codes::FORBIDDEN,
                format!(
                    "Admin token login is not configured; use a token with the `{}` role",
                    admin.role
                ),
            ));
        };
        if !token_matches(expected, &req.token) {
            tracing::warn!(client = %client.id(), "admin login with a wrong token");
            tokio::time::sleep(LOGIN_PAUSE).await;
            return Err(ActionError::new(codes::FORBIDDEN, "Wrong admin token"));
        }
        admin
            .admitted
            .lock()
            .expect("admin admitted")
            .insert(client.id());
        tracing::info!(client = %client.id(), "admin login");
        Ok(json!({ "admitted": true, "via": "token" }))
    }

    /// Whether this connection is admitted and how it could be.
    #[action("session")]
    async fn session(&self, client: Client) -> Value {
        let admin = &self.0;
        let via = admin.admitted_via(&client);
        json!({
            "admitted": via.is_some(),
            "via": via,
            "role": admin.role,
            "tokenLogin": admin.token.is_some(),
            "authenticated": client.state.auth().is_some(),
        })
    }

    /// This instance, the cluster and the health snapshot.
    #[action("overview", errors = ["UNAUTHENTICATED", "FORBIDDEN", "INTERNAL_ERROR"])]
    async fn overview(&self, client: Client, server: Server) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let hub = server.hub();
        let me = server.instance_id();
        let mut instances = vec![json!({
            "id": me,
            "self": true,
            "connections": hub.client_count(),
        })];
        let others = server
            .directory()
            .remote_instances()
            .await
            .map_err(|e| ActionError::new(codes::INTERNAL_ERROR, e.to_string()))?;
        for (id, n) in others {
            instances.push(json!({ "id": id, "self": false, "connections": n }));
        }
        Ok(json!({
            "instanceId": me,
            "at": crate::util::time::now_ms(),
            "path": server.config().path,
            "instances": instances,
            "rooms": server.directory().rooms().await.map_or_else(|_| server.rooms().len(), |r| r.len()),
            "tailWatchers": self.0.tail.watchers(),
            "health": server.health(),
        }))
    }

    /// The connections on every instance.
    #[action("clients", errors = ["UNAUTHENTICATED", "FORBIDDEN", "INTERNAL_ERROR"])]
    async fn clients(&self, client: Client, server: Server) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let hub = server.hub();
        let me = server.instance_id();
        let mut local = Vec::with_capacity(hub.client_count().min(MAX_ROWS));
        hub.for_each_client(|c| {
            if local.len() < MAX_ROWS {
                local.push(c.clone());
            }
        });
        let mut rows: Vec<Value> = local
            .iter()
            .map(|c| {
                let info = c.info();
                let admin = c.auth().is_some_and(|u| u.has_role(&self.0.role))
                    || self
                        .0
                        .admitted
                        .lock()
                        .expect("admin admitted")
                        .contains(&c.id);
                json!({
                    "clientId": info.id,
                    "userId": info.user_id,
                    "username": c.metadata_str("username"),
                    "instanceId": me,
                    "connectedAt": info.connected_at,
                    "lastActivity": info.last_activity,
                    "rooms": info.rooms,
                    "remoteAddr": c.remote_addr.map(|a| a.to_string()),
                    "queuedBytes": c.outbox.queued_bytes(),
                    "admin": admin,
                })
            })
            .collect();
        let remote = server
            .directory()
            .remote_clients(MAX_ROWS.saturating_sub(rows.len()))
            .await
            .map_err(|e| ActionError::new(codes::INTERNAL_ERROR, e.to_string()))?;
        for info in remote {
            rows.push(json!({
                "clientId": info.id,
                "userId": info.user_id,
                "username": info.metadata.get("username"),
                "instanceId": info.instance_id,
                "connectedAt": info.connected_at,
                "rooms": info.rooms,
            }));
        }
        let total = server
            .directory()
            .connection_count()
            .await
            .map_err(|e| ActionError::new(codes::INTERNAL_ERROR, e.to_string()))?;
        Ok(json!({
            "total": total,
            "truncated": total > rows.len(),
            "clients": rows,
        }))
    }

    /// The rooms, with their members on every instance and on this one.
    #[action("rooms", errors = ["UNAUTHENTICATED", "FORBIDDEN", "INTERNAL_ERROR"])]
    async fn rooms(&self, client: Client, server: Server) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let local: std::collections::HashMap<String, usize> =
            server.hub().rooms().summary().into_iter().collect();
        let mut list = server
            .directory()
            .rooms()
            .await
            .map_err(|e| ActionError::new(codes::INTERNAL_ERROR, e.to_string()))?;
        let total = list.len();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list.truncate(MAX_ROWS);
        let rows: Vec<Value> = list
            .into_iter()
            .map(|(name, members)| {
                let here = local.get(&name).copied().unwrap_or(0);
                json!({ "name": name, "members": members, "local": here })
            })
            .collect();
        Ok(json!({
            "total": total,
            "truncated": total > rows.len(),
            "rooms": rows,
        }))
    }

    /// The route table with this instance's counts.
    #[action("routes", errors = ["UNAUTHENTICATED", "FORBIDDEN"])]
    async fn routes(&self, client: Client, server: Server) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let (rows, (handled, errors)) = server.shared.route_stats.snapshot();
        Ok(json!({
            "at": crate::util::time::now_ms(),
            "routes": rows,
            "unknown": { "handled": handled, "errors": errors },
        }))
    }

    /// Closes a client's socket, wherever it is connected.
    #[action("disconnect", errors = ["UNAUTHENTICATED", "FORBIDDEN", "INVALID_PAYLOAD"])]
    async fn disconnect(
        &self,
        client: Client,
        server: Server,
        data: Value,
    ) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let req: DisconnectRequest = payload(data)?;
        let id: ClientId = req.client_id.parse().map_err(|_| {
            ActionError::new(
                codes::INVALID_PAYLOAD,
                format!(
                    "invalid payload at `clientId`: not a client id: {:?}",
                    req.client_id
                ),
            )
        })?;
        let code = req.code.unwrap_or(DISCONNECT_CODE);
        if !(4000..=4999).contains(&code) {
            return Err(ActionError::new(
                codes::INVALID_PAYLOAD,
                "invalid payload at `code`: an application close code (4000–4999)",
            ));
        }
        let reason = req.reason.unwrap_or_else(|| DISCONNECT_REASON.to_owned());
        let known = server.hub().client(id).is_some()
            || server
                .directory()
                .client(id)
                .await
                .is_ok_and(|c| c.is_some());
        let found = server.disconnect_client(id, code, &reason) && known;
        tracing::info!(by = %client.id(), client = %id, code, found, "admin disconnect");
        Ok(json!({ "clientId": id, "disconnected": found, "code": code }))
    }

    /// Starts the live tail for this connection; answers the recent events.
    #[action("subscribe", errors = ["UNAUTHENTICATED", "FORBIDDEN"])]
    async fn subscribe(&self, client: Client) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        let recent = self.0.tail.subscribe(&client);
        Ok(json!({ "subscribed": true, "recent": recent }))
    }

    /// Stops the live tail for this connection.
    #[action("unsubscribe", errors = ["UNAUTHENTICATED", "FORBIDDEN"])]
    async fn unsubscribe(&self, client: Client) -> Result<Value, ActionError> {
        self.0.check(&client)?;
        Ok(json!({ "unsubscribed": self.0.tail.unsubscribe(client.id()) }))
    }
}

/// Feeds the tail from the cluster's events: connects (and updates), joins and leaves
/// on every instance, disconnects of other instances' clients (local disconnects come
/// from the hook, with their close code).
pub(crate) struct TailSubscriber(pub(crate) Arc<Admin>);

/// The tail subscriber's name in the subscriber table.
pub(crate) const TAIL_SUBSCRIBER: &str = "pxl-ws:admin-tail";

impl Subscriber for TailSubscriber {
    fn name(&self) -> &str {
        TAIL_SUBSCRIBER
    }

    fn description(&self) -> Option<&str> {
        Some("the admin dashboard's live tail")
    }

    fn priority(&self) -> i32 {
        i32::MIN
    }

    fn matchers(&self) -> Vec<Matcher> {
        [
            "clientConnected",
            "clientDisconnected",
            "clientJoinedRoom",
            "clientLeftRoom",
        ]
        .into_iter()
        .map(|c| Matcher::Exact(c.into()))
        .collect()
    }

    fn handle<'a>(
        &'a self,
        ctx: &'a SubscriberContext,
    ) -> BoxFuture<'a, Result<(), SubscriberError>> {
        Box::pin(async move {
            let admin = &self.0;
            let m = ctx.message();
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            let origin = text("origin").unwrap_or_default();
            let id: Option<ClientId> = text("clientId").and_then(|s| s.parse().ok());
            let kind = match ctx.channel() {
                "clientConnected" => match id {
                    Some(id) if admin.tail.seen(id) => "update",
                    _ => "connect",
                },
                "clientDisconnected" => {
                    if let Some(id) = id {
                        admin.tail.forget(id);
                    }
                    if origin == admin.instance() {
                        // The local hook reports it, with the close code.
                        return Ok(());
                    }
                    "disconnect"
                }
                "clientJoinedRoom" => "join",
                "clientLeftRoom" => "leave",
                _ => return Ok(()),
            };
            let mut e = TailEvent::new(kind, &origin);
            e.client_id = id;
            e.user_id = text("userId");
            e.username = text("username");
            e.room = text("roomName");
            admin.emit(e);
            Ok(())
        })
    }
}
