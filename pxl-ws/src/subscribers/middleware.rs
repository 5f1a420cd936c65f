//! Subscriber middleware: hooks around each run, and three ready-made ones.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{SubscriberContext, SubscriberError};

/// Hooks around a subscriber's runs, declared with `middleware = [...]` in
/// `#[subscriber]` or returned by [`Subscriber::middleware`](super::Subscriber::middleware).
///
/// For each run, the `before` hooks run in order; the first that returns `false` skips
/// the subscriber. After a success, every `after` hook runs; after a failure the
/// `on_error` hooks run in order until one returns `true`, which suppresses the error
/// (it is then not logged as a failure). A panicking hook is logged and counts as
/// `false`.
///
/// ```
/// use pxl_ws::{subscriber::{Middleware, SubscriberContext}};
///
/// /// Only runs subscribers for VIP messages.
/// struct VipOnly;
///
/// impl Middleware for VipOnly {
///     fn name(&self) -> &str { "vipOnly" }
///     fn before(&self, _subscriber: &str, ctx: &SubscriberContext) -> bool {
///         ctx.message()["segment"] == "vip"
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Its name, for logs.
    fn name(&self) -> &str;

    /// Before the run; `false` skips it.
    fn before(&self, subscriber: &str, ctx: &SubscriberContext) -> bool {
        let _ = (subscriber, ctx);
        true
    }

    /// After a successful run that took `elapsed`.
    fn after(&self, subscriber: &str, ctx: &SubscriberContext, elapsed: Duration) {
        let _ = (subscriber, ctx, elapsed);
    }

    /// After a failed (or panicked) run; `true` suppresses the error.
    fn on_error(&self, subscriber: &str, ctx: &SubscriberContext, error: &SubscriberError) -> bool {
        let _ = (subscriber, ctx, error);
        false
    }
}

/// Logs each run (at `info`) before and after, and failures at `warn`.
#[derive(Debug, Clone, Default)]
pub struct LoggingMiddleware;

impl Middleware for LoggingMiddleware {
    fn name(&self) -> &str {
        "logging"
    }

    fn before(&self, subscriber: &str, ctx: &SubscriberContext) -> bool {
        tracing::info!(subscriber, channel = ctx.channel(), "subscriber starting");
        true
    }

    fn after(&self, subscriber: &str, ctx: &SubscriberContext, elapsed: Duration) {
        tracing::info!(
            subscriber,
            channel = ctx.channel(),
            ?elapsed,
            "subscriber done"
        );
    }

    fn on_error(&self, subscriber: &str, ctx: &SubscriberContext, error: &SubscriberError) -> bool {
        tracing::warn!(subscriber, channel = ctx.channel(), %error, "subscriber failed");
        false
    }
}

/// Logs how long each successful run took (at `debug`; at `warn` above `slow`). The
/// time is measured per run, so concurrent runs never mix up.
#[derive(Debug, Clone)]
pub struct TimingMiddleware {
    slow: Duration,
}

impl TimingMiddleware {
    /// Warns about runs slower than `slow`.
    pub fn new(slow: Duration) -> Self {
        Self { slow }
    }
}

impl Default for TimingMiddleware {
    /// Warns above one second.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl Middleware for TimingMiddleware {
    fn name(&self) -> &str {
        "timing"
    }

    fn after(&self, subscriber: &str, ctx: &SubscriberContext, elapsed: Duration) {
        if elapsed > self.slow {
            tracing::warn!(
                subscriber,
                channel = ctx.channel(),
                ?elapsed,
                "slow subscriber"
            );
        } else {
            tracing::debug!(
                subscriber,
                channel = ctx.channel(),
                ?elapsed,
                "subscriber timing"
            );
        }
    }
}

/// Channels tracked before quiet ones are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// Allows at most `max` runs per channel in any sliding `window`; the others are
/// skipped (logged).
///
/// ```
/// use std::time::Duration;
/// let limit = pxl_ws::subscriber::RateLimitMiddleware::new(100, Duration::from_secs(1));
/// # drop(limit);
/// ```
#[derive(Debug)]
pub struct RateLimitMiddleware {
    max: usize,
    window: Duration,
    runs: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimitMiddleware {
    /// `max` runs per channel per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            runs: Mutex::new(HashMap::new()),
        }
    }
}

impl Middleware for RateLimitMiddleware {
    fn name(&self) -> &str {
        "rateLimit"
    }

    fn before(&self, subscriber: &str, ctx: &SubscriberContext) -> bool {
        let now = Instant::now();
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.len() > PRUNE_ABOVE {
            // Channels can be dynamic (`analytics:<id>`): forget the quiet ones.
            runs.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let q = runs.entry(ctx.channel().to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            tracing::info!(
                subscriber,
                channel = ctx.channel(),
                "subscriber rate limited"
            );
            return false;
        }
        q.push_back(now);
        true
    }
}
