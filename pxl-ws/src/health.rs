//! Health: counters kept while serving, and the [`Health`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

pub use crate::flow::FlowCounts;

/// Counters updated on the hot path (relaxed atomics).
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) slow_clients_dropped: AtomicU64,
    pub(crate) bus_messages_in: AtomicU64,
    // Limits (see `limits.rs`).
    pub(crate) origin_rejected: AtomicU64,
    pub(crate) host_rejected: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) connections_rejected_per_ip: AtomicU64,
    pub(crate) pending_rejected: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) rate_limit_closes: AtomicU64,
    pub(crate) auth_rejected: AtomicU64,
    pub(crate) tokens_expired: AtomicU64,
    /// The same events for Prometheus (feature `metrics`; empty without it).
    pub(crate) meters: crate::metrics::Meters,
}

impl Metrics {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A send or event from another instance was received.
    pub(crate) fn count_bus_message_in(&self) {
        self.bus_messages_in.fetch_add(1, Ordering::Relaxed);
        self.meters.bus_received();
    }

    /// A socket was upgraded and registered.
    pub(crate) fn count_connection(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.meters.connection_opened();
    }

    /// A data frame was read.
    pub(crate) fn count_message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.meters.message_in();
    }

    /// `n` frames were queued for clients (a fan-out counts once).
    pub(crate) fn count_messages_out(&self, n: u64) {
        if n > 0 {
            self.messages_out.fetch_add(n, Ordering::Relaxed);
            self.meters.messages_out(n);
        }
    }

    /// An error frame was queued for a client.
    pub(crate) fn count_error_sent(&self) {
        self.errors_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A socket was closed for a protocol fault.
    pub(crate) fn count_protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
        self.meters.protocol_error();
    }

    /// A client was closed for not reading (queue over its limit, budget, write timeout).
    pub(crate) fn count_slow_client_dropped(&self) {
        self.slow_clients_dropped.fetch_add(1, Ordering::Relaxed);
        self.meters.slow_consumer_close();
    }

    /// An upgrade was refused for its `Host`.
    pub(crate) fn count_host_rejected(&self) {
        self.host_rejected.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::Host);
    }

    /// An upgrade was refused for its `Origin`.
    pub(crate) fn count_origin_rejected(&self) {
        self.origin_rejected.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::Origin);
    }

    /// An upgrade was refused by the total connection cap.
    pub(crate) fn count_connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::Connections);
    }

    /// An upgrade was refused by the per-IP connection cap.
    pub(crate) fn count_connection_rejected_per_ip(&self) {
        self.connections_rejected_per_ip
            .fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::ConnectionsPerIp);
    }

    /// A connection was closed at accept by the pending caps.
    pub(crate) fn count_pending_rejected(&self) {
        self.pending_rejected.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::Pending);
    }

    /// A data frame was over the rate limit.
    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::Rate);
    }

    /// A client was closed for repeated rate-limit violations.
    pub(crate) fn count_rate_limit_close(&self) {
        self.rate_limit_closes.fetch_add(1, Ordering::Relaxed);
        self.meters.limit(crate::metrics::Limit::RateClose);
    }

    /// An upgrade was refused for its token.
    pub(crate) fn count_auth_rejected(&self) {
        self.auth_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// A client was closed because its token expired unrefreshed.
    pub(crate) fn count_token_expired(&self) {
        self.tokens_expired.fetch_add(1, Ordering::Relaxed);
    }
}

/// The bus's state, shown in [`Health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BusStatus {
    /// Which bus, e.g. `memory`.
    pub kind: &'static str,
    /// Whether publishes currently reach the other instances.
    pub connected: bool,
    /// Messages that could not be published (dropped, counted).
    pub dropped: u64,
}

impl BusStatus {
    /// The state a [`Bus`](crate::bus::Bus) implementation reports: which bus (`kind`,
    /// e.g. `memory`), whether publishes reach the other instances, and how many
    /// messages could not be published.
    pub fn new(kind: &'static str, connected: bool, dropped: u64) -> Self {
        Self {
            kind,
            connected,
            dropped,
        }
    }
}

/// Overall state, as `"ok"`, `"degraded"` or `"shutting_down"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthStatus {
    /// Serving normally.
    Ok,
    /// Serving locally, but the bus to other instances is down.
    Degraded,
    /// Graceful shutdown has begun.
    ShuttingDown,
}

/// A snapshot from [`Server::health`](crate::Server::health); also served as JSON at
/// [`WsConfig::health_path`](crate::WsConfig::health_path) when that is set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Health {
    /// Overall state.
    pub status: HealthStatus,
    /// This process's random instance id.
    pub instance_id: String,
    /// Sockets open on this instance.
    pub active_connections: usize,
    /// Sockets accepted since start.
    pub connections_total: u64,
    /// Rooms with at least one member.
    pub rooms: usize,
    /// Inbound data frames.
    pub messages_in: u64,
    /// Frames queued to clients.
    pub messages_out: u64,
    /// Error frames sent.
    pub errors_sent: u64,
    /// Sockets closed for protocol faults (bad UTF-8, oversize, bad framing).
    pub protocol_errors: u64,
    /// Clients closed with 1008 because their outbound queue stayed over its limit or the
    /// process budget was spent (detail in [`flow`](Self::flow)), or because they
    /// took none of their output (or it stayed over `limits.max_write_buffer`) for
    /// `limits.write_timeout`.
    pub slow_clients_dropped: u64,
    /// Events from other instances acted on (sends delivered here).
    pub bus_messages_in: u64,
    /// Live instances this one knows of, itself included.
    pub cluster_instances: usize,
    /// Sockets open on every instance, as this one sees them (with the cluster directory
    /// in Redis: the other instances' as of their last heartbeat; ask
    /// [`Directory::connection_count`](crate::Directory::connection_count) for now).
    pub cluster_connections: usize,
    /// Upgrade requests refused with 401 (missing or invalid token).
    pub auth_rejected: u64,
    /// Connections closed with 4001 because their token expired unrefreshed.
    pub tokens_expired: u64,
    /// Seconds since the server was built.
    pub uptime_secs: u64,
    /// The bus to other instances.
    pub bus: BusStatus,
    /// What the limits turned away.
    pub limits: LimitCounts,
    /// What the outbound flow control dropped, coalesced and closed.
    pub flow: FlowCounts,
}

/// What the limits (`docs/security.md`) turned away since start, in [`Health::limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LimitCounts {
    /// Upgrades refused with 403 `ORIGIN_NOT_ALLOWED`.
    pub origin_rejected: u64,
    /// Upgrades refused with 421 `HOST_NOT_ALLOWED` (`limits.allowed_hosts`).
    pub host_rejected: u64,
    /// Upgrades refused with 503 `TOO_MANY_CONNECTIONS` (`limits.max_connections`).
    pub connections_rejected: u64,
    /// Upgrades refused with 429 `TOO_MANY_CONNECTIONS_FROM_IP`.
    pub connections_rejected_per_ip: u64,
    /// TCP connections closed at accept, over `limits.max_pending_connections` or
    /// `limits.max_pending_connections_per_ip`.
    pub pending_rejected: u64,
    /// Messages answered `RATE_LIMITED` instead of being routed.
    pub rate_limited: u64,
    /// Clients closed with 1008 for exceeding their rate limit again and again.
    pub rate_limit_closes: u64,
}

impl LimitCounts {
    pub(crate) fn from_metrics(m: &Metrics) -> Self {
        Self {
            origin_rejected: Metrics::get(&m.origin_rejected),
            host_rejected: Metrics::get(&m.host_rejected),
            connections_rejected: Metrics::get(&m.connections_rejected),
            connections_rejected_per_ip: Metrics::get(&m.connections_rejected_per_ip),
            pending_rejected: Metrics::get(&m.pending_rejected),
            rate_limited: Metrics::get(&m.rate_limited),
            rate_limit_closes: Metrics::get(&m.rate_limit_closes),
        }
    }
}
