//! Extractors: the argument types a subscriber function may take.

use serde::de::DeserializeOwned;

use super::{SubscriberContext, SubscriberError};
use crate::router::State;
use crate::service::Server;
use crate::state::StateMap;

/// Something a subscriber function can take as an argument.
///
/// Implemented for [`Channel`], [`Message<T>`], [`serde_json::Value`] (the raw message),
/// [`Server`], [`WsService`](crate::WsService), [`State<T>`] and
/// [`SubscriberContext`]. A failed extraction (e.g. a message that does not fit `T`)
/// fails this subscriber's run, logged with its name and the channel; the other
/// subscribers still run.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a subscriber argument",
    label = "not a subscriber extractor",
    note = "subscriber arguments must implement `pxl_ws::FromEvent`: `Channel`, `Message<T>`, `serde_json::Value`, `Server`, `WsService`, `State<T>` or `SubscriberContext`"
)]
pub trait FromEvent: Sized {
    /// Extracts the value from the event.
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError>;

    /// Checked once at build time: `Err` explains what is missing. The default accepts
    /// everything.
    fn check(state: &StateMap) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// The channel the event came on: a built-in event name or an app channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel(pub String);

impl FromEvent for Channel {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        Ok(Channel(ctx.channel().to_owned()))
    }
}

/// The message, deserialised into `T`. When it does not fit, the run fails with the
/// field path and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<T>(pub T);

impl<T: DeserializeOwned> FromEvent for Message<T> {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        serde_path_to_error::deserialize(ctx.message())
            .map(Message)
            .map_err(|e| {
                SubscriberError::msg(format!(
                    "message does not fit `{}`: at `{}`: {}",
                    std::any::type_name::<T>(),
                    e.path(),
                    e.inner()
                ))
            })
    }
}

impl FromEvent for serde_json::Value {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        Ok(ctx.message().clone())
    }
}

impl FromEvent for Server {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        Ok(ctx.server().clone())
    }
}

impl FromEvent for SubscriberContext {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        Ok(ctx.clone())
    }
}

impl<T: Clone + Send + Sync + 'static> FromEvent for State<T> {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        ctx.server().state::<T>().map(State).ok_or_else(|| {
            SubscriberError::msg(format!(
                "State<{}> is not registered on the builder",
                std::any::type_name::<T>()
            ))
        })
    }

    fn check(state: &StateMap) -> Result<(), String> {
        <State<T> as crate::router::FromMessage>::check(state)
    }
}

impl FromEvent for crate::ws_service::WsService {
    fn from_event(ctx: &SubscriberContext) -> Result<Self, SubscriberError> {
        Ok(Self::new(ctx.server().clone()))
    }
}
