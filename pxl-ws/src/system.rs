//! The built-in `system` controller: `joinRoom`, `leaveRoom`, `ping` and `refreshToken`, with PXL's
//! response shapes. Written by hand against the public [`Controller`] trait.
//!
//! - `joinRoom {roomName}` → `{"success":true,"message":"Successfully joined room: R",
//!   "data":{"userId","userType","username","roomName","joinedAt"}}`, sent after the
//!   client is in the room. Identity comes from the connection (user id, else client id),
//!   never from the payload — unless `pxl.join_identity` is on and the client has no
//!   authenticated user: then the payload's `userId` (a string or a number) binds the
//!   connection's user id and `userType` / `username` are stored as metadata, before
//!   the join, so presence events carry them (PXL's `joinRoom` fields).
//! - `leaveRoom {roomName}` → the leaver first gets `user/leftRoom {roomName}`, then
//!   `{"success":true,"message":"Successfully left room: R","data":{"roomName","leftAt"},"clientId"}`.
//! - A missing or empty `roomName` answers `{"success":false,"error":"Room name is required","clientId"}`;
//!   leaving a room the client is not in answers `success: false` too (PXL's
//!   `success: true` with `pxl.leave_any_room`).
//! - `ping` → `"pong"`.
//! - `presence {roomName}` → `{roomName, count, members: [{clientId, userId, username}], truncated}`
//!   and `presenceStats {roomName}` → `{roomName, clients, users}`, across the cluster; only
//!   members may ask unless the builder's `authorize_presence` decides (`FORBIDDEN`).
//! - In a history room (`rooms.history`), `joinRoom` also takes `since {offset, epoch}` or
//!   `history: K` and its `data` gains `stream {offset, epoch, recovered, missed}`.
//! - `refreshToken {token}` → see [`session::refresh_token`].
//!
//! `joinRoom` enforces, in order: the room-name rules (`rooms.max_name_length`,
//! `rooms.name_chars` → `INVALID_PAYLOAD` at `roomName`), then, for a room the client is
//! not in yet, `rooms.max_rooms_per_client` (`TOO_MANY_ROOMS`) and the builder's
//! `authorize_join` checks (`FORBIDDEN`). `leaveRoom` applies no name rules: a room the
//! app joined a client to can always be left.

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::auth::session;
use crate::config::RoomsConfig;
use crate::handles::Client;
use crate::history::{Position, Since};
use crate::protocol::{ActionError, codes};
use crate::router::{BoxFuture, Controller, Data, FromMessage, MessageContext, Reply, RouteInfo};
use crate::util::time::{iso8601, now_ms};

pub(crate) struct SystemController;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomRequest {
    #[serde(default)]
    room_name: Option<String>,
    /// Display name offered by the client (PXL accepts one); ids in the payload are ignored.
    #[serde(default)]
    username: Option<String>,
    /// PXL's `userId`, honoured only with `pxl.join_identity` for anonymous clients.
    #[serde(default)]
    user_id: Option<serde_json::Value>,
    /// PXL's `userType`, honoured like `userId`.
    #[serde(default)]
    user_type: Option<String>,
    /// `joinRoom` in a history room: resume after this position.
    #[serde(default)]
    since: Option<Position>,
    /// `joinRoom` in a history room: the last this many frames.
    #[serde(default)]
    history: Option<usize>,
}

const ROUTES: &[RouteInfo] = &[
    RouteInfo::new(
        "system",
        "joinRoom",
        "join_room",
        Some("RoomRequest"),
        file!(),
        line!(),
    ),
    RouteInfo::new(
        "system",
        "leaveRoom",
        "leave_room",
        Some("RoomRequest"),
        file!(),
        line!(),
    ),
    RouteInfo::new("system", "ping", "ping", None, file!(), line!()),
    RouteInfo::new(
        "system",
        "presence",
        "presence",
        Some("RoomRequest"),
        file!(),
        line!(),
    ),
    RouteInfo::new(
        "system",
        "presenceStats",
        "presence_stats",
        Some("RoomRequest"),
        file!(),
        line!(),
    ),
    RouteInfo::new(
        "system",
        "refreshToken",
        "refresh_token",
        Some("RefreshRequest"),
        file!(),
        line!(),
    ),
];

impl Controller for SystemController {
    fn controller_type(&self) -> &'static str {
        "system"
    }

    fn routes(&self) -> &'static [RouteInfo] {
        ROUTES
    }

    fn call<'a>(
        &'a self,
        action: &str,
        ctx: &'a MessageContext<'a>,
    ) -> Option<BoxFuture<'a, Reply>> {
        #[derive(Clone, Copy)]
        enum Act {
            Join,
            Leave,
            Ping,
            Refresh,
            Presence,
            PresenceStats,
        }
        let act = match action {
            "joinRoom" => Act::Join,
            "leaveRoom" => Act::Leave,
            "ping" => Act::Ping,
            "refreshToken" => Act::Refresh,
            "presence" => Act::Presence,
            "presenceStats" => Act::PresenceStats,
            _ => return None,
        };
        Some(Box::pin(async move {
            let (client, server) = match ctx.server_side("the `system` controller") {
                Ok(sides) => sides,
                Err(e) => return Reply::Error(e),
            };
            match act {
                Act::Join => join_room(ctx, client).await,
                Act::Leave => leave_room(ctx, client),
                Act::Ping => Reply::value("pong"),
                Act::Refresh => session::refresh_token(ctx, client, server),
                Act::Presence => presence(ctx, client, false).await,
                Act::PresenceStats => presence(ctx, client, true).await,
            }
        }))
    }
}

/// Reads `{roomName, username?}`. `Err` is the reply to send instead: an
/// `INVALID_PAYLOAD` error, or PXL's `success: false` shape when the name is missing.
fn room_request(ctx: &MessageContext<'_>, client: &Client) -> Result<(String, RoomRequest), Reply> {
    let req = match ctx.raw_data() {
        None => None,
        Some(_) => match Data::<Option<RoomRequest>>::from_message(ctx) {
            Ok(Data(req)) => req,
            Err(e) => return Err(Reply::Error(e)),
        },
    };
    match req {
        Some(mut r) if r.room_name.as_deref().is_some_and(|n| !n.is_empty()) => {
            let name = r.room_name.take().unwrap_or_default();
            Ok((name, r))
        }
        _ => Err(Reply::value(&json!({
            "success": false,
            "error": "Room name is required",
            "clientId": client.id(),
        }))),
    }
}

// Limits on client-initiated joins: name rules, rooms per client, `authorize_join`.

/// Checks a room name against `rooms.max_name_length` and `rooms.name_chars`.
fn check_room_name(rooms: &RoomsConfig, name: &str) -> Result<(), Reply> {
    let max = rooms.max_name_length;
    let problem = if name.len() > max {
        Some(format!("longer than {max} bytes"))
    } else {
        rooms.name_chars.check(name).err()
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(Reply::Error(
            ActionError::new(
                codes::INVALID_PAYLOAD,
                format!("invalid payload at `roomName`: {reason}"),
            )
            .with_detail("path", "roomName")
            .with_detail("reason", reason),
        )),
    }
}

/// The room limit and the app's `authorize_join` checks, for a room the client is not in.
async fn may_join(client: &Client, room: &str) -> Result<(), Reply> {
    let rooms = &client.server.shared.config.rooms;
    if let Some(max) = rooms.max_rooms_per_client
        && rooms.client_can_join_multiple_rooms
        && client.state.rooms.lock().expect("rooms lock").len() >= max
    {
        return Err(Reply::Error(
            ActionError::new(
                codes::TOO_MANY_ROOMS,
                format!("Room limit reached: a client may be in at most {max} rooms"),
            )
            .with_detail("max", max),
        ));
    }
    if !client
        .server
        .shared
        .hooks
        .authorize_join(client, room)
        .await
    {
        return Err(Reply::Error(ActionError::new(
            codes::FORBIDDEN,
            format!("Not allowed to join room: {room}"),
        )));
    }
    Ok(())
}

async fn join_room(ctx: &MessageContext<'_>, client: &Client) -> Reply {
    let (room, mut req) = match room_request(ctx, client) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_room_name(&client.server.shared.config.rooms, &room) {
        return reply;
    }
    let since = match (req.since.take(), req.history) {
        (Some(_), Some(_)) => {
            return Reply::Error(
                ActionError::new(
                    codes::INVALID_PAYLOAD,
                    "invalid payload: give `since` or `history`, not both",
                )
                .with_detail("path", "since"),
            );
        }
        (Some(p), None) => Since::Position(p),
        (None, Some(0)) | (None, None) => Since::Nothing,
        (None, Some(k)) => Since::Last(k),
    };
    let claimed = client_identity(client, &req);
    let joining = !client.in_room(&room);
    if joining && let Err(reply) = may_join(client, &room).await {
        return reply;
    }
    let history = client.server().hub().history().filter(|h| h.covers(&room));
    if let Some(h) = history {
        // Live frames of this room wait until the reply is out (`Hub::release_gates`).
        h.gates.open(client.id(), &room);
    }
    if let Some(identity) = &claimed {
        identity.apply(client);
    }
    if joining {
        client.join(&room);
    }
    // Answer (and read the history) once sends to the room from other instances reach
    // this one: everything published after the read is delivered live.
    client.server().hub().room_ready(&room).await;
    let stream = match history {
        None => None,
        Some(h) => Some(match h.engine().read(&room, since).await {
            Ok(r) => {
                h.gates.read_upto(client.id(), &room, r.position.offset);
                let missed: Vec<Box<RawValue>> = r
                    .missed
                    .iter()
                    .filter_map(|f| RawValue::from_string(f.as_str().to_owned()).ok())
                    .collect();
                json!({
                    "offset": r.position.offset,
                    "epoch": r.position.epoch,
                    "recovered": r.recovered,
                    "missed": missed,
                })
            }
            Err(e) => {
                tracing::warn!(room = %room, error = %e, "room history unreadable; joined without recovery");
                json!({"recovered": false, "missed": [], "unavailable": true})
            }
        }),
    };
    let id = client.id().to_string();
    let username = client
        .state
        .metadata_str("username")
        .or(req.username)
        .unwrap_or_else(|| format!("user_{}", &id[..8]));
    let user_id = match claimed.as_ref().and_then(|c| c.user_id.clone()) {
        Some(offered) => offered,
        None => json!(client.user_id().unwrap_or(id)),
    };
    let user_type = client
        .state
        .metadata_str("userType")
        .unwrap_or_else(|| "user".into());
    let mut data = json!({
        "userId": user_id,
        "userType": user_type,
        "username": username,
        "roomName": room,
        "joinedAt": iso8601(now_ms()),
    });
    if let Some(stream) = stream {
        data["stream"] = stream;
    }
    Reply::value(&json!({
        "success": true,
        "message": format!("Successfully joined room: {room}"),
        "data": data,
    }))
}

/// PXL's `joinRoom` identity fields, when `pxl.join_identity` lets this client offer
/// them (it has no authenticated user).
struct Identity {
    /// As sent (PXL echoes a number as a number); bound as the user id's string form.
    user_id: Option<serde_json::Value>,
    user_type: Option<String>,
    username: Option<String>,
}

fn client_identity(client: &Client, req: &RoomRequest) -> Option<Identity> {
    if !client.server.shared.config.pxl.join_identity || client.state.auth().is_some() {
        return None;
    }
    let user_id = match &req.user_id {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(json!(s)),
        Some(serde_json::Value::Number(n)) => Some(json!(n)),
        _ => None,
    };
    Some(Identity {
        user_id,
        user_type: req.user_type.clone().filter(|t| !t.is_empty()),
        username: req.username.clone().filter(|n| !n.is_empty()),
    })
}

impl Identity {
    fn apply(&self, client: &Client) {
        if let Some(id) = &self.user_id {
            let id = match id {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            client.set_user_id(id);
        }
        if let Some(t) = &self.user_type {
            client.set_metadata("userType", t.as_str());
        }
        if let Some(n) = &self.username {
            client.set_metadata("username", n.as_str());
        }
    }
}

fn leave_room(ctx: &MessageContext<'_>, client: &Client) -> Reply {
    let (room, _) = match room_request(ctx, client) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let room = room.as_str();
    if !client.leave(room) {
        if client.server.shared.config.pxl.leave_any_room {
            // PXL's answer: success, and no `user/leftRoom` (nothing was left).
            return Reply::value(&json!({
                "success": true,
                "message": format!("Successfully left room: {room}"),
                "data": { "roomName": room, "leftAt": iso8601(now_ms()) },
                "clientId": client.id(),
            }));
        }
        return Reply::value(&json!({
            "success": false,
            "error": format!("Not a member of room: {room}"),
            "clientId": client.id(),
        }));
    }
    client.server().hub().notify_left(&client.state, room);
    Reply::value(&json!({
        "success": true,
        "message": format!("Successfully left room: {room}"),
        "data": { "roomName": room, "leftAt": iso8601(now_ms()) },
        "clientId": client.id(),
    }))
}

/// `presence {roomName}` → `{roomName, count, members, truncated}`;
/// `presenceStats {roomName}` → `{roomName, clients, users}`. Across the cluster; only
/// members may ask unless the builder's `authorize_presence` says otherwise.
async fn presence(ctx: &MessageContext<'_>, client: &Client, stats: bool) -> Reply {
    let (room, _) = match room_request(ctx, client) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let sh = &client.server.shared;
    if !sh.hooks.authorize_presence(client, &room).await {
        return Reply::Error(
            ActionError::new(
                codes::FORBIDDEN,
                format!("Not allowed to see the presence of room: {room}"),
            )
            .with_detail("roomName", &room),
        );
    }
    let hub = client.server().hub();
    let mut members = crate::presence::members_now(hub, &room).await;
    if stats {
        let (clients, users) = crate::presence::stats(&members);
        return Reply::value(&json!({ "roomName": room, "clients": clients, "users": users }));
    }
    let count = members.len();
    let max = sh.config.rooms.presence_max_members;
    let truncated = count > max;
    members.truncate(max);
    Reply::value(&json!({
        "roomName": room,
        "count": count,
        "members": members,
        "truncated": truncated,
    }))
}
