//! The HTTP side of the endpoint: validates the upgrade request, answers 101 and hands
//! the upgraded socket to [`connection`](crate::connection). Anything else gets an
//! ordinary HTTP response with a JSON body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::auth::{TokenError, Verified, token_from_request};
use crate::connection;
use crate::limits::parse_host;
use crate::protocol::http_error;
use crate::router::Router;
use crate::service::Shared;

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

pub(crate) fn socket_config(shared: &Shared) -> WebSocketConfig {
    let max = shared.config.max_message_size;
    WebSocketConfig::default()
        // The system calls read `read_buffer_size` at a time into the connection's
        // `ReadStage`; tungstenite's own buffer stays small (see `read_stage`).
        .read_buffer_size(crate::read_stage::DECODER_READ)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(shared.config.limits.max_write_buffer)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Checks the request's token when authentication is configured. A refusal is counted
/// and its reason logged; the token never is.
fn authenticate(
    shared: &Shared,
    req: &Request,
    remote: Option<SocketAddr>,
) -> Result<Option<Verified>, TokenError> {
    let Some(verifier) = &shared.verifier else {
        return Ok(None);
    };
    let result = match token_from_request(req) {
        None if verifier.required => Err(TokenError::missing()),
        None => Ok(None),
        Some(token) => verifier.verify(&token).map(Some),
    };
    if let Err(e) = &result {
        shared.metrics.count_auth_rejected();
        crate::metrics::auth_rejected(e.code());
        tracing::info!(remote = ?remote, code = e.code(), reason = e.message(), "authentication failed");
    }
    result
}

/// HTTP 401 with `{error, code}` and `WWW-Authenticate: Bearer`.
fn unauthorized(e: &TokenError) -> Response {
    let mut resp = http_error(StatusCode::UNAUTHORIZED, e.code(), e.message());
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// The request-level checks of a WebSocket upgrade (RFC 6455 §4.2.1), before any limit is
/// looked at: `GET` with `Upgrade: websocket` (else 426), HTTP/1.1, `Connection: upgrade`,
/// version 13 (else 426), exactly one well-formed `Host`, and exactly one
/// `Sec-WebSocket-Key` of 16 bytes in base64. `Ok` is the `Sec-WebSocket-Accept` value.
fn check_handshake(req: &Request) -> Result<String, Box<Response>> {
    let bad = |error: &str| Box::new(http_error(StatusCode::BAD_REQUEST, "BAD_HANDSHAKE", error));
    let headers = req.headers();
    let wants_upgrade = header_has_token(headers, header::UPGRADE, "websocket");
    if req.method() != Method::GET || !wants_upgrade {
        let mut resp = http_error(
            StatusCode::UPGRADE_REQUIRED,
            "UPGRADE_REQUIRED",
            "This endpoint speaks WebSocket: send a GET with `Upgrade: websocket`",
        );
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Err(Box::new(resp));
    }
    if req.version() != Version::HTTP_11 {
        return Err(bad("A WebSocket upgrade needs HTTP/1.1"));
    }
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err(bad("The `Connection` header must contain `upgrade`"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut resp = http_error(
            StatusCode::UPGRADE_REQUIRED,
            "BAD_HANDSHAKE",
            "Only WebSocket version 13 is supported",
        );
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(Box::new(resp));
    }
    let host = match single(headers, header::HOST) {
        Single::Missing => return Err(bad("Missing `Host` header")),
        Single::Many => return Err(bad("More than one `Host` header")),
        Single::One(h) => h,
    };
    let host_ok = host.to_str().ok().and_then(parse_host).is_some()
        && req.uri().authority().is_none_or(|a| {
            a.as_str()
                .eq_ignore_ascii_case(host.to_str().unwrap_or_default())
        });
    if !host_ok {
        return Err(bad("Malformed `Host` header"));
    }
    let key = match single(headers, header::SEC_WEBSOCKET_KEY) {
        Single::Missing => return Err(bad("Missing `Sec-WebSocket-Key` header")),
        Single::Many => return Err(bad("More than one `Sec-WebSocket-Key` header")),
        Single::One(k) => k,
    };
    if STANDARD
        .decode(key.as_bytes())
        .map_or(true, |k| k.len() != 16)
    {
        return Err(bad("`Sec-WebSocket-Key` must be 16 bytes in base64"));
    }
    Ok(derive_accept_key(key.as_bytes()))
}

enum Single<'a> {
    Missing,
    One(&'a HeaderValue),
    Many,
}

/// A header that must appear exactly once.
fn single(headers: &HeaderMap, name: header::HeaderName) -> Single<'_> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Single::Missing,
        (Some(v), None) => Single::One(v),
        (Some(_), Some(_)) => Single::Many,
    }
}

/// What the endpoint needs: the server's shared state and the router that dispatches
/// its connections' messages.
pub(crate) struct Endpoint {
    pub(crate) shared: Arc<Shared>,
    pub(crate) router: Arc<Router>,
}

/// With `pxl.path_prefix`, the router's fallback: a request whose path starts with
/// `path` (PXL's `/ws` prefix match, so `/ws2` and `/ws/x` too) is the endpoint; any
/// other gets axum's plain 404, as without the setting.
pub(crate) async fn prefix_endpoint(state: State<Arc<Endpoint>>, req: Request) -> Response {
    if req.uri().path().starts_with(&state.shared.config.path) {
        return endpoint(state, req).await;
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The endpoint handler.
pub(crate) async fn endpoint(State(endpoint): State<Arc<Endpoint>>, mut req: Request) -> Response {
    let shared = endpoint.shared.clone();
    if shared.shutdown.is_cancelled() {
        return http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SHUTTING_DOWN",
            "The server is shutting down",
        );
    }
    // A malformed upgrade is refused before any limit is looked at.
    let accept = match check_handshake(&req) {
        Ok(accept) => accept,
        Err(refused) => return *refused,
    };
    // Limits (limits.rs): host and origin allowlists, connection caps. The slot is held
    // by the connection task and freed when it ends, also when the upgrade fails.
    let slot = match shared.limits.admit(&req, &shared.metrics) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let verified = match authenticate(&shared, &req, remote) {
        Ok(v) => v,
        Err(e) => return unauthorized(&e),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = socket_config(&shared);
    let write_timeout = shared.config.limits.write_timeout;
    let read_buffer_size = shared.config.read_buffer_size;
    let tasks = shared.tasks.clone();
    let router = endpoint.router.clone();
    tasks.spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let io =
                    connection::Io::new(TokioIo::new(upgraded), read_buffer_size, write_timeout);
                let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                connection::run(shared, router, socket, remote, verified).await;
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("a static 101 response is valid")
}
