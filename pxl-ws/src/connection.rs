//! One socket: a reader loop (this task) that parses, routes and replies, and a writer
//! task draining the client's bounded outbound queue. Protocol faults close this socket
//! only, with 1002 / 1007 / 1009; the reader keeps reading until the stream ends so the
//! close handshake completes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;

use crate::auth::Verified;
use crate::auth::session::{self, Expiry};
use crate::clients::{ClientId, ClientState};
use crate::handles::Client;
use crate::hooks::{DisconnectInfo, ErrorEvent, ErrorKind, MessageInfo};
use crate::limits::{RateLimiter, Verdict};
use crate::protocol::{self, ActionError, codes, parse_envelope};
use crate::router::{MessageContext, Reply};
use crate::service::{RawMessage, Server, Shared};
use crate::util::panic::{isolate, isolate_async};
use crate::util::time::now_ms;

pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long to wait for the peer's close reply (and for the writer) once closing.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames written before one flush.
const WRITE_BATCH: usize = 64;

/// Runs one connection to its end.
pub(crate) async fn run(
    shared: Arc<Shared>,
    socket: Socket,
    remote: Option<SocketAddr>,
    verified: Option<Verified>,
) {
    let id = ClientId::random();
    let span = tracing::info_span!("ws", client = %id, user = tracing::field::Empty);
    serve(shared, socket, remote, id, verified)
        .instrument(span)
        .await;
}

async fn serve(
    shared: Arc<Shared>,
    socket: Socket,
    remote: Option<SocketAddr>,
    id: ClientId,
    verified: Option<Verified>,
) {
    let (sink, stream) = socket.split();
    let state = Arc::new(ClientState::new(id, shared.config.outbound_queue, remote));
    let server = Server { shared };
    let client = Client {
        state: state.clone(),
        server: server.clone(),
    };
    let sh = &server.shared;
    // Bound before registering, so the one `clientConnected` carries the user.
    if let Some(v) = &verified {
        session::bind(&client, v);
    }
    sh.hub.register(&state);
    sh.metrics.count_connection();
    tracing::debug!(remote = ?remote, "connected");

    let writer = tokio::spawn(write_loop(sink, state.clone()).in_current_span());
    if sh.shutdown.is_cancelled() {
        state.request_close(1001, "server shutting down", true);
    }
    if sh.config.connected_frame
        && let Some(f) = protocol::connected_frame(id)
    {
        client.send(&f);
    }
    if let Some(v) = &verified {
        session::send_authenticated(&client, v);
    }
    sh.hooks.connected(&client);

    let end = read_loop(&client, stream).await;

    // Cleanup: registry and rooms first, so nothing is sent to a dead socket.
    let rooms = sh.hub.unregister(&state);
    state.request_close(end.code.unwrap_or(1000), "", true);
    let mut writer = writer;
    if tokio::time::timeout(CLOSE_TIMEOUT, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    state.outbox.close();
    tracing::debug!(reason = %end.reason, code = ?end.code, "disconnected");
    sh.hooks.disconnected(&DisconnectInfo {
        client_id: id,
        user_id: state.user_id().map(|u| u.to_string()),
        code: end.code,
        reason: end.reason,
        rooms,
    });
}

struct End {
    code: Option<u16>,
    reason: String,
}

async fn read_loop(client: &Client, mut stream: SplitStream<Socket>) -> End {
    let state = &client.state;
    let sh = &client.server.shared;
    let mut peer_close: Option<u16> = None;
    let mut limiter = RateLimiter::new(&sh.config.limits.rate_limit, Instant::now());
    let grace = sh.verifier.as_ref().map(|v| v.refresh_grace);
    let mut expiry = Expiry::new(grace.unwrap_or_default());
    expiry.sync(state);
    loop {
        let next = tokio::select! {
            biased;
            m = stream.next() => m,
            _ = state.closing.cancelled() => break,
            _ = expiry.wait() => {
                expiry.fire(client);
                continue;
            }
        };
        let msg = match next {
            None => {
                return end_of_stream(state, peer_close);
            }
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                if let Some((code, reason)) = fault_close(&e) {
                    sh.metrics.count_protocol_error();
                    tracing::info!(code, error = %e, "protocol fault; closing");
                    sh.hooks.error(&ErrorEvent {
                        client_id: state.id,
                        kind: ErrorKind::Protocol,
                        code: code.to_string(),
                        message: e.to_string(),
                    });
                    // Answers to the messages before the fault still go out first.
                    state.request_close(code, reason, true);
                    break;
                }
                return End {
                    code: peer_close,
                    reason: format!("connection error: {e}"),
                };
            }
        };
        let now = now_ms();
        match msg {
            data @ (Message::Text(_) | Message::Binary(_)) => {
                state.touch_activity(now);
                if !data_message(client, limiter.as_mut(), data).await {
                    break;
                }
                expiry.sync(state);
            }
            Message::Ping(_) => state.touch_activity(now),
            Message::Pong(_) => state.touch_seen(now),
            Message::Close(frame) => {
                state.touch_seen(now);
                peer_close = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
            }
            Message::Frame(_) => {}
        }
    }
    // We are closing: keep reading (and discarding) until the peer answers our close
    // frame and the stream ends, so the close handshake completes.
    let drained = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(m) = stream.next().await {
            match m {
                Ok(Message::Close(_)) | Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    let req = state.close.get();
    End {
        code: req.map(|r| r.code),
        reason: match (req, drained) {
            (Some(r), Ok(())) => format!("closed by server: {}", r.reason),
            (Some(r), Err(_)) => format!("closed by server: {} (no close reply)", r.reason),
            (None, _) => "closed by server".into(),
        },
    }
}

fn end_of_stream(state: &ClientState, peer_close: Option<u16>) -> End {
    match (peer_close, state.close.get()) {
        (Some(code), _) => End {
            code: Some(code),
            reason: "closed by client".into(),
        },
        (None, Some(r)) => End {
            code: Some(r.code),
            reason: format!("closed by server: {}", r.reason),
        },
        (None, None) => End {
            code: None,
            reason: "connection dropped".into(),
        },
    }
}

/// The close code for a read error that is the peer's fault, if any.
fn fault_close(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((1009, "message too big")),
        WsError::Utf8(_) => Some((1007, "invalid UTF-8")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((1002, "protocol error")),
        WsError::AttackAttempt => Some((1008, "policy violation")),
        _ => None,
    }
}

/// One data frame: the rate limit, then [`handle`]. `false`: stop reading (closing).
async fn data_message(client: &Client, limiter: Option<&mut RateLimiter>, msg: Message) -> bool {
    let (bytes, binary) = match &msg {
        Message::Text(t) => (t.as_bytes(), false),
        Message::Binary(b) => (&b[..], true),
        _ => return true,
    };
    match rate_limit(client, limiter, bytes) {
        Verdict::Allow => {
            if !handle(client, bytes, binary).await {
                fallback(client, msg);
            }
        }
        Verdict::Limited { .. } => {}
        Verdict::Close => return false,
    }
    true
}

/// Hands a message no route took to the fallback handler.
fn fallback(client: &Client, msg: Message) {
    if let Some(f) = &client.server.shared.hooks.fallback
        && let Err(panic) = isolate(|| f(client, RawMessage(msg)))
    {
        tracing::error!(%panic, "fallback handler panicked");
    }
}

/// Parses, routes and answers one data frame. `false`: no route takes it and the
/// fallback handler should (only when one is set; otherwise an error frame answers).
async fn handle(client: &Client, bytes: &[u8], binary: bool) -> bool {
    let sh = &client.server.shared;
    sh.metrics.count_message_in();
    let has_fallback = sh.hooks.fallback.is_some();
    let env = match parse_envelope(bytes) {
        Ok(env) => env,
        Err(_) if has_fallback => return false,
        Err(pe) => {
            send_text(client, protocol::parse_error_frame(&pe));
            sh.metrics.count_error_sent();
            sh.hooks.error(&ErrorEvent {
                client_id: client.state.id,
                kind: ErrorKind::InvalidMessage,
                code: pe.code.to_string(),
                message: pe.reason.unwrap_or(pe.text).to_string(),
            });
            return true;
        }
    };
    if sh.hooks.has_message() {
        sh.hooks.message(
            client,
            &MessageInfo {
                message_type: env.ty.to_string(),
                action: env.action.to_string(),
                size: bytes.len(),
                binary,
            },
        );
    }
    let span = tracing::debug_span!("message", r#type = %env.ty, action = %env.action);
    let ctx = MessageContext::on_server(&env, client, &client.server);
    let Some(fut) = sh.router.dispatch(&ctx) else {
        if has_fallback {
            return false;
        }
        let err = ActionError::new(
            codes::UNKNOWN_ROUTE,
            format!(
                "No handler for type `{}` and action `{}`",
                env.ty, env.action
            ),
        );
        send_error(client, &err, &env, ErrorKind::UnknownRoute);
        return true;
    };
    let reply = isolate_async(fut).instrument(span).await;
    match reply {
        Ok(Reply::Empty) => send_text(
            client,
            protocol::reply_frame(&env.ty, &env.action, None, env.id),
        ),
        Ok(Reply::Value(v)) => send_text(
            client,
            protocol::reply_frame(&env.ty, &env.action, Some(&v), env.id),
        ),
        Ok(Reply::Error(e)) => send_error(client, &e, &env, ErrorKind::Action),
        Err(panic) => {
            tracing::error!(r#type = %env.ty, action = %env.action, %panic, "action handler panicked");
            let err = ActionError::new(codes::INTERNAL_ERROR, "Internal server error");
            send_error(client, &err, &env, ErrorKind::Panic);
        }
    }
    true
}

/// Takes a token from the client's bucket (when the rate limit is on). Over the limit,
/// the message is counted and answered with `RATE_LIMITED` (echoing its `type`,
/// `action` and `id` when it parses) instead of being routed; at `max_violations` the
/// client is also closed with 1008 after that answer.
fn rate_limit(client: &Client, limiter: Option<&mut RateLimiter>, bytes: &[u8]) -> Verdict {
    let Some(limiter) = limiter else {
        return Verdict::Allow;
    };
    let verdict = limiter.check(Instant::now());
    let retry_after = match verdict {
        Verdict::Allow => return verdict,
        Verdict::Limited { retry_after } => retry_after,
        Verdict::Close => Duration::ZERO,
    };
    let sh = &client.server.shared;
    sh.metrics.count_message_in();
    sh.metrics.count_rate_limited();
    sh.metrics.count_error_sent();
    let err = ActionError::new(codes::RATE_LIMITED, "Too many messages; slow down").with_detail(
        "retryAfterMs",
        u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
    );
    let frame = match parse_envelope(bytes) {
        Ok(env) => protocol::error_frame(&err, Some(&env.ty), Some(&env.action), env.id),
        Err(pe) => protocol::error_frame(&err, None, None, pe.id),
    };
    send_text(client, frame);
    sh.hooks.error(&ErrorEvent {
        client_id: client.state.id,
        kind: ErrorKind::RateLimited,
        code: codes::RATE_LIMITED.to_string(),
        message: err.message().to_string(),
    });
    if verdict == Verdict::Close
        && client
            .state
            .request_close(1008, "rate limit exceeded", true)
    {
        sh.metrics.count_rate_limit_close();
        tracing::info!("rate limit exceeded again and again; closing with 1008");
    }
    verdict
}

fn send_text(client: &Client, text: String) {
    client
        .state
        .push(Message::Text(text.into()), &client.server.shared.metrics);
}

fn send_error(client: &Client, err: &ActionError, env: &protocol::Envelope<'_>, kind: ErrorKind) {
    let sh = &client.server.shared;
    sh.metrics.count_error_sent();
    send_text(
        client,
        protocol::error_frame(err, Some(&env.ty), Some(&env.action), env.id),
    );
    sh.hooks.error(&ErrorEvent {
        client_id: client.state.id,
        kind,
        code: err.code().to_string(),
        message: err.message().to_string(),
    });
}

/// Drains the outbound queue into the socket, a batch per flush, until a close is
/// requested; then sends what is queued (unless the close says not to) and the close
/// frame. The queue refuses pushes once this returns.
async fn write_loop(mut sink: SplitSink<Socket, Message>, state: Arc<ClientState>) {
    write_frames(&mut sink, &state).await;
    state.outbox.close();
}

async fn write_frames(sink: &mut SplitSink<Socket, Message>, state: &ClientState) {
    let outbox = &state.outbox;
    loop {
        if state.closing.is_cancelled() {
            break;
        }
        let Some(first) = outbox.pop() else {
            tokio::select! {
                biased;
                _ = state.closing.cancelled() => break,
                _ = outbox.ready() => continue,
            }
        };
        if sink.feed(first).await.is_err() {
            return;
        }
        for _ in 1..WRITE_BATCH {
            match outbox.pop() {
                Some(m) => {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                }
                None => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let Some(req) = state.close.get() else { return };
    if req.flush_queued {
        while let Some(m) = outbox.pop() {
            if sink.feed(m).await.is_err() {
                return;
            }
        }
    }
    let frame = CloseFrame {
        code: req.code.into(),
        reason: req.reason.to_string().into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}
