//! Per-route counters that need no `metrics` feature: how many messages each route of
//! the static route table handled and how many it answered with an error, plus one
//! entry for messages no route took. Kept by the `Router` (one relaxed atomic add or
//! two per message), read by the admin dashboard (`admin/routes`). The table is fixed
//! at `build()`, so its size is bounded by the route table whatever clients send.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::route::RouteInfo;

/// One route's counts.
#[derive(Default)]
pub(crate) struct RouteCount {
    handled: AtomicU64,
    errors: AtomicU64,
}

impl RouteCount {
    /// One message handled; `error`: it was answered with an error frame.
    #[inline]
    pub(crate) fn record(&self, error: bool) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) -> (u64, u64) {
        (
            self.handled.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// The counters of every route, in route-table order, and of unrouted messages.
pub(crate) struct RouteStats {
    routes: Vec<RouteInfo>,
    counts: Box<[RouteCount]>,
    unknown: RouteCount,
}

/// One row of [`RouteStats::snapshot`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteRow {
    #[serde(rename = "type")]
    pub(crate) ty: &'static str,
    pub(crate) action: &'static str,
    pub(crate) method: &'static str,
    pub(crate) auth: bool,
    pub(crate) roles: &'static [&'static str],
    pub(crate) handled: u64,
    pub(crate) errors: u64,
}

impl RouteStats {
    pub(crate) fn new(routes: &[RouteInfo]) -> Self {
        Self {
            routes: routes.to_vec(),
            counts: routes.iter().map(|_| RouteCount::default()).collect(),
            unknown: RouteCount::default(),
        }
    }

    /// The counter of route `index` (its position in the route table).
    #[inline]
    pub(crate) fn route(&self, index: usize) -> &RouteCount {
        self.counts.get(index).unwrap_or(&self.unknown)
    }

    /// The counter of messages no route took (not an envelope, or no handler).
    #[inline]
    pub(crate) fn unknown(&self) -> &RouteCount {
        &self.unknown
    }

    /// Every route's counts (route-table order), then `(handled, errors)` of unrouted
    /// messages.
    pub(crate) fn snapshot(&self) -> (Vec<RouteRow>, (u64, u64)) {
        let rows = self
            .routes
            .iter()
            .zip(self.counts.iter())
            .map(|(r, c)| {
                let (handled, errors) = c.read();
                RouteRow {
                    ty: r.ty,
                    action: r.action,
                    method: r.method,
                    auth: r.auth,
                    roles: r.roles,
                    handled,
                    errors,
                }
            })
            .collect();
        (rows, self.unknown.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[RouteInfo] = &[
        RouteInfo::new("chat", "send", "send", None, file!(), line!()),
        RouteInfo::new("chat", "edit", "edit", None, file!(), line!()),
    ];

    #[test]
    fn counts_per_route_and_unrouted() {
        let stats = RouteStats::new(TABLE);
        stats.route(0).record(false);
        stats.route(0).record(true);
        stats.route(1).record(false);
        stats.unknown().record(true);
        // An index past the table lands on the unrouted entry, never out of bounds.
        stats.route(99).record(true);
        let (rows, unknown) = stats.snapshot();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].action, rows[0].handled, rows[0].errors),
            ("send", 2, 1)
        );
        assert_eq!(
            (rows[1].action, rows[1].handled, rows[1].errors),
            ("edit", 1, 0)
        );
        assert_eq!(unknown, (2, 2));
    }
}
