//! The protocol contract, generated from the code: every action (its payload, response,
//! error codes and who may call it), every push and the system frames, with JSON Schemas
//! (feature `schema`).
//!
//! [`WsServer::contract`](crate::WsServer::contract) collects it from the registered
//! controllers and pushes; it renders as an AsyncAPI 3.0 document
//! ([`Contract::asyncapi`]) and as TypeScript with a typed facade over the browser
//! client ([`Contract::typescript`]); it serialises to JSON for a snapshot, and
//! [`diff`] lists the changes from an older snapshot that break clients.
//!
//! ```
//! # #[cfg(feature = "macros")] {
//! use pxl_ws::{ws_controller, ActionError, Data, Push, WsServer};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct SendMsg { room: String, text: String }
//!
//! #[derive(Serialize, Push)]
//! #[push(type = "chat", action = "message")]
//! struct ChatMessage { room: String, text: String }
//!
//! struct Chat;
//!
//! #[ws_controller(type = "chat", pushes = [ChatMessage])]
//! impl Chat {
//!     #[action("send", errors = ["NOT_IN_ROOM"])]
//!     async fn send(&self, Data(msg): Data<SendMsg>) -> Result<(), ActionError> {
//!         let _ = (msg.room, msg.text);
//!         Ok(())
//!     }
//! }
//!
//! let contract = WsServer::builder().controller(Chat).build().unwrap().contract();
//! let send = contract.action("chat", "send").unwrap();
//! assert!(send.errors.iter().any(|c| c == "NOT_IN_ROOM"));
//! assert!(contract.push("chat", "message").is_some());
//! let doc = contract.asyncapi();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! assert!(contract.typescript().contains("\"send\""));
//! # }
//! ```

mod asyncapi;
pub(crate) mod collect;
mod diff;
pub(crate) mod schema;
pub(crate) mod serve;
mod system;
mod typescript;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::push::PushInfo;
pub use diff::{Change, diff};
pub use schema::Schemas;
#[doc(hidden)]
pub use schema::{HasSchema, NoSchema, Probe};
/// schemars, for `#[derive(JsonSchema)]` without a direct dependency
/// (`#[schemars(crate = "pxl_ws::contract::schemars")]`).
#[cfg(feature = "schema")]
pub use schemars;

/// The contract of one server: what [`WsServer::contract`](crate::WsServer::contract)
/// returns. Plain data; its JSON form is the snapshot [`diff`] compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contract {
    /// The application's name (`WsServerBuilder::contract_info`).
    pub title: String,
    /// The application's version.
    pub version: String,
    /// The WebSocket endpoint's path (`config.path`).
    pub path: String,
    /// Whether a JWT is read at the upgrade (`auth.jwt_secret` or a key is set).
    #[serde(default)]
    pub jwt: bool,
    /// Every action, the built-in `system` ones first, then by `type` and `action`.
    pub actions: Vec<ActionSpec>,
    /// Every push: the system frames first, then by `type` and `action`.
    pub pushes: Vec<PushSpec>,
    /// Named schemas, referenced as `#/components/schemas/<Name>`.
    #[serde(default)]
    pub schemas: BTreeMap<String, Value>,
}

/// One action: `{type, action, data?}` from the client, a reply or an error frame back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActionSpec {
    /// The message `type`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The message `action`.
    pub action: String,
    /// A built-in action of the `system` controller.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// The `data` it reads (`Data<T>`); `None`: it reads none.
    pub payload: Option<TypeSpec>,
    /// The `response` of its reply; `None`: the reply has no `response`.
    pub response: Option<TypeSpec>,
    /// It needs an authenticated client.
    pub auth: bool,
    /// Roles of which the client needs one (empty: any, when `auth`).
    pub roles: Vec<String>,
    /// Codes of the error frames it may answer with: the app's (`errors = [...]` on
    /// `#[action]`) and the runtime's.
    pub errors: Vec<String>,
}

/// One push: `{type, action, data}` from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushSpec {
    /// The frame's `type`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The frame's `action`.
    pub action: String,
    /// A frame the runtime itself sends (`system/connected`, `user/leftRoom`, ...).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// Its `data`.
    pub data: TypeSpec,
}

/// A Rust type in the contract and its JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeSpec {
    /// The type as written in the code.
    pub rust_type: String,
    /// Its schema; `None`: untyped (without feature `schema`, or the type does not
    /// implement `JsonSchema`), any JSON value.
    pub schema: Option<Value>,
}

impl TypeSpec {
    /// A type and its schema.
    pub fn new(rust_type: impl Into<String>, schema: Option<Value>) -> Self {
        Self {
            rust_type: rust_type.into(),
            schema,
        }
    }
}

/// What a controller tells the contract about one of its actions beyond its
/// [`RouteInfo`](crate::controller::RouteInfo): the payload and response schemas and the
/// app's error codes. `#[ws_controller]` writes these in
/// [`Controller::contract`](crate::controller::Controller::contract).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActionSchema {
    /// The action name.
    pub action: &'static str,
    /// The payload type (`Data<T>`), if the action reads one.
    pub payload: Option<TypeSpec>,
    /// The response type, if the reply has a `response`.
    pub response: Option<TypeSpec>,
    /// The app's error codes.
    pub errors: &'static [&'static str],
}

impl ActionSchema {
    /// An action without payload, response or error codes.
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            payload: None,
            response: None,
            errors: &[],
        }
    }

    /// Sets the payload type.
    pub fn payload(mut self, rust_type: &str, schema: Option<Value>) -> Self {
        self.payload = Some(TypeSpec::new(rust_type, schema));
        self
    }

    /// Sets the response type.
    pub fn response(mut self, rust_type: &str, schema: Option<Value>) -> Self {
        self.response = Some(TypeSpec::new(rust_type, schema));
        self
    }

    /// Sets the app's error codes.
    pub fn errors(mut self, errors: &'static [&'static str]) -> Self {
        self.errors = errors;
        self
    }
}

impl Contract {
    /// The action `ty/action`.
    pub fn action(&self, ty: &str, action: &str) -> Option<&ActionSpec> {
        self.actions
            .iter()
            .find(|a| a.ty == ty && a.action == action)
    }

    /// The push `ty/action`.
    pub fn push(&self, ty: &str, action: &str) -> Option<&PushSpec> {
        self.pushes
            .iter()
            .find(|p| p.ty == ty && p.action == action)
    }

    /// Sets the title and version (AsyncAPI `info`).
    pub fn with_info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.title = title.into();
        self.version = version.into();
        self
    }

    /// The payloads, responses and pushes of app routes without a schema (feature
    /// `schema` off, or a type without `JsonSchema`), as `"chat/send payload `SendMsg`"`.
    /// A test can assert it is empty so every type reaches the TypeScript.
    pub fn untyped(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in self.actions.iter().filter(|a| !a.system) {
            for (what, t) in [("payload", &a.payload), ("response", &a.response)] {
                if let Some(t) = t
                    && t.schema.is_none()
                {
                    out.push(format!("{}/{} {what} `{}`", a.ty, a.action, t.rust_type));
                }
            }
        }
        for p in self.pushes.iter().filter(|p| !p.system) {
            if p.data.schema.is_none() {
                out.push(format!("{}/{} push `{}`", p.ty, p.action, p.data.rust_type));
            }
        }
        out
    }

    /// The contract as pretty JSON, for a committed snapshot.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a contract is plain JSON") + "\n"
    }

    /// Reads a snapshot written by [`to_json`](Self::to_json).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The AsyncAPI 3.0 document: one channel (the socket), one operation per action
    /// (send, with its reply: the reply frame or the error frame) and per push (receive),
    /// auth requirements per operation, every payload schema under
    /// `components/schemas`.
    pub fn asyncapi(&self) -> Value {
        asyncapi::document(self)
    }

    /// TypeScript: a type per schema, `Actions` and `Pushes` maps, and `typed(client)`,
    /// a facade over the browser client (`/pxl-ws.js`) whose `request` and `on` are
    /// checked against them. It imports the client's types from `./pxl-ws.js`.
    pub fn typescript(&self) -> String {
        typescript::module(self)
    }
}
