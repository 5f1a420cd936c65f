//! Attribute macros for [`pxl-ws`](https://docs.rs/pxl-ws): `#[ws_controller]` and its
//! helper attribute `#[action]`, and `#[subscriber]`.
//!
//! Use them through the `pxl_ws` crate (feature `macros`, on by default), which
//! re-exports them and pins this crate to its exact version.
//!
//! Each macro is parsed into a small model (`controller/parse.rs`,
//! `subscriber/parse.rs`), checked (`validate.rs`, with the handler-signature rules
//! shared in `handler.rs`) and expanded from the model alone (`expand.rs`), naming the
//! runtime through one path table (`paths.rs`).
//! Every mistake is reported as an error at the offending token, all mistakes of an item
//! together, and the annotated item is always emitted so that the rest of the crate still
//! type-checks.

mod attr;
mod controller;
mod diag;
mod handler;
mod paths;
mod push;
mod subscriber;

use proc_macro::TokenStream;

/// Turns an inherent impl block into a pxl-ws controller: its `#[action("...")]` methods
/// handle the messages `{"type": <type>, "action": <name>, ...}`.
///
/// ```
/// use pxl_ws::{ws_controller, ActionError, Client, Data, State};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct SendMsg { room: String, text: String }
///
/// #[derive(Serialize)]
/// struct Ack { delivered: bool }
///
/// #[derive(Clone)]
/// struct Motd(&'static str);
///
/// struct ChatController;
///
/// #[ws_controller(type = "chat")]
/// impl ChatController {
///     #[action("send")]
///     async fn send(&self, client: Client, Data(msg): Data<SendMsg>) -> Result<Ack, ActionError> {
///         if !client.in_room(&msg.room) {
///             return Err(ActionError::new("NOT_IN_ROOM", "join the room first"));
///         }
///         let _ = msg.text;
///         Ok(Ack { delivered: true })
///     }
///
///     #[action("motd")]
///     async fn motd(&self, State(motd): State<Motd>) -> String {
///         motd.0.to_owned()
///     }
///
///     // Methods without `#[action]` stay ordinary methods.
///     fn helper(&self) {}
/// }
///
/// use pxl_ws::controller::Controller as _;
/// let routes = ChatController.routes();
/// assert_eq!(routes[0].action, "send");
/// assert_eq!(routes[0].payload, Some("SendMsg"));
/// ```
///
/// # Attribute keys
///
/// | key | required | meaning |
/// |---|---|---|
/// | `type = "chat"` | yes | the message `type` every action of this impl handles |
/// | `crate = "path::to::pxl_ws"` | no | where the runtime is, when `pxl_ws` is renamed or re-exported (default `::pxl_ws`) |
/// | `auth` | no | every action needs an authenticated client (see [Authorization](#authorization)) |
/// | `roles = ["admin", "moderator"]` | no | every action needs a client with at least one of these roles; implies `auth` |
///
/// Keys may come in any order. The type, and every action name, must match
/// `^[A-Za-z][A-Za-z0-9_.-]{0,63}$`: an ASCII letter first, then ASCII letters, digits,
/// `_`, `.` or `-`, 64 characters at most.
///
/// # Actions
///
/// `#[action("name")]` marks a method as the handler of one action. It is a helper
/// attribute of `#[ws_controller]`, which consumes it; it needs no import, and on its own
/// (outside a `#[ws_controller]` impl) it is an error. The name comes first; the keys
/// `auth` and `roles = [...]` may follow, in any order:
/// `#[action("ban", auth)]`, `#[action("ban", roles = ["admin"])]`. A handler must be:
///
/// - `async`, and not `const`, `unsafe`, `extern` or variadic,
/// - a method taking `&self` (one controller value serves every connection),
/// - without generic parameters (types, consts or lifetimes),
/// - with arguments that are all extractors ([`FromMessage`]: `Data<T>`, `Client`,
///   `Server`, `State<T>`, [`AuthUser`], `Option<AuthUser>`, `serde_json::Value`, ...),
///   in any order, with any pattern (`Data(msg): Data<SendMsg>`).
///
/// Its future must be `Send`. Each action name may appear once per impl; several
/// controllers may share a `type` as long as their actions differ (checked when the
/// server is built).
///
/// # Authorization
///
/// `auth` and `roles` restrict who may call an action. They are accepted on
/// `#[ws_controller(...)]`, where they apply to every action of the impl, and on
/// `#[action(...)]`. For each action:
///
/// - it needs an **authenticated** client when `auth` or `roles` is given on the
///   controller or on the action;
/// - its **roles** are the action's `roles` if given, else the controller's, else none;
///   a client needs at least *one* of them, and with none any authenticated client is
///   allowed.
///
/// So an action's `roles` replace the controller's (they do not add to them), and an
/// action's `auth` alone keeps the controller's roles. Giving `auth` together with `roles`
/// is allowed and changes nothing. An action of a controller with `auth` or `roles`
/// cannot be made public: put public actions in another controller, which may share the
/// `type`.
///
/// The check runs before any extractor: an anonymous client gets an `UNAUTHENTICATED`
/// error reply, an authenticated client without a required role gets `FORBIDDEN`, and
/// the method does not run. Inside the handler, take [`AuthUser`] (or
/// `Option<AuthUser>` on a public action) to know who is calling.
///
/// `roles` takes a non-empty list of string literals, each given once and matching
/// `^[A-Za-z0-9_.:-]{1,64}$` (ASCII letters, digits, `_`, `.`, `:` and `-`, 64
/// characters at most).
///
/// ```
/// use pxl_ws::{ws_controller, AuthUser, Data};
///
/// struct Moderation;
///
/// #[ws_controller(type = "moderation", roles = ["admin", "moderator"])]
/// impl Moderation {
///     // The controller's roles: admins and moderators.
///     #[action("warn")]
///     async fn warn(&self, user: AuthUser, Data(target): Data<String>) -> String {
///         format!("{} warned {target}", user.user_id())
///     }
///
///     // Its own roles replace the controller's: admins only.
///     #[action("ban", roles = ["admin"])]
///     async fn ban(&self, Data(target): Data<String>) {
///         let _ = target;
///     }
/// }
///
/// struct Profile;
///
/// #[ws_controller(type = "profile")]
/// impl Profile {
///     // Anyone, signed in or not.
///     #[action("view")]
///     async fn view(&self, user: Option<AuthUser>) -> bool {
///         user.is_some()
///     }
///
///     // Any authenticated client.
///     #[action("edit", auth)]
///     async fn edit(&self, user: AuthUser) {
///         let _ = user.roles();
///     }
/// }
///
/// use pxl_ws::controller::Controller as _;
/// let ban = &Moderation.routes()[1];
/// assert!(ban.auth);
/// assert_eq!(ban.roles, ["admin"]);
/// let view = &Profile.routes()[0];
/// assert!(!view.auth);
/// let edit = &Profile.routes()[1];
/// assert!(edit.auth && edit.roles.is_empty());
/// ```
///
/// # Return types
///
/// The reply is chosen from how the return type is *written*:
///
/// | return type | reply |
/// |---|---|
/// | none, or `()` | a reply without `response` |
/// | `Result<(), E>` | a reply without `response`, or an error frame |
/// | `Result<T, E>` | `T` as `response`, or an error frame |
/// | anything else, `T` | `T` as `response` |
///
/// `T` must implement `Serialize` and `E` must implement `Into<ActionError>`. "Result"
/// means a path whose last segment is `Result` (`Result<..>`, `std::result::Result<..>`,
/// `io::Result<..>`): a type alias for a result that is *not* named `Result` is treated
/// as a value, so write such returns as `Result<..>`.
///
/// # What it generates
///
/// The impl block is emitted unchanged, minus the `#[action]` attributes, followed by an
/// `impl pxl_ws::controller::Controller` inside `const _: () = { ... };`:
///
/// - `controller_type()` returns the `type`;
/// - `routes()` returns a static table with one [`RouteInfo`] per action (type, action,
///   method, the `T` of a `Data<T>` argument as text, the file and line of the
///   `#[action]` attribute, and whether it needs authentication and which roles);
/// - `call()` matches on the action, checks authorization when the action needs it, runs
///   each argument's extractor in order (a refused client or a failed extraction becomes
///   an error reply and the method does not run) and converts the return value;
/// - `check()` asks every argument type whether the server can provide it (e.g. that a
///   `State<T>` was registered), so that `build()` fails early.
///
/// All paths in the generated code are fully qualified, so it also works under
/// `#![no_implicit_prelude]`.
///
/// # Errors
///
/// Mistakes are compile errors at the offending token, reported together: a missing,
/// empty or invalid `type`; an unknown or repeated key; a value given to `auth`
/// (`auth = true`); a `roles` that is not a non-empty list of string literals, or a role
/// that is empty, invalid or repeated; a missing, invalid or repeated action name (with a
/// note at the first one); a handler that is not `async`, is `const`, `unsafe`, `extern`
/// or variadic, is generic or does not take `&self`; an argument that is not an extractor (reported at the
/// argument); an impl with no `#[action]` methods; and `#[ws_controller]` on anything but
/// an inherent impl block.
///
/// [`FromMessage`]: https://docs.rs/pxl-ws/latest/pxl_ws/trait.FromMessage.html
/// [`RouteInfo`]: https://docs.rs/pxl-ws/latest/pxl_ws/struct.RouteInfo.html
/// [`AuthUser`]: https://docs.rs/pxl-ws/latest/pxl_ws/struct.AuthUser.html
#[proc_macro_attribute]
pub fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    controller::ws_controller(args.into(), input.into()).into()
}

/// Marks a method of a [`#[ws_controller]`](macro@ws_controller) impl block as the
/// handler of one action: `#[action("send")]`, optionally restricted to authenticated
/// clients with `#[action("ban", auth)]` or to some roles with
/// `#[action("ban", roles = ["admin"])]`.
///
/// This attribute is consumed by `#[ws_controller]`; see its documentation for the rules
/// a handler follows and for [how `auth` and `roles` combine](macro@ws_controller#authorization). Anywhere else — on a free function, or in an impl block without
/// `#[ws_controller]` — it is a compile error.
#[proc_macro_attribute]
pub fn action(args: TokenStream, input: TokenStream) -> TokenStream {
    controller::stray_action(args.into(), input.into()).into()
}

/// Turns an `async fn` into a pxl-ws subscriber: a server-side handler of bus events
/// (the eleven built-in cluster events and app channels published with
/// `Server::publish`), run on every instance. The function stays an ordinary function;
/// the macro adds a companion item of the same name implementing `pxl_ws::subscriber::Subscriber`,
/// registered with `subscribers![name]`.
///
/// ```
/// use pxl_ws::{subscriber, subscribers, WsService, subscriber::{Channel, Event, Message}};
///
/// #[subscriber(
///     channels = [Event::QueueJobCompleted, Event::QueueJobError],
///     priority = 20,
///     name = "queueDashboard",
///     description = "Forward queue updates to the live dashboard",
/// )]
/// async fn queue_dashboard(Channel(channel): Channel, message: serde_json::Value, ws: WsService) {
///     let action = if channel == "queueJobCompleted" { "done" } else { "errored" };
///     let _ = ws.send_to_rooms(&["dashboard"], &pxl_ws::Frame::new("queue", action, &message).unwrap());
/// }
///
/// fn is_vip(_channel: &str, message: &serde_json::Value) -> bool {
///     message["segment"] == "vip"
/// }
///
/// #[derive(serde::Deserialize)]
/// struct View { page: String }
///
/// #[subscriber(matches = [regex("^analytics:"), predicate(is_vip)], name = "segmentTargeting")]
/// async fn segment_targeting(Message(view): Message<View>) -> Result<(), pxl_ws::subscriber::SubscriberError> {
///     let _ = view.page;
///     Ok(())
/// }
///
/// let server = pxl_ws::WsServer::builder()
///     .subscribers(subscribers![queue_dashboard, segment_targeting])
///     .build()
///     .unwrap();
/// assert_eq!(server.handle().subscribers(), ["queueDashboard", "segmentTargeting"]);
/// ```
///
/// # Keys
///
/// | key | meaning |
/// |---|---|
/// | `channel = "orders"` or `channel = Event::Custom` | one channel |
/// | `channels = ["a", Event::QueueJobError]` | several channels |
/// | `matches = ["*", "orders", regex("^analytics:"), predicate(path::to_fn)]` | any mix of matchers; the predicate is a `fn(&str, &serde_json::Value) -> bool` over the channel and the message |
/// | `priority = 20` | higher runs first (default 0); equal priorities keep registration order |
/// | `name = "..."` | unique name for logs and the subscriber table (default: the function's name) |
/// | `description = "..."` | shown in the subscriber table |
/// | `middleware = [LoggingMiddleware, ...]` | expressions of types implementing `pxl_ws::subscriber::Middleware`, outermost first |
/// | `crate = "path::to::pxl_ws"` | where the runtime is (default `::pxl_ws`) |
///
/// Exactly one of `channel`, `channels` and `matches` must be given. Regexes are checked
/// at compile time. Arguments are extractors (`pxl_ws::subscriber::FromEvent`): `Channel`,
/// `Message<T>`, `serde_json::Value`, `Server`, `WsService`, `State<T>`,
/// `SubscriberContext`. The function returns `()` or `Result<(), E>` with
/// `E: Into<SubscriberError>`.
///
/// # Errors
///
/// Compile errors, at the offending token and all together: none or several of
/// `channel`/`channels`/`matches`; an empty list; an invalid regex; a duplicate channel or
/// matcher; an unknown `Event` variant; a non-integer priority; an unknown or duplicate
/// key; a function that is not `async`, is `const`, `unsafe`, `extern` or variadic, has
/// generic parameters or takes `self` (the same rules as an `#[action]` method, minus
/// the receiver); an argument that is not an extractor. After an error the companion item
/// is still emitted, matching nothing, so `subscribers![name]` adds no further errors.
///
/// # Unregistered subscribers
///
/// A subscriber runs only once its companion item is passed to `subscribers![...]`.
/// One that never is gets rustc's `dead_code` warning at the function's name, "struct
/// `name` is never constructed", with the note "the subscriber `name` never runs:
/// register it with `WsServer::builder().subscribers(subscribers![name, ...])`". Like
/// any `dead_code` warning, it is not given for a `pub` subscriber of a library (another
/// crate may register it), a crate-wide `#![allow(dead_code)]` silences it, and
/// `#![deny(warnings)]` makes it an error (without the note). An `#[allow(dead_code)]`
/// or `#[expect(dead_code)]` on the function silences it for that subscriber. The
/// companion carries its own lint level, so a crate with `#![forbid(dead_code)]` cannot
/// use `#[subscriber]`.
#[proc_macro_attribute]
pub fn subscriber(args: TokenStream, input: TokenStream) -> TokenStream {
    subscriber::subscriber(args.into(), input.into()).into()
}

/// Binds a payload type to the `(type, action)` of the frames that carry it: implements
/// `pxl_ws::Push`, so sends take the value itself
/// (`server.send_to_room(room, &ChatMessage { .. }, None)`) and the contract lists it.
///
/// ```
/// use pxl_ws::Push;
///
/// #[derive(serde::Serialize, Push)]
/// #[push(type = "chat", action = "message")]
/// struct ChatMessage { room: String, text: String }
///
/// assert_eq!(<ChatMessage as Push>::TYPE, "chat");
/// assert_eq!(<ChatMessage as Push>::ACTION, "message");
/// ```
///
/// # Attribute keys
///
/// | key | required | meaning |
/// |---|---|---|
/// | `type = "chat"` | yes | the frame's `type` |
/// | `action = "message"` | yes | the frame's `action` |
/// | `crate = "path::to::pxl_ws"` | no | where the runtime is (default `::pxl_ws`) |
///
/// Both names follow the rule of controller types and action names. The type must also
/// implement `serde::Serialize`; with the `schema` feature of pxl-ws and
/// `schemars::JsonSchema`, its schema is in the contract (without, it is untyped there).
#[proc_macro_derive(Push, attributes(push))]
pub fn derive_push(input: TokenStream) -> TokenStream {
    push::derive(input.into()).into()
}
