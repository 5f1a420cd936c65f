//! What can go wrong in the client, and the server's error frame as a type.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL or a header is not usable (e.g. not `ws://`).
    #[error("invalid client settings: {0}")]
    Invalid(String),
    /// Controllers registered on the client cannot be used (route collisions, or
    /// extractors that only a server provides, such as `Client`).
    #[error("{} problem(s) with the client's controllers:\n  {}", .0.len(), .0.join("\n  "))]
    Build(Vec<String>),
    /// The connection could not be opened (refused, reset, bad handshake).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The server answered the upgrade with an HTTP error (e.g. 401 for a bad token).
    #[error("the server refused the connection with HTTP {status}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `code` of the JSON body, e.g. `TOKEN_EXPIRED`.
        code: Option<String>,
        /// The `error` text of the JSON body.
        message: Option<String>,
    },
    /// Connecting (TCP, handshake and the server's `system/connected`) took longer than
    /// the connect timeout.
    #[error("no connection within {0:?}")]
    ConnectTimeout(Duration),
    /// No reply to a request within its timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error frame.
    #[error("server error {0}")]
    Server(ServerError),
    /// The reply's `response` does not fit the type asked for.
    #[error("could not decode the reply to {ty}/{action}: {error}")]
    Decode {
        /// The request's `type`.
        ty: String,
        /// The request's `action`.
        action: String,
        /// What did not fit.
        error: String,
    },
    /// The data to send could not be serialised to JSON.
    #[error("could not serialise the data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// There is no connection right now (the client is reconnecting).
    #[error("not connected")]
    NotConnected,
    /// The connection was lost before the reply came.
    #[error("the connection was lost before the reply came")]
    Disconnected,
    /// The client was closed (by [`WsClient::close`](super::WsClient::close), or after
    /// reconnecting gave up).
    #[error("the client is closed")]
    Closed,
}

impl ClientError {
    /// The server's error, when the server answered with an error frame.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            ClientError::Server(e) => Some(e),
            _ => None,
        }
    }
}

/// The server's error frame, `{"type":"error","action":"message","data":{"error","code",...}}`.
///
/// ```
/// use pxl_ws::client::ServerError;
///
/// let data = serde_json::json!({"error": "join room `x` first", "code": "NOT_IN_ROOM", "type": "chat"});
/// let e = ServerError::from_data(&data);
/// assert_eq!(e.code, "NOT_IN_ROOM");
/// assert_eq!(e.details["type"], "chat");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerError {
    /// The stable code, e.g. `INVALID_PAYLOAD`, `UNKNOWN_ROUTE` or an application code.
    pub code: String,
    /// The client-safe message (`error`).
    pub message: String,
    /// Every other field of `data`: the request's `type` and `action`, and the details
    /// the handler added (e.g. `path` and `reason` for `INVALID_PAYLOAD`).
    pub details: Map<String, Value>,
}

impl ServerError {
    /// Reads an error frame's `data`. Missing fields become empty strings.
    pub fn from_data(data: &Value) -> Self {
        let mut details = data.as_object().cloned().unwrap_or_default();
        let mut take = |key: &str| match details.remove(key) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let code = take("code");
        let message = take("error");
        Self {
            code,
            message,
            details,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServerError {}
