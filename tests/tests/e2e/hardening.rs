//! The connection layer under attack, each case on a server with lowered limits so it is
//! quick: an oversize message that is still being sent, ping floods from a client that
//! never reads, half-sent requests and idle connections before the upgrade.

use std::net::SocketAddr;
use std::time::Duration;

use pxl_ws::WsConfig;
use pxl_ws_tests::{TestServer, WAIT};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::builder;

/// Upgrades a raw TCP connection on `/ws` and returns it with the bytes read after the
/// 101 response.
async fn upgrade(mut stream: TcpStream, addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("101 in time")
            .expect("read");
        assert!(n > 0, "connection closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
    };
    assert!(buf.starts_with(b"HTTP/1.1 101"), "expected 101: {buf:?}");
    buf.drain(..end);
    (stream, buf)
}

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
    let config = WsConfig {
        max_message_size: 64 * 1024,
        ..Default::default()
    };
    let srv = TestServer::start(builder(config)).await;
    let (stream, buf) = upgrade(TcpStream::connect(srv.addr).await.unwrap(), srv.addr).await;
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
