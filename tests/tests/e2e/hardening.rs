//! The connection layer under attack, each case on a server with lowered limits so it is
//! quick: an oversize message that is still being sent, ping floods from a client that
//! never reads, half-sent requests and idle connections before the upgrade.

use std::net::SocketAddr;
use std::time::Duration;

use pxl_ws::WsConfig;
use pxl_ws_tests::raw::upgrade_on;
use pxl_ws_tests::{TestServer, WAIT};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::builder;

/// How a server's frames ended, read off a raw stream.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// A close frame with this code arrived.
    Close(u16),
    /// The stream ended without a close frame.
    Eof,
    /// A read failed (a reset) before any close frame.
    Error(std::io::ErrorKind),
}

/// Reads server frames (unmasked, any length) until a close frame or the end.
async fn read_until_close(
    r: &mut (impl AsyncReadExt + Unpin),
    mut buf: Vec<u8>,
    wait: Duration,
) -> Ending {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // One whole frame in `buf`?
        if buf.len() >= 2 {
            let (len, head) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            if len != usize::MAX && buf.len() >= head + len {
                if buf[0] & 0x0f == 0x8 {
                    let p = &buf[head..head + len];
                    return Ending::Close(if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        1005
                    });
                }
                buf.drain(..head + len);
                continue;
            }
        }
        let mut chunk = vec![0u8; 64 * 1024];
        match tokio::time::timeout_at(deadline, r.read(&mut chunk)).await {
            Err(_) => panic!("the server neither closed nor ended the stream within {wait:?}"),
            Ok(Ok(0)) => return Ending::Eof,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Ending::Error(e.kind()),
        }
    }
}

/// A masked binary frame header announcing `len` payload bytes.
fn binary_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    h
}

#[tokio::test]
async fn a_client_still_sending_an_oversize_message_reads_the_1009_close() {
    let mut config = WsConfig::default();
    config.max_message_size = 64 * 1024;
    let srv = TestServer::start(builder(config)).await;
    let (stream, buf) = upgrade_on(TcpStream::connect(srv.addr).await.unwrap(), "/ws", "").await;
    let (mut r, mut w) = stream.into_split();
    // 1 MiB announced against a 64 KiB limit: the header alone gets the close frame.
    let len = 1 << 20;
    w.write_all(&binary_header(len as u64)).await.unwrap();
    assert_eq!(
        read_until_close(&mut r, buf, WAIT).await,
        Ending::Close(1009)
    );
    // A client that has not looked yet is still sending the payload: the server drains
    // it instead of resetting the connection, so every write goes through...
    let chunk = vec![0u8; 64 * 1024];
    for i in 0..len / chunk.len() {
        w.write_all(&chunk)
            .await
            .unwrap_or_else(|e| panic!("payload write {i} failed: {e}"));
    }
    // ...and its close reply ends the connection cleanly (FIN, not a reset).
    let close = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];
    w.write_all(&close).await.unwrap();
    w.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let end = tokio::time::timeout(WAIT, r.read_to_end(&mut rest))
        .await
        .expect("the server ends the stream");
    assert!(end.is_ok(), "the connection was reset: {end:?}");
    let mut fresh = srv.connect().await;
    let reply = fresh.request("test", "echo", json!("after")).await;
    assert_eq!(reply["response"], "after");
}

// --- before the upgrade: half-sent requests, idle connections, the pending cap ----------

/// A TCP connection to `srv` from `local` (any address of 127.0.0.0/8 is local, so
/// `127.0.0.2` serves as a second client address).
async fn tcp_from(local: [u8; 4], srv: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((local, 0))).unwrap();
    tokio::time::timeout(WAIT, socket.connect(srv))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Half an upgrade request: the request line and one header, never the blank line.
const HALF_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\n";

/// Waits until the server ends `stream` (EOF or a reset) and returns what it sent
/// before that. Fails after `wait`.
async fn read_to_end_within(stream: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => panic!(
                "the server kept the connection open for {wait:?} (got {:?})",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A WebSocket client from `local` that upgrades and gets an echo answered.
async fn served_from(local: [u8; 4], srv: &TestServer) {
    let stream = tcp_from(local, srv.addr).await;
    let (mut ws, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::client_async(srv.url(), stream))
            .await
            .expect("upgrade in time")
            .unwrap_or_else(|e| panic!("upgrade from {local:?} refused: {e}"));
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let req = json!({"type": "test", "action": "echo", "data": "ok", "id": 1});
    ws.send(Message::text(req.to_string())).await.unwrap();
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("reply in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["id"] == 1 {
                assert_eq!(v["response"], "ok", "{v}");
                break;
            }
        }
    }
    let _ = ws.close(None).await;
}

#[tokio::test]
async fn half_sent_requests_fill_the_pending_cap_and_the_next_connection_is_closed() {
    let mut config = WsConfig::default();
    // Long enough that the half-open connections are still there when checked.
    config.limits.max_pending_connections = Some(80);
    config.limits.max_pending_connections_per_ip = Some(50);
    config.limits.header_read_timeout = Duration::from_secs(60);
    let srv = TestServer::start(builder(config)).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = tcp_from([127, 0, 0, 1], srv.addr).await;
        s.write_all(HALF_REQUEST).await.unwrap();
        slow.push(s);
    }
    // The 51st from the same address is closed at once, before anything is read: it gets
    // no HTTP answer at all. (Accepts are in order, so the 50 are counted by now.)
    let mut next = tcp_from([127, 0, 0, 1], srv.addr).await;
    let _ = next
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let answer = read_to_end_within(&mut next, WAIT).await;
    assert!(
        answer.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(srv.handle.health().limits.pending_rejected >= 1);
    // Another address is still served, and so are the socket's other clients.
    served_from([127, 0, 0, 2], &srv).await;
    // Once the half-open connections are gone, their slots come back.
    drop(slow);
    let mut served = false;
    for _ in 0..250 {
        let mut probe = tcp_from([127, 0, 0, 1], srv.addr).await;
        let _ = probe
            .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        if !read_to_end_within(&mut probe, WAIT).await.is_empty() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the pending slots were not released");
    served_from([127, 0, 0, 1], &srv).await;
}

#[tokio::test]
async fn half_requests_and_idle_connections_are_closed_after_the_header_timeout() {
    let mut config = WsConfig::default();
    config.limits.header_read_timeout = Duration::from_millis(300);
    // The app's own routes go through the same accept loop.
    let page = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
    let srv = TestServer::start(builder(config).routes(page)).await;
    // Half a request: closed without an answer (or with a 408).
    let mut half = tcp_from([127, 0, 0, 1], srv.addr).await;
    half.write_all(HALF_REQUEST).await.unwrap();
    let answer = read_to_end_within(&mut half, WAIT).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "got {:?}",
        String::from_utf8_lossy(&answer)
    );
    // Nothing at all.
    let mut silent = tcp_from([127, 0, 0, 1], srv.addr).await;
    assert!(read_to_end_within(&mut silent, WAIT).await.is_empty());
    // A keep-alive connection that goes idle after one request.
    let mut idle = tcp_from([127, 0, 0, 1], srv.addr).await;
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_end_within(&mut idle, WAIT).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200") && answer.ends_with(b"hello"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // A well-behaved client is served meanwhile and afterwards.
    served_from([127, 0, 0, 1], &srv).await;
    let mut fresh = srv.connect().await;
    let reply = fresh.request("test", "echo", json!("after")).await;
    assert_eq!(reply["response"], "after");
}

// --- a client that never reads: ping floods, the bounded write buffer -------------------

/// A field of `/proc/self/status` in KiB (the server runs in this test process).
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// One masked ping with a 125-byte payload (the largest a control frame may carry).
fn big_ping() -> Vec<u8> {
    let mut f = vec![0x89, 0x80 | 125, 9, 8, 7, 6];
    f.extend(std::iter::repeat_n(0x55, 125));
    f
}

/// Floods `srv` with `total` bytes of pings from a client that never reads. Returns
/// whether the server cut the connection (a write failed) before the flood was out.
async fn ping_flood(srv: &TestServer, total: usize) -> (bool, TcpStream) {
    let (mut stream, _) = upgrade_on(TcpStream::connect(srv.addr).await.unwrap(), "/ws", "").await;
    let batch: Vec<u8> = std::iter::repeat_n(big_ping(), 512).flatten().collect();
    let mut sent = 0;
    while sent < total {
        match tokio::time::timeout(Duration::from_secs(60), stream.write_all(&batch)).await {
            Err(_) => panic!("the server stopped reading for 60 s without closing"),
            Ok(Err(_)) => return (true, stream),
            Ok(Ok(())) => sent += batch.len(),
        }
    }
    (false, stream)
}

/// Runs the test `name` alone in a child process of this test binary, so that
/// process-wide measures and limits (peak RSS, the descriptor limit) see this test only,
/// whichever harness runs the suite. `true` in the child: run the body; `false` in the
/// parent, once the child has passed.
fn in_own_process(name: &str) -> bool {
    const VAR: &str = "PXL_WS_TESTS_OWN_PROCESS";
    if std::env::var_os(VAR).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(VAR, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own process:\n{stdout}\n{stderr}"
    );
    false
}

#[tokio::test]
async fn a_ping_flood_that_never_reads_is_closed_and_server_memory_stays_bounded() {
    if !in_own_process(
        "hardening::a_ping_flood_that_never_reads_is_closed_and_server_memory_stays_bounded",
    ) {
        return;
    }
    // The rate limit off: the write buffer bound must hold alone. The heartbeat finds
    // the buffer full, waits `write_timeout` for it to drain, and closes.
    let mut config = WsConfig::default();
    config.heartbeat.interval = Duration::from_millis(500);
    config.heartbeat.timeout = Duration::from_secs(60);
    config.limits.rate_limit.enabled = false;
    config.limits.write_timeout = Duration::from_millis(500);
    let srv = TestServer::start(builder(config)).await;
    let mut bystander = srv.connect().await;
    let before = proc_status_kib("VmHWM");
    // 64 MiB of pings: 64 MiB of pongs queued if nothing bounded them.
    let flood = 64 << 20;
    let (cut, mut stream) = ping_flood(&srv, flood).await;
    let grown_kib = proc_status_kib("VmHWM").saturating_sub(before);
    // The server holds at most `max_write_buffer` (256 KiB) of unsent output for this
    // socket, plus its read buffers (344 KiB of growth measured; an unbounded queue grew
    // by 55 MiB here). 4 MiB leaves room for the allocator and the test's own buffers.
    assert!(
        grown_kib < 4 * 1024,
        "peak RSS grew by {grown_kib} KiB during a {} MiB ping flood",
        flood >> 20
    );
    if !cut {
        // Everything was read: the close must still come (a close frame it cannot
        // deliver, then the connection dropped).
        let end = read_until_close(&mut stream, Vec::new(), Duration::from_secs(60)).await;
        assert!(
            matches!(end, Ending::Eof | Ending::Error(_) | Ending::Close(1008)),
            "{end:?}"
        );
    }
    assert_eq!(srv.handle.health().slow_clients_dropped, 1);
    let reply = bystander.request("test", "echo", json!("still here")).await;
    assert_eq!(reply["response"], "still here");
}

#[tokio::test]
async fn pings_count_against_the_rate_limit() {
    let mut config = WsConfig::default();
    config.limits.rate_limit.per_second = 0.001;
    config.limits.rate_limit.burst = 10;
    config.limits.rate_limit.max_violations = 5;
    let srv = TestServer::start(builder(config)).await;
    let (mut stream, buf) =
        upgrade_on(TcpStream::connect(srv.addr).await.unwrap(), "/ws", "").await;
    let pings: Vec<u8> = std::iter::repeat_n(big_ping(), 40).flatten().collect();
    stream.write_all(&pings).await.unwrap();
    assert_eq!(
        read_until_close(&mut stream, buf, WAIT).await,
        Ending::Close(1008)
    );
    assert_eq!(srv.handle.health().limits.rate_limit_closes, 1);
    let mut fresh = srv.connect().await;
    let reply = fresh.request("test", "echo", json!("after")).await;
    assert_eq!(reply["response"], "after");
}

#[tokio::test]
async fn a_frame_larger_than_the_write_buffer_arrives_whole() {
    let mut config = WsConfig::default();
    config.max_message_size = 4 << 20;
    let srv = TestServer::start(builder(config)).await;
    let mut c = srv.connect().await;
    let big = "x".repeat(3 << 20);
    let reply = c.request("test", "echo", json!(big)).await;
    assert_eq!(reply["response"].as_str().map(str::len), Some(big.len()));
    let reply = c.request("test", "echo", json!("small")).await;
    assert_eq!(reply["response"], "small");
}

/// CPU time this process has used, in clock ticks (1/100 s on Linux), read from an
/// open `/proc/self/stat` (opening it needs a descriptor, which may be short).
fn cpu_ticks(stat: &std::fs::File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
    let stat = std::str::from_utf8(&buf[..n]).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15; `fields` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn out_of_descriptors_the_accept_loop_pauses_and_recovers() {
    if !in_own_process("hardening::out_of_descriptors_the_accept_loop_pauses_and_recovers") {
        return;
    }
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut bystander = srv.connect().await;
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    // This process may open only a few more descriptors...
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={}:", open + 16),
        ])
        .status()
        .expect("prlimit (util-linux: apt-get install util-linux)");
    assert!(status.success(), "prlimit failed");
    // ...and uses them all up, but for the one a client connection takes: the server
    // cannot accept it (EMFILE) while it waits in the backlog.
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(24) => break,
            Err(e) => panic!("open /dev/null: {e}"),
        }
        assert!(fillers.len() < 1000, "the descriptor limit did not apply");
    }
    fillers.pop();
    let mut waiting = TcpStream::connect(srv.addr).await.expect("connect");
    waiting
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // While accept fails, the loop pauses between attempts: a second of it costs
    // little CPU (a busy loop would take a whole core).
    let (ticks, started) = (cpu_ticks(&stat), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(&stat) - ticks;
    let elapsed = started.elapsed().as_millis() as u64 / 10;
    assert!(
        used * 4 < elapsed,
        "{used} ticks of CPU in {elapsed} ticks while accept failed"
    );
    // Descriptors back: the waiting connection is served, and so is everyone else.
    drop(fillers);
    let answer = read_to_end_within(&mut waiting, WAIT).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 426"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let reply = bystander.request("test", "echo", json!("still here")).await;
    assert_eq!(reply["response"], "still here");
    let mut fresh = srv.connect().await;
    let reply = fresh.request("test", "echo", json!("fresh")).await;
    assert_eq!(reply["response"], "fresh");
}
