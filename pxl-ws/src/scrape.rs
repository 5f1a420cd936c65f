//! The metrics route (feature `metrics`): `GET <metrics_path>` samples the gauges from
//! the live tables (connections, rooms, memberships, queued bytes), then renders
//! pxl-ws's Prometheus recorder in the text exposition format.

use std::sync::Arc;

use axum::Router as AxumRouter;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ConfigError;
use crate::service::Shared;

/// Installs (or reuses) the process's Prometheus recorder when `metrics_path` is set.
/// Called by `build()` before any metric handle is registered.
pub(crate) fn install(shared_path: Option<&str>) -> Result<Option<PrometheusHandle>, ConfigError> {
    if shared_path.is_none() {
        return Ok(None);
    }
    crate::metrics::install_prometheus()
        .map(Some)
        .map_err(|reason| ConfigError::invalid("metrics_path", reason))
}

/// Sets the gauges from the live tables.
pub(crate) fn sample(shared: &Shared) {
    let hub = &shared.hub;
    // Collected first: no client lock is taken under the registry's shard locks.
    let mut clients = Vec::with_capacity(hub.client_count());
    hub.for_each_client(|c| clients.push(c.clone()));
    let (mut memberships, mut queued) = (0, 0);
    for c in &clients {
        memberships += c.rooms.lock().expect("rooms lock").len();
        queued += c.outbox.queued_bytes();
    }
    crate::metrics::sample(hub.client_count(), hub.rooms().len(), memberships, queued);
}

/// The route serving `handle` at `path`.
pub(crate) fn route(path: &str, shared: Arc<Shared>, handle: PrometheusHandle) -> AxumRouter {
    AxumRouter::new().route(
        path,
        get(move || async move {
            sample(&shared);
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }),
    )
}
