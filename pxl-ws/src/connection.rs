//! One socket: a reader loop (this task) that parses, routes and replies, and a writer
//! task draining the client's bounded outbound queue. Protocol faults close this socket
//! only, with 1002 / 1007 / 1009; the reader keeps reading until the stream ends so the
//! close handshake completes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;

use crate::auth::Verified;
use crate::auth::session::{self, Expiry};
use crate::client_list;
use crate::clients::{ClientId, ClientState};
use crate::handles::Client;
use crate::hooks::{DisconnectInfo, ErrorEvent, ErrorKind, MessageInfo};
use crate::limits::{RateLimiter, Verdict};
use crate::protocol::{self, ActionError, codes, parse_envelope};
use crate::read_stage::ReadStage;
use crate::router::{MessageContext, Reply, Router};
use crate::service::{RawMessage, Server, Shared};
use crate::util::panic::{isolate, isolate_async};
use crate::util::time::now_ms;

pub(crate) type Socket = WebSocketStream<Io>;

/// The upgraded connection, with a write deadline: when a write has found the socket
/// full (the client takes nothing) for `limits.write_timeout`, it fails with
/// `TimedOut`, and the writer closes the client with 1008. Any byte written restarts
/// the clock, so a slow reader that keeps reading is not cut off. The timer exists
/// only while a write waits. Reads go through a [`ReadStage`]: `read_buffer_size` bytes
/// per system call, no read buffer held while the socket is idle.
pub(crate) struct Io {
    inner: TokioIo<Upgraded>,
    read: ReadStage,
    write_timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Io {
    pub(crate) fn new(
        inner: TokioIo<Upgraded>,
        read_buffer_size: usize,
        write_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            read: ReadStage::new(read_buffer_size),
            write_timeout,
            stalled: None,
        }
    }
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        this.read.poll_read(&mut this.inner, cx, buf)
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => {
                let timeout = this.write_timeout;
                let stalled = this
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
            done => {
                this.stalled = None;
                done
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How long to wait for the peer's close reply (and for the writer) once closing.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames written before one flush.
const WRITE_BATCH: usize = 64;
/// After a protocol fault, how long (and how many bytes) to go on reading and discarding
/// what the peer still sends, so that it reads the close frame instead of a reset.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 4 << 20;
/// ... or until the peer has sent nothing for this long.
const DRAIN_IDLE: Duration = Duration::from_millis(200);

/// Runs one connection to its end.
pub(crate) async fn run(
    shared: Arc<Shared>,
    router: Arc<Router>,
    socket: Socket,
    remote: Option<SocketAddr>,
    verified: Option<Verified>,
) {
    let id = ClientId::random();
    let span = tracing::info_span!("ws", client = %id, user = tracing::field::Empty);
    serve(shared, &router, socket, remote, id, verified)
        .instrument(span)
        .await;
}

async fn serve(
    shared: Arc<Shared>,
    router: &Router,
    socket: Socket,
    remote: Option<SocketAddr>,
    id: ClientId,
    verified: Option<Verified>,
) {
    let (sink, stream) = socket.split();
    let state = Arc::new(ClientState::new(id, shared.flow.clone(), remote));
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

    // Not instrumented: entering the connection's span on every poll would cost each
    // frame written; the writer enters it only to log (see `Writer::span`).
    let writer = tokio::spawn(write_loop(
        sink,
        state.clone(),
        server.shared.clone(),
        tracing::Span::current(),
    ));
    if sh.shutdown.is_cancelled() {
        state.request_close(1001, "server shutting down", true);
    }
    // The client learns its id from this frame: sends to that id from any instance
    // reach it from then on.
    sh.hub.client_ready(id).await;
    if sh.config.connected_frame
        && let Some(f) = protocol::connected_frame(id)
    {
        client.send(&f);
    }
    if let Some(v) = &verified {
        session::send_authenticated(&client, v);
    }
    client_list::send_on_connect(&client);
    sh.hooks.connected(&client);

    let (end, stream) = read_loop(&client, router, stream).await;

    // Cleanup: registry and rooms first, so nothing is sent to a dead socket.
    let rooms = sh.hub.unregister(&state);
    state.request_close(end.code.unwrap_or(1000), "", true);
    let mut writer = writer;
    match tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await {
        Ok(Ok(sink)) if end.fault => {
            if let Ok(mut socket) = stream.reunite(sink) {
                // Boxed: rare, and it would otherwise grow every connection's task.
                Box::pin(drain(socket.get_mut())).await;
            }
        }
        Ok(_) => {}
        Err(_) => writer.abort(),
    }
    state.outbox.close();
    crate::metrics::connection_closed(end.code);
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
    /// A protocol fault ended reading: the socket is past what tungstenite can read.
    fault: bool,
}

async fn read_loop(
    client: &Client,
    router: &Router,
    mut stream: SplitStream<Socket>,
) -> (End, SplitStream<Socket>) {
    let state = &client.state;
    let sh = &client.server.shared;
    let mut peer_close: Option<u16> = None;
    let mut limiter = RateLimiter::new(&sh.config.limits.rate_limit, Instant::now());
    let grace = sh.verifier.as_ref().map(|v| v.refresh_grace);
    let mut expiry = Expiry::new(grace.unwrap_or_default());
    expiry.sync(state);
    // One wait for a close for the whole loop: it registers once, not on every wake-up.
    let mut closed = std::pin::pin!(state.closed());
    loop {
        let next = tokio::select! {
            biased;
            m = stream.next() => m,
            _ = &mut closed => break,
            _ = expiry.wait() => {
                expiry.fire(client);
                continue;
            }
        };
        let msg = match next {
            None => {
                return (end_of_stream(state, peer_close), stream);
            }
            Some(Ok(m)) => m,
            Some(Err(WsError::Io(e))) if e.kind() == std::io::ErrorKind::TimedOut => {
                // Flushing pongs found the socket full for `write_timeout`.
                write_timed_out(sh, state);
                break;
            }
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
                    // Answers to the messages before the fault still go out first;
                    // tungstenite reads nothing more, `serve` drains the raw input.
                    state.request_close(code, reason, true);
                    let req = state.close.get();
                    let end = End {
                        code: Some(req.map_or(code, |r| r.code)),
                        reason: format!("closed by server: {}", req.map_or(reason, |r| &r.reason)),
                        fault: true,
                    };
                    return (end, stream);
                }
                let end = End {
                    code: peer_close,
                    reason: format!("connection error: {e}"),
                    fault: false,
                };
                return (end, stream);
            }
        };
        let now = now_ms();
        match msg {
            data @ (Message::Text(_) | Message::Binary(_)) => {
                state.touch_activity(now);
                if !data_message(client, router, limiter.as_mut(), data).await {
                    break;
                }
                expiry.sync(state);
            }
            Message::Ping(_) => {
                state.touch_activity(now);
                if !control_frame(client, limiter.as_mut()) {
                    break;
                }
            }
            Message::Pong(_) => {
                state.touch_seen(now);
                if !control_frame(client, limiter.as_mut()) {
                    break;
                }
            }
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
    let end = End {
        code: req.map(|r| r.code),
        reason: match (req, drained) {
            (Some(r), Ok(())) => format!("closed by server: {}", r.reason),
            (Some(r), Err(_)) => format!("closed by server: {} (no close reply)", r.reason),
            (None, _) => "closed by server".into(),
        },
        fault: false,
    };
    (end, stream)
}

/// After a protocol fault (tungstenite reads no more, our close frame is sent): reads and
/// discards what the peer still sends — the rest of an oversize message, its close reply
/// — until its close frame arrives or it pauses for [`DRAIN_IDLE`] (a client whose own
/// close frame was the fault sends nothing more), for up to [`DRAIN_TIME`] and
/// [`DRAIN_BYTES`], then
/// ends our side with a FIN. Closing with unread input would reset the connection, and a
/// client still writing would see the reset instead of the close frame; a client that
/// has answered our close expects the server to close the TCP connection at once.
async fn drain(io: &mut Io) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    // The last bytes read, enough to hold the largest close frame a client may send.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * MAX_CLIENT_CLOSE);
    let mut total = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while total < DRAIN_BYTES {
            match tokio::time::timeout(DRAIN_IDLE, io.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(n)) => {
                    total += n;
                    let chunk = &buf[..n];
                    if chunk.len() >= MAX_CLIENT_CLOSE {
                        tail.clear();
                        tail.extend_from_slice(&chunk[chunk.len() - MAX_CLIENT_CLOSE..]);
                    } else {
                        tail.extend_from_slice(chunk);
                        let extra = tail.len().saturating_sub(MAX_CLIENT_CLOSE);
                        tail.drain(..extra);
                    }
                    if ends_with_client_close(&tail) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let _ = io.shutdown().await;
}

/// A masked close frame with the largest control payload: 2 header bytes, 4 mask bytes,
/// 125 payload bytes.
const MAX_CLIENT_CLOSE: usize = 2 + 4 + 125;

/// Whether `bytes` ends with a complete masked close frame (what a client sends last when
/// it answers our close). Read off the raw stream after a fault, so it may be fooled by
/// payload bytes that look like one: then the drain just ends a little early.
fn ends_with_client_close(bytes: &[u8]) -> bool {
    (0..=125usize).any(|len| {
        let frame = 6 + len;
        bytes.len() >= frame && {
            let f = &bytes[bytes.len() - frame..];
            // FIN + opcode 8, MASK + a 7-bit length; a close payload is empty or has a code.
            f[0] == 0x88 && f[1] == 0x80 | len as u8 && len != 1
        }
    })
}

fn end_of_stream(state: &ClientState, peer_close: Option<u16>) -> End {
    match (peer_close, state.close.get()) {
        (Some(code), _) => End {
            code: Some(code),
            reason: "closed by client".into(),
            fault: false,
        },
        (None, Some(r)) => End {
            code: Some(r.code),
            reason: format!("closed by server: {}", r.reason),
            fault: false,
        },
        (None, None) => End {
            code: None,
            reason: "connection dropped".into(),
            fault: false,
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

/// A ping or pong takes a token from the rate limit too: tungstenite answers every ping
/// by itself, so a flood costs work and write buffer. Over the limit it is only counted
/// (there is no message to answer); at `max_violations` the client is closed with 1008,
/// as for data. `false`: stop reading (closing).
fn control_frame(client: &Client, limiter: Option<&mut RateLimiter>) -> bool {
    let Some(limiter) = limiter else {
        return true;
    };
    if limiter.check(Instant::now()) != Verdict::Close {
        return true;
    }
    if client
        .state
        .request_close(1008, "rate limit exceeded", true)
    {
        let sh = &client.server.shared;
        sh.metrics.count_rate_limit_close();
        tracing::info!("control frames over the rate limit again and again; closing with 1008");
    }
    false
}

/// One data frame: the rate limit, then [`handle`]. `false`: stop reading (closing).
async fn data_message(
    client: &Client,
    router: &Router,
    limiter: Option<&mut RateLimiter>,
    msg: Message,
) -> bool {
    let input = match &msg {
        Message::Text(t) => Input::Text(t.as_str()),
        Message::Binary(b) => Input::Binary(&b[..]),
        _ => return true,
    };
    match rate_limit(client, limiter, input.bytes()) {
        Verdict::Allow => {
            if !handle(client, router, input).await {
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

/// A data frame's payload.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// A text frame: UTF-8, checked by tungstenite, so parsed without checking again.
    Text(&'a str),
    /// A binary frame, which should carry UTF-8 JSON.
    Binary(&'a [u8]),
}

impl<'a> Input<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Input::Text(t) => t.as_bytes(),
            Input::Binary(b) => b,
        }
    }
}

/// Parses, routes and answers one data frame. `false`: no route takes it and the
/// fallback handler should (only when one is set; otherwise an error frame answers).
async fn handle(client: &Client, router: &Router, input: Input<'_>) -> bool {
    let sh = &client.server.shared;
    sh.metrics.count_message_in();
    let has_fallback = sh.hooks.fallback.is_some();
    let (bytes, binary) = (input.bytes(), matches!(input, Input::Binary(_)));
    let parsed = match input {
        Input::Text(text) => protocol::parse_envelope_str(text),
        Input::Binary(bytes) => parse_envelope(bytes),
    };
    let env = match parsed {
        Ok(env) => env,
        Err(_) if has_fallback => return false,
        Err(pe) => {
            send_text(client, protocol::parse_error_frame(&pe));
            sh.metrics.count_error_sent();
            router.count_unrouted(pe.code);
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
    let Some((fut, route)) = router.dispatch_counted(&ctx) else {
        if has_fallback {
            return false;
        }
        if sh.config.pxl.silent_unknown_routes {
            // PXL only logs it.
            tracing::debug!(r#type = %env.ty, action = %env.action, "no route; not answered (pxl.silent_unknown_routes)");
            return true;
        }
        let err = ActionError::new(
            codes::UNKNOWN_ROUTE,
            format!(
                "No handler for type `{}` and action `{}`",
                env.ty, env.action
            ),
        );
        send_error(client, &err, &env, ErrorKind::UnknownRoute);
        router.count_unrouted(codes::UNKNOWN_ROUTE);
        return true;
    };
    let timer = router.meters.start(route);
    let reply = isolate_async(fut).instrument(span).await;
    let error = match &reply {
        Ok(Reply::Error(e)) => Some(e.code()),
        Err(_) => Some(codes::INTERNAL_ERROR),
        Ok(_) => None,
    };
    router.stats.route(route).record(error.is_some());
    timer.finish(error);
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
    // A `joinRoom` that read a room's history held that room's live frames: they follow the reply.
    sh.hub.release_gates(&client.state);
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
async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    state: Arc<ClientState>,
    shared: Arc<Shared>,
    span: tracing::Span,
) -> SplitSink<Socket, Message> {
    let mut w = Writer {
        sink: &mut sink,
        state: &state,
        shared: &shared,
        fragment: shared.config.limits.max_write_buffer / 2,
        span,
    };
    w.write_frames().await;
    state.outbox.close();
    sink
}

/// The writer task's view of its socket. tungstenite's write buffer is bounded by
/// `limits.max_write_buffer`: a frame that does not fit comes back as
/// [`WsError::WriteBufferFull`] and is retried once the buffer has drained, for at most
/// `limits.write_timeout`, after which the client is closed with 1008.
struct Writer<'a> {
    sink: &'a mut SplitSink<Socket, Message>,
    state: &'a ClientState,
    shared: &'a Shared,
    /// Data messages larger than this go out in fragments of this size, so that every
    /// frame fits the bounded write buffer.
    fragment: usize,
    /// The connection's span, entered around what the writer logs (the task is not
    /// instrumented with it).
    span: tracing::Span,
}

/// The socket failed, or the client was closed for not reading.
struct Stopped;

/// A burst being written by [`Writer::write_burst`].
struct Burst {
    /// The frame to hand to the sink next.
    next: Option<Message>,
    /// Whether the queue may hold more frames.
    more: bool,
    /// Frames handed to the sink in this burst.
    written: usize,
}

impl Burst {
    /// `first`, then (if `more`) what the queue holds.
    fn new(first: Message, more: bool) -> Self {
        Self {
            next: Some(first),
            more,
            written: 0,
        }
    }
}

/// Why [`Writer::poll_burst`] returned.
enum Step {
    /// The burst is written and flushed.
    Flushed,
    /// A frame to send in fragments.
    Large(Message),
    /// A frame that did not fit the write buffer, and whether it came back from a flush.
    Full(Message, bool),
    /// The socket failed: [`Writer::failed`] says whether as a client not reading.
    Failed(WsError),
    /// The sink refused a frame.
    Stopped,
}

impl Step {
    fn stalled(e: WsError, flush: bool) -> Self {
        match e {
            WsError::WriteBufferFull(msg) => Step::Full(*msg, flush),
            e => Step::Failed(e),
        }
    }
}

impl Writer<'_> {
    async fn write_frames(&mut self) {
        let state = self.state;
        let outbox = &state.outbox;
        // Whether the queue may hold frames: after the last frame of a burst the writer
        // waits for a push's wake-up instead of locking the queue once more to find it
        // empty (one lock per frame written).
        let mut more = true;
        loop {
            if state.is_closing() {
                break;
            }
            if !more {
                // A close request wakes it too (`ClientState::request_close`).
                outbox.ready().await;
                more = true;
                continue;
            }
            let Some((first, rest)) = outbox.pop_more() else {
                more = false;
                continue;
            };
            let mut burst = Burst::new(first, rest);
            if self.write_burst(&mut burst).await.is_err() {
                return;
            }
            more = burst.more;
        }
        let Some(req) = state.close.get() else { return };
        if req.flush_queued {
            while let Some(m) = outbox.pop() {
                if self.write_burst(&mut Burst::new(m, true)).await.is_err() {
                    return;
                }
            }
        }
        let frame = CloseFrame {
            code: req.code.into(),
            reason: req.reason.to_string().into(),
        };
        let close = Message::Close(Some(frame));
        let _ = self.write_burst(&mut Burst::new(close, false)).await;
    }

    /// Writes a burst: `burst.next` and up to [`WRITE_BATCH`] frames in all from the
    /// queue, then one flush. The usual frame takes no await of its own
    /// ([`poll_burst`](Self::poll_burst) hands it to the sink in the same poll); a large
    /// one, a full write buffer or an error leave the poll for the rare paths.
    async fn write_burst(&mut self, burst: &mut Burst) -> Result<(), Stopped> {
        loop {
            match std::future::poll_fn(|cx| self.poll_burst(cx, burst)).await {
                Step::Flushed => return Ok(()),
                Step::Large(msg) => Box::pin(self.feed_fragments(msg)).await?,
                Step::Full(msg, flush) => Box::pin(self.retry(msg, flush)).await?,
                Step::Failed(e) => return Err(self.failed(&e)),
                Step::Stopped => return Err(Stopped),
            }
        }
    }

    /// Hands each frame of the burst to the sink (once it is ready for it) and then
    /// flushes, in one poll function; returns for a large frame, a frame that did not fit
    /// the write buffer, or an error.
    fn poll_burst(&mut self, cx: &mut Context<'_>, burst: &mut Burst) -> Poll<Step> {
        loop {
            if let Some(msg) = burst.next.take() {
                if self.is_large(&msg) {
                    burst.written += 1;
                    return Poll::Ready(Step::Large(msg));
                }
                match self.sink.poll_ready_unpin(cx) {
                    Poll::Pending => {
                        burst.next = Some(msg);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => {
                        burst.next = Some(msg);
                        return Poll::Ready(Step::stalled(e, false));
                    }
                }
                if self.sink.start_send_unpin(msg).is_err() {
                    return Poll::Ready(Step::Stopped);
                }
                burst.written += 1;
            }
            if burst.more && burst.written < WRITE_BATCH {
                match self.state.outbox.pop_more() {
                    Some((msg, rest)) => {
                        burst.next = Some(msg);
                        burst.more = rest;
                        continue;
                    }
                    None => burst.more = false,
                }
            }
            return match self.sink.poll_flush_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(())) => Poll::Ready(Step::Flushed),
                Poll::Ready(Err(e)) => Poll::Ready(Step::stalled(e, true)),
            };
        }
    }

    /// Whether `msg` goes out in fragments.
    fn is_large(&self, msg: &Message) -> bool {
        match msg {
            Message::Text(t) => t.len() > self.fragment,
            Message::Binary(b) => b.len() > self.fragment,
            _ => false,
        }
    }

    /// A large text or binary message as a first frame and continuations.
    async fn feed_fragments(&mut self, msg: Message) -> Result<(), Stopped> {
        let (mut rest, kind) = match msg {
            Message::Text(t) => (Bytes::from(t), Data::Text),
            Message::Binary(b) => (b, Data::Binary),
            _ => return Ok(()),
        };
        let mut opcode = OpCode::Data(kind);
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(self.fragment));
            let frame = WireFrame::message(chunk, opcode, rest.is_empty());
            self.drive(false).await?;
            self.sink
                .start_send_unpin(Message::Frame(frame))
                .map_err(|_| Stopped)?;
            opcode = OpCode::Data(Data::Continue);
        }
        Ok(())
    }

    /// Waits until the sink is ready for a message (`flush: false`) or has written
    /// everything (`flush: true`). The split sink hands a message to tungstenite on the
    /// next call, so a message that did not fit the write buffer surfaces here: the
    /// unsent output is over the limit. It is then retried each time the buffer has
    /// drained, until `write_timeout` has passed since it first did not fit: then the
    /// client is closed with 1008 (its close frame would not fit either; the connection
    /// is dropped).
    async fn drive(&mut self, flush: bool) -> Result<(), Stopped> {
        match std::future::poll_fn(|cx| self.poll_step(cx, flush)).await {
            Ok(()) => Ok(()),
            // Rare, and boxed so that the idle writer task stays small.
            Err(WsError::WriteBufferFull(msg)) => Box::pin(self.retry(*msg, flush)).await,
            Err(e) => Err(self.failed(&e)),
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>, flush: bool) -> Poll<Result<(), WsError>> {
        if flush {
            self.sink.poll_flush_unpin(cx)
        } else {
            self.sink.poll_ready_unpin(cx)
        }
    }

    /// `msg` did not fit the write buffer: lets tungstenite write out what it holds and
    /// hands `msg` back, again each time it does not fit, until `write_timeout` has
    /// passed since the first time.
    async fn retry(&mut self, mut msg: Message, flush: bool) -> Result<(), Stopped> {
        let deadline = tokio::time::Instant::now() + self.write_timeout();
        loop {
            let drained = std::future::poll_fn(|cx| self.sink.poll_flush_unpin(cx));
            match tokio::time::timeout_at(deadline, drained).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.failed(&e)),
                Err(_) => return Err(self.over_limit()),
            }
            self.sink.start_send_unpin(msg).map_err(|_| Stopped)?;
            let step = std::future::poll_fn(|cx| self.poll_step(cx, flush));
            match tokio::time::timeout_at(deadline, step).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(WsError::WriteBufferFull(m))) => msg = *m,
                Ok(Err(e)) => return Err(self.failed(&e)),
                Err(_) => return Err(self.over_limit()),
            }
        }
    }

    /// A write error; the write deadline of [`Io`] counts as the client not reading.
    fn failed(&self, e: &WsError) -> Stopped {
        match e {
            WsError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => self.over_limit(),
            _ => Stopped,
        }
    }

    fn write_timeout(&self) -> Duration {
        self.shared.config.limits.write_timeout
    }

    fn over_limit(&self) -> Stopped {
        self.span
            .in_scope(|| write_timed_out(self.shared, self.state));
        Stopped
    }
}

/// The client took none of its output, or its output stayed over `max_write_buffer`,
/// for `write_timeout`: closed with 1008 and counted as a slow client. Its close frame
/// would not fit; the connection is dropped once the reader gives up.
fn write_timed_out(shared: &Shared, state: &ClientState) {
    if state.request_close(1008, "write timeout", false) {
        shared.metrics.count_slow_client_dropped();
        tracing::info!(
            timeout = ?shared.config.limits.write_timeout,
            "output not taken by the client for write_timeout; closing with 1008"
        );
    }
}

#[cfg(test)]
mod drain_tests {
    use super::ends_with_client_close;

    #[test]
    fn a_close_frame_at_the_end_of_the_input_is_recognised() {
        // A masked 1000 close, as a client answers ours.
        let close = [0x88, 0x82, 0x11, 0x22, 0x33, 0x44, 0x03 ^ 0x11, 0xe8 ^ 0x22];
        assert!(ends_with_client_close(&close));
        let mut after_junk = vec![0u8; 500];
        after_junk.extend_from_slice(&close);
        assert!(ends_with_client_close(&after_junk));
        // An empty close.
        assert!(ends_with_client_close(&[0x7f, 0x88, 0x80, 1, 2, 3, 4]));
        // A close with a reason of 123 bytes.
        let mut long = vec![0x88, 0x80 | 125, 1, 2, 3, 4];
        long.extend_from_slice(&[0x41; 125]);
        assert!(ends_with_client_close(&long));
    }

    #[test]
    fn other_input_is_drained_on() {
        assert!(!ends_with_client_close(&[]));
        assert!(!ends_with_client_close(&[0u8; 300]));
        // An unmasked close (servers send those, clients may not).
        assert!(!ends_with_client_close(&[0x88, 0x02, 0x03, 0xe8]));
        // A text frame.
        assert!(!ends_with_client_close(&[0x81, 0x82, 1, 2, 3, 4, 5, 6]));
        // A close frame followed by more bytes.
        assert!(!ends_with_client_close(&[0x88, 0x80, 1, 2, 3, 4, 9]));
    }
}
