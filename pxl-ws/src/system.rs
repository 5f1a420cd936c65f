//! The built-in `system` controller: `joinRoom`, `leaveRoom` and `ping`, with PXL's
//! response shapes. Written by hand against the public [`Controller`] trait.
//!
//! - `joinRoom {roomName}` → `{"success":true,"message":"Successfully joined room: R",
//!   "data":{"userId","userType","username","roomName","joinedAt"}}`, sent after the
//!   client is in the room. Identity comes from the connection (user id, else client id),
//!   never from the payload.
//! - `leaveRoom {roomName}` → the leaver first gets `user/leftRoom {roomName}`, then
//!   `{"success":true,"message":"Successfully left room: R","data":{"roomName","leftAt"},"clientId"}`.
//! - A missing or empty `roomName` answers `{"success":false,"error":"Room name is required","clientId"}`;
//!   leaving a room the client is not in answers `success: false` too.
//! - `ping` → `"pong"`.

use serde::Deserialize;
use serde_json::json;

use crate::clients::Client;
use crate::protocol::{ActionError, codes};
use crate::router::{BoxFuture, Controller, Data, FromMessage, MessageContext, Reply, RouteInfo};
use crate::time::{iso8601, now_ms};

/// Longest room name accepted.
pub(crate) const MAX_ROOM_NAME: usize = 256;

pub(crate) struct SystemController;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomRequest {
    #[serde(default)]
    room_name: Option<String>,
    /// Display name offered by the client (PXL accepts one); ids in the payload are ignored.
    #[serde(default)]
    username: Option<String>,
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
        let f: fn(&MessageContext<'_>, &Client) -> Reply = match action {
            "joinRoom" => join_room,
            "leaveRoom" => leave_room,
            "ping" => |_, _| Reply::value("pong"),
            _ => return None,
        };
        Some(Box::pin(async move {
            match ctx.server_side("the `system` controller") {
                Ok((client, _)) => f(ctx, client),
                Err(e) => Reply::Error(e),
            }
        }))
    }
}

/// Reads and checks `{roomName, username?}`. `Err` is the reply to send instead: an
/// `INVALID_PAYLOAD` error, or PXL's `success: false` shape when the name is missing.
fn room_request(ctx: &MessageContext<'_>, client: &Client) -> Result<RoomRequest, Reply> {
    let req = match ctx.raw_data() {
        None => None,
        Some(_) => match Data::<Option<RoomRequest>>::from_message(ctx) {
            Ok(Data(req)) => req,
            Err(e) => return Err(Reply::Error(e)),
        },
    };
    match req {
        Some(r) if r.room_name.as_deref().is_some_and(|n| !n.is_empty()) => {
            let name = r.room_name.as_deref().unwrap_or_default();
            if name.len() > MAX_ROOM_NAME || name.chars().any(char::is_control) {
                return Err(Reply::Error(
                    ActionError::new(
                        codes::INVALID_PAYLOAD,
                        format!(
                            "invalid payload at `roomName`: at most {MAX_ROOM_NAME} bytes, no control characters"
                        ),
                    )
                    .with_detail("path", "roomName"),
                ));
            }
            Ok(r)
        }
        _ => Err(Reply::value(&json!({
            "success": false,
            "error": "Room name is required",
            "clientId": client.id(),
        }))),
    }
}

fn join_room(ctx: &MessageContext<'_>, client: &Client) -> Reply {
    let req = match room_request(ctx, client) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let room = req.room_name.as_deref().unwrap_or_default();
    client.join(room);
    let id = client.id().to_string();
    let username = client
        .state
        .metadata_str("username")
        .or_else(|| req.username.clone())
        .unwrap_or_else(|| format!("user_{}", &id[..8]));
    Reply::value(&json!({
        "success": true,
        "message": format!("Successfully joined room: {room}"),
        "data": {
            "userId": client.user_id().unwrap_or(id),
            "userType": "user",
            "username": username,
            "roomName": room,
            "joinedAt": iso8601(now_ms()),
        }
    }))
}

fn leave_room(ctx: &MessageContext<'_>, client: &Client) -> Reply {
    let req = match room_request(ctx, client) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let room = req.room_name.as_deref().unwrap_or_default();
    if !client.leave(room) {
        return Reply::value(&json!({
            "success": false,
            "error": format!("Not a member of room: {room}"),
            "clientId": client.id(),
        }));
    }
    client.server().notify_left(&client.state, room);
    Reply::value(&json!({
        "success": true,
        "message": format!("Successfully left room: {room}"),
        "data": { "roomName": room, "leftAt": iso8601(now_ms()) },
        "clientId": client.id(),
    }))
}
