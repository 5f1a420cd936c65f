//! A WebSocket client on a bare TCP stream, for sending what a correct client library
//! refuses to: unmasked frames, reserved bits and opcodes, invalid UTF-8, bad close
//! codes, oversize control frames.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WAIT;

/// Opcodes.
pub mod op {
    /// Continuation.
    pub const CONT: u8 = 0x0;
    /// Text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
}

/// The handshake key of every test upgrade (RFC 6455's sample nonce).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The version and key lines of a valid handshake, for [`upgrade_request`].
pub const VALID_HANDSHAKE: &str =
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// The one upgrade request builder: `METHOD path`, `Host: 127.0.0.1`, `Connection: Upgrade`,
/// `Upgrade: websocket`, then `headers` (whole lines, each ending in `\r\n`; e.g.
/// [`VALID_HANDSHAKE`], or a broken version or key), then the blank line.
pub fn upgrade_request(method: &str, path: &str, headers: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{headers}\r\n"
    )
}

/// Encodes one client frame. `rsv` is the three reserved bits (0 for a valid frame);
/// `masked: false` leaves the frame unmasked (a protocol error from a client).
pub fn frame(fin: bool, rsv: u8, opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0b111) << 4) | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A valid, masked, final text frame.
pub fn text(payload: &[u8]) -> Vec<u8> {
    frame(true, 0, op::TEXT, true, payload)
}

/// What the server sent until it closed.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Text and binary frames, parsed as JSON (`Value::Null` if not JSON).
    pub frames: Vec<Value>,
    /// The close frame's code, if one came (`Some(1005)` for an empty close frame).
    pub close: Option<u16>,
    /// The close frame's reason (empty when there was none).
    pub reason: String,
}

impl Transcript {
    /// The first error frame's `data.code`.
    pub fn error_code(&self) -> Option<&str> {
        self.frames
            .iter()
            .find(|f| f["type"] == "error")
            .and_then(|f| f["data"]["code"].as_str())
    }
}

/// Upgrades an already connected `stream` on `path` (with `extra` header lines, each
/// ending in `\r\n`) and returns it with the bytes that followed the 101 response.
/// Panics on any other answer.
pub async fn upgrade_on(mut stream: TcpStream, path: &str, extra: &str) -> (TcpStream, Vec<u8>) {
    let req = upgrade_request("GET", path, &format!("{VALID_HANDSHAKE}{extra}"));
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
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "expected 101, got: {head}"
    );
    buf.drain(..end);
    (stream, buf)
}

/// A client socket after a successful upgrade.
pub struct RawSocket {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawSocket {
    /// Upgrades on `path` (with `extra` header lines, each ending in `\r\n`) and
    /// consumes the 101 response. Panics on any other answer.
    pub async fn connect(addr: SocketAddr, path: &str, extra: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (stream, buf) = upgrade_on(stream, path, extra).await;
        Self { stream, buf }
    }

    /// Like [`connect`](Self::connect), with the client's receive buffer set to
    /// `recv_buffer` bytes before connecting: a socket that stops reading then holds
    /// little in the kernel, so the server's own queue for it fills soon.
    pub async fn connect_small(addr: SocketAddr, path: &str, recv_buffer: u32) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        let (stream, buf) = upgrade_on(stream, path, "").await;
        Self { stream, buf }
    }

    /// Writes raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed; that is what some tests expect.
        let _ = self.stream.write_all(bytes).await;
    }

    async fn fill(&mut self, need: usize) -> bool {
        while self.buf.len() < need {
            let mut chunk = [0u8; 16384];
            match tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await {
                Err(_) => panic!("no data from the server within {WAIT:?}"),
                Ok(Ok(0)) | Ok(Err(_)) => return false,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// Reads one server frame: `(opcode, payload)`, `None` at end of stream.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if !self.fill(2).await {
            return None;
        }
        let opcode = self.buf[0] & 0x0f;
        let (len, header) = match self.buf[1] & 0x7f {
            126 => {
                if !self.fill(4).await {
                    return None;
                }
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                if !self.fill(10).await {
                    return None;
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n => (n as usize, 2),
        };
        if !self.fill(header + len).await {
            return None;
        }
        let payload = self.buf[header..header + len].to_vec();
        self.buf.drain(..header + len);
        Some((opcode, payload))
    }

    /// Reads data frames until `n` have arrived (or the socket closed).
    pub async fn read_data(&mut self, n: usize) -> Transcript {
        self.read_frames(n, false).await
    }

    /// Reads everything until the server's close frame (answering it) or the end.
    pub async fn read_until_close(&mut self) -> Transcript {
        self.read_frames(usize::MAX, true).await
    }

    /// Data frames until `limit` have arrived, a close frame (answered when
    /// `answer_close`) or the end of the stream.
    /// Fails after 6 × [`WAIT`] in all, even while frames (pings) keep coming.
    async fn read_frames(&mut self, limit: usize, answer_close: bool) -> Transcript {
        let mut t = Transcript::default();
        let deadline = tokio::time::Instant::now() + WAIT * 6;
        while t.frames.len() < limit {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no end within {:?}; so far: {t:?}",
                WAIT * 6
            );
            match self.read_frame().await {
                None => break,
                Some((op::CLOSE, p)) => {
                    t.close = Some(close_code(&p));
                    t.reason = String::from_utf8_lossy(p.get(2..).unwrap_or_default()).into_owned();
                    if answer_close {
                        self.send(&frame(true, 0, op::CLOSE, true, &p[..p.len().min(2)]))
                            .await;
                    }
                    break;
                }
                Some((op::TEXT | op::BINARY, p)) => {
                    t.frames
                        .push(serde_json::from_slice(&p).unwrap_or(Value::Null));
                }
                Some(_) => {}
            }
        }
        t
    }
}

fn close_code(payload: &[u8]) -> u16 {
    if payload.len() >= 2 {
        u16::from_be_bytes([payload[0], payload[1]])
    } else {
        1005
    }
}
