//! Typed server pushes: a Rust type bound to its `(type, action)` with
//! `#[derive(Push)]`, sent with `server.send_to_room(room, &msg, None)` (no `Frame::new`,
//! no `map_err`), and listed in the contract.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::contract::schema::Schemas;
use crate::frame::Frame;

/// A server push: a payload type bound to the `type` and `action` of the frames that
/// carry it, `{"type": TYPE, "action": ACTION, "data": <Self>}`.
///
/// Derive it (feature `macros`):
///
/// ```
/// use pxl_ws::Push;
/// use serde::Serialize;
///
/// #[derive(Serialize, Push)]
/// #[push(type = "chat", action = "message")]
/// struct ChatMessage { room: String, text: String }
///
/// let frame = pxl_ws::Frame::push(&ChatMessage { room: "lobby".into(), text: "hi".into() }).unwrap();
/// assert_eq!(frame.as_str(), r#"{"type":"chat","action":"message","data":{"room":"lobby","text":"hi"}}"#);
/// // server.send_to_room("lobby", &ChatMessage { .. }, None) sends it, as does client.send(&msg).
/// ```
///
/// List pushes in the contract with `pushes = [ChatMessage, ...]` on `#[ws_controller]`
/// or with [`WsServerBuilder::push`](crate::WsServerBuilder::push).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a push",
    label = "not bound to a `(type, action)`",
    note = "add `#[derive(pxl_ws::Push)]` and `#[push(type = \"...\", action = \"...\")]` to `{Self}`, or build a `Frame` with `Frame::new`"
)]
pub trait Push: Serialize {
    /// The frame's `type`.
    const TYPE: &'static str;
    /// The frame's `action`.
    const ACTION: &'static str;

    /// The JSON Schema of the payload (`None`: untyped, i.e. without feature `schema`
    /// or without `JsonSchema`). The derive writes it.
    fn schema(schemas: &mut Schemas) -> Option<Value> {
        let _ = schemas;
        None
    }
}

/// What a send takes: a [`Frame`] (sent as it is) or any [`Push`] (serialised once,
/// here). A push that cannot be serialised (e.g. a map with non-string keys) is sent to
/// nobody, and the cause is logged.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent: it is neither a `Frame` nor a `Push`",
    label = "not a frame",
    note = "derive `pxl_ws::Push` with `#[push(type = \"...\", action = \"...\")]` on the payload type, or build a `Frame` with `Frame::new(type, action, &data)`"
)]
pub trait ToFrame {
    /// The frame, or `None` (logged) when the value cannot be serialised.
    fn to_frame(&self) -> Option<Cow<'_, Frame>>;
}

impl ToFrame for Frame {
    fn to_frame(&self) -> Option<Cow<'_, Frame>> {
        Some(Cow::Borrowed(self))
    }
}

impl<T: Push + ?Sized> ToFrame for T {
    fn to_frame(&self) -> Option<Cow<'_, Frame>> {
        match Frame::new(T::TYPE, T::ACTION, self) {
            Ok(frame) => Some(Cow::Owned(frame)),
            Err(e) => {
                tracing::error!(
                    r#type = T::TYPE,
                    action = T::ACTION,
                    error = %e,
                    "push not sent: its payload cannot be serialised"
                );
                None
            }
        }
    }
}

/// One push in the contract: its `(type, action)`, the Rust type and its schema.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct PushInfo {
    /// The frame's `type`.
    pub ty: &'static str,
    /// The frame's `action`.
    pub action: &'static str,
    /// The Rust type (`std::any::type_name`).
    pub rust_type: &'static str,
    /// Its schema (see [`Push::schema`]).
    pub schema: fn(&mut Schemas) -> Option<Value>,
}

impl PushInfo {
    /// The entry of `T`.
    pub fn of<T: Push + ?Sized>() -> Self {
        Self {
            ty: T::TYPE,
            action: T::ACTION,
            rust_type: std::any::type_name::<T>(),
            schema: T::schema,
        }
    }
}

impl fmt::Debug for PushInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushInfo")
            .field("ty", &self.ty)
            .field("action", &self.action)
            .field("rust_type", &self.rust_type)
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// Serialises a [`Push`]: `{"type": T::TYPE, "action": T::ACTION, "data": push}`.
    /// Sends take pushes directly ([`ToFrame`]); this is for keeping the frame (to send
    /// it many times) or for handling the serialisation error yourself.
    pub fn push<T: Push + ?Sized>(push: &T) -> Result<Self, serde_json::Error> {
        Frame::new(T::TYPE, T::ACTION, push)
    }
}
