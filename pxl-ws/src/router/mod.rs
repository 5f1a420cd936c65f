//! Routing: the [`Controller`] trait, static route tables and dispatch.
//!
//! A message `{type, action}` is routed in two steps: a hash lookup of `type` finds the
//! controller, then the controller's generated `match` on `action` finds the method.
//! `#[ws_controller]` writes the [`Controller`] impl; it can also be written by hand
//! (see the trait docs).

mod extract;
mod reply;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub(crate) use extract::server_only;
pub use extract::{Data, FromMessage, State};
pub use reply::Reply;
#[doc(hidden)]
pub use reply::{reply_result, reply_result_unit, reply_unit, reply_value};

use crate::handles::Client;
use crate::protocol::{ActionError, Envelope};
use crate::service::Server;
use crate::state::StateMap;

/// A boxed, `Send` future, as returned by [`Controller::call`] (futures-util's).
pub use futures_util::future::BoxFuture;

/// One entry of a controller's static route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// The message `type` (the controller's type).
    pub ty: &'static str,
    /// The message `action`.
    pub action: &'static str,
    /// The Rust method that handles it.
    pub method: &'static str,
    /// The payload type named in the method's `Data<T>` argument, if any.
    pub payload: Option<&'static str>,
    /// Source file of the `#[action]` attribute.
    pub file: &'static str,
    /// Source line of the `#[action]` attribute.
    pub line: u32,
    /// Whether the action needs an authenticated client (`auth`, or implied by `roles`).
    pub auth: bool,
    /// Roles of which the user needs at least one (empty: any authenticated user).
    pub roles: &'static [&'static str],
}

impl RouteInfo {
    /// Builds a route entry (usable in `const` tables).
    pub const fn new(
        ty: &'static str,
        action: &'static str,
        method: &'static str,
        payload: Option<&'static str>,
        file: &'static str,
        line: u32,
    ) -> Self {
        Self {
            ty,
            action,
            method,
            payload,
            file,
            line,
            auth: false,
            roles: &[],
        }
    }

    /// Marks the route as requiring authentication and, when `roles` is not empty, one
    /// of `roles`.
    pub const fn with_auth(mut self, roles: &'static [&'static str]) -> Self {
        self.auth = true;
        self.roles = roles;
        self
    }
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}", self.ty, self.action, self.method)?;
        if let Some(p) = self.payload {
            write!(f, "(Data<{p}>)")?;
        }
        if self.auth {
            write!(f, " [auth")?;
            if !self.roles.is_empty() {
                write!(f, ", roles: {}", self.roles.join("|"))?;
            }
            write!(f, "]")?;
        }
        write!(f, " at {}:{}", self.file, self.line)
    }
}

/// Everything a handler can extract from: the message and where it was received.
///
/// On a server, a message comes from a connected [`Client`] and is handled with the
/// [`Server`] at hand. With the `client` feature, controllers registered on a
/// `WsClient` (`pxl_ws::client`) handle frames the server pushed; their context
/// has no `Client` or `Server`, only the receiving `WsClient` and its state. Extractors
/// ([`FromMessage`]) read from it; hand-written controllers use it directly.
pub struct MessageContext<'a> {
    pub(crate) envelope: &'a Envelope<'a>,
    pub(crate) origin: Origin<'a>,
}

/// Where a message was received.
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// On a server, from a connected client.
    Server {
        client: &'a Client,
        server: &'a Server,
    },
    /// In a `WsClient` (`pxl_ws::client`), pushed by the server.
    #[cfg(feature = "client")]
    Remote {
        client: &'a crate::client::WsClient,
        state: &'a StateMap,
    },
}

impl<'a> MessageContext<'a> {
    /// A server-side context: `client` sent the message.
    pub(crate) fn on_server(
        envelope: &'a Envelope<'a>,
        client: &'a Client,
        server: &'a Server,
    ) -> Self {
        Self {
            envelope,
            origin: Origin::Server { client, server },
        }
    }

    /// The message `type`.
    pub fn message_type(&self) -> &str {
        &self.envelope.ty
    }

    /// The message `action`.
    pub fn action(&self) -> &str {
        &self.envelope.action
    }

    /// The raw `data` field as JSON text, if the message had one.
    pub fn raw_data(&self) -> Option<&'a str> {
        self.envelope.data.map(|d| d.get())
    }

    /// The client that sent the message (server side only; `None` in a
    /// `WsClient` (`pxl_ws::client`)).
    pub fn client(&self) -> Option<&'a Client> {
        match self.origin {
            Origin::Server { client, .. } => Some(client),
            #[cfg(feature = "client")]
            Origin::Remote { .. } => None,
        }
    }

    /// The server handle (server side only; `None` in a
    /// `WsClient` (`pxl_ws::client`)).
    pub fn server(&self) -> Option<&'a Server> {
        match self.origin {
            Origin::Server { server, .. } => Some(server),
            #[cfg(feature = "client")]
            Origin::Remote { .. } => None,
        }
    }

    /// State registered with [`WsServerBuilder::state`](crate::WsServerBuilder::state)
    /// (or, in a client, with `WsClientBuilder::state`).
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        match self.origin {
            Origin::Server { server, .. } => server.state::<T>(),
            #[cfg(feature = "client")]
            Origin::Remote { state, .. } => state.get::<T>(),
        }
    }

    /// The sender and the server, or the error a server-only extractor answers with
    /// when it is used in a client-side controller (`build` normally catches that first).
    #[cfg_attr(not(feature = "client"), allow(unused_variables))]
    pub(crate) fn server_side(&self, what: &str) -> Result<(&'a Client, &'a Server), ActionError> {
        match self.origin {
            Origin::Server { client, server } => Ok((client, server)),
            #[cfg(feature = "client")]
            Origin::Remote { .. } => Err(ActionError::internal(format_args!(
                "{what} is only available in server-side controllers"
            ))),
        }
    }
}

/// A set of actions sharing one message `type`.
///
/// Normally generated by `#[ws_controller]`. Written by hand it looks like this:
///
/// ```
/// use pxl_ws::{ActionError, BoxFuture, Controller, Data, FromMessage, MessageContext, Reply, RouteInfo};
///
/// struct Echo;
///
/// impl Controller for Echo {
///     fn controller_type(&self) -> &'static str {
///         "echo"
///     }
///     fn routes(&self) -> &'static [RouteInfo] {
///         const ROUTES: &[RouteInfo] =
///             &[RouteInfo::new("echo", "say", "say", Some("String"), file!(), line!())];
///         ROUTES
///     }
///     fn call<'a>(&'a self, action: &str, ctx: &'a MessageContext<'a>) -> Option<BoxFuture<'a, Reply>> {
///         match action {
///             "say" => Some(Box::pin(async move {
///                 match Data::<String>::from_message(ctx) {
///                     Ok(Data(text)) => Reply::value(&text),
///                     Err(e) => Reply::Error(e),
///                 }
///             })),
///             _ => None,
///         }
///     }
/// }
/// ```
pub trait Controller: Send + Sync + 'static {
    /// The message `type` this controller handles.
    fn controller_type(&self) -> &'static str;

    /// The static route table: one entry per action.
    fn routes(&self) -> &'static [RouteInfo];

    /// Runs the handler for `action`, or returns `None` when there is none.
    fn call<'a>(
        &'a self,
        action: &str,
        ctx: &'a MessageContext<'a>,
    ) -> Option<BoxFuture<'a, Reply>>;

    /// Checks, at [`build`](crate::WsServerBuilder::build) time, that every extractor the
    /// actions use can be satisfied (e.g. that a `State<T>` was registered). Returns one
    /// message per problem. Generated by `#[ws_controller]`; the default accepts everything.
    fn check(&self, state: &StateMap) -> Vec<String> {
        let _ = state;
        Vec::new()
    }
}

/// Routes from `type` to controller. Built once by the builder, read-only afterwards.
pub(crate) struct Router {
    by_type: HashMap<&'static str, Arc<dyn Controller>>,
    routes: Vec<RouteInfo>,
}

impl Router {
    /// Builds the table; returns every `(type, action)` collision at once.
    pub(crate) fn new(controllers: Vec<Arc<dyn Controller>>) -> Result<Self, Vec<String>> {
        let mut by_type: HashMap<&'static str, Arc<dyn Controller>> = HashMap::new();
        let mut routes: Vec<RouteInfo> = Vec::new();
        let mut seen: HashMap<(&str, &str), RouteInfo> = HashMap::new();
        let mut collisions = Vec::new();
        let mut types_with_several: HashMap<&'static str, Vec<Arc<dyn Controller>>> =
            HashMap::new();
        for c in controllers {
            let ty = c.controller_type();
            for r in c.routes() {
                match seen.get(&(r.ty, r.action)) {
                    Some(first) => collisions.push(format!(
                        "`{}/{}` is defined twice: by `{}` at {}:{} and by `{}` at {}:{}",
                        r.ty,
                        r.action,
                        first.method,
                        first.file,
                        first.line,
                        r.method,
                        r.file,
                        r.line
                    )),
                    None => {
                        seen.insert((r.ty, r.action), *r);
                        routes.push(*r);
                    }
                }
            }
            match by_type.get(ty) {
                Some(existing) => types_with_several
                    .entry(ty)
                    .or_insert_with(|| vec![existing.clone()])
                    .push(c),
                None => {
                    by_type.insert(ty, c);
                }
            }
        }
        if !collisions.is_empty() {
            return Err(collisions);
        }
        // Several controllers may share a type as long as their actions differ.
        for (ty, list) in types_with_several {
            by_type.insert(ty, Arc::new(Merged(list)));
        }
        Ok(Self { by_type, routes })
    }

    pub(crate) fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }

    pub(crate) fn controllers(&self) -> impl Iterator<Item = &Arc<dyn Controller>> {
        self.by_type.values()
    }

    /// Finds and runs the handler; `None` when no route matches.
    pub(crate) fn dispatch<'a>(
        &'a self,
        ctx: &'a MessageContext<'a>,
    ) -> Option<BoxFuture<'a, Reply>> {
        self.by_type
            .get(ctx.message_type())?
            .call(ctx.action(), ctx)
    }
}

/// Controllers sharing one `type`: tried in registration order.
struct Merged(Vec<Arc<dyn Controller>>);

impl Controller for Merged {
    fn controller_type(&self) -> &'static str {
        self.0[0].controller_type()
    }
    fn routes(&self) -> &'static [RouteInfo] {
        &[]
    }
    fn call<'a>(
        &'a self,
        action: &str,
        ctx: &'a MessageContext<'a>,
    ) -> Option<BoxFuture<'a, Reply>> {
        self.0.iter().find_map(|c| c.call(action, ctx))
    }
    fn check(&self, state: &StateMap) -> Vec<String> {
        self.0.iter().flat_map(|c| c.check(state)).collect()
    }
}
