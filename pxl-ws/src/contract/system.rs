//! The runtime's own part of the contract: the `system` actions' payloads and replies,
//! the frames the runtime pushes and the error envelope, written once here as JSON
//! Schema (the shapes `protocol.rs` and `system.rs` produce; a test checks real frames
//! against them).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ActionSpec, PushSpec, TypeSpec};
use crate::protocol::codes;

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{}{name}", super::schema::DEFINITIONS) })
}

fn typed(name: &str) -> TypeSpec {
    TypeSpec::new(name, Some(reference(name)))
}

/// The named schemas of the system frames.
pub(super) fn definitions() -> BTreeMap<String, Value> {
    let nullable_string = json!({ "type": ["string", "null"] });
    let count = json!({ "type": "integer", "minimum": 0 });
    let room_data = json!({
        "type": "object",
        "properties": {
            "stream": {
                "allOf": [reference("PxlJoinStream")],
                "description": "joinRoom in a history room: the position, and what was missed"
            }
        },
        "additionalProperties": true
    });
    BTreeMap::from([
        (
            "PxlRoomRequest".to_owned(),
            json!({
                "type": "object",
                "properties": {
                    "roomName": { "type": "string", "description": "The room" },
                    "username": { "type": "string", "description": "Display name (joinRoom)" },
                    "since": {
                        "allOf": [reference("PxlStreamPosition")],
                        "description": "joinRoom in a history room: resume after this position (not with history)"
                    },
                    "history": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "joinRoom in a history room: the last this many frames (not with since)"
                    }
                },
                "required": ["roomName"],
                "additionalProperties": true
            }),
        ),
        (
            "PxlStreamPosition".to_owned(),
            json!({
                "description": "A position in a history room's stream: the offset of the last frame seen and the stream's epoch",
                "type": "object",
                "properties": {
                    "offset": count,
                    "epoch": { "type": "string" }
                },
                "required": ["offset", "epoch"]
            }),
        ),
        (
            "PxlStreamStamp".to_owned(),
            json!({
                "description": "The `stream` of a frame sent to a history room: its room, offset (+1 per message) and epoch",
                "type": "object",
                "properties": {
                    "room": { "type": "string" },
                    "offset": count,
                    "epoch": { "type": "string" }
                },
                "required": ["room", "offset", "epoch"]
            }),
        ),
        (
            "PxlStreamedFrame".to_owned(),
            json!({
                "description": "A frame of a history room, exactly as it was sent live",
                "type": "object",
                "properties": {
                    "type": { "type": "string" },
                    "action": { "type": "string" },
                    "data": {},
                    "stream": reference("PxlStreamStamp")
                },
                "required": ["stream"],
                "additionalProperties": true
            }),
        ),
        (
            "PxlJoinStream".to_owned(),
            json!({
                "description": "joinRoom's `data.stream` in a history room: the current position, whether the gap since `since` was filled, and the frames after it (or the last `history`), oldest first. Without offset and epoch, and with `unavailable`, when the history could not be read",
                "type": "object",
                "properties": {
                    "offset": count,
                    "epoch": { "type": "string" },
                    "recovered": { "type": "boolean" },
                    "missed": { "type": "array", "items": reference("PxlStreamedFrame") },
                    "unavailable": { "type": "boolean", "const": true }
                },
                "required": ["recovered", "missed"]
            }),
        ),
        (
            "PxlPresenceRequest".to_owned(),
            json!({
                "type": "object",
                "properties": { "roomName": { "type": "string", "description": "The room" } },
                "required": ["roomName"],
                "additionalProperties": true
            }),
        ),
        (
            "PxlPresence".to_owned(),
            json!({
                "description": "Who is in a room across the cluster: `count` connections, at most `rooms.presence_max_members` of them listed (`truncated` when more)",
                "type": "object",
                "properties": {
                    "roomName": { "type": "string" },
                    "count": count,
                    "members": { "type": "array", "items": reference("PxlPresenceMember") },
                    "truncated": { "type": "boolean" }
                },
                "required": ["roomName", "count", "members", "truncated"]
            }),
        ),
        (
            "PxlPresenceMember".to_owned(),
            json!({
                "description": "One connection in a room: its client id, its user (the client id when not authenticated) and name",
                "type": "object",
                "properties": {
                    "clientId": { "type": "string" },
                    "userId": { "type": "string" },
                    "username": nullable_string
                },
                "required": ["clientId", "userId", "username"]
            }),
        ),
        (
            "PxlPresenceStats".to_owned(),
            json!({
                "description": "How many connections and distinct users are in a room across the cluster",
                "type": "object",
                "properties": {
                    "roomName": { "type": "string" },
                    "clients": count,
                    "users": count
                },
                "required": ["roomName", "clients", "users"]
            }),
        ),
        (
            "PxlUserPresence".to_owned(),
            json!({
                "description": "room/userJoined (a user's first connection joined) and room/userLeft (its last one left)",
                "type": "object",
                "properties": {
                    "roomName": { "type": "string" },
                    "userId": { "type": "string" },
                    "username": nullable_string
                },
                "required": ["roomName", "userId", "username"]
            }),
        ),
        (
            "PxlRoomReply".to_owned(),
            json!({
                "description": "PXL's room reply: success with data, or failure with error",
                "type": "object",
                "properties": {
                    "success": { "type": "boolean" },
                    "message": { "type": "string" },
                    "error": { "type": "string" },
                    "data": room_data,
                    "clientId": { "type": "string" }
                },
                "required": ["success"]
            }),
        ),
        (
            "PxlRefreshTokenRequest".to_owned(),
            json!({
                "type": "object",
                "properties": { "token": { "type": "string" } },
                "required": ["token"]
            }),
        ),
        (
            "PxlRefreshTokenReply".to_owned(),
            json!({
                "type": "object",
                "properties": {
                    "success": { "type": "boolean", "const": true },
                    "userId": { "type": ["string", "number"] },
                    "expiresAt": nullable_string
                },
                "required": ["success", "userId"]
            }),
        ),
        (
            "PxlConnected".to_owned(),
            json!({
                "type": "object",
                "properties": { "clientId": { "type": "string" } },
                "required": ["clientId"]
            }),
        ),
        (
            "PxlAuthenticated".to_owned(),
            json!({
                "type": "object",
                "properties": {
                    "userId": { "type": ["string", "number"] },
                    "message": { "type": "string" }
                },
                "required": ["userId", "message"]
            }),
        ),
        (
            "PxlTokenExpired".to_owned(),
            json!({
                "type": "object",
                "properties": {
                    "message": { "type": "string" },
                    "expiredAt": { "type": "string" },
                    "graceMs": { "type": "integer", "minimum": 0 }
                },
                "required": ["message", "expiredAt", "graceMs"]
            }),
        ),
        (
            "PxlLeftRoom".to_owned(),
            json!({
                "type": "object",
                "properties": { "roomName": { "type": "string" } },
                "required": ["roomName"]
            }),
        ),
        (
            "PxlMemberPresence".to_owned(),
            json!({
                "type": "object",
                "properties": {
                    "roomName": { "type": "string" },
                    "clientId": { "type": "string" },
                    "userId": nullable_string,
                    "username": nullable_string
                },
                "required": ["roomName", "clientId", "userId", "username"]
            }),
        ),
        (
            "PxlJobCompleted".to_owned(),
            json!({
                "type": "object",
                "properties": { "jobId": {}, "result": {} },
                "required": ["jobId", "result"]
            }),
        ),
        (
            "PxlJobError".to_owned(),
            json!({
                "type": "object",
                "properties": { "jobId": {}, "error": {} },
                "required": ["jobId", "error"]
            }),
        ),
        (
            "PxlError".to_owned(),
            json!({
                "description": "The data of an error frame: a stable code, a text, the request's type and action, and details",
                "type": "object",
                "properties": {
                    "error": { "type": "string" },
                    "code": { "type": "string" },
                    "type": { "type": "string" },
                    "action": { "type": "string" }
                },
                "required": ["error", "code"],
                "additionalProperties": true
            }),
        ),
    ])
}

/// The schema name of the error frame's `data`.
pub(super) const ERROR: &str = "PxlError";

/// Codes any action may answer with.
pub(super) const ALWAYS: &[&str] = &[codes::RATE_LIMITED, codes::INTERNAL_ERROR];

/// The `system` actions (their routes come from the `system` controller's table).
pub(super) fn action(route: &crate::route::RouteInfo) -> ActionSpec {
    let (payload, response, errors): (Option<TypeSpec>, Option<TypeSpec>, &[&str]) =
        match route.action {
            "joinRoom" => (
                Some(typed("PxlRoomRequest")),
                Some(typed("PxlRoomReply")),
                &[
                    codes::INVALID_PAYLOAD,
                    codes::TOO_MANY_ROOMS,
                    codes::FORBIDDEN,
                ],
            ),
            "leaveRoom" => (
                Some(typed("PxlRoomRequest")),
                Some(typed("PxlRoomReply")),
                &[codes::INVALID_PAYLOAD],
            ),
            "presence" => (
                Some(typed("PxlPresenceRequest")),
                Some(typed("PxlPresence")),
                &[codes::INVALID_PAYLOAD, codes::FORBIDDEN],
            ),
            "presenceStats" => (
                Some(typed("PxlPresenceRequest")),
                Some(typed("PxlPresenceStats")),
                &[codes::INVALID_PAYLOAD, codes::FORBIDDEN],
            ),
            "ping" => (
                None,
                Some(TypeSpec::new("&str", Some(json!({"const": "pong"})))),
                &[],
            ),
            "refreshToken" => (
                Some(typed("PxlRefreshTokenRequest")),
                Some(typed("PxlRefreshTokenReply")),
                &[
                    codes::INVALID_PAYLOAD,
                    codes::UNAUTHENTICATED,
                    codes::TOKEN_MALFORMED,
                    codes::TOKEN_ALGORITHM_NOT_ALLOWED,
                    codes::TOKEN_SIGNATURE_INVALID,
                    codes::TOKEN_EXPIRED,
                    codes::TOKEN_NOT_YET_VALID,
                    codes::TOKEN_CLAIMS_INVALID,
                    codes::TOKEN_SUBJECT_MISMATCH,
                    codes::TOKEN_NOT_NEWER,
                ],
            ),
            other => (
                route.payload.map(|p| TypeSpec::new(p, None)),
                Some(TypeSpec::new(other, None)),
                &[],
            ),
        };
    let mut errors: Vec<String> = errors.iter().map(|c| (*c).to_owned()).collect();
    errors.extend(ALWAYS.iter().map(|c| (*c).to_owned()));
    ActionSpec {
        ty: route.ty.to_owned(),
        action: route.action.to_owned(),
        system: true,
        payload,
        response,
        auth: route.auth,
        roles: route.roles.iter().map(|r| (*r).to_owned()).collect(),
        errors,
    }
}

/// The frames the runtime pushes.
pub(super) fn pushes() -> Vec<PushSpec> {
    [
        ("system", "connected", "PxlConnected"),
        ("auth", "authenticated", "PxlAuthenticated"),
        ("auth", "expired", "PxlTokenExpired"),
        ("user", "leftRoom", "PxlLeftRoom"),
        ("room", "memberJoined", "PxlMemberPresence"),
        ("room", "memberLeft", "PxlMemberPresence"),
        ("room", "userJoined", "PxlUserPresence"),
        ("room", "userLeft", "PxlUserPresence"),
        ("queue", "jobCompleted", "PxlJobCompleted"),
        ("queue", "jobError", "PxlJobError"),
    ]
    .into_iter()
    .map(|(ty, action, schema)| PushSpec {
        ty: ty.to_owned(),
        action: action.to_owned(),
        system: true,
        data: typed(schema),
    })
    .collect()
}
