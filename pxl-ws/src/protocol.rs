//! The wire protocol: inbound envelopes, reply and error frames, stable error codes.
//!
//! Inbound frames (text, or binary carrying UTF-8 JSON) look like
//! `{"type": str, "action": str, "data"?: any, "id"?: str|number}`. Replies are
//! `{"type", "action", "response"?, "id"?}`; errors are
//! `{"type":"error","action":"message","data":{"error","code","type"?,"action"?,...},"id"?}`.
//! See `docs/protocol.md` in the repository for the full catalogue.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

/// Stable error codes sent in the `code` field of error frames.
///
/// Applications add their own codes through [`ActionError::new`](crate::ActionError::new).
pub mod codes {
    /// The frame is not valid JSON. Text: `Failed to parse JSON`.
    pub const INVALID_JSON: &str = "INVALID_JSON";
    /// The frame is JSON but not an object, or a field has the wrong type. Text: `Invalid WebSocket message`.
    pub const INVALID_MESSAGE: &str = "INVALID_MESSAGE";
    /// `type` is missing or empty. Text: `Missing WebSocket message type`.
    pub const MISSING_TYPE: &str = "MISSING_TYPE";
    /// `action` is missing or empty. Text: `Missing WebSocket message action`.
    pub const MISSING_ACTION: &str = "MISSING_ACTION";
    /// No controller handles this `type` / `action` pair.
    pub const UNKNOWN_ROUTE: &str = "UNKNOWN_ROUTE";
    /// `data` does not match the action's payload type; the error names the field path.
    pub const INVALID_PAYLOAD: &str = "INVALID_PAYLOAD";
    /// The action needs an authenticated client.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The client is authenticated but not allowed to do this.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// The client sends faster than its rate limit allows; the message was not routed.
    /// `data.retryAfterMs` says when the next message will be accepted.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// `system/joinRoom`: the client is already in `rooms.max_rooms_per_client` rooms.
    pub const TOO_MANY_ROOMS: &str = "TOO_MANY_ROOMS";
    /// The handler failed or panicked; details are logged on the server, never sent.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    /// Authentication is required and the request carried no token (HTTP 401).
    pub const TOKEN_MISSING: &str = "TOKEN_MISSING";
    /// The token is not a well-formed JWT (bad segments, base64 or JSON).
    pub const TOKEN_MALFORMED: &str = "TOKEN_MALFORMED";
    /// The token's `alg` is not among the configured algorithms (`none` never is).
    pub const TOKEN_ALGORITHM_NOT_ALLOWED: &str = "TOKEN_ALGORITHM_NOT_ALLOWED";
    /// The token's signature does not verify with the configured key.
    pub const TOKEN_SIGNATURE_INVALID: &str = "TOKEN_SIGNATURE_INVALID";
    /// The token's `exp` has passed.
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    /// The token's `nbf` is in the future.
    pub const TOKEN_NOT_YET_VALID: &str = "TOKEN_NOT_YET_VALID";
    /// A claim is missing, of the wrong type or not accepted (`sub`, `exp`, `iss`, `aud`).
    pub const TOKEN_CLAIMS_INVALID: &str = "TOKEN_CLAIMS_INVALID";
    /// `system/refreshToken` sent a token for another user than the connection's.
    pub const TOKEN_SUBJECT_MISMATCH: &str = "TOKEN_SUBJECT_MISMATCH";
    /// `system/refreshToken` sent a token whose `exp` is not later than the current one's.
    pub const TOKEN_NOT_NEWER: &str = "TOKEN_NOT_NEWER";
}

/// PXL's parser texts, kept verbatim for wire compatibility.
pub mod texts {
    /// Sent with [`INVALID_JSON`](super::codes::INVALID_JSON).
    pub const FAILED_TO_PARSE_JSON: &str = "Failed to parse JSON";
    /// Sent with [`INVALID_MESSAGE`](super::codes::INVALID_MESSAGE).
    pub const INVALID_MESSAGE: &str = "Invalid WebSocket message";
    /// Sent with [`MISSING_TYPE`](super::codes::MISSING_TYPE).
    pub const MISSING_TYPE: &str = "Missing WebSocket message type";
    /// Sent with [`MISSING_ACTION`](super::codes::MISSING_ACTION).
    pub const MISSING_ACTION: &str = "Missing WebSocket message action";
}

/// An error a handler (or the framework) reports to the client.
///
/// It carries a stable machine-readable `code` and a client-safe `message`; both end up
/// in the error frame. Internal details never do: use [`ActionError::internal`] to log
/// them and send a generic message instead.
///
/// ```
/// use pxl_ws::ActionError;
///
/// let err = ActionError::new("ROOM_FULL", "The room is full")
///     .with_detail("capacity", 50);
/// assert_eq!(err.code(), "ROOM_FULL");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    details: Vec<(Cow<'static, str>, serde_json::Value)>,
}

impl ActionError {
    /// An error with an application code (e.g. `"ROOM_FULL"`) and a message the client may see.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// An internal failure: `detail` is logged at error level, the client gets
    /// `INTERNAL_ERROR` / `Internal server error`.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "action failed with an internal error");
        Self::new(codes::INTERNAL_ERROR, "Internal server error")
    }

    /// Adds a field to the error frame's `data` object (next to `error` and `code`).
    pub fn with_detail(mut self, key: impl Into<Cow<'static, str>>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.details.push((key.into(), value));
        self
    }

    /// The stable code, e.g. `INVALID_PAYLOAD`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The client-safe message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Extra fields of the error frame's `data` object.
    pub fn details(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.details.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub(crate) fn from_static(code: &'static str, message: &'static str) -> Self {
        Self::new(code, message)
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ActionError {}

/// A parsed inbound frame. Borrows from the frame's bytes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Envelope<'a> {
    /// The `type` field.
    pub ty: Cow<'a, str>,
    /// The `action` field.
    pub action: Cow<'a, str>,
    /// The raw `data` field, if present (`null` counts as present).
    pub data: Option<&'a RawValue>,
    /// The raw `id` field (a JSON string or number), echoed back verbatim.
    pub id: Option<&'a RawValue>,
}

/// Why an inbound frame could not be parsed. Carries whatever the frame did say,
/// so the error frame can echo `type`, `action` and `id`.
#[derive(Debug)]
#[non_exhaustive]
pub struct ParseError<'a> {
    /// The stable code.
    pub code: &'static str,
    /// PXL's text for it.
    pub text: &'static str,
    /// What was wrong, when more can be said than the text (e.g. `id must be a string or number`).
    pub reason: Option<&'static str>,
    /// The `id` of the frame, when it was readable.
    pub id: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct RawFields<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<&'a RawValue>,
    #[serde(borrow, default)]
    action: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

/// The envelope in one pass: `type` and `action` read as strings where they are read
/// (borrowed from the frame when they have no escapes), `data` and `id` as raw JSON.
/// Any error (including a string field that is not valid JSON text, which [`RawFields`]
/// would let through) sends the frame to [`envelope`], which tells the cases apart.
#[derive(serde::Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Field<'a>>,
    #[serde(borrow, default)]
    action: Option<Field<'a>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

/// A `type` or `action` value: a string, or something else (skipped).
enum Field<'a> {
    Str(Cow<'a, str>),
    NotString,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Field<'a>>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(s)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::NotString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Field<'a>, E> {
                Ok(Field::NotString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Field<'a>, E> {
                Ok(Field::NotString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Field<'a>, E> {
                Ok(Field::NotString)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Field<'a>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Field::NotString)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Field<'a>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Field::NotString)
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// Parses one inbound frame, in PXL's order: JSON, object, `type`, `action`.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope<'_>, ParseError<'_>> {
    from_fields(bytes, serde_json::from_slice(bytes))
        .map_or_else(|| envelope(bytes, serde_json::from_slice(bytes)), Ok)
}

/// [`parse_envelope`] for text already known to be UTF-8 (a text frame, which the
/// WebSocket layer has checked): the same result, without checking every field's
/// UTF-8 again.
pub fn parse_envelope_str(text: &str) -> Result<Envelope<'_>, ParseError<'_>> {
    let bytes = text.as_bytes();
    from_fields(bytes, serde_json::from_str(text))
        .map_or_else(|| envelope(bytes, serde_json::from_str(text)), Ok)
}

/// serde also accepts a struct written as an array; the protocol does not.
fn is_array(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'[')
}

/// The `id` to echo: `None` when absent or `null`; `Err` when it is neither a string nor
/// a number.
fn echoed_id(raw: Option<&RawValue>) -> Result<Option<&RawValue>, ()> {
    match raw {
        Some(raw) if is_null(raw) => Ok(None),
        Some(raw) => match raw.get().as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9') => Ok(Some(raw)),
            _ => Err(()),
        },
        None => Ok(None),
    }
}

/// The envelope of a frame that parsed in one pass, if it is a valid one (an object,
/// `type` and `action` non-empty strings, `id` a string or a number); `None` for every
/// error, which [`envelope`] then names.
fn from_fields<'a>(
    bytes: &[u8],
    parsed: Result<Fields<'a>, serde_json::Error>,
) -> Option<Envelope<'a>> {
    fn text(f: Option<Field<'_>>) -> Option<Cow<'_, str>> {
        match f {
            Some(Field::Str(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    let fields = parsed.ok().filter(|_| !is_array(bytes))?;
    Some(Envelope {
        id: echoed_id(fields.id).ok()?,
        ty: text(fields.ty)?,
        action: text(fields.action)?,
        data: fields.data,
    })
}

fn envelope<'a>(
    bytes: &'a [u8],
    parsed: Result<RawFields<'a>, serde_json::Error>,
) -> Result<Envelope<'a>, ParseError<'a>> {
    let fail = |code, text, reason, id| ParseError {
        code,
        text,
        reason,
        id,
    };
    // A field that is not valid JSON text (e.g. a lone surrogate escape).
    let invalid_json = |id| fail(codes::INVALID_JSON, texts::FAILED_TO_PARSE_JSON, None, id);
    let fields: RawFields<'_> = match parsed {
        Ok(_) if is_array(bytes) => {
            return Err(fail(
                codes::INVALID_MESSAGE,
                texts::INVALID_MESSAGE,
                None,
                None,
            ));
        }
        Ok(f) => f,
        Err(e) => {
            return Err(match e.classify() {
                serde_json::error::Category::Data => {
                    fail(codes::INVALID_MESSAGE, texts::INVALID_MESSAGE, None, None)
                }
                _ => fail(codes::INVALID_JSON, texts::FAILED_TO_PARSE_JSON, None, None),
            });
        }
    };
    let Ok(id) = echoed_id(fields.id) else {
        return Err(fail(
            codes::INVALID_MESSAGE,
            texts::INVALID_MESSAGE,
            Some("`id` must be a string or a number"),
            None,
        ));
    };
    let ty = match field_str(fields.ty) {
        FieldStr::Present(s) => s,
        FieldStr::Missing => {
            return Err(fail(codes::MISSING_TYPE, texts::MISSING_TYPE, None, id));
        }
        FieldStr::Invalid => return Err(invalid_json(id)),
        FieldStr::NotString => {
            return Err(fail(
                codes::MISSING_TYPE,
                texts::MISSING_TYPE,
                Some("`type` must be a non-empty string"),
                id,
            ));
        }
    };
    let action = match field_str(fields.action) {
        FieldStr::Present(s) => s,
        FieldStr::Missing => {
            return Err(fail(codes::MISSING_ACTION, texts::MISSING_ACTION, None, id));
        }
        FieldStr::Invalid => return Err(invalid_json(id)),
        FieldStr::NotString => {
            return Err(fail(
                codes::MISSING_ACTION,
                texts::MISSING_ACTION,
                Some("`action` must be a non-empty string"),
                id,
            ));
        }
    };
    Ok(Envelope {
        ty,
        action,
        data: fields.data,
        id,
    })
}

enum FieldStr<'a> {
    Present(Cow<'a, str>),
    Missing,
    NotString,
    /// A string that is not valid JSON text (a lone surrogate escape such as `"\ud800"`,
    /// which serde_json's `RawValue` lets through).
    Invalid,
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

fn field_str(raw: Option<&RawValue>) -> FieldStr<'_> {
    let Some(raw) = raw else {
        return FieldStr::Missing;
    };
    if is_null(raw) {
        return FieldStr::Missing;
    }
    // Borrowed when it has no escapes (serde's `Cow<str>` always copies).
    if let Ok(s) = serde_json::from_str::<&str>(raw.get()) {
        return match s {
            "" => FieldStr::Missing,
            s => FieldStr::Present(Cow::Borrowed(s)),
        };
    }
    match serde_json::from_str::<Cow<'_, str>>(raw.get()) {
        Ok(s) if s.is_empty() => FieldStr::Missing,
        Ok(s) => FieldStr::Present(s),
        Err(e) if e.classify() == serde_json::error::Category::Syntax => FieldStr::Invalid,
        Err(_) => FieldStr::NotString,
    }
}

/// Serialises a server frame `{"type", "action", "data"?}`: what [`Server`](crate::Server)
/// sends to clients. The result is shared between all recipients.
pub fn event_frame<T: Serialize + ?Sized>(
    ty: &str,
    action: &str,
    data: &T,
) -> Result<String, serde_json::Error> {
    struct Frame<'a, T: ?Sized> {
        ty: &'a str,
        action: &'a str,
        data: &'a T,
    }
    impl<T: Serialize + ?Sized> Serialize for Frame<'_, T> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(3))?;
            m.serialize_entry("type", self.ty)?;
            m.serialize_entry("action", self.action)?;
            m.serialize_entry("data", self.data)?;
            m.end()
        }
    }
    serde_json::to_string(&Frame { ty, action, data })
}

/// A JSON error response `{"error", "code"}`: how the upgrade endpoint refuses.
pub(crate) fn http_error(
    status: axum::http::StatusCode,
    code: &str,
    error: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({ "error": error, "code": code });
    (status, axum::Json(body)).into_response()
}

// ---- frames the server pushes -------------------------------------------------------

/// `{"type":"system","action":"connected","data":{"clientId"}}`: the first frame.
pub(crate) fn connected_frame(client_id: crate::clients::ClientId) -> Option<crate::frame::Frame> {
    crate::frame::Frame::new(
        "system",
        "connected",
        &serde_json::json!({ "clientId": client_id }),
    )
    .ok()
}

/// PXL's `{"type":"system","action":"clientList","clientListType":"addClient","data":[…]}`
/// (the bounded list of `pxl.client_list`).
pub(crate) fn client_list_frame(entries: &[serde_json::Value]) -> Option<crate::frame::Frame> {
    let value = serde_json::json!({
        "type": "system",
        "action": "clientList",
        "clientListType": "addClient",
        "data": entries,
    });
    Some(crate::frame::Frame::raw(value.to_string()))
}

/// PXL's `{"type":"auth","action":"authenticated","data":{"userId","message"}}`.
/// `user_id` is the token's `sub` as it was (a string or a number).
pub(crate) fn authenticated_frame(user_id: &serde_json::Value) -> Option<crate::frame::Frame> {
    let data = serde_json::json!({ "userId": user_id, "message": "Authentication successful" });
    crate::frame::Frame::new("auth", "authenticated", &data).ok()
}

/// `{"type":"auth","action":"expired","data":{"message","expiredAt","graceMs"}}`: the
/// token expired; the client has `grace_ms` to refresh it.
pub(crate) fn expired_frame(expired_at: &str, grace_ms: u64) -> Option<crate::frame::Frame> {
    let data = serde_json::json!({
        "message": "Token expired: send system/refreshToken with a new token",
        "expiredAt": expired_at,
        "graceMs": grace_ms,
    });
    crate::frame::Frame::new("auth", "expired", &data).ok()
}

/// `{"type":"queue","action":"jobCompleted","data":{"jobId","result"}}` or
/// `{"type":"queue","action":"jobError","data":{"jobId","error"}}`.
pub(crate) fn queue_job_frame(
    completed: bool,
    job_id: &Option<serde_json::Value>,
    outcome: &Option<serde_json::Value>,
) -> Option<crate::frame::Frame> {
    let (action, data) = if completed {
        (
            "jobCompleted",
            serde_json::json!({ "jobId": job_id, "result": outcome }),
        )
    } else {
        (
            "jobError",
            serde_json::json!({ "jobId": job_id, "error": outcome }),
        )
    };
    crate::frame::Frame::new("queue", action, &data).ok()
}

/// `{"type":"user","action":"leftRoom","data":{"roomName"}}`: the client left a room.
pub(crate) fn left_room_frame(room: &str) -> Option<crate::frame::Frame> {
    crate::frame::Frame::new("user", "leftRoom", &serde_json::json!({ "roomName": room })).ok()
}

/// `{"type":"room","action":"memberJoined"|"memberLeft","data":{"roomName","clientId","userId","username"}}`:
/// presence, to a room's other members.
pub(crate) fn presence_frame(
    action: &str,
    room: &str,
    client_id: crate::clients::ClientId,
    user_id: Option<&str>,
    username: Option<String>,
) -> Option<crate::frame::Frame> {
    let data = serde_json::json!({
        "roomName": room,
        "clientId": client_id,
        "userId": user_id,
        "username": username,
    });
    crate::frame::Frame::new("room", action, &data).ok()
}

/// `{"type":"room","action":"userJoined"|"userLeft","data":{"roomName","userId","username"}}`:
/// user-level presence (a user's first connection joined, its last one left), to the room.
pub(crate) fn user_presence_frame(
    action: &str,
    room: &str,
    user_id: &str,
    username: Option<String>,
) -> Option<crate::frame::Frame> {
    let data = serde_json::json!({ "roomName": room, "userId": user_id, "username": username });
    crate::frame::Frame::new("room", action, &data).ok()
}

/// Serialises the reply to a routed request: `{"type","action","response"?,"id"?}`.
/// Written by hand into one buffer of the exact size: the keys are constants, `response`
/// and `id` are raw JSON, and `type` / `action` are copied as they are unless they hold a
/// character JSON needs escaped (they come from the client's frame, where they almost
/// never do).
pub(crate) fn reply_frame(
    ty: &str,
    action: &str,
    response: Option<&RawValue>,
    id: Option<&RawValue>,
) -> String {
    const TYPE: &str = r#"{"type":"#;
    const ACTION: &str = r#","action":"#;
    const RESPONSE: &str = r#","response":"#;
    const ID: &str = r#","id":"#;
    let len = TYPE.len()
        + ty.len()
        + 2
        + ACTION.len()
        + action.len()
        + 2
        + response.map_or(0, |r| RESPONSE.len() + r.get().len())
        + id.map_or(0, |r| ID.len() + r.get().len())
        + 1;
    let mut out = String::with_capacity(len);
    out.push_str(TYPE);
    push_json_str(&mut out, ty);
    out.push_str(ACTION);
    push_json_str(&mut out, action);
    if let Some(r) = response {
        out.push_str(RESPONSE);
        out.push_str(r.get());
    }
    if let Some(id) = id {
        out.push_str(ID);
        out.push_str(id.get());
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string: quoted as it is when nothing in it needs an escape,
/// else escaped by serde_json.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::to_string(s).expect("serialising a string cannot fail"));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Serialises an error frame
/// `{"type":"error","action":"message","data":{"error","code","type"?,"action"?,..},"id"?}`.
pub(crate) fn error_frame(
    err: &ActionError,
    ty: Option<&str>,
    action: Option<&str>,
    id: Option<&RawValue>,
) -> String {
    struct Data<'a> {
        err: &'a ActionError,
        ty: Option<&'a str>,
        action: Option<&'a str>,
    }
    impl Serialize for Data<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("error", self.err.message())?;
            m.serialize_entry("code", self.err.code())?;
            if let Some(t) = self.ty {
                m.serialize_entry("type", t)?;
            }
            if let Some(a) = self.action {
                m.serialize_entry("action", a)?;
            }
            for (k, v) in self.err.details() {
                if !matches!(k, "error" | "code" | "type" | "action") {
                    m.serialize_entry(k, v)?;
                }
            }
            m.end()
        }
    }
    struct Frame<'a> {
        data: Data<'a>,
        id: Option<&'a RawValue>,
    }
    impl Serialize for Frame<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("type", "error")?;
            m.serialize_entry("action", "message")?;
            m.serialize_entry("data", &self.data)?;
            if let Some(id) = self.id {
                m.serialize_entry("id", id)?;
            }
            m.end()
        }
    }
    serde_json::to_string(&Frame {
        data: Data { err, ty, action },
        id,
    })
    .expect("serialising an error frame cannot fail")
}

/// The error frame for a frame that could not be parsed.
pub(crate) fn parse_error_frame(err: &ParseError<'_>) -> String {
    let mut e = ActionError::from_static(err.code, err.text);
    if let Some(reason) = err.reason {
        e = e.with_detail("reason", reason);
    }
    error_frame(&e, None, None, err.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(f: Option<crate::frame::Frame>) -> serde_json::Value {
        serde_json::from_str(f.expect("a frame").as_str()).unwrap()
    }

    #[test]
    fn every_pushed_frame_has_its_documented_shape() {
        use serde_json::json;
        let id: crate::clients::ClientId = "0000000000000000000000000000000c".parse().unwrap();
        assert_eq!(
            json(connected_frame(id)),
            json!({"type": "system", "action": "connected", "data": {"clientId": id.to_string()}})
        );
        assert_eq!(
            json(authenticated_frame(&json!(42))),
            json!({"type": "auth", "action": "authenticated",
                   "data": {"userId": 42, "message": "Authentication successful"}})
        );
        assert_eq!(
            json(expired_frame("2026-01-01T00:00:00.000Z", 30000)),
            json!({"type": "auth", "action": "expired", "data": {
                "message": "Token expired: send system/refreshToken with a new token",
                "expiredAt": "2026-01-01T00:00:00.000Z", "graceMs": 30000}})
        );
        assert_eq!(
            json(left_room_frame("lobby")),
            json!({"type": "user", "action": "leftRoom", "data": {"roomName": "lobby"}})
        );
        assert_eq!(
            json(presence_frame(
                "memberJoined",
                "lobby",
                id,
                Some("u1"),
                None
            )),
            json!({"type": "room", "action": "memberJoined", "data": {
                "roomName": "lobby", "clientId": id.to_string(), "userId": "u1", "username": null}})
        );
        assert_eq!(
            json(queue_job_frame(
                true,
                &Some(json!(7)),
                &Some(json!({"ok": true}))
            )),
            json!({"type": "queue", "action": "jobCompleted", "data": {"jobId": 7, "result": {"ok": true}}})
        );
        assert_eq!(
            json(queue_job_frame(false, &None, &Some(json!("boom")))),
            json!({"type": "queue", "action": "jobError", "data": {"jobId": null, "error": "boom"}})
        );
    }

    /// The error code, the same whether the input is parsed as bytes or as text.
    fn code(input: &str) -> &'static str {
        let as_bytes = parse_envelope(input.as_bytes()).unwrap_err();
        let as_text = parse_envelope_str(input).unwrap_err();
        assert_eq!(
            (as_bytes.code, as_bytes.text, as_bytes.reason),
            (as_text.code, as_text.text, as_text.reason),
            "{input}"
        );
        as_bytes.code
    }

    /// The one-pass parse gives what the field-by-field parse gives, for valid frames
    /// and for every kind of invalid one.
    #[test]
    fn the_one_pass_parse_agrees_with_the_field_by_field_one() {
        let corpus = [
            r#"{"type":"chat","action":"send","data":{"a":1},"id":"r1"}"#,
            r#"{"type":"c\u0068at","action":"s\"q","data":null,"id":-2.5}"#,
            r#"{"action":"a","type":"t","extra":[1,{"x":2}],"data":[1,2]}"#,
            r#"{"type":"t","action":"a","id":null}"#,
            r#"{"type":"","action":"a"}"#,
            r#"{"type":"t","action":""}"#,
            r#"{"type":null,"action":"a","id":7}"#,
            r#"{"type":5,"action":"a","id":"x"}"#,
            r#"{"type":"t","action":{"k":[1]},"id":"x"}"#,
            r#"{"type":"t","action":["a"]}"#,
            r#"{"type":"t","action":true}"#,
            r#"{"type":"\ud800","action":"a","id":"r"}"#,
            r#"{"type":"t","action":"a","id":true}"#,
            r#"{"type":"t","action":"a","id":{"n":1}}"#,
            r#"{"type":"t","type":"u","action":"a"}"#,
            r#"["t","a"]"#,
            r#"  ["t","a",null,null]"#,
            r#"{"type":"t","action":"a""#,
            r#""text""#,
            r#"{"action":"a"}"#,
            r#"{"type":"t"}"#,
            "{}",
            "",
        ];
        for input in corpus {
            let one = parse_envelope(input.as_bytes());
            let text = parse_envelope_str(input);
            let slow = envelope(input.as_bytes(), serde_json::from_slice(input.as_bytes()));
            for fast in [one, text] {
                match (&fast, &slow) {
                    (Ok(f), Ok(s)) => {
                        assert_eq!((&f.ty, &f.action), (&s.ty, &s.action), "{input}");
                        assert_eq!(f.data.map(|d| d.get()), s.data.map(|d| d.get()), "{input}");
                        assert_eq!(f.id.map(|d| d.get()), s.id.map(|d| d.get()), "{input}");
                    }
                    (Err(f), Err(s)) => assert_eq!(
                        (f.code, f.text, f.reason, f.id.map(|d| d.get())),
                        (s.code, s.text, s.reason, s.id.map(|d| d.get())),
                        "{input}"
                    ),
                    _ => panic!(
                        "{input}: one pass {:?}, field by field {:?}",
                        fast.is_ok(),
                        slow.is_ok()
                    ),
                }
            }
        }
        // Borrowed from the frame when there is no escape to undo.
        let env = parse_envelope_str(r#"{"type":"chat","action":"s\n"}"#).unwrap();
        assert!(matches!(env.ty, Cow::Borrowed("chat")));
        assert!(matches!(&env.action, Cow::Owned(a) if a == "s\n"));
    }

    /// The hand-written reply frame is the JSON serde would write, escapes included.
    #[test]
    fn reply_frames_are_the_json_serde_would_write() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let (response, id) = (raw(r#"{"t":1,"s":"x"}"#), raw(r#""r-1""#));
        for (ty, action) in [
            ("chat", "send"),
            ("quo\"te", "back\\slash"),
            ("tab\there", "nl\n\u{1}"),
            ("é ✓ \u{2028}", "😀"),
        ] {
            for (r, i) in [
                (None, None),
                (Some(&*response), None),
                (None, Some(&*id)),
                (Some(&*response), Some(&*id)),
            ] {
                let frame = reply_frame(ty, action, r, i);
                let mut want = format!(
                    r#"{{"type":{},"action":{}"#,
                    serde_json::to_string(ty).unwrap(),
                    serde_json::to_string(action).unwrap()
                );
                if let Some(r) = r {
                    want += &format!(r#","response":{}"#, r.get());
                }
                if let Some(i) = i {
                    want += &format!(r#","id":{}"#, i.get());
                }
                want.push('}');
                let _: serde_json::Value = serde_json::from_str(&frame).unwrap();
                assert_eq!(frame, want, "{ty} {action}");
            }
        }
    }

    #[test]
    fn text_and_bytes_parse_alike() {
        for input in [
            r#"{"type":"chat","action":"send","data":{"a":"\u00e9 é"},"id":"r1"}"#,
            r#"{"type":"c\u0068at","action":"s","data":null,"id":-2.5}"#,
            r#"{"type":"\ud83d\ude00","action":"a"}"#,
        ] {
            let b = parse_envelope(input.as_bytes()).unwrap();
            let t = parse_envelope_str(input).unwrap();
            assert_eq!((&b.ty, &b.action), (&t.ty, &t.action), "{input}");
            assert_eq!(b.data.map(|d| d.get()), t.data.map(|d| d.get()), "{input}");
            assert_eq!(b.id.map(|d| d.get()), t.id.map(|d| d.get()), "{input}");
        }
        // Borrowed from the input when nothing is escaped.
        let t = parse_envelope_str(r#"{"type":"chat","action":"send"}"#).unwrap();
        assert!(matches!(t.ty, Cow::Borrowed("chat")));
        assert!(matches!(t.action, Cow::Borrowed("send")));
    }

    #[test]
    fn parses_a_full_envelope() {
        let env = parse_envelope(br#"{"type":"chat","action":"send","data":{"a":1},"id":7,"x":0}"#)
            .unwrap();
        assert_eq!(env.ty, "chat");
        assert_eq!(env.action, "send");
        assert_eq!(env.data.unwrap().get(), r#"{"a":1}"#);
        assert_eq!(env.id.unwrap().get(), "7");
    }

    #[test]
    fn parse_errors_follow_pxl_order() {
        assert_eq!(code("{"), codes::INVALID_JSON);
        assert_eq!(code(""), codes::INVALID_JSON);
        assert_eq!(code("null"), codes::INVALID_MESSAGE);
        assert_eq!(code("[1]"), codes::INVALID_MESSAGE);
        assert_eq!(code(r#"["chat","send"]"#), codes::INVALID_MESSAGE);
        assert_eq!(code("[1,"), codes::INVALID_JSON);
        assert_eq!(code("\"x\""), codes::INVALID_MESSAGE);
        assert_eq!(code("{}"), codes::MISSING_TYPE);
        assert_eq!(code(r#"{"type":"","action":"a"}"#), codes::MISSING_TYPE);
        assert_eq!(code(r#"{"type":1,"action":"a"}"#), codes::MISSING_TYPE);
        assert_eq!(code(r#"{"type":"t"}"#), codes::MISSING_ACTION);
        assert_eq!(code(r#"{"type":"t","action":null}"#), codes::MISSING_ACTION);
        assert_eq!(
            code(r#"{"type":"t","action":"a","id":{}}"#),
            codes::INVALID_MESSAGE
        );
    }

    #[test]
    fn a_lone_surrogate_in_type_or_action_is_invalid_json() {
        assert_eq!(
            code(r#"{"type":"sys\ud800tem","action":"a"}"#),
            codes::INVALID_JSON
        );
        assert_eq!(
            code(r#"{"type":"t","action":"\udc00"}"#),
            codes::INVALID_JSON
        );
        // A valid pair is text.
        let env = parse_envelope(br#"{"type":"\ud83d\ude00","action":"a"}"#).unwrap();
        assert_eq!(env.ty, "\u{1F600}");
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let env = parse_envelope(br#"{"type":"c\u0068at","action":"s"}"#).unwrap();
        assert_eq!(env.ty, "chat");
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let id = RawValue::from_string("\"r1\"".into()).unwrap();
        let resp = RawValue::from_string("{\"ok\":true}".into()).unwrap();
        assert_eq!(
            reply_frame("chat", "send", Some(&resp), Some(&id)),
            r#"{"type":"chat","action":"send","response":{"ok":true},"id":"r1"}"#
        );
        assert_eq!(
            reply_frame("chat", "send", None, None),
            r#"{"type":"chat","action":"send"}"#
        );
        let err = ActionError::new("ROOM_FULL", "full").with_detail("max", 2);
        assert_eq!(
            error_frame(&err, Some("chat"), Some("join"), None),
            r#"{"type":"error","action":"message","data":{"error":"full","code":"ROOM_FULL","type":"chat","action":"join","max":2}}"#
        );
        assert_eq!(
            event_frame("chat", "message", &serde_json::json!({"t":1})).unwrap(),
            r#"{"type":"chat","action":"message","data":{"t":1}}"#
        );
    }
}
