//! The contract as an AsyncAPI 3.0 document.
//!
//! The document describes the server application, as AsyncAPI does: it *receives* each
//! action on the socket channel and replies (the reply frame, or the error frame), and
//! it *sends* each push. Every message is the whole frame (`type` and `action` as
//! constants, `data` / `response`, the optional `id`); payload types are under
//! `components/schemas`.

use serde_json::{Map, Value, json};

use super::{ActionSpec, Contract, PushSpec, TypeSpec, system};

const CHANNEL: &str = "socket";

pub(super) fn document(c: &Contract) -> Value {
    let mut messages = Map::new();
    let mut operations = Map::new();
    messages.insert("error".to_owned(), error_message());
    for a in &c.actions {
        let id = format!("{}.{}", a.ty, a.action);
        let request = format!("action.{id}");
        let reply = format!("reply.{id}");
        messages.insert(request.clone(), request_message(a));
        messages.insert(reply.clone(), reply_message(a));
        operations.insert(
            format!("action.{id}"),
            action_operation(a, &request, &reply),
        );
    }
    for p in &c.pushes {
        let id = format!("push.{}.{}", p.ty, p.action);
        messages.insert(id.clone(), push_message(p));
        operations.insert(id.clone(), push_operation(p, &id));
    }
    let mut components = json!({ "schemas": c.schemas });
    if c.actions.iter().any(|a| a.auth) || c.jwt {
        components["securitySchemes"] = json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT in the upgrade request's `Authorization: Bearer` header"
            },
            "queryToken": {
                "type": "httpApiKey",
                "name": "token",
                "in": "query",
                "description": "A JWT as `?token=` on the upgrade URL (browsers)"
            }
        });
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": c.title,
            "version": c.version,
            "description": "WebSocket protocol of a pxl-ws server: clients send `{type, action, data?, id?}` and get a reply `{type, action, response?, id?}` or an error frame; the server also pushes `{type, action, data}`. Generated from the code."
        },
        "defaultContentType": "application/json",
        "channels": {
            CHANNEL: {
                "address": c.path,
                "title": "The WebSocket endpoint",
                "messages": messages,
            }
        },
        "operations": operations,
        "components": components,
    })
}

fn channel_ref() -> Value {
    json!({ "$ref": format!("#/channels/{CHANNEL}") })
}

fn message_ref(key: &str) -> Value {
    json!({ "$ref": format!("#/channels/{CHANNEL}/messages/{key}") })
}

/// The schema of a type, or any value (described) when untyped.
fn schema_of(t: &TypeSpec) -> Value {
    match &t.schema {
        Some(s) => s.clone(),
        None => json!({ "description": format!("untyped (Rust `{}`)", t.rust_type) }),
    }
}

fn id_schema() -> Value {
    json!({
        "type": ["string", "number"],
        "description": "Correlation id: echoed in the reply or error frame"
    })
}

fn frame(ty: &str, action: &str, body: Option<(&str, Value)>) -> Value {
    let mut properties = Map::new();
    properties.insert("type".to_owned(), json!({ "const": ty }));
    properties.insert("action".to_owned(), json!({ "const": action }));
    let mut required = vec![json!("type"), json!("action")];
    if let Some((key, schema)) = body {
        properties.insert(key.to_owned(), schema);
        required.push(json!(key));
    }
    json!({ "type": "object", "properties": properties, "required": required })
}

fn request_message(a: &ActionSpec) -> Value {
    let mut payload = frame(
        &a.ty,
        &a.action,
        a.payload.as_ref().map(|t| ("data", schema_of(t))),
    );
    payload["properties"]["id"] = id_schema();
    json!({
        "name": format!("{}/{}", a.ty, a.action),
        "title": format!("{}/{} request", a.ty, a.action),
        "payload": payload,
    })
}

fn reply_message(a: &ActionSpec) -> Value {
    let mut payload = frame(
        &a.ty,
        &a.action,
        a.response.as_ref().map(|t| ("response", schema_of(t))),
    );
    payload["properties"]["id"] = id_schema();
    json!({
        "name": format!("{}/{}", a.ty, a.action),
        "title": format!("{}/{} reply", a.ty, a.action),
        "payload": payload,
    })
}

fn error_message() -> Value {
    let mut payload = frame(
        "error",
        "message",
        Some((
            "data",
            json!({ "$ref": format!("{}{}", super::schema::DEFINITIONS, system::ERROR) }),
        )),
    );
    payload["properties"]["id"] = id_schema();
    json!({
        "name": "error/message",
        "title": "Error frame",
        "summary": "The answer to a message that failed: a stable `code` (INVALID_PAYLOAD, UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, UNKNOWN_ROUTE, app codes, ...) and a text",
        "payload": payload,
    })
}

fn push_message(p: &PushSpec) -> Value {
    let mut payload = frame(&p.ty, &p.action, Some(("data", schema_of(&p.data))));
    payload["properties"]["stream"] = json!({
        "allOf": [{ "$ref": format!("{}PxlStreamStamp", super::schema::DEFINITIONS) }],
        "description": "Sent to a history room (`rooms.history`): the frame's place in the room's stream"
    });
    json!({
        "name": format!("{}/{}", p.ty, p.action),
        "title": format!("{}/{} push", p.ty, p.action),
        "payload": payload,
    })
}

fn action_operation(a: &ActionSpec, request: &str, reply: &str) -> Value {
    let who = match (a.auth, a.roles.is_empty()) {
        (false, _) => "any client".to_owned(),
        (true, true) => "an authenticated client".to_owned(),
        (true, false) => format!(
            "an authenticated client with one of the roles {}",
            a.roles.join(", ")
        ),
    };
    let mut op = json!({
        "action": "receive",
        "channel": channel_ref(),
        "title": format!("{}/{}", a.ty, a.action),
        "summary": format!("Handled for {who}; answers with a reply or an error frame ({})", a.errors.join(", ")),
        "messages": [message_ref(request)],
        "reply": {
            "channel": channel_ref(),
            "messages": [message_ref(reply), message_ref("error")]
        },
        "x-pxl-auth": a.auth,
        "x-pxl-roles": a.roles,
        "x-pxl-errors": a.errors,
    });
    if a.system {
        op["tags"] = json!([{ "name": "system" }]);
    }
    if a.auth {
        op["security"] = json!([
            { "$ref": "#/components/securitySchemes/bearer" },
            { "$ref": "#/components/securitySchemes/queryToken" }
        ]);
    }
    op
}

fn push_operation(p: &PushSpec, message: &str) -> Value {
    let mut op = json!({
        "action": "send",
        "channel": channel_ref(),
        "title": format!("{}/{} push", p.ty, p.action),
        "messages": [message_ref(message)],
    });
    if p.system {
        op["tags"] = json!([{ "name": "system" }]);
    }
    op
}
