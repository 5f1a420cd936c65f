//! The accept loop behind [`WsServer::serve`](crate::WsServer::serve): it owns every TCP
//! connection from `accept` until the WebSocket upgrade (or the end of plain HTTP), so
//! the limits that must hold before a request is read hold here:
//!
//! - the pending caps ([`Limits::admit_pending`](crate::limits::Limits::admit_pending)),
//!   checked at accept before any byte is read; over them the connection is closed at once;
//! - hyper's header-read timeout, which also bounds an idle keep-alive connection;
//! - accept errors (EMFILE: out of file descriptors) are logged and retried after a pause
//!   instead of in a busy loop.
//!
//! Requests go to the axum router with the peer address as `ConnectInfo`, as
//! `into_make_service_with_connect_info` does.

use std::time::{Duration, Instant};

use axum::Router as AxumRouter;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::server::shutdown_signal;
use crate::service::Server;

/// Pause after an accept error that is not about one connection (EMFILE, ENFILE, ENOMEM):
/// the pending connection stays in the backlog, and retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one log line per this period for repeated accept errors.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts and serves connections until SIGINT / SIGTERM or [`Server::shutdown`]; then
/// begins the server's shutdown, stops accepting, lets the HTTP connections finish their
/// current request (up to `shutdown_timeout`) and returns.
pub(crate) async fn serve(listener: TcpListener, app: AxumRouter, server: &Server) {
    let sh = &server.shared;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(sh.config.limits.header_read_timeout)
        .keep_alive(true);
    let connections = TaskTracker::new();
    let mut last_error_log: Option<Instant> = None;
    let signal = shutdown_signal(server);
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(&e, &mut last_error_log).await;
                    continue;
                }
            },
        };
        let Some(slot) = sh.limits.admit_pending(peer.ip(), &sh.metrics) else {
            drop(stream);
            continue;
        };
        let router = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            hyper::service::Service::call(&router, req)
        });
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = sh.shutdown.clone();
        connections.spawn(async move {
            // Held until hyper hands the socket over to the WebSocket (the future ends
            // at the upgrade) or the connection is closed.
            let _slot = slot;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "http connection ended with an error");
            }
        });
    }
    server.begin_shutdown();
    drop(listener);
    connections.close();
    if tokio::time::timeout(sh.config.shutdown_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::debug!("shutdown timeout passed with http connections still open");
    }
}

/// Errors about one connection (it was reset before we took it) are skipped; anything
/// else (EMFILE, ENFILE, ENOMEM, ENOBUFS) pauses the loop, logged at most once per
/// [`ACCEPT_ERROR_LOG_EVERY`].
async fn accept_error(e: &std::io::Error, last_log: &mut Option<Instant>) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    if last_log.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
        *last_log = Some(Instant::now());
        tracing::error!(
            error = %e,
            "accept failed (out of file descriptors? see `ulimit -n` in docs/security.md); \
             pausing {ACCEPT_ERROR_PAUSE:?} before each retry"
        );
    }
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
