//! What a send carries and where it goes: [`Frame`] (serialised once, shared by every
//! recipient), [`RawMessage`] and [`Target`]. Data only.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::clients::ClientId;
use crate::flow::Overflow;
use crate::protocol::event_frame;

/// A serialised server frame, shared by every recipient of a send.
///
/// ```
/// let frame = pxl_ws::Frame::new("chat", "message", &serde_json::json!({"text": "hi"})).unwrap();
/// assert_eq!(frame.as_str(), r#"{"type":"chat","action":"message","data":{"text":"hi"}}"#);
/// ```
///
/// A frame also says what happens to it for a client that is behind (its queue over
/// `limits.outbound.soft_bytes` or `queue_bytes`): kept (the default),
/// [`droppable`](Self::droppable) or [`coalesce`](Self::coalesce)d by key. The rule
/// applies on this instance; other instances queue the frame as kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    text: Utf8Bytes,
    overflow: Overflow,
}

impl Frame {
    /// Serialises `{"type": ty, "action": action, "data": data}`.
    pub fn new<T: Serialize + ?Sized>(
        ty: &str,
        action: &str,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self::from_text(event_frame(ty, action, data)?.into()))
    }

    fn from_text(text: Utf8Bytes) -> Self {
        Self {
            text,
            overflow: Overflow::Keep,
        }
    }

    /// Marks the frame droppable: a client whose queue is over
    /// `limits.outbound.soft_bytes` does not get it, and queued droppable frames are
    /// the first to go when a kept frame finds the queue over `queue_bytes`. For what a
    /// client can do without (a live counter's intermediate values, a progress tick).
    /// Drops are counted in [`Health::flow`](crate::health::Health::flow).
    ///
    /// ```
    /// let tick = pxl_ws::Frame::new("job", "progress", &42).unwrap().droppable();
    /// # let _ = tick;
    /// ```
    pub fn droppable(mut self) -> Self {
        self.overflow = Overflow::Droppable;
        self
    }

    /// Coalesces the frame by `key`: if a frame with the same key is still queued for a
    /// client, this one takes its place (and its position), so a client that is behind
    /// holds one such frame per key. For state where only the latest value matters:
    /// typing indicators, cursor positions, presence counts. Keys are compared per
    /// client; name the thing and whose it is (`"typing:lobby:alice"`).
    ///
    /// ```
    /// let typing = pxl_ws::Frame::new("chat", "typing", &serde_json::json!({"user": "alice"}))
    ///     .unwrap()
    ///     .coalesce("typing:lobby:alice");
    /// # let _ = typing;
    /// ```
    pub fn coalesce(mut self, key: impl Into<Arc<str>>) -> Self {
        self.overflow = Overflow::Coalesce(key.into());
        self
    }

    /// Whether the frame is kept for a client that is behind (neither droppable nor
    /// coalesced).
    pub fn is_kept(&self) -> bool {
        self.overflow == Overflow::Keep
    }

    pub(crate) fn overflow(&self) -> &Overflow {
        &self.overflow
    }

    /// A frame from text the caller already built, sent as is to local clients. It must
    /// be JSON to reach other instances: a send checks it before publishing and drops
    /// (and logs) one that is not.
    pub fn raw(json: impl Into<String>) -> Self {
        Self::from_text(json.into().into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    pub(crate) fn to_message(&self) -> Message {
        Message::Text(self.text.clone())
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("Frame");
        t.field(&self.as_str());
        match &self.overflow {
            Overflow::Keep => {}
            Overflow::Droppable => {
                t.field(&"droppable");
            }
            Overflow::Coalesce(key) => {
                t.field(&format_args!("coalesce({key:?})"));
            }
        }
        t.finish()
    }
}

/// A data message exactly as the client sent it, handed to the
/// [`fallback`](crate::WsServerBuilder::fallback) handler when no route takes it.
/// [`Client::send_raw`](crate::Client::send_raw) sends it (or any other) back unchanged, without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage(pub(crate) Message);

impl RawMessage {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self(Message::Text(text.into().into()))
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<bytes::Bytes>) -> Self {
        Self(Message::Binary(bytes.into()))
    }

    /// Whether it came as a binary frame.
    pub fn is_binary(&self) -> bool {
        matches!(self.0, Message::Binary(_))
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
            _ => &[],
        }
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("binary", &self.is_binary())
            .field("len", &self.as_bytes().len())
            .finish()
    }
}

/// Who a send reaches: everyone, rooms, a user's connections or one client, optionally
/// except one client (typically the sender).
///
/// ```
/// use pxl_ws::{ClientId, Target};
/// let me = ClientId::random();
/// let t = Target::room("lobby").except(me);
/// # let _ = t;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(flatten)]
    pub(crate) to: To,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) except: Option<ClientId>,
    /// Not kept in a history room's stream (see [`Target::unrecorded`]); local only.
    #[serde(skip)]
    pub(crate) unrecorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(crate) enum To {
    All,
    Rooms { rooms: Vec<String> },
    User { user_id: String },
    Client { client_id: ClientId },
}

impl Target {
    /// Every connected client.
    pub fn all() -> Self {
        Self::new(To::All)
    }

    /// The members of one room.
    pub fn room(room: impl Into<String>) -> Self {
        Self::new(To::Rooms {
            rooms: vec![room.into()],
        })
    }

    /// The members of several rooms; a client in more than one of them gets one copy.
    pub fn rooms<I, S>(rooms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(To::Rooms {
            rooms: rooms.into_iter().map(Into::into).collect(),
        })
    }

    /// Every connection of one user.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self::new(To::User {
            user_id: user_id.into(),
        })
    }

    /// One client.
    pub fn client(id: ClientId) -> Self {
        Self::new(To::Client { client_id: id })
    }

    /// Leaves `id` out.
    pub fn except(mut self, id: ClientId) -> Self {
        self.except = Some(id);
        self
    }

    /// Not kept in the room's history and sent without a `stream` position, for
    /// ephemeral frames such as typing indicators (only sends to one history room are
    /// recorded at all).
    ///
    /// ```
    /// let typing = pxl_ws::Target::room("lobby").unrecorded();
    /// # let _ = typing;
    /// ```
    pub fn unrecorded(mut self) -> Self {
        self.unrecorded = true;
        self
    }

    fn new(to: To) -> Self {
        Self {
            to,
            except: None,
            unrecorded: false,
        }
    }
}

/// `t`, leaving `except` out when it is set.
pub(crate) fn with_except(t: Target, except: Option<ClientId>) -> Target {
    match except {
        Some(id) => t.except(id),
        None => t,
    }
}
