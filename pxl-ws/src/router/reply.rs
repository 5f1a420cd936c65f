//! Reply conversion: what a handler's return value becomes on the wire.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::protocol::ActionError;

/// The outcome of an action, before it is framed as `{type, action, response?, id?}`
/// (or as an error frame).
///
/// `#[ws_controller]` converts return values for you: `()` gives [`Reply::Empty`] (no
/// `response` key), any `T: Serialize` gives [`Reply::Value`], and `Result<T, E>` with
/// `E: Into<ActionError>` gives a value or [`Reply::Error`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// Reply without a `response` key.
    Empty,
    /// Reply with this JSON as `response`.
    Value(Box<RawValue>),
    /// Send an error frame instead of a reply.
    Error(ActionError),
}

impl Reply {
    /// Serialises `value` as the `response`. A value that cannot be serialised (e.g. a
    /// map with non-string keys) becomes an `INTERNAL_ERROR`, and the cause is logged.
    pub fn value<T: Serialize + ?Sized>(value: &T) -> Reply {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => Reply::Value(raw),
            Err(e) => Reply::Error(ActionError::internal(format_args!(
                "could not serialise the response: {e}"
            ))),
        }
    }
}

impl From<ActionError> for Reply {
    fn from(e: ActionError) -> Self {
        Reply::Error(e)
    }
}

#[doc(hidden)]
pub fn reply_unit(_: ()) -> Reply {
    Reply::Empty
}

#[doc(hidden)]
pub fn reply_value<T: Serialize>(value: T) -> Reply {
    Reply::value(&value)
}

#[doc(hidden)]
pub fn reply_result<T: Serialize, E: Into<ActionError>>(r: Result<T, E>) -> Reply {
    match r {
        Ok(v) => Reply::value(&v),
        Err(e) => Reply::Error(e.into()),
    }
}

#[doc(hidden)]
pub fn reply_result_unit<E: Into<ActionError>>(r: Result<(), E>) -> Reply {
    match r {
        Ok(()) => Reply::Empty,
        Err(e) => Reply::Error(e.into()),
    }
}

#[doc(hidden)]
pub fn reply_error<E: Into<ActionError>>(e: E) -> Reply {
    Reply::Error(e.into())
}

/// A return value written as `Box<RawValue>`, on its way to a [`Reply`]: the macro
/// calls `(&RawReply::new(v)).__pxl_reply()` with [`ReplyRawValue`] and
/// [`ReplySerialize`] in scope. Method lookup picks `ReplyRawValue` when `v` is
/// serde_json's `Box<RawValue>` (taken as the response without serialising it again)
/// and `ReplySerialize` for any other `Serialize` type that happens to be spelled so.
#[doc(hidden)]
pub struct RawReply<T>(std::cell::Cell<Option<T>>);

impl<T> RawReply<T> {
    #[doc(hidden)]
    pub fn new(value: T) -> Self {
        Self(std::cell::Cell::new(Some(value)))
    }

    fn take(&self) -> T {
        self.0
            .take()
            .expect("a RawReply is turned into a reply once")
    }
}

#[doc(hidden)]
pub trait ReplyRawValue {
    fn __pxl_reply(&self) -> Reply;
}

impl ReplyRawValue for RawReply<Box<RawValue>> {
    fn __pxl_reply(&self) -> Reply {
        Reply::Value(self.take())
    }
}

#[doc(hidden)]
pub trait ReplySerialize {
    fn __pxl_reply(&self) -> Reply;
}

impl<T: Serialize> ReplySerialize for &RawReply<T> {
    fn __pxl_reply(&self) -> Reply {
        Reply::value(&self.take())
    }
}
