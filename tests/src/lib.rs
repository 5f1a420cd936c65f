//! Test harness for the end-to-end tests: a server on `127.0.0.1:0` and a real
//! WebSocket client (tokio-tungstenite) with timeouts and readable failures.

pub mod cluster;
mod redis;

pub use redis::{RedisCluster, RedisServer, SlowLink};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pxl_ws::{Server, WsServerBuilder};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod history;
pub mod jwt;
pub mod logs;
pub mod pxl;
pub mod raw;
pub mod record;

/// How long a test waits for a frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// A client's socket, shared with the server that connected it so `stop` can close it.
type SharedWs = Arc<tokio::sync::Mutex<Ws>>;

/// A server serving on a free loopback port.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its handle.
    pub handle: Server,
    task: JoinHandle<()>,
    /// The clients [`connect`](Self::connect) made, closed by [`stop`](Self::stop).
    clients: Mutex<Vec<Weak<tokio::sync::Mutex<Ws>>>>,
}

impl TestServer {
    /// Builds and serves `builder` on `127.0.0.1:0`.
    pub async fn start(builder: WsServerBuilder) -> Self {
        Self::start_on(builder, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Builds and serves `builder` on `addr` (e.g. the address of a stopped server, to
    /// restart it on the same port).
    pub async fn start_on(builder: WsServerBuilder, addr: SocketAddr) -> Self {
        init_tracing();
        let server = builder.build().expect("server builds");
        let handle = server.handle();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            server.serve_listener(listener).await.expect("serve");
        });
        Self {
            addr,
            handle,
            task,
            clients: Mutex::default(),
        }
    }

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, self.handle.config().path)
    }

    /// Connects a client and reads its `system/connected` frame. [`stop`](Self::stop)
    /// completes its close handshake; to watch the close yourself, connect with
    /// [`TestClient::connect`] instead.
    pub async fn connect(&self) -> TestClient {
        let c = TestClient::connect(&self.url()).await;
        self.clients.lock().unwrap().push(Arc::downgrade(&c.ws));
        c
    }

    /// Shuts down gracefully and waits for `serve` to return. The clients this server
    /// connected that are still alive answer the server's close (1001) meanwhile, so
    /// the shutdown never waits for a client the test stopped reading.
    pub async fn stop(self) {
        let clients: Vec<SharedWs> = self
            .clients
            .lock()
            .unwrap()
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        let answer_closes = async {
            for ws in clients {
                let mut ws = ws.lock().await;
                // Reading answers the close frame; the stream then ends.
                let _ = tokio::time::timeout(WAIT, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
        };
        tokio::join!(self.handle.shutdown(), answer_closes);
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task did not panic");
    }
}

/// A real WebSocket client.
pub struct TestClient {
    ws: SharedWs,
    /// The client id from `system/connected`.
    pub id: String,
    next_id: u64,
}

/// What a client saw when the connection ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    /// The close code, if a close frame came.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
}

/// An HTTP answer: status, headers and JSON body.
#[derive(Debug)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The JSON body (`Value::Null` when there is none or it is not JSON).
    pub body: Value,
}

/// An upgrade the server refused with an HTTP answer.
pub type Refused = HttpResponse;

impl HttpResponse {
    /// Parses a whole raw response (as [`http()`] returns it).
    pub fn parse(resp: &str) -> Self {
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((resp, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let mut headers = http::HeaderMap::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.trim().as_bytes()),
                    http::HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(k, v);
            }
        }
        Self {
            status,
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }
}

impl TestClient {
    /// Connects to `url` and reads the `system/connected` frame.
    pub async fn connect(url: &str) -> Self {
        Self::connect_with(url, &[])
            .await
            .unwrap_or_else(|r| panic!("connect refused: {r:?}"))
    }

    /// Connects with extra request headers (e.g. `Authorization`, `Origin`). An HTTP
    /// refusal comes back as [`Refused`]; any other failure panics.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Self, Refused> {
        Self::connect_from(url, None, headers).await
    }

    /// [`connect_with`](Self::connect_with) from a chosen local address (any address in
    /// 127.0.0.0/8 is loopback on Linux), for per-IP limits.
    pub async fn connect_from(
        url: &str,
        local_ip: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Self, Refused> {
        let mut req = url.into_client_request().expect("a valid ws:// url");
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(v).expect("header value"),
            );
        }
        let host = req
            .uri()
            .authority()
            .expect("host:port")
            .as_str()
            .to_owned();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(ip) = local_ip {
            socket
                .bind(format!("{ip}:0").parse().expect("local ip"))
                .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        }
        let addr: SocketAddr = tokio::net::lookup_host(&host)
            .await
            .expect("resolve")
            .find(SocketAddr::is_ipv4)
            .expect("an IPv4 address");
        let tcp = socket.connect(addr).await.expect("tcp connect");
        let handshake = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp));
        let ws = match tokio::time::timeout(WAIT, handshake)
            .await
            .expect("connect timed out")
        {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                return Err(Refused {
                    status: resp.status().as_u16(),
                    headers: resp.headers().clone(),
                    body,
                });
            }
            Err(e) => panic!("connect failed: {e}"),
        };
        let mut c = Self {
            ws: Arc::new(tokio::sync::Mutex::new(ws)),
            id: String::new(),
            next_id: 0,
        };
        let hello = c.recv().await;
        assert_eq!(hello["type"], "system", "first frame: {hello}");
        assert_eq!(hello["action"], "connected", "first frame: {hello}");
        c.id = hello["data"]["clientId"]
            .as_str()
            .expect("clientId")
            .to_owned();
        Ok(c)
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, s: &str) {
        self.ws
            .lock()
            .await
            .send(Message::text(s))
            .await
            .expect("send");
    }

    /// Sends a raw message (binary, ping, raw frames).
    pub async fn send_raw(&mut self, m: Message) {
        self.ws.lock().await.send(m).await.expect("send");
    }

    /// Sends `{type, action, data}` without an id.
    pub async fn send(&mut self, ty: &str, action: &str, data: Value) {
        self.send_json(&json!({"type": ty, "action": action, "data": data}))
            .await;
    }

    /// Sends `{type, action, data, id}` and returns the next frame, which must carry the id.
    pub async fn request(&mut self, ty: &str, action: &str, data: Value) -> Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        self.send_json(&json!({"type": ty, "action": action, "data": data, "id": id}))
            .await;
        let reply = self.recv().await;
        assert_eq!(reply["id"], id.as_str(), "reply to {ty}/{action}: {reply}");
        reply
    }

    /// Joins `room` through `system/joinRoom` and checks the reply.
    pub async fn join(&mut self, room: &str) {
        let r = self
            .request("system", "joinRoom", json!({"roomName": room}))
            .await;
        assert_eq!(r["response"]["success"], true, "join {room}: {r}");
    }

    /// Leaves `room` through `system/leaveRoom`: expects `user/leftRoom`, then the reply.
    pub async fn leave(&mut self, room: &str) {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        self.send_json(
            &json!({"type": "system", "action": "leaveRoom", "data": {"roomName": room}, "id": id}),
        )
        .await;
        let left = self.recv().await;
        assert_eq!(
            left,
            json!({"type": "user", "action": "leftRoom", "data": {"roomName": room}})
        );
        let reply = self.recv().await;
        assert_eq!(reply["id"], id.as_str(), "{reply}");
        assert_eq!(reply["response"]["success"], true, "leave {room}: {reply}");
    }

    /// The next data frame as JSON (pings and pongs are skipped). Fails after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no frame within {WAIT:?}"))
    }

    /// The next data frame as JSON if one comes within `wait` (pings and pongs are
    /// skipped), `None` if none does.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut ws = self.ws.lock().await;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(&t).expect("JSON frame"));
                }
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return Some(serde_json::from_slice(&b).expect("JSON frame"));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(other))) => panic!("expected a data frame, got {other:?}"),
                Ok(None) => panic!("connection ended while waiting for a frame"),
                Ok(Some(Err(e))) => panic!("client read error: {e}"),
            }
        }
    }

    /// The next message of any kind within `wait`; `None` when the stream ends.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Message> {
        let mut ws = self.ws.lock().await;
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => panic!("no frame within {wait:?}"),
            Ok(None) => None,
            Ok(Some(Ok(m))) => Some(m),
            Ok(Some(Err(e))) => panic!("client read error: {e}"),
        }
    }

    /// A barrier: sends `system/ping` and asserts that its pong is the next data frame,
    /// so nothing else was queued for this client before the server handled the ping
    /// (the server answers a client's messages in order, after what it queued before).
    pub async fn assert_nothing_queued(&mut self) {
        self.next_id += 1;
        let id = format!("barrier{}", self.next_id);
        self.send_json(&json!({"type": "system", "action": "ping", "id": id}))
            .await;
        let next = self.recv().await;
        assert_eq!(
            next,
            json!({"type": "system", "action": "ping", "response": "pong", "id": id}),
            "expected nothing before the barrier's pong"
        );
    }

    /// Reads until the server closes; returns its close frame. Data frames before it are
    /// returned too, in order.
    pub async fn expect_close(&mut self) -> (Closed, Vec<Value>) {
        let mut before = Vec::new();
        let mut ws = self.ws.lock().await;
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await {
                Err(_) => panic!("server did not close within {WAIT:?}"),
                Ok(None) => {
                    return (
                        Closed {
                            code: None,
                            reason: String::new(),
                        },
                        before,
                    );
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    let closed = Closed {
                        code: f.as_ref().map(|f| u16::from(f.code)),
                        reason: f.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                    // Finish the handshake: the stream ends after our reply.
                    let _ = tokio::time::timeout(WAIT, ws.next()).await;
                    return (closed, before);
                }
                Ok(Some(Ok(Message::Text(t)))) => before.push(serde_json::from_str(&t).unwrap()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => panic!("client read error before close: {e}"),
            }
        }
    }

    /// The underlying WebSocket, for tests that read and write concurrently.
    pub fn into_inner(self) -> Ws {
        Arc::try_unwrap(self.ws)
            .unwrap_or_else(|_| panic!("the client's socket is in use"))
            .into_inner()
    }

    /// Starts a normal close and waits for the server's reply.
    pub async fn close(self) {
        let mut ws = self.ws.lock().await;
        let _ = ws
            .close(Some(CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            }))
            .await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
    }
}

/// Sends one raw HTTP/1.1 request (written out in full) and returns the whole response:
/// the head and the body its `Content-Length` (or chunked encoding) announces, or
/// everything until the server closes when it announces neither.
pub async fn http(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut out = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if response_complete(&out) {
                return;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no complete HTTP response within {WAIT:?}"));
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `buf` holds a whole response that says how long it is.
fn response_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let body = &buf[end + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

/// `GET path` with `Connection: close`; returns the whole response.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Polls the async `cond` until it holds, failing after [`WAIT`] with `what` (for
/// conditions on `Server::directory`).
pub async fn eventually_async(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    poll_until(what, WAIT, async || {
        cond().await.then_some(()).ok_or_else(String::new)
    })
    .await
}

/// How many members `room` has on every instance, per `server`'s directory (0 when
/// Redis cannot answer).
pub async fn room_len(server: &Server, room: &str) -> usize {
    server
        .directory()
        .room_members(room)
        .await
        .map_or(0, |m| m.len())
}

/// Polls `cond` every 10 ms until it holds, failing after [`WAIT`] with `what`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    poll_until(what, WAIT, async || {
        cond().then_some(()).ok_or_else(String::new)
    })
    .await
}

/// Runs `probe` every 10 ms until it returns `Ok`, and returns that value; fails after
/// `within` naming `what` and showing the last `Err` (the state seen).
pub async fn poll_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(last) => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
