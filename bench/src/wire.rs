//! Client sockets and the bench protocol's frames, as the load generator speaks them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::Error;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Nanoseconds since the first call: the timestamps carried in `data.t`. Sender and
/// receiver are this one process, so the difference is a one-way latency.
pub(crate) fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A server socket URL and the address it names.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("`{url}`: only ws:// URLs are supported"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.replace("localhost", "127.0.0.1");
        let addr = authority
            .parse()
            .map_err(|_| format!("`{url}`: expected ws://IP:PORT/path"))?;
        Ok(Self {
            url: url.to_owned(),
            addr,
        })
    }
}

/// The source address for connection `i` when spreading over `source_ips` loopback
/// addresses (none when 0 or the server is not on loopback).
pub(crate) fn source_for(i: usize, source_ips: u8, target: &Target) -> Option<IpAddr> {
    if source_ips == 0 || !target.addr.ip().is_loopback() {
        return None;
    }
    let last = 1 + (i % source_ips as usize) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

/// Opens one client socket (from `source` if given) and completes the handshake.
pub(crate) async fn open(target: &Target, source: Option<IpAddr>) -> Result<Ws, Error> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(target.url.as_str(), stream).await?;
    Ok(ws)
}

/// Joins `room` with `system/joinRoom` and waits for the reply.
pub(crate) async fn join(ws: &mut Ws, room: &str) -> Result<(), Error> {
    let frame = format!(
        r#"{{"type":"system","action":"joinRoom","data":{{"roomName":"{room}"}},"id":"join"}}"#
    );
    ws.send(Message::text(frame)).await?;
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let frame: Incoming<'_> = serde_json::from_str(text.as_str())?;
        if frame.kind == "error" {
            return Err(format!("joinRoom {room} failed: {text}").into());
        }
        if frame.action == "joinRoom" {
            return Ok(());
        }
    }
    Err(format!("socket closed before joining {room}").into())
}

/// A frame from the server: only what the load generator looks at.
#[derive(Deserialize)]
pub(crate) struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: &'a str,
    #[serde(borrow)]
    pub(crate) action: &'a str,
    #[serde(default)]
    pub(crate) response: Option<Stamp>,
    #[serde(default)]
    pub(crate) data: Option<Stamp>,
}

/// The timestamp in a bench payload (`{"t": ns, ...}`); absent in other payloads.
#[derive(Deserialize)]
pub(crate) struct Stamp {
    #[serde(default)]
    pub(crate) t: u64,
}

/// `bench/echo {t, p?}` with request id `id`.
pub(crate) fn echo_frame(id: u64, pad: &str) -> Message {
    echo_frame_at(id, pad, now_ns())
}

/// `bench/echo {t, p?}` stamped with `t` (the time it was due: the open loop measures
/// from there, so a late send counts against the server that made it late).
pub(crate) fn echo_frame_at(id: u64, pad: &str, t: u64) -> Message {
    Message::text(if pad.is_empty() {
        format!(r#"{{"type":"bench","action":"echo","data":{{"t":{t}}},"id":{id}}}"#)
    } else {
        format!(r#"{{"type":"bench","action":"echo","data":{{"t":{t},"p":"{pad}"}},"id":{id}}}"#)
    })
}

/// `bench/broadcast {room, t, p?}` with request id `id`.
pub(crate) fn broadcast_frame(id: u64, room: &str, pad: &str) -> Message {
    let t = now_ns();
    Message::text(if pad.is_empty() {
        format!(
            r#"{{"type":"bench","action":"broadcast","data":{{"room":"{room}","t":{t}}},"id":{id}}}"#
        )
    } else {
        format!(
            r#"{{"type":"bench","action":"broadcast","data":{{"room":"{room}","t":{t},"p":"{pad}"}},"id":{id}}}"#
        )
    })
}

/// The room name of room number `r`.
pub(crate) fn room_name(r: usize) -> String {
    format!("room-{r}")
}
