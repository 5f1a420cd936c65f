//! Subscribers: server-side handlers for the events on the bus — the eleven built-in
//! cluster events and the app channels published with [`Server::publish`] — run on every
//! instance.
//!
//! Each event is handed to a dispatch task of its own (so a slow subscriber never stalls
//! socket I/O), which runs every matching subscriber once, by priority (higher first,
//! ties in registration order), one after the other. A subscriber that fails or panics
//! is logged with its name and the channel; the next one still runs.
//!
//! The queue between publishers and the dispatch task is unbounded: subscribers that
//! are slower than the events they match for a long time make it grow. Events still
//! queued when the server shuts down are not run.

mod extract;
mod matcher;
mod middleware;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

pub use extract::{Channel, FromEvent, Message};
pub use matcher::{Event, Matcher, Predicate};
pub use middleware::{LoggingMiddleware, Middleware, RateLimitMiddleware, TimingMiddleware};

use crate::service::Server;
use crate::state::StateMap;
use crate::util::panic::{isolate, isolate_async};

/// A server-side handler of bus events. `#[subscriber]` writes the impl for an
/// `async fn`; it can also be written by hand:
///
/// ```
/// use pxl_ws::{controller::BoxFuture, subscriber::{Event, Matcher, Subscriber, SubscriberContext, SubscriberError}};
///
/// struct Audit;
///
/// impl Subscriber for Audit {
///     fn name(&self) -> &str { "audit" }
///     fn priority(&self) -> i32 { 10 }
///     fn matchers(&self) -> Vec<Matcher> {
///         vec![Event::ClientConnected.into(), Matcher::regex("^audit:").unwrap()]
///     }
///     fn handle<'a>(&'a self, ctx: &'a SubscriberContext) -> BoxFuture<'a, Result<(), SubscriberError>> {
///         Box::pin(async move {
///             println!("{}: {}", ctx.channel(), ctx.message());
///             Ok(())
///         })
///     }
/// }
///
/// let server = pxl_ws::WsServer::builder().subscriber(Audit).build().unwrap();
/// # drop(server);
/// ```
pub trait Subscriber: Send + Sync + 'static {
    /// Its name, unique per server; used in logs and the subscriber table.
    fn name(&self) -> &str;

    /// What it does, for the subscriber table.
    fn description(&self) -> Option<&str> {
        None
    }

    /// Higher runs first; equal priorities keep registration order. Default `0`.
    fn priority(&self) -> i32 {
        0
    }

    /// The channels it runs for: it runs when any matcher matches. Called once, at
    /// registration.
    fn matchers(&self) -> Vec<Matcher>;

    /// Middleware around each run, outermost first. Called once, at registration.
    fn middleware(&self) -> Vec<Arc<dyn Middleware>> {
        Vec::new()
    }

    /// Checked once at build time: one line per extractor the server cannot satisfy
    /// (e.g. an unregistered `State<T>`).
    fn check(&self, state: &StateMap) -> Vec<String> {
        let _ = state;
        Vec::new()
    }

    /// Handles one event.
    fn handle<'a>(
        &'a self,
        ctx: &'a SubscriberContext,
    ) -> BoxFuture<'a, Result<(), SubscriberError>>;
}

/// One event as a subscriber sees it: the channel, the message and the server.
#[derive(Clone)]
pub struct SubscriberContext {
    channel: Arc<str>,
    message: Arc<serde_json::Value>,
    server: Server,
}

impl SubscriberContext {
    /// The channel: a built-in event name (`"queueJobCompleted"`) or an app channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The message: the event's JSON payload.
    pub fn message(&self) -> &serde_json::Value {
        &self.message
    }

    /// The server this subscriber runs on.
    pub fn server(&self) -> &Server {
        &self.server
    }
}

impl fmt::Debug for SubscriberContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberContext")
            .field("channel", &self.channel)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

/// Why a subscriber failed: logged with the subscriber's name and the channel.
///
/// Any `std::error::Error` converts into it with `?`; [`SubscriberError::msg`] makes
/// one from text.
pub struct SubscriberError(Box<dyn std::error::Error + Send + Sync>);

impl SubscriberError {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string().into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for SubscriberError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl fmt::Display for SubscriberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SubscriberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// What a subscriber function may return: `()` or `Result<(), E>` with
/// `E: Into<SubscriberError>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a subscriber",
    note = "a subscriber returns `()` or `Result<(), E>` where `E: Into<pxl_ws::subscriber::SubscriberError>`"
)]
pub trait SubscriberReturn {
    /// The outcome.
    fn into_result(self) -> Result<(), SubscriberError>;
}

impl SubscriberReturn for () {
    fn into_result(self) -> Result<(), SubscriberError> {
        Ok(())
    }
}

impl<E: Into<SubscriberError>> SubscriberReturn for Result<(), E> {
    fn into_result(self) -> Result<(), SubscriberError> {
        self.map_err(Into::into)
    }
}

/// Builds the list for [`WsServerBuilder::subscribers`](crate::WsServerBuilder::subscribers)
/// from `#[subscriber]` functions (by name or path).
///
/// ```
/// use pxl_ws::{subscriber, subscribers, subscriber::Channel};
///
/// #[subscriber(channel = "orders")]
/// async fn orders(Channel(channel): Channel) {
///     let _ = channel;
/// }
///
/// let server = pxl_ws::WsServer::builder()
///     .subscribers(subscribers![orders])
///     .build()
///     .unwrap();
/// # drop(server);
/// ```
#[cfg(feature = "macros")]
#[macro_export]
macro_rules! subscribers {
    ($($($seg:ident)::+),* $(,)?) => {
        <[_]>::into_vec($crate::__private::std::boxed::Box::new([
            $(
                $crate::__private::std::sync::Arc::new($($seg)::+ {})
                    as $crate::__private::std::sync::Arc<dyn $crate::subscriber::Subscriber>
            ),*
        ]))
    };
}

/// One registered subscriber, its matchers and middleware resolved.
struct Entry {
    subscriber: Arc<dyn Subscriber>,
    name: String,
    priority: i32,
    matchers: Vec<Matcher>,
    middleware: Vec<Arc<dyn Middleware>>,
}

impl Entry {
    fn matches(&self, channel: &str, message: &serde_json::Value) -> bool {
        self.matchers.iter().any(|m| m.matches(channel, message))
    }
}

/// Subscribers in run order, and the dispatch queue feeding them.
pub(crate) struct Subscribers {
    entries: Vec<Entry>,
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
}

struct Job {
    channel: Arc<str>,
    message: Arc<serde_json::Value>,
}

impl Subscribers {
    /// Orders `list` by priority (stable); `Err` lists duplicate names and unsatisfied
    /// extractors.
    pub(crate) fn new(
        list: Vec<Arc<dyn Subscriber>>,
        state: &StateMap,
    ) -> Result<Self, (Vec<String>, Vec<String>)> {
        let mut duplicates = Vec::new();
        let mut missing = Vec::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(list.len());
        for s in list {
            let name = s.name().to_owned();
            if entries.iter().any(|e| e.name == name) {
                duplicates.push(format!("subscriber name `{name}` is registered twice"));
            }
            missing.extend(
                s.check(state)
                    .into_iter()
                    .map(|m| format!("subscriber `{name}`: {m}")),
            );
            entries.push(Entry {
                priority: s.priority(),
                matchers: s.matchers(),
                middleware: s.middleware(),
                name,
                subscriber: s,
            });
        }
        if !duplicates.is_empty() || !missing.is_empty() {
            return Err((duplicates, missing));
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.priority));
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Self {
            entries,
            tx,
            rx: Mutex::new(Some(rx)),
        })
    }

    /// The subscriber table, one line each, in run order.
    pub(crate) fn table(&self) -> String {
        self.entries
            .iter()
            .map(|e| {
                let m: Vec<String> = e.matchers.iter().map(ToString::to_string).collect();
                let mut line =
                    format!("  {} [priority {}] <- {}", e.name, e.priority, m.join(", "));
                if let Some(d) = e.subscriber.description() {
                    line.push_str(&format!(" — {d}"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The registered names, in run order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Whether any subscriber might run for `channel` (so the event is worth encoding).
    pub(crate) fn wants(&self, channel: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.matchers.iter().any(|m| m.may_match(channel)))
    }

    /// Queues an event for the dispatch task.
    pub(crate) fn dispatch(&self, channel: &str, message: serde_json::Value) {
        if !self.wants(channel) {
            return;
        }
        let _ = self.tx.send(Job {
            channel: channel.into(),
            message: Arc::new(message),
        });
    }

    /// Runs queued events until the server shuts down. Started once, with the server.
    fn start(self: Arc<Self>, server: &Server) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let server = server.clone();
        let stop = server.shared.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    _ = stop.cancelled() => break,
                    j = rx.recv() => match j { Some(j) => j, None => break },
                };
                let ctx = SubscriberContext {
                    channel: job.channel,
                    message: job.message,
                    server: server.clone(),
                };
                for e in &self.entries {
                    if e.matches(&ctx.channel, &ctx.message) {
                        run(e, &ctx).await;
                    }
                }
            }
        });
    }
}

/// Runs one subscriber with its middleware; logs failures and panics.
async fn run(e: &Entry, ctx: &SubscriberContext) {
    for m in &e.middleware {
        if !guard(m.name(), || m.before(&e.name, ctx)) {
            tracing::info!(subscriber = %e.name, channel = %ctx.channel, middleware = m.name(), "subscriber skipped by middleware");
            return;
        }
    }
    let started = Instant::now();
    let outcome = isolate_async(e.subscriber.handle(ctx))
        .await
        .unwrap_or_else(|p| Err(SubscriberError::msg(format!("panicked: {p}"))));
    let elapsed = started.elapsed();
    crate::metrics::subscriber_run(&e.name, elapsed, outcome.is_ok());
    match outcome {
        Ok(()) => {
            for m in &e.middleware {
                guard(m.name(), || {
                    m.after(&e.name, ctx, elapsed);
                    true
                });
            }
        }
        Err(err) => {
            let suppressed = e
                .middleware
                .iter()
                .any(|m| guard(m.name(), || m.on_error(&e.name, ctx, &err)));
            if suppressed {
                tracing::debug!(subscriber = %e.name, channel = %ctx.channel, error = %err, "subscriber error suppressed by middleware");
            } else {
                tracing::error!(subscriber = %e.name, channel = %ctx.channel, error = %err, "subscriber failed");
            }
        }
    }
}

impl crate::service::SubscriberTable for Subscribers {
    fn names(&self) -> Vec<String> {
        Subscribers::names(self)
    }

    fn spawn(self: Arc<Self>, server: &Server) {
        self.start(server);
    }
}

impl crate::cluster::EventSink for Subscribers {
    fn wants(&self, channel: &str) -> bool {
        Subscribers::wants(self, channel)
    }

    fn dispatch(&self, channel: &str, message: serde_json::Value) {
        Subscribers::dispatch(self, channel, message);
    }
}

/// Runs a middleware hook; a panic is logged and counts as `false` (in `before`: skip;
/// in `on_error`: not suppressed).
fn guard(name: &str, f: impl FnOnce() -> bool) -> bool {
    match isolate(f) {
        Ok(b) => b,
        Err(panic) => {
            tracing::error!(middleware = name, %panic, "subscriber middleware panicked");
            false
        }
    }
}
