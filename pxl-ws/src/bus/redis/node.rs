//! One plain RESP2 connection to one Redis Cluster node, for pub/sub: commands out
//! (arrays of bulk strings), replies and pushes in. Each shard's subscriber owns one, so
//! a node lost or replaced touches only the subscriptions that node held.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A RESP2 value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Resp {
    Bulk(Vec<u8>),
    Simple(String),
    Int(i64),
    Array(Vec<Resp>),
    Error(String),
    Nil,
}

impl Resp {
    pub(super) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bulk(b) => Some(b),
            Self::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub(super) fn int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A node's address and credentials, from a seed URL or the slot map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct NodeAddr {
    pub(super) host: String,
    pub(super) port: u16,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Credentials for every node (`redis://user:password@host:port`).
#[derive(Debug, Clone, Default)]
pub(super) struct Auth {
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
}

/// Splits `redis://[user[:password]@]host[:port][/db]` into an address and credentials.
pub(super) fn parse_seed(url: &str) -> Option<(NodeAddr, Auth)> {
    let rest = url.strip_prefix("redis://")?;
    let rest = rest.split(['/', '?']).next()?;
    let (cred, hostport) = match rest.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, rest),
    };
    let mut auth = Auth::default();
    if let Some(c) = cred {
        match c.split_once(':') {
            Some((u, p)) => {
                auth.user = (!u.is_empty()).then(|| u.to_owned());
                auth.password = Some(p.to_owned());
            }
            None => auth.password = Some(c.to_owned()),
        }
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (hostport, 6379),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| {
        (
            NodeAddr {
                host: host.to_owned(),
                port,
            },
            auth,
        )
    })
}

/// Connects to `addr` (within `timeout`) and authenticates: the reading half (to be
/// read by one task, since a read cancelled midway would lose its place) and the
/// writing half.
pub(super) async fn connect(
    addr: &NodeAddr,
    auth: &Auth,
    timeout: Duration,
) -> io::Result<(BufReader<OwnedReadHalf>, NodeWriter)> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect((addr.host.as_str(), addr.port)))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut writer = NodeWriter { writer: w };
    if let Some(password) = &auth.password {
        let mut cmd: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &auth.user {
            cmd.push(user.as_bytes());
        }
        cmd.push(password.as_bytes());
        writer.send(&[cmd]).await?;
        match tokio::time::timeout(timeout, read_value(&mut reader)).await {
            Ok(Ok(Resp::Simple(_))) => {}
            Ok(Ok(other)) => return Err(io::Error::other(format!("AUTH refused: {other:?}"))),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
        }
    }
    Ok((reader, writer))
}

/// The writing half of a node connection.
pub(super) struct NodeWriter {
    writer: OwnedWriteHalf,
}

impl NodeWriter {
    pub(super) async fn send(&mut self, cmds: &[Vec<&[u8]>]) -> io::Result<()> {
        let mut buf = Vec::new();
        for args in cmds {
            buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                buf.extend_from_slice(a);
                buf.extend_from_slice(b"\r\n");
            }
        }
        self.writer.write_all(&buf).await
    }
}

/// Reads one RESP2 value.
pub(super) fn read_value(
    r: &mut BufReader<OwnedReadHalf>,
) -> futures_util::future::BoxFuture<'_, io::Result<Resp>> {
    Box::pin(async move {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad RESP line"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let int = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad RESP number"))
        };
        Ok(match line[0] {
            b'+' => Resp::Simple(body),
            b'-' => Resp::Error(body),
            b':' => Resp::Int(int(&body)?),
            b'$' => {
                let len = int(&body)?;
                if len < 0 {
                    Resp::Nil
                } else {
                    let mut buf = vec![0u8; len as usize + 2];
                    r.read_exact(&mut buf).await?;
                    buf.truncate(len as usize);
                    Resp::Bulk(buf)
                }
            }
            b'*' => {
                let len = int(&body)?;
                if len < 0 {
                    Resp::Nil
                } else {
                    let mut items = Vec::with_capacity(len.min(1024) as usize);
                    for _ in 0..len {
                        items.push(read_value(r).await?);
                    }
                    Resp::Array(items)
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unknown RESP type",
                ));
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse() {
        let (a, auth) = parse_seed("redis://127.0.0.1:7000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 7000));
        assert!(auth.password.is_none());
        let (a, auth) = parse_seed("redis://u:p%w@h:1/0").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("h", 1));
        assert_eq!(
            (auth.user.as_deref(), auth.password.as_deref()),
            (Some("u"), Some("p%w"))
        );
        let (a, auth) = parse_seed("redis://:secret@h").unwrap();
        assert_eq!(a.port, 6379);
        assert_eq!(
            (auth.user, auth.password.as_deref()),
            (None, Some("secret"))
        );
        let (a, _) = parse_seed("redis://[::1]:7001").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 7001));
        assert!(parse_seed("rediss://h:1").is_none());
        assert!(parse_seed("redis://").is_none());
    }
}
