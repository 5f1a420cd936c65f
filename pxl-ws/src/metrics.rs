//! Prometheus metrics (feature `metrics`) through the [`metrics`](::metrics) facade: one
//! small function or handle per event, each a single line at its call site. Without the
//! feature every type here is empty and every function an empty `#[inline]` body, so
//! recording compiles to nothing.
//!
//! Label values come only from bounded sets: the static route table (anything else is
//! counted under [`UNKNOWN`]), the protocol's error codes plus at most
//! [`MAX_APP_CODES`] application codes (then [`OTHER`]), close codes folded into a fixed
//! list, the registered subscribers' names, and the fixed limit kinds. The table of every
//! metric is in `docs/metrics.md`.
//!
//! The hot-path handles (messages, routes) are registered once, when the server is
//! built, with whatever global recorder is installed then: install the app's own
//! recorder before `build()`, or let `metrics_path` install pxl-ws's Prometheus one.

#[cfg(feature = "metrics")]
pub(crate) use imp::*;
#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// The `type` and `action` label of a message no route takes (not an envelope, or no
/// handler in the route table).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const UNKNOWN: &str = "_unknown";
/// The `code` label of an application error code past the first [`MAX_APP_CODES`].
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const OTHER: &str = "_other";
/// How many distinct application error codes get their own label value.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const MAX_APP_CODES: usize = 32;

/// Why a connection was refused or cut by a limit: the `kind` label of
/// `pxl_ws_limits_hit_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Limit {
    Host,
    Origin,
    Connections,
    ConnectionsPerIp,
    Pending,
    Rate,
    RateClose,
}

impl Limit {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Limit; 7] = [
        Limit::Host,
        Limit::Origin,
        Limit::Connections,
        Limit::ConnectionsPerIp,
        Limit::Pending,
        Limit::Rate,
        Limit::RateClose,
    ];

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Limit::Host => "host",
            Limit::Origin => "origin",
            Limit::Connections => "connections",
            Limit::ConnectionsPerIp => "connections_per_ip",
            Limit::Pending => "pending",
            Limit::Rate => "rate_limit",
            Limit::RateClose => "rate_limit_close",
        }
    }
}

/// The `code` label of a close: the codes the protocol defines, `app` for 3000–4999,
/// `other` for anything else; a connection that ended without a close frame is `1006`.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn close_label(code: Option<u16>) -> &'static str {
    match code {
        None | Some(1006) => "1006",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1002) => "1002",
        Some(1003) => "1003",
        Some(1005) => "1005",
        Some(1007) => "1007",
        Some(1008) => "1008",
        Some(1009) => "1009",
        Some(1010) => "1010",
        Some(1011) => "1011",
        Some(1012) => "1012",
        Some(1013) => "1013",
        Some(1014) => "1014",
        Some(3000..=4999) => "app",
        Some(_) => "other",
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use ::metrics::{Counter, Histogram, Unit, counter, gauge, histogram};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    use super::{Limit, MAX_APP_CODES, OTHER, UNKNOWN, close_label};
    use crate::protocol::codes;
    use crate::route::RouteInfo;

    /// Histogram buckets of every `_seconds` metric: 100 µs to 10 s.
    pub(crate) const SECONDS_BUCKETS: &[f64] = &[
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ];

    static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

    /// Installs pxl-ws's Prometheus recorder as the global recorder (once per process;
    /// later servers share it) and returns its handle. `Err` when another recorder was
    /// installed first: that one is the app's, and it gets the metrics already.
    pub(crate) fn install_prometheus() -> Result<PrometheusHandle, &'static str> {
        if let Some(h) = PROMETHEUS.get() {
            return Ok(h.clone());
        }
        static INSTALL: Mutex<()> = Mutex::new(());
        let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = PROMETHEUS.get() {
            return Ok(h.clone());
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        ::metrics::set_global_recorder(recorder).map_err(|_| {
            "another metrics recorder is installed: it receives pxl-ws's metrics; serve it \
             yourself and leave `metrics_path` unset"
        })?;
        let _ = PROMETHEUS.set(handle.clone());
        Ok(handle)
    }

    /// Whether pxl-ws's own Prometheus recorder is the process's recorder.
    pub(crate) fn prometheus_installed() -> bool {
        PROMETHEUS.get().is_some()
    }

    /// Describes every metric (name, unit, help) to the current recorder.
    pub(crate) fn describe() {
        use ::metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_gauge!("pxl_ws_connections_open", "WebSocket connections open now");
        describe_counter!(
            "pxl_ws_connections_opened_total",
            "WebSocket connections registered since start"
        );
        describe_counter!(
            "pxl_ws_connections_closed_total",
            "WebSocket connections closed, by close code"
        );
        describe_counter!("pxl_ws_messages_in_total", "data frames read from clients");
        describe_counter!("pxl_ws_messages_out_total", "frames queued for clients");
        describe_counter!(
            "pxl_ws_route_handled_total",
            "messages handled, by route (type, action)"
        );
        describe_counter!(
            "pxl_ws_route_errors_total",
            "error frames answering messages, by route and error code"
        );
        describe_histogram!(
            "pxl_ws_route_duration_seconds",
            Unit::Seconds,
            "handler latency, by route"
        );
        describe_gauge!("pxl_ws_rooms", "rooms with at least one local member");
        describe_gauge!(
            "pxl_ws_room_memberships",
            "local (client, room) memberships"
        );
        describe_gauge!(
            "pxl_ws_outbound_queue_bytes",
            Unit::Bytes,
            "bytes waiting in the clients' outbound queues"
        );
        describe_counter!(
            "pxl_ws_slow_consumer_closes_total",
            "clients closed with 1008 for not taking their output"
        );
        describe_counter!(
            "pxl_ws_protocol_errors_total",
            "connections closed for a protocol fault (1002, 1007, 1009)"
        );
        describe_counter!(
            "pxl_ws_auth_rejections_total",
            "upgrades refused for their token, by error code"
        );
        describe_counter!(
            "pxl_ws_limits_hit_total",
            "connections refused or messages limited, by limit kind"
        );
        describe_counter!(
            "pxl_ws_bus_published_total",
            "messages published on the bus for other instances"
        );
        describe_counter!(
            "pxl_ws_bus_received_total",
            "messages received from other instances"
        );
        describe_counter!(
            "pxl_ws_bus_dropped_total",
            "bus messages dropped (Redis unreachable or publish buffer full)"
        );
        describe_counter!(
            "pxl_ws_bus_reconnects_total",
            "Redis bus reconnections (publisher and subscriber)"
        );
        describe_histogram!(
            "pxl_ws_bus_delivery_latency_seconds",
            Unit::Seconds,
            "sends from other instances: publish (sender's clock) to delivery here (this clock)"
        );
        describe_counter!(
            "pxl_ws_subscriber_runs_total",
            "subscriber runs, by subscriber name"
        );
        describe_counter!(
            "pxl_ws_subscriber_errors_total",
            "subscriber runs that failed or panicked, by subscriber name"
        );
        describe_histogram!(
            "pxl_ws_subscriber_duration_seconds",
            Unit::Seconds,
            "subscriber run time, by subscriber name"
        );
    }

    /// The hot-path counters, registered when the server is built (inside
    /// `health::Metrics`).
    pub(crate) struct Meters {
        messages_in: Counter,
        messages_out: Counter,
        opened: Counter,
        slow: Counter,
        protocol_errors: Counter,
        bus_published: Counter,
        bus_received: Counter,
        bus_delivery: Histogram,
        limits: [Counter; 7],
    }

    impl Default for Meters {
        fn default() -> Self {
            describe();
            Self {
                messages_in: counter!("pxl_ws_messages_in_total"),
                messages_out: counter!("pxl_ws_messages_out_total"),
                opened: counter!("pxl_ws_connections_opened_total"),
                slow: counter!("pxl_ws_slow_consumer_closes_total"),
                protocol_errors: counter!("pxl_ws_protocol_errors_total"),
                bus_published: counter!("pxl_ws_bus_published_total"),
                bus_received: counter!("pxl_ws_bus_received_total"),
                bus_delivery: histogram!("pxl_ws_bus_delivery_latency_seconds"),
                limits: Limit::ALL
                    .map(|l| counter!("pxl_ws_limits_hit_total", "kind" => l.label())),
            }
        }
    }

    impl Meters {
        #[inline]
        pub(crate) fn message_in(&self) {
            self.messages_in.increment(1);
        }
        #[inline]
        pub(crate) fn messages_out(&self, n: u64) {
            self.messages_out.increment(n);
        }
        pub(crate) fn connection_opened(&self) {
            self.opened.increment(1);
        }
        pub(crate) fn slow_consumer_close(&self) {
            self.slow.increment(1);
        }
        pub(crate) fn protocol_error(&self) {
            self.protocol_errors.increment(1);
        }
        pub(crate) fn bus_published(&self) {
            self.bus_published.increment(1);
        }
        pub(crate) fn bus_received(&self) {
            self.bus_received.increment(1);
        }
        pub(crate) fn limit(&self, kind: Limit) {
            self.limits[kind as usize].increment(1);
        }
        /// A send published at `published_at_us` (Unix µs, the sender's clock) was
        /// delivered now; a stamp ahead of this clock (skew) counts as zero.
        pub(crate) fn bus_delivery_latency(&self, published_at_us: u64) {
            let now = crate::util::time::now_us();
            let us = now.saturating_sub(published_at_us);
            self.bus_delivery.record(us as f64 / 1e6);
        }
    }

    /// A connection ended with `code` (`None`: no close frame).
    pub(crate) fn connection_closed(code: Option<u16>) {
        counter!("pxl_ws_connections_closed_total", "code" => close_label(code)).increment(1);
    }

    /// An upgrade was refused for its token.
    pub(crate) fn auth_rejected(code: &'static str) {
        counter!("pxl_ws_auth_rejections_total", "code" => code).increment(1);
    }

    /// The Redis bus dropped `n` messages.
    pub(crate) fn bus_dropped(n: u64) {
        counter!("pxl_ws_bus_dropped_total").increment(n);
    }

    /// A Redis bus connection came back.
    pub(crate) fn bus_reconnect() {
        counter!("pxl_ws_bus_reconnects_total").increment(1);
    }

    /// One run of subscriber `name`.
    pub(crate) fn subscriber_run(name: &str, took: Duration, ok: bool) {
        let name = name.to_owned();
        histogram!("pxl_ws_subscriber_duration_seconds", "subscriber" => name.clone())
            .record(took.as_secs_f64());
        counter!("pxl_ws_subscriber_runs_total", "subscriber" => name.clone()).increment(1);
        if !ok {
            counter!("pxl_ws_subscriber_errors_total", "subscriber" => name).increment(1);
        }
    }

    /// Gauges sampled from the live tables (when `/metrics` is rendered).
    pub(crate) fn sample(open: usize, rooms: usize, memberships: usize, queued_bytes: usize) {
        gauge!("pxl_ws_connections_open").set(open as f64);
        gauge!("pxl_ws_rooms").set(rooms as f64);
        gauge!("pxl_ws_room_memberships").set(memberships as f64);
        gauge!("pxl_ws_outbound_queue_bytes").set(queued_bytes as f64);
    }

    /// The `code` label of an error code: a protocol code as is, the first
    /// [`MAX_APP_CODES`] application codes (up to 64 bytes) as they are, else [`OTHER`].
    pub(crate) fn code_label(code: &str) -> &'static str {
        const KNOWN: &[&str] = &[
            codes::INVALID_JSON,
            codes::INVALID_MESSAGE,
            codes::MISSING_TYPE,
            codes::MISSING_ACTION,
            codes::UNKNOWN_ROUTE,
            codes::INVALID_PAYLOAD,
            codes::UNAUTHENTICATED,
            codes::FORBIDDEN,
            codes::RATE_LIMITED,
            codes::TOO_MANY_ROOMS,
            codes::INTERNAL_ERROR,
        ];
        if let Some(k) = KNOWN.iter().find(|k| **k == code) {
            return k;
        }
        static APP: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
        let mut app = APP.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = app.iter().find(|k| **k == code) {
            return k;
        }
        if app.len() >= MAX_APP_CODES || code.len() > 64 {
            return OTHER;
        }
        // Bounded: at most MAX_APP_CODES strings of at most 64 bytes, once per process.
        let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
        app.push(leaked);
        leaked
    }

    struct RouteMeters {
        ty: &'static str,
        action: &'static str,
        handled: Counter,
        duration: Histogram,
    }

    impl RouteMeters {
        fn new(ty: &'static str, action: &'static str) -> Self {
            Self {
                ty,
                action,
                handled: counter!("pxl_ws_route_handled_total", "type" => ty, "action" => action),
                duration: histogram!(
                    "pxl_ws_route_duration_seconds",
                    "type" => ty,
                    "action" => action
                ),
            }
        }

        fn error(&self, code: &str) {
            counter!(
                "pxl_ws_route_errors_total",
                "type" => self.ty,
                "action" => self.action,
                "code" => code_label(code)
            )
            .increment(1);
        }
    }

    /// Per-route meters, one entry per row of the static route table (in its order, so
    /// the router's route index finds them) plus one for messages no route takes. Held by
    /// the router.
    pub(crate) struct Routes {
        by_route: Box<[RouteMeters]>,
        unknown: RouteMeters,
    }

    impl Routes {
        pub(crate) fn new(routes: &[RouteInfo]) -> Self {
            Self {
                by_route: routes
                    .iter()
                    .map(|r| RouteMeters::new(r.ty, r.action))
                    .collect(),
                unknown: RouteMeters::new(UNKNOWN, UNKNOWN),
            }
        }

        /// Starts timing a message the router took, by its route index (an index past
        /// the table, for an action its controller takes without listing it, is the
        /// unknown route's).
        pub(crate) fn start(&self, route: usize) -> RouteTimer<'_> {
            RouteTimer {
                meters: self.by_route.get(route).unwrap_or(&self.unknown),
                started: Instant::now(),
            }
        }

        /// A message no route took was answered with error `code`.
        pub(crate) fn unrouted(&self, code: &str) {
            self.unknown.handled.increment(1);
            self.unknown.error(code);
        }

        /// How many label sets this table can create, at most (the cardinality bound).
        #[cfg(test)]
        pub(crate) fn label_sets(&self) -> usize {
            self.by_route.len() + 1
        }
    }

    /// Times one handled message.
    pub(crate) struct RouteTimer<'a> {
        meters: &'a RouteMeters,
        started: Instant,
    }

    impl RouteTimer<'_> {
        /// The handler finished; `error`: the code of the error frame that answered.
        pub(crate) fn finish(self, error: Option<&str>) {
            let m = self.meters;
            m.duration.record(self.started.elapsed().as_secs_f64());
            m.handled.increment(1);
            if let Some(code) = error {
                m.error(code);
            }
        }
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(dead_code)]
mod off {
    use super::Limit;
    use crate::route::RouteInfo;

    #[derive(Default)]
    pub(crate) struct Meters;

    impl Meters {
        #[inline(always)]
        pub(crate) fn message_in(&self) {}
        #[inline(always)]
        pub(crate) fn messages_out(&self, _n: u64) {}
        #[inline(always)]
        pub(crate) fn connection_opened(&self) {}
        #[inline(always)]
        pub(crate) fn slow_consumer_close(&self) {}
        #[inline(always)]
        pub(crate) fn protocol_error(&self) {}
        #[inline(always)]
        pub(crate) fn bus_published(&self) {}
        #[inline(always)]
        pub(crate) fn bus_received(&self) {}
        #[inline(always)]
        pub(crate) fn limit(&self, _: Limit) {}
        #[inline(always)]
        pub(crate) fn bus_delivery_latency(&self, _: u64) {}
    }

    #[inline(always)]
    pub(crate) fn connection_closed(_: Option<u16>) {}
    #[inline(always)]
    pub(crate) fn auth_rejected(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn bus_dropped(_: u64) {}
    #[inline(always)]
    pub(crate) fn bus_reconnect() {}
    #[inline(always)]
    pub(crate) fn subscriber_run(_: &str, _: std::time::Duration, _: bool) {}

    pub(crate) struct Routes;

    impl Routes {
        #[inline(always)]
        pub(crate) fn new(_: &[RouteInfo]) -> Self {
            Routes
        }
        #[inline(always)]
        pub(crate) fn start(&self, _: usize) -> RouteTimer {
            RouteTimer
        }
        #[inline(always)]
        pub(crate) fn unrouted(&self, _: &str) {}
    }

    pub(crate) struct RouteTimer;

    impl RouteTimer {
        #[inline(always)]
        pub(crate) fn finish(self, _: Option<&str>) {}
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::collections::BTreeSet;

    use metrics_util::debugging::DebuggingRecorder;

    use super::*;
    use crate::route::RouteInfo;

    const TABLE: &[RouteInfo] = &[
        RouteInfo::new("chat", "send", "send", None, file!(), line!()),
        RouteInfo::new("chat", "edit", "edit", None, file!(), line!()),
    ];

    /// Every label set a route metric can take, after a flood of hostile input: the
    /// route table (plus `_unknown`) × (the protocol codes + [`MAX_APP_CODES`] + `_other`).
    #[test]
    fn route_label_cardinality_is_bounded_by_the_route_table() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let routes = Routes::new(TABLE);
            for i in 0..5_000 {
                // Indices past the table (actions taken but not listed), and handler
                // codes made from input.
                routes.start(TABLE.len() + i).finish(Some("UNKNOWN_ROUTE"));
                routes.unrouted(&format!("CODE_{i}"));
                routes.start(0).finish(Some(&format!("APP_{i}")));
                routes.start(1).finish(None);
            }
            assert_eq!(routes.label_sets(), TABLE.len() + 1);
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let mut routes = BTreeSet::new();
        let mut codes = BTreeSet::new();
        for (key, _, _, _) in &snapshot {
            let key = key.key();
            let label = |n: &str| {
                key.labels()
                    .find(|l| l.key() == n)
                    .map(|l| l.value().to_owned())
            };
            if let (Some(t), Some(a)) = (label("type"), label("action")) {
                routes.insert((t, a));
            }
            if let Some(c) = label("code") {
                codes.insert(c);
            }
        }
        let expected: BTreeSet<_> = [("_unknown", "_unknown"), ("chat", "edit"), ("chat", "send")]
            .map(|(t, a)| (t.to_owned(), a.to_owned()))
            .into();
        assert_eq!(routes, expected);
        // UNKNOWN_ROUTE, 32 app codes, and `_other` for the rest.
        assert!(codes.contains("UNKNOWN_ROUTE") && codes.contains(OTHER));
        assert!(
            codes.len() <= 11 + MAX_APP_CODES + 1,
            "{} codes",
            codes.len()
        );
        assert!(snapshot.len() <= 3 * 2 + 3 * (11 + MAX_APP_CODES + 1));
    }

    #[test]
    fn close_codes_fold_into_a_fixed_list() {
        let labels: BTreeSet<_> = (0..=u16::MAX)
            .map(Some)
            .chain([None])
            .map(close_label)
            .collect();
        assert_eq!(labels.len(), 16, "{labels:?}");
        assert_eq!(close_label(Some(4001)), "app");
        assert_eq!(close_label(None), "1006");
        assert_eq!(close_label(Some(1008)), "1008");
    }
}
