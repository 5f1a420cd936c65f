//! The `Host` allowlist (`limits.allowed_hosts`) against DNS rebinding: by default only
//! loopback names and IP addresses are answered; a list replaces that; `*` allows any.
//! Refusals are 421 `HOST_NOT_ALLOWED` with a JSON body, and the server keeps serving.

use std::net::SocketAddr;

use pxl_ws::WsConfig;
use pxl_ws_tests::{HttpResponse, TestClient, TestServer, WAIT};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::builder;

/// A valid upgrade with this `Host`; the status, and the parsed answer unless it was 101.
async fn upgrade_with_host(addr: SocketAddr, host: &str) -> (u16, Option<HttpResponse>) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed before an answer (Host {host})");
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.starts_with(b"HTTP/1.1 101") {
        return (101, None);
    }
    // Not upgraded: `Connection: close` ends the stream after the body.
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await;
    let answer = HttpResponse::parse(&String::from_utf8_lossy(&buf));
    (answer.status, Some(answer))
}

fn hosts(list: &[&str]) -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.limits.allowed_hosts = list.iter().map(|h| h.to_string()).collect();
        cfg
    }
}

/// Every `ok` host is upgraded, every `refused` one gets 421 `HOST_NOT_ALLOWED` (and is
/// counted); a well-behaved client (on the first `ok` host) is served afterwards.
async fn check(srv: &TestServer, ok: &[&str], refused: &[&str]) {
    let before = srv.handle.health().limits.host_rejected;
    for host in ok {
        let (status, answer) = upgrade_with_host(srv.addr, host).await;
        assert_eq!(status, 101, "Host {host}: {answer:?}");
    }
    for host in refused {
        let (status, answer) = upgrade_with_host(srv.addr, host).await;
        let answer = answer.expect("an HTTP answer");
        assert_eq!(status, 421, "Host {host}: {answer:?}");
        assert_eq!(
            answer.body,
            json!({
                "error": "This server does not answer to this host name",
                "code": "HOST_NOT_ALLOWED"
            }),
            "Host {host}"
        );
    }
    assert_eq!(
        srv.handle.health().limits.host_rejected - before,
        refused.len() as u64
    );
    let mut c = TestClient::connect_with(&srv.url(), &[("host", ok[0])])
        .await
        .expect("a client on an allowed host connects");
    let r = c.request("test", "echo", json!("still served")).await;
    assert_eq!(r["response"], "still served");
}

#[tokio::test]
async fn hosts_by_default_loopback_names_and_ip_addresses_only() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let port = srv.addr.port();
    let local = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LocalHost".into(),
        format!("app.localhost:{port}"),
        format!("[::1]:{port}"),
        // An address is never a rebound name: a LAN or container IP is fine.
        "10.1.2.3".into(),
        format!("[2001:db8::1]:{port}"),
    ];
    let names = [
        "example.com",
        "rebind.evil.example:80",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "evil-localhost",
    ];
    check(
        &srv,
        &local.iter().map(String::as_str).collect::<Vec<_>>(),
        &names,
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn hosts_a_configured_list_replaces_the_default() {
    let srv = TestServer::start(builder(hosts(&[
        "chat.example.com",
        "*.example.org",
        "10.0.0.1",
        "[::1]",
    ])))
    .await;
    check(
        &srv,
        &[
            "chat.example.com",
            "CHAT.Example.com.:443",
            "a.example.org",
            "b.c.example.org:8080",
            "10.0.0.1:3000",
            "[::1]:3000",
        ],
        &[
            "example.org",
            "127.0.0.1",
            "localhost",
            "chat.example.com.evil",
            "evil-chat.example.com",
            "10.0.0.2",
        ],
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn hosts_star_allows_any_host() {
    let srv = TestServer::start(builder(hosts(&["*"]))).await;
    check(&srv, &["anything.example", "127.0.0.1", "localhost"], &[]).await;
    srv.stop().await;
}
