//! Extractors: the argument types an action handler may take.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::MessageContext;
use crate::handles::Client;
use crate::protocol::{ActionError, codes};
use crate::service::Server;
use crate::state::StateMap;

/// Something an action handler can take as an argument.
///
/// Implemented for [`Data<T>`], [`Client`], [`Server`], [`State<T>`],
/// [`AuthUser`](crate::AuthUser) (and `Option<AuthUser>`) and [`serde_json::Value`]; with
/// the `client` feature also for `WsClient` (`pxl_ws::client`), the extractor of
/// client-side controllers. A failed extraction becomes an error frame for the client
/// (e.g. `INVALID_PAYLOAD`) and the handler does not run.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an action argument",
    label = "not an extractor",
    note = "action arguments must implement `pxl_ws::controller::FromMessage`: `Data<T>`, `Client`, `Server`, `State<T>`, `AuthUser`, `Option<AuthUser>` or `serde_json::Value` (in client-side controllers: `WsClient`)"
)]
pub trait FromMessage: Sized {
    /// Extracts the value from the message context.
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError>;

    /// Checked once at build time: `Err` explains what is missing (e.g. an unregistered
    /// state type). The default accepts everything.
    fn check(state: &StateMap) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// The message's `data`, deserialised into `T`.
///
/// A missing `data` deserialises from `null` (so `Option<T>` and `()` accept it). When
/// `data` does not fit `T`, the client gets `INVALID_PAYLOAD` naming the field path and
/// the reason, e.g. ``invalid payload at `room`: invalid type: integer `5`, expected a string``.
///
/// ```
/// # use pxl_ws::Data;
/// #[derive(serde::Deserialize)]
/// struct SendMsg { room: String, text: String }
///
/// fn takes(Data(msg): Data<SendMsg>) -> String { msg.text }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned> FromMessage for Data<T> {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        let raw = ctx.raw_data().unwrap_or("null");
        // The common case without path tracking (it allocates as it goes); a payload that
        // does not decode is read again with it, for the error's path.
        if let Ok(v) = T::deserialize(&mut serde_json::Deserializer::from_str(raw)) {
            return Ok(Data(v));
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(v) => Ok(Data(v)),
            Err(e) => {
                let mut path = e.path().to_string();
                if path.len() > MAX_PATH {
                    // Deeply nested input makes long paths; the start says enough.
                    let cut = (0..=MAX_PATH)
                        .rev()
                        .find(|i| path.is_char_boundary(*i))
                        .unwrap_or(0);
                    path.truncate(cut);
                    path.push('…');
                }
                let reason = e.inner().to_string();
                let reason = strip_position(&reason);
                let message = if path == "." {
                    format!("invalid payload: {reason}")
                } else {
                    format!("invalid payload at `{path}`: {reason}")
                };
                Err(ActionError::new(codes::INVALID_PAYLOAD, message)
                    .with_detail("path", path)
                    .with_detail("reason", reason))
            }
        }
    }
}

/// An argument written as `Data<Box<RawValue>>`, on its way from the message: the macro
/// calls `(&RawData::<Ty>::new()).__pxl_data(ctx)` (`Ty` the argument's type) with
/// [`DataRawValue`] and [`DataFromMessage`] in scope. Method lookup picks `DataRawValue`
/// when `Ty` is this crate's `Data` of serde_json's `Box<RawValue>`: the envelope's
/// `data`, already read as valid JSON by the envelope parse, is copied as it is, where
/// deserialising it would read and check it again. Any other type spelled so goes
/// through its [`FromMessage`].
#[doc(hidden)]
pub struct RawData<T>(std::marker::PhantomData<fn() -> T>);

impl<T> RawData<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

#[doc(hidden)]
pub trait DataRawValue {
    fn __pxl_data(&self, ctx: &MessageContext<'_>) -> Result<Data<Box<RawValue>>, ActionError>;
}

impl DataRawValue for RawData<Data<Box<RawValue>>> {
    fn __pxl_data(&self, ctx: &MessageContext<'_>) -> Result<Data<Box<RawValue>>, ActionError> {
        // A missing `data` is `null`, as `Data::from_message` reads it.
        Ok(Data(ctx.envelope.data.unwrap_or(RawValue::NULL).to_owned()))
    }
}

#[doc(hidden)]
pub trait DataFromMessage<T> {
    fn __pxl_data(&self, ctx: &MessageContext<'_>) -> Result<T, ActionError>;
}

impl<T: FromMessage> DataFromMessage<T> for &RawData<T> {
    fn __pxl_data(&self, ctx: &MessageContext<'_>) -> Result<T, ActionError> {
        T::from_message(ctx)
    }
}

/// Longest field path quoted in an `INVALID_PAYLOAD` error.
const MAX_PATH: usize = 96;

/// serde_json appends " at line 1 column 17"; the path already says where.
fn strip_position(reason: &str) -> &str {
    match reason.rfind(" at line ") {
        Some(i) => &reason[..i],
        None => reason,
    }
}

impl FromMessage for serde_json::Value {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        match ctx.raw_data() {
            None => Ok(serde_json::Value::Null),
            Some(raw) => serde_json::from_str(raw).map_err(|e| {
                ActionError::new(codes::INVALID_PAYLOAD, format!("invalid payload: {e}"))
            }),
        }
    }
}

impl FromMessage for Client {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        ctx.server_side("`Client`")
            .map(|(client, _)| client.clone())
    }

    fn check(state: &StateMap) -> Result<(), String> {
        server_only(state, "Client")
    }
}

impl FromMessage for Server {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        ctx.server_side("`Server`")
            .map(|(_, server)| server.clone())
    }

    fn check(state: &StateMap) -> Result<(), String> {
        server_only(state, "Server")
    }
}

/// The build-time check of an extractor that only a server can provide: a client-side
/// controller (registered on a `WsClient`) cannot take it.
pub(crate) fn server_only(state: &StateMap, what: &str) -> Result<(), String> {
    if state.is_client_side() {
        Err(format!(
            "`{what}` is only available in server-side controllers; a client-side controller takes `WsClient`, `Data<T>`, `State<T>` or `serde_json::Value`"
        ))
    } else {
        Ok(())
    }
}

/// Application state registered with [`WsServerBuilder::state`](crate::WsServerBuilder::state).
///
/// State is per process: each server instance (each process of a cluster) has its own,
/// registered on its own builder; nothing of it travels over the bus, so what must be
/// shared between instances belongs in a shared store.
///
/// `T` is cloned per message, so share big things through an `Arc`. A controller that
/// asks for a state type nobody registered makes [`build`](crate::WsServerBuilder::build) fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromMessage for State<T> {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        ctx.state::<T>().map(State).ok_or_else(|| {
            ActionError::internal(format!(
                "State<{}> is not registered on the builder",
                std::any::type_name::<T>()
            ))
        })
    }

    fn check(state: &StateMap) -> Result<(), String> {
        if state.contains::<T>() {
            Ok(())
        } else {
            Err(format!(
                "`State<{0}>` is used but no state of type `{0}` was registered: call `.state(value)` on the builder",
                std::any::type_name::<T>()
            ))
        }
    }
}

impl FromMessage for crate::ws_service::WsService {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        Server::from_message(ctx).map(Self::new)
    }

    fn check(state: &StateMap) -> Result<(), String> {
        super::server_only(state, "WsService")
    }
}
