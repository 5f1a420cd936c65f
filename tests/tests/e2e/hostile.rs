//! The hostile-input table: malformed frames, payloads, handshakes and tokens. Each row
//! names the exact error code, close code or HTTP answer the client must see; after
//! every row the same servers still serve a well-behaved client (one that stayed
//! connected throughout, and a new one).

use pxl_ws::WsConfig;
use pxl_ws_tests::jwt::{self, claims, hs256, now};
use pxl_ws_tests::raw::{self, RawSocket, frame, op};
use pxl_ws_tests::{HttpResponse, TestClient, TestServer, WAIT, http};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::builder;
use crate::jwt::{MeController, SECRET, public_key_config};

const MAX: usize = 64 * 1024;
const ISS: &str = "pxl-tests";
const AUD: &str = "chat";

/// Which server a row targets.
#[derive(Clone, Copy, Debug)]
enum On {
    /// HS256, optional auth, `iss`/`aud` checked, 64 KiB messages.
    Main,
    /// RS256 only, auth required.
    Rsa,
    /// A rate limit that never refills: burst 10, closed after 5 more.
    Limited,
    /// At most 3 sockets in total.
    Tight,
    /// At most 2 sockets per IP.
    PerIp,
    /// At most 5 connections per IP that are not WebSockets yet (60 s header timeout).
    Pending,
    /// A 300 ms header-read timeout.
    SlowHeaders,
}

enum Input {
    /// Raw bytes written on an upgraded socket.
    Frames(Vec<Vec<u8>>),
    /// Raw bytes written on an upgraded socket of another server.
    FramesOn(On, Vec<Vec<u8>>),
    /// An upgrade with these extra headers.
    Upgrade(On, Vec<(&'static str, &'static str)>),
    /// This many sockets held open, then one more upgrade.
    Crowd(On, usize),
    /// A raw HTTP request on a new TCP connection.
    Http(String),
    /// An upgrade with `?token=`.
    Token(On, String),
    /// An upgrade with `Authorization: Bearer`.
    Bearer(On, String),
    /// This many connections holding half a request, then one more connection.
    HalfOpen(On, usize),
    /// Half a request on a new TCP connection, then nothing.
    HalfRequest(On),
}

#[derive(Debug)]
enum Expect {
    /// An error frame with this code; the socket stays open.
    Error(&'static str),
    /// The first `n` answers are not errors, the next is an error with this code.
    NthError(usize, &'static str),
    /// A reply (not an error frame); the socket stays open.
    Reply,
    /// The server closes with this code and reason.
    Close(u16, &'static str),
    /// An HTTP answer with this status and, when given, this JSON `code`.
    Http(u16, Option<&'static str>),
    /// The TCP connection is closed without any HTTP answer.
    Dropped,
}

struct Row {
    name: &'static str,
    input: Input,
    expect: Expect,
}

fn row(name: &'static str, input: Input, expect: Expect) -> Row {
    Row {
        name,
        input,
        expect,
    }
}

fn text(s: impl AsRef<[u8]>) -> Input {
    Input::Frames(vec![raw::text(s.as_ref())])
}

fn binary(b: &[u8]) -> Input {
    Input::Frames(vec![frame(true, 0, op::BINARY, true, b)])
}

fn msg(v: Value) -> Input {
    text(v.to_string())
}

fn upgrade_request(extra: &str, method: &str) -> String {
    raw::upgrade_request(method, "/ws", &format!("{extra}Connection: close\r\n"))
}

/// Claims valid for the main server.
fn good(sub: &str) -> Value {
    let mut c = claims(sub);
    c["iss"] = json!(ISS);
    c["aud"] = json!(AUD);
    c
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

/// The header of a masked binary frame announcing `len` bytes (its payload follows raw).
fn oversize_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    h
}

/// `n` valid `test/unit` messages.
fn units(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| raw::text(br#"{"type":"test","action":"unit"}"#))
        .collect()
}

const HOST: &str = "Host: 127.0.0.1\r\n";
const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// `GET /ws` over HTTP/`version` with exactly these header lines (each ending in `\r\n`).
fn raw_upgrade(version: &str, headers: &str) -> String {
    format!("GET /ws HTTP/{version}\r\n{headers}\r\n")
}

/// A `system/refreshToken` frame carrying an HS256 token for the main server.
fn refresh(claims: &Value) -> Vec<u8> {
    let token = hs256(SECRET, claims);
    raw::text(
        json!({"type":"system","action":"refreshToken","data":{"token": token}})
            .to_string()
            .as_bytes(),
    )
}

fn rows() -> Vec<Row> {
    use Expect::*;
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let hs = |c: &Value| Input::Token(On::Main, hs256(SECRET, c));
    let tampered = {
        let t = hs256(SECRET, &good("alice"));
        let parts: Vec<&str> = t.split('.').collect();
        let evil = jwt::hs256(b"other", &with(good("alice"), "roles", json!(["admin"])));
        let evil_payload = evil.split('.').nth(1).unwrap().to_owned();
        format!("{}.{}.{}", parts[0], evil_payload, parts[2])
    };
    vec![
        // --- not JSON --------------------------------------------------------------
        row("unterminated object", text("{"), Error("INVALID_JSON")),
        row("empty text frame", text(""), Error("INVALID_JSON")),
        row("bare word", text("nul"), Error("INVALID_JSON")),
        row(
            "truncated envelope",
            text(r#"{"type":"test","action":"echo""#),
            Error("INVALID_JSON"),
        ),
        row(
            "trailing garbage",
            text(r#"{"type":"test","action":"unit"} x"#),
            Error("INVALID_JSON"),
        ),
        row(
            "10 000 nested arrays (not an object)",
            text(deep(10_000)),
            Error("INVALID_MESSAGE"),
        ),
        row(
            "200-deep data",
            text(format!(
                r#"{{"type":"test","action":"echo","data":{}}}"#,
                deep(200)
            )),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "30 000-deep data",
            text(format!(
                r#"{{"type":"test","action":"echo","data":{}}}"#,
                deep(30_000)
            )),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "30 000-deep unknown field is skipped",
            text(format!(
                r#"{{"type":"test","action":"unit","extra":{}}}"#,
                deep(30_000)
            )),
            Reply,
        ),
        row(
            "raw control character in a string",
            text(b"{\"type\":\"te\x01st\",\"action\":\"x\"}"),
            Error("INVALID_JSON"),
        ),
        row(
            "lone surrogate escape",
            text(r#"{"type":"test","action":"echo","data":"\ud800"}"#),
            Error("INVALID_PAYLOAD"),
        ),
        // --- JSON, but not an envelope ---------------------------------------------
        row("array", text("[]"), Error("INVALID_MESSAGE")),
        row("string", text(r#""hello""#), Error("INVALID_MESSAGE")),
        row("number", text("42"), Error("INVALID_MESSAGE")),
        row("null", text("null"), Error("INVALID_MESSAGE")),
        row(
            "duplicate key",
            text(r#"{"type":"a","type":"b","action":"x"}"#),
            Error("INVALID_MESSAGE"),
        ),
        row(
            "id is an object",
            msg(json!({"type":"test","action":"unit","id":{}})),
            Error("INVALID_MESSAGE"),
        ),
        row(
            "id is an array",
            msg(json!({"type":"test","action":"unit","id":[1]})),
            Error("INVALID_MESSAGE"),
        ),
        row(
            "type missing",
            msg(json!({"action":"x"})),
            Error("MISSING_TYPE"),
        ),
        row(
            "type is a number",
            msg(json!({"type":1,"action":"x"})),
            Error("MISSING_TYPE"),
        ),
        row(
            "type is empty",
            msg(json!({"type":"","action":"x"})),
            Error("MISSING_TYPE"),
        ),
        row(
            "type is null",
            msg(json!({"type":null,"action":"x"})),
            Error("MISSING_TYPE"),
        ),
        row(
            "type is an object",
            msg(json!({"type":{"$ne":1},"action":"x"})),
            Error("MISSING_TYPE"),
        ),
        row(
            "action missing",
            msg(json!({"type":"test"})),
            Error("MISSING_ACTION"),
        ),
        row(
            "action is an array",
            msg(json!({"type":"test","action":["echo"]})),
            Error("MISSING_ACTION"),
        ),
        row(
            "action is a bool",
            msg(json!({"type":"test","action":true})),
            Error("MISSING_ACTION"),
        ),
        // --- routes and payloads -------------------------------------------------------
        row(
            "unknown type",
            msg(json!({"type":"nope","action":"x"})),
            Error("UNKNOWN_ROUTE"),
        ),
        row(
            "unknown action",
            msg(json!({"type":"test","action":"nope"})),
            Error("UNKNOWN_ROUTE"),
        ),
        row(
            "prototype-ish action",
            msg(json!({"type":"test","action":"__proto__"})),
            Error("UNKNOWN_ROUTE"),
        ),
        row(
            "control characters in type",
            msg(json!({"type":"te\u{0}st","action":"echo"})),
            Error("UNKNOWN_ROUTE"),
        ),
        row(
            "data of the wrong type",
            msg(json!({"type":"test","action":"add","data":"1+2"})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "field of the wrong type",
            msg(json!({"type":"test","action":"add","data":{"a":"1","b":2}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "integer beyond i64",
            text(r#"{"type":"test","action":"add","data":{"a":99999999999999999999,"b":1}}"#),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "number beyond f64",
            text(r#"{"type":"test","action":"echo","data":1e400}"#),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "sum overflow is the handler's error",
            msg(json!({"type":"test","action":"add","data":{"a":i64::MAX,"b":1}})),
            Error("OVERFLOW"),
        ),
        row(
            "room name with control characters",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"a\u{7}b"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "10 KiB room name",
            msg(
                json!({"type":"system","action":"joinRoom","data":{"roomName":"r".repeat(10_240)}}),
            ),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "handler panics",
            msg(json!({"type":"test","action":"panic"})),
            Error("INTERNAL_ERROR"),
        ),
        row(
            "protected route, anonymous",
            msg(json!({"type":"me","action":"whoami"})),
            Error("UNAUTHENTICATED"),
        ),
        // --- binary and encoding ---------------------------------------------------------
        row(
            "binary garbage",
            binary(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
            Error("INVALID_JSON"),
        ),
        row(
            "binary envelope is routed",
            binary(br#"{"type":"test","action":"unit"}"#),
            Reply,
        ),
        row(
            "text frame with invalid UTF-8",
            text([b'{', 0xff, 0xfe, b'}']),
            Close(1007, "invalid UTF-8"),
        ),
        row(
            "invalid UTF-8 split across fragments",
            Input::Frames(vec![
                frame(false, 0, op::TEXT, true, b"{\"a\":\"\xe2\x82"),
                frame(true, 0, op::CONT, true, b"\x28\"}"),
            ]),
            Close(1007, "invalid UTF-8"),
        ),
        // --- size ------------------------------------------------------------------------
        row(
            "oversize text",
            msg(json!({"type":"test","action":"echo","data":"x".repeat(MAX)})),
            Close(1009, "message too big"),
        ),
        row("oversize binary", binary(&vec![b' '; MAX + 1]), Close(1009, "message too big")),
        row(
            "oversize across fragments",
            Input::Frames(vec![
                frame(false, 0, op::TEXT, true, &vec![b' '; MAX / 2 + 1]),
                frame(true, 0, op::CONT, true, &vec![b' '; MAX / 2 + 1]),
            ]),
            Close(1009, "message too big"),
        ),
        // --- framing ----------------------------------------------------------------------
        row(
            "unmasked client frame",
            Input::Frames(vec![frame(true, 0, op::TEXT, false, b"{}")]),
            Close(1002, "protocol error"),
        ),
        row(
            "reserved bits set",
            Input::Frames(vec![frame(true, 0b100, op::TEXT, true, b"{}")]),
            Close(1002, "protocol error"),
        ),
        row(
            "reserved opcode 0x3",
            Input::Frames(vec![frame(true, 0, 0x3, true, b"")]),
            Close(1002, "protocol error"),
        ),
        row(
            "reserved control opcode 0xB",
            Input::Frames(vec![frame(true, 0, 0xB, true, b"")]),
            Close(1002, "protocol error"),
        ),
        row(
            "continuation without a start",
            Input::Frames(vec![frame(true, 0, op::CONT, true, b"{}")]),
            Close(1002, "protocol error"),
        ),
        row(
            "ping longer than 125 bytes",
            Input::Frames(vec![frame(true, 0, op::PING, true, &[0; 126])]),
            Close(1002, "protocol error"),
        ),
        row(
            "fragmented ping",
            Input::Frames(vec![frame(false, 0, op::PING, true, b"x")]),
            Close(1002, "protocol error"),
        ),
        row(
            "close code 999",
            Input::Frames(vec![frame(true, 0, op::CLOSE, true, &999u16.to_be_bytes())]),
            Close(1002, "Protocol violation"),
        ),
        row(
            "close code 1005 on the wire",
            Input::Frames(vec![frame(
                true,
                0,
                op::CLOSE,
                true,
                &1005u16.to_be_bytes(),
            )]),
            Close(1002, "Protocol violation"),
        ),
        row(
            "close code 5000",
            Input::Frames(vec![frame(
                true,
                0,
                op::CLOSE,
                true,
                &5000u16.to_be_bytes(),
            )]),
            Close(1002, "Protocol violation"),
        ),
        row(
            "close frame with 1-byte payload",
            Input::Frames(vec![frame(true, 0, op::CLOSE, true, &[3])]),
            Close(1002, "protocol error"),
        ),
        row(
            "close reason with invalid UTF-8",
            Input::Frames(vec![frame(
                true,
                0,
                op::CLOSE,
                true,
                &[0x03, 0xe8, 0xff, 0xfe],
            )]),
            Close(1007, "invalid UTF-8"),
        ),
        row(
            "150 pings, then a message",
            Input::Frames({
                let mut v: Vec<Vec<u8>> = (0..150)
                    .map(|_| frame(true, 0, op::PING, true, b"p"))
                    .collect();
                v.push(raw::text(br#"{"type":"test","action":"unit"}"#));
                v
            }),
            Reply,
        ),
        // --- handshakes ---------------------------------------------------------------------
        row(
            "HTTP garbage",
            Input::Http("GARBAGE\r\n\r\n".into()),
            Http(400, None),
        ),
        row(
            "upgrade without a key",
            Input::Http(upgrade_request("Sec-WebSocket-Version: 13\r\n", "GET")),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "WebSocket version 8",
            Input::Http(upgrade_request(
                "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                "GET",
            )),
            Http(426, Some("BAD_HANDSHAKE")),
        ),
        row(
            "POST upgrade",
            Input::Http(upgrade_request(
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                "POST",
            )),
            Http(426, Some("UPGRADE_REQUIRED")),
        ),
        row(
            "200 headers",
            Input::Http(upgrade_request(
                &(0..200)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>(),
                "GET",
            )),
            Http(431, None),
        ),
        // --- tokens ---------------------------------------------------------------------------
        row(
            "token alg none",
            Input::Token(On::Main, jwt::unsigned(&good("alice"))),
            Http(401, Some("TOKEN_ALGORITHM_NOT_ALLOWED")),
        ),
        row(
            "alg none on an RS256 server",
            Input::Token(On::Rsa, jwt::unsigned(&claims("alice"))),
            Http(401, Some("TOKEN_ALGORITHM_NOT_ALLOWED")),
        ),
        row(
            "HS256 signed with the RSA public key (key confusion)",
            Input::Token(
                On::Rsa,
                hs256(jwt::RSA_PUBLIC_PEM.as_bytes(), &claims("alice")),
            ),
            Http(401, Some("TOKEN_ALGORITHM_NOT_ALLOWED")),
        ),
        row(
            "RS256 token on an HS256 server",
            Input::Token(On::Main, jwt::rs256(&good("alice"))),
            Http(401, Some("TOKEN_ALGORITHM_NOT_ALLOWED")),
        ),
        row(
            "wrong secret",
            Input::Token(On::Main, hs256(b"not the secret", &good("alice"))),
            Http(401, Some("TOKEN_SIGNATURE_INVALID")),
        ),
        row(
            "tampered payload",
            Input::Token(On::Main, tampered),
            Http(401, Some("TOKEN_SIGNATURE_INVALID")),
        ),
        row(
            "expired",
            hs(&with(good("alice"), "exp", json!(now() - 3600))),
            Http(401, Some("TOKEN_EXPIRED")),
        ),
        row(
            "nbf in the future",
            hs(&with(good("alice"), "nbf", json!(now() + 3600))),
            Http(401, Some("TOKEN_NOT_YET_VALID")),
        ),
        row(
            "missing sub",
            hs(&without(good("alice"), "sub")),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "sub is an object",
            hs(&with(good("alice"), "sub", json!({"id": 1}))),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "missing exp",
            hs(&without(good("alice"), "exp")),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "exp is a string",
            hs(&with(good("alice"), "exp", json!("tomorrow"))),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "wrong iss",
            hs(&with(good("alice"), "iss", json!("evil"))),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "missing iss",
            hs(&without(good("alice"), "iss")),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "wrong aud",
            hs(&with(good("alice"), "aud", json!(["other"]))),
            Http(401, Some("TOKEN_CLAIMS_INVALID")),
        ),
        row(
            "malformed: one segment",
            Input::Token(On::Main, "abc".into()),
            Http(401, Some("TOKEN_MALFORMED")),
        ),
        row(
            "malformed: bad base64",
            Input::Token(On::Main, "a.b.c".into()),
            Http(401, Some("TOKEN_MALFORMED")),
        ),
        row(
            "malformed: four segments",
            Input::Token(On::Main, format!("{}.x", hs256(SECRET, &good("a")))),
            Http(401, Some("TOKEN_MALFORMED")),
        ),
        row(
            "malformed bearer token",
            Input::Bearer(On::Main, "%%%".into()),
            Http(401, Some("TOKEN_MALFORMED")),
        ),
        row(
            "8 KiB bearer token",
            Input::Bearer(On::Main, "A".repeat(8192)),
            Http(401, Some("TOKEN_MALFORMED")),
        ),
        row(
            "no token where required",
            Input::Token(On::Rsa, String::new()),
            Http(401, Some("TOKEN_MISSING")),
        ),        // --- limits ------------------------------------------------------------------------
        row("cross-site Origin", Input::Upgrade(On::Main, vec![("origin", "https://evil.example")]), Http(403, Some("ORIGIN_NOT_ALLOWED"))),
        row("Origin: null", Input::Upgrade(On::Main, vec![("origin", "null")]), Http(403, Some("ORIGIN_NOT_ALLOWED"))),
        row("same host, other port", Input::Upgrade(On::Main, vec![("origin", "http://127.0.0.1:1")]), Http(403, Some("ORIGIN_NOT_ALLOWED"))),
        row("4th socket over a cap of 3", Input::Crowd(On::Tight, 3), Http(503, Some("TOO_MANY_CONNECTIONS"))),
        row("3rd socket from one IP over a cap of 2", Input::Crowd(On::PerIp, 2), Http(429, Some("TOO_MANY_CONNECTIONS_FROM_IP"))),
        row("burst of 15 over a burst of 10", Input::FramesOn(On::Limited, units(15)), NthError(10, "RATE_LIMITED")),
        row("sustained flood", Input::FramesOn(On::Limited, units(40)), Close(1008, "rate limit exceeded")),
        row(
            "101 rooms over a limit of 100",
            Input::Frames((0..101).map(|i| raw::text(json!({"type":"system","action":"joinRoom","data":{"roomName": format!("r{i}")}}).to_string().as_bytes())).collect()),
            NthError(100, "TOO_MANY_ROOMS"),
        ),
        row("room name with a bidi override", msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"abc\u{202e}txt"}})), Error("INVALID_PAYLOAD")),
        // --- handshake strictness, token refresh, names ----------------------------------
        row(
            "empty Sec-WebSocket-Key",
            Input::Http(raw_upgrade("1.1", &format!("{HOST}{UPGRADE}Sec-WebSocket-Key: \r\n"))),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "short Sec-WebSocket-Key (15 bytes)",
            Input::Http(raw_upgrade(
                "1.1",
                &format!("{HOST}{UPGRADE}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"),
            )),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "Sec-WebSocket-Key that is not base64",
            Input::Http(raw_upgrade(
                "1.1",
                &format!("{HOST}{UPGRADE}Sec-WebSocket-Key: not*base64*at*all*!!!==\r\n"),
            )),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "duplicate Sec-WebSocket-Key",
            Input::Http(raw_upgrade("1.1", &format!("{HOST}{UPGRADE}{KEY}{KEY}"))),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "upgrade without Host",
            Input::Http(raw_upgrade("1.1", &format!("{UPGRADE}{KEY}"))),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "duplicate Host",
            Input::Http(raw_upgrade("1.1", &format!("{HOST}{HOST}{UPGRADE}{KEY}"))),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "malformed Host",
            Input::Http(raw_upgrade(
                "1.1",
                &format!("Host: a b/c\r\n{UPGRADE}{KEY}"),
            )),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "HTTP/1.0 upgrade",
            Input::Http(raw_upgrade("1.0", &format!("{HOST}{UPGRADE}{KEY}"))),
            Http(400, Some("BAD_HANDSHAKE")),
        ),
        row(
            "DNS rebinding: Host and Origin both an attacker's name",
            Input::Upgrade(
                On::Main,
                vec![
                    ("host", "rebind.evil.example"),
                    ("origin", "http://rebind.evil.example"),
                ],
            ),
            Http(421, Some("HOST_NOT_ALLOWED")),
        ),
        row(
            "Host an unknown name, no Origin",
            Input::Http(raw_upgrade(
                "1.1",
                &format!("Host: evil.example:80\r\n{UPGRADE}{KEY}"),
            )),
            Http(421, Some("HOST_NOT_ALLOWED")),
        ),
        row(
            "refresh with a token expired inside the leeway",
            Input::Frames(vec![refresh(&with(good("alice"), "exp", json!(now() - 5)))]),
            Error("TOKEN_EXPIRED"),
        ),
        row(
            "refresh with an earlier exp than the current token",
            Input::Frames(vec![
                refresh(&with(good("alice"), "exp", json!(now() + 3600))),
                refresh(&with(good("alice"), "exp", json!(now() + 1800))),
            ]),
            NthError(1, "TOKEN_NOT_NEWER"),
        ),
        row(
            "room name with a zero-width space",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{200b}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a zero-width joiner",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{200d}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a zero-width non-joiner",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{200c}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a BOM",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{feff}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a word joiner (U+2060)",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{2060}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with only a Hangul filler (U+3164)",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"\u{3164}"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a line separator (U+2028)",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{2028}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a paragraph separator (U+2029)",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{2029}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        row(
            "room name with a soft hyphen",
            msg(json!({"type":"system","action":"joinRoom","data":{"roomName":"x\u{ad}y"}})),
            Error("INVALID_PAYLOAD"),
        ),
        // --- connection layer: protocol nits, ping floods, before the upgrade -------------
        row(
            "lone surrogate escape in type",
            text(r#"{"type":"sys\ud800tem","action":"ping"}"#),
            Error("INVALID_JSON"),
        ),
        row(
            "lone surrogate escape in action",
            text(r#"{"type":"system","action":"pi\udc00ng"}"#),
            Error("INVALID_JSON"),
        ),
        row(
            "oversize message still being sent",
            Input::Frames({
                let mut v = vec![oversize_header(1 << 20)];
                v.extend((0..4).map(|_| vec![0u8; 64 * 1024]));
                v
            }),
            Close(1009, "message too big"),
        ),
        row(
            "1 000 pings: over burst and violations",
            Input::Frames(
                (0..1000)
                    .map(|_| frame(true, 0, op::PING, true, b"p"))
                    .collect(),
            ),
            Close(1008, "rate limit exceeded"),
        ),
        row(
            "pings and pongs take rate-limit tokens",
            Input::FramesOn(
                On::Limited,
                (0..40)
                    .map(|i| frame(true, 0, if i % 2 == 0 { op::PING } else { 0xA }, true, b"p"))
                    .collect(),
            ),
            Close(1008, "rate limit exceeded"),
        ),
        row(
            "6th half-sent request from one IP over a pending cap of 5",
            Input::HalfOpen(On::Pending, 5),
            Dropped,
        ),
        row(
            "half a request, then silence",
            Input::HalfRequest(On::SlowHeaders),
            Dropped,
        ),
    ]
}

struct Servers {
    main: TestServer,
    rsa: TestServer,
    limited: TestServer,
    tight: TestServer,
    per_ip: TestServer,
    pending: TestServer,
    slow_headers: TestServer,
}

impl Servers {
    fn get(&self, on: On) -> &TestServer {
        match on {
            On::Main => &self.main,
            On::Rsa => &self.rsa,
            On::Limited => &self.limited,
            On::Tight => &self.tight,
            On::PerIp => &self.per_ip,
            On::Pending => &self.pending,
            On::SlowHeaders => &self.slow_headers,
        }
    }
}

async fn servers() -> Servers {
    let mut main = WsConfig::default();
    main.max_message_size = MAX;
    main.auth.jwt_secret = Some(std::str::from_utf8(SECRET).unwrap().into());
    main.auth.issuer = vec![ISS.into()];
    main.auth.audience = vec![AUD.into()];
    let rsa = public_key_config(jwt::RSA_PUBLIC_PEM, "RS256");
    let mut limited = WsConfig::default();
    limited.limits.rate_limit.per_second = 0.001;
    limited.limits.rate_limit.burst = 10;
    limited.limits.rate_limit.max_violations = 5;
    let mut tight = WsConfig::default();
    tight.limits.max_connections = Some(3);
    let mut per_ip = WsConfig::default();
    per_ip.limits.max_connections_per_ip = Some(2);
    let mut pending = WsConfig::default();
    pending.limits.max_pending_connections_per_ip = Some(5);
    pending.limits.header_read_timeout = std::time::Duration::from_secs(60);
    let mut slow_headers = WsConfig::default();
    slow_headers.limits.header_read_timeout = std::time::Duration::from_millis(300);
    Servers {
        main: TestServer::start(builder(main).controller(MeController)).await,
        rsa: TestServer::start(builder(rsa).controller(MeController)).await,
        limited: TestServer::start(builder(limited)).await,
        tight: TestServer::start(builder(tight)).await,
        per_ip: TestServer::start(builder(per_ip)).await,
        pending: TestServer::start(builder(pending)).await,
        slow_headers: TestServer::start(builder(slow_headers)).await,
    }
}

/// Runs one row; returns what went wrong, if anything.
async fn run(s: &Servers, row: &Row) -> Result<(), String> {
    match (&row.input, &row.expect) {
        (Input::Frames(frames), expect) => frames_row(&s.main, frames, expect).await,
        (Input::FramesOn(on, frames), expect) => frames_row(s.get(*on), frames, expect).await,
        (Input::Http(req), Expect::Http(status, code)) => {
            let resp = HttpResponse::parse(&http(s.main.addr, req).await);
            check_refusal(Err(resp), *status, *code)
        }
        (Input::Token(on, token), Expect::Http(status, code)) => {
            let url = format!("{}?token={token}", s.get(*on).url());
            check_refusal(TestClient::connect_with(&url, &[]).await, *status, *code)
        }
        (Input::Bearer(on, token), Expect::Http(status, code)) => {
            let auth = format!("Bearer {token}");
            let r = TestClient::connect_with(&s.get(*on).url(), &[("authorization", &auth)]).await;
            check_refusal(r, *status, *code)
        }
        (Input::Upgrade(on, headers), Expect::Http(status, code)) => {
            let r = TestClient::connect_with(&s.get(*on).url(), headers).await;
            check_refusal(r, *status, *code)
        }
        (Input::Crowd(on, n), Expect::Http(status, code)) => {
            crowd_row(s.get(*on), *n, *status, *code).await
        }
        (Input::HalfOpen(on, n), Expect::Dropped) => half_open_row(s.get(*on), *n).await,
        (Input::HalfRequest(on), Expect::Dropped) => {
            let mut c = TcpStream::connect(s.get(*on).addr).await.unwrap();
            c.write_all(HALF_REQUEST).await.unwrap();
            dropped(&mut c).await
        }
        (_, e) => Err(format!("row cannot expect {e:?}")),
    }
}

/// Writes `frames` on a new socket to `srv` and checks what comes back.
async fn frames_row(srv: &TestServer, frames: &[Vec<u8>], expect: &Expect) -> Result<(), String> {
    let mut sock = RawSocket::connect(srv.addr, "/ws", "").await;
    let hello = sock.read_data(1).await;
    if hello.frames.first().map(|f| &f["action"]) != Some(&json!("connected")) {
        return Err(format!("no system/connected: {hello:?}"));
    }
    for f in frames {
        sock.send(f).await;
    }
    match expect {
        Expect::Error(_) | Expect::Reply => {
            let t = sock.read_data(1).await;
            let got = t.frames.first().ok_or(format!("no frame: {t:?}"))?;
            let ok = match expect {
                Expect::Error(code) => got["type"] == "error" && got["data"]["code"] == *code,
                _ => got["type"] != "error",
            };
            if !ok || t.close.is_some() {
                return Err(format!(
                    "expected {expect:?}, got {got} (close {:?})",
                    t.close
                ));
            }
            // The socket is still usable.
            sock.send(&raw::text(
                br#"{"type":"system","action":"ping","id":"after"}"#,
            ))
            .await;
            let t = sock.read_data(1).await;
            if t.frames.first().map(|f| &f["response"]) != Some(&json!("pong")) {
                return Err(format!("socket unusable after the row: {t:?}"));
            }
        }
        Expect::NthError(n, code) => {
            let t = sock.read_data(n + 1).await;
            let (ok, rest) = t.frames.split_at(t.frames.len().min(*n));
            if ok.len() != *n || ok.iter().any(|f| f["type"] == "error") {
                return Err(format!("expected {n} answers first, got {t:?}"));
            }
            match rest.first() {
                Some(f) if f["type"] == "error" && f["data"]["code"] == *code => {}
                other => return Err(format!("expected {code} next, got {other:?}")),
            }
        }
        Expect::Close(code, reason) => {
            let t = sock.read_until_close().await;
            if t.close != Some(*code) || t.reason != *reason {
                return Err(format!("expected close {code} {reason:?}, got {t:?}"));
            }
        }
        Expect::Http(..) | Expect::Dropped => {
            return Err("frame rows cannot expect HTTP answers".into());
        }
    }
    Ok(())
}

/// Holds `n` sockets open on `srv`, expects the next upgrade refused, lets the crowd go,
/// and checks that the slots come back.
async fn crowd_row(
    srv: &TestServer,
    n: usize,
    status: u16,
    code: Option<&str>,
) -> Result<(), String> {
    let mut crowd = Vec::new();
    for _ in 0..n {
        crowd.push(srv.connect().await);
    }
    check_refusal(
        TestClient::connect_with(&srv.url(), &[]).await,
        status,
        code,
    )?;
    for c in crowd {
        c.close().await;
    }
    let mut again = pxl_ws_tests::poll_until("the slots are released", WAIT, async || {
        TestClient::connect_with(&srv.url(), &[])
            .await
            .map_err(|r| format!("{r:?}"))
    })
    .await;
    let r = again.request("test", "echo", json!(1)).await;
    if r["response"] != 1 {
        return Err(format!("after the crowd left: {r}"));
    }
    again.close().await;
    Ok(())
}

const HALF_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\n";

/// `Ok` when the server closes `c` (EOF or reset) without sending anything.
async fn dropped(c: &mut TcpStream) -> Result<(), String> {
    let mut got = Vec::new();
    match tokio::time::timeout(WAIT, c.read_to_end(&mut got)).await {
        Err(_) => Err(format!("still open after {WAIT:?}")),
        Ok(_) if got.is_empty() => Ok(()),
        Ok(_) => Err(format!("answered: {:?}", String::from_utf8_lossy(&got))),
    }
}

/// Holds `n` connections with half a request on `srv`, expects the next connection
/// closed at once, lets them go, and checks that a client is served again.
async fn half_open_row(srv: &TestServer, n: usize) -> Result<(), String> {
    let mut crowd = Vec::new();
    for _ in 0..n {
        let mut c = TcpStream::connect(srv.addr).await.unwrap();
        c.write_all(HALF_REQUEST).await.unwrap();
        crowd.push(c);
    }
    let mut next = TcpStream::connect(srv.addr).await.unwrap();
    let _ = next.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    dropped(&mut next).await?;
    drop(crowd);
    // The slots come back as the server sees the connections end.
    let probe = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut released = false;
    for _ in 0..250 {
        if !http(srv.addr, probe).await.is_empty() {
            released = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if !released {
        return Err("the pending slots were not released".into());
    }
    let mut c = srv.connect().await;
    let r = c.request("test", "echo", json!(1)).await;
    if r["response"] != 1 {
        return Err(format!("after the crowd left: {r}"));
    }
    Ok(())
}

fn check_refusal(
    r: Result<TestClient, pxl_ws_tests::Refused>,
    status: u16,
    code: Option<&str>,
) -> Result<(), String> {
    match r {
        Ok(_) => Err("connection accepted".into()),
        Err(refused) => {
            // A JSON `{error, code}` body is expected whenever a code is.
            if refused.status != status
                || code.is_some_and(|c| {
                    refused.body["code"] != c || !refused.body["error"].is_string()
                })
            {
                return Err(format!("expected {status} {code:?}, got {refused:?}"));
            }
            // Every 401 names the scheme, whatever the token's fault.
            if status == 401
                && refused
                    .headers
                    .get("www-authenticate")
                    .map(|v| v.as_bytes())
                    != Some(b"Bearer")
            {
                return Err(format!(
                    "401 without `WWW-Authenticate: Bearer`: {refused:?}"
                ));
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn every_hostile_input_gets_its_exact_answer_and_the_servers_keep_serving() {
    let s = servers().await;
    let rows = rows();
    // Every row of the table runs (a row lost in an edit fails here).
    assert_eq!(rows.len(), 122, "the table has {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are unique");

    let mut bystander = s.main.connect().await;
    let token = hs256(SECRET, &good("bob"));
    let mut authed = TestClient::connect(&format!("{}?token={token}", s.main.url())).await;
    assert_eq!(authed.recv().await["action"], "authenticated");
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if let Err(e) = run(&s, row).await {
            failures.push(format!("row {i} `{}`: {e}", row.name));
        }

        // After every row: the long-lived clients and a new one are still served.
        let r = bystander.request("test", "echo", json!(i)).await;
        assert_eq!(r["response"], json!(i), "bystander after `{}`", row.name);
        let r = authed.request("me", "whoami", json!(null)).await;
        assert_eq!(
            r["response"]["userId"], "bob",
            "authed after `{}`",
            row.name
        );
        let mut fresh = s.main.connect().await;
        let r = fresh.request("test", "echo", json!("fresh")).await;
        assert_eq!(r["response"], "fresh", "new client after `{}`", row.name);
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The RSA server too.
    let mut ok = TestClient::connect(&format!(
        "{}?token={}",
        s.rsa.url(),
        jwt::rs256(&claims("r"))
    ))
    .await;
    assert_eq!(ok.recv().await["data"]["userId"], "r");
}

// --- close frames the server sends ------------------------------------------------------
//
// `Server::disconnect_client` takes any `u16` and any text, from app code or from another
// instance over the bus. What reaches the client is always a valid close frame: codes that
// may not be sent become 1000, reasons are cut to 123 bytes at a character boundary.

/// `(name, code asked for, reason asked for, code the client sees, reason it sees)`.
fn close_rows() -> Vec<(&'static str, u16, String, u16, String)> {
    let long = "é".repeat(100); // 200 bytes
    vec![
        ("1000 kept", 1000, "bye".into(), 1000, "bye".into()),
        ("1003 kept", 1003, "x".into(), 1003, "x".into()),
        ("1007 kept", 1007, "x".into(), 1007, "x".into()),
        ("1013 kept", 1013, "x".into(), 1013, "x".into()),
        (
            "1014 (refused by common clients)",
            1014,
            "x".into(),
            1000,
            "x".into(),
        ),
        ("3000 kept", 3000, "x".into(), 3000, "x".into()),
        ("4999 kept", 4999, "kicked".into(), 4999, "kicked".into()),
        ("code 0", 0, "kicked".into(), 1000, "kicked".into()),
        ("code 999", 999, "x".into(), 1000, "x".into()),
        ("reserved 1004", 1004, "x".into(), 1000, "x".into()),
        ("no-status 1005", 1005, "x".into(), 1000, "x".into()),
        ("abnormal 1006", 1006, "x".into(), 1000, "x".into()),
        ("TLS 1015", 1015, "x".into(), 1000, "x".into()),
        ("unassigned 2999", 2999, "x".into(), 1000, "x".into()),
        ("code 5000", 5000, "x".into(), 1000, "x".into()),
        ("code 65535", 65535, "x".into(), 1000, "x".into()),
        ("empty reason", 4000, String::new(), 4000, String::new()),
        (
            "123-byte reason kept",
            4000,
            "a".repeat(123),
            4000,
            "a".repeat(123),
        ),
        (
            "124-byte reason",
            4000,
            "a".repeat(124),
            4000,
            "a".repeat(123),
        ),
        (
            "4 KiB reason",
            4000,
            "a".repeat(4096),
            4000,
            "a".repeat(123),
        ),
        // 61 two-byte characters fit in 123 bytes; the 62nd would split.
        (
            "multi-byte reason cut at a boundary",
            4000,
            long,
            4000,
            "é".repeat(61),
        ),
        (
            "bad code and long reason",
            1005,
            "b".repeat(300),
            1000,
            "b".repeat(123),
        ),
    ]
}

/// Closes `victim` through `by.disconnect_client` and checks the close frame a
/// tungstenite client reads (it refuses a frame with a code that may not be sent or a
/// payload over 125 bytes).
async fn close_row(
    by: &TestServer,
    victim: TestClient,
    row: &(&'static str, u16, String, u16, String),
) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (_, code, reason, want_code, want_reason) = row;
    let id = victim.id.parse().map_err(|e| format!("client id: {e:?}"))?;
    if !by.handle.disconnect_client(id, *code, reason) {
        return Err("disconnect_client: client not known".into());
    }
    let mut ws = victim.into_inner();
    loop {
        let next = tokio::time::timeout(pxl_ws_tests::WAIT, ws.next())
            .await
            .map_err(|_| "no close frame in time".to_string())?;
        match next {
            Some(Ok(Message::Close(f))) => {
                let got = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                if got != Some((*want_code, want_reason.clone())) {
                    return Err(format!("expected {want_code} {want_reason:?}, got {got:?}"));
                }
                // Finish the handshake.
                let _ = tokio::time::timeout(pxl_ws_tests::WAIT, ws.next()).await;
                return Ok(());
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("client read error: {e}")),
            None => return Err("stream ended without a close frame".into()),
        }
    }
}

#[tokio::test]
async fn close_frames_are_valid_whatever_code_and_reason_are_asked_for() {
    let bus = pxl_ws::bus::MemoryBus::new();
    let s1 = TestServer::start(builder(WsConfig::default()).bus(bus.clone())).await;
    let s2 = TestServer::start(builder(WsConfig::default()).bus(bus)).await;
    let mut bystander = s2.connect().await;
    let mut failures = Vec::new();
    for (i, row) in close_rows().iter().enumerate() {
        // Locally: the server holding the socket closes it.
        let victim = s1.connect().await;
        if let Err(e) = close_row(&s1, victim, row).await {
            failures.push(format!("local `{}`: {e}", row.0));
        }
        // Over the bus: instance 1 asks instance 2, which holds the socket.
        let victim = s2.connect().await;
        let id = victim.id.parse().unwrap();
        pxl_ws_tests::eventually("instance 1 knows the client of instance 2", || {
            s1.handle.get_client(id).is_some()
        })
        .await;
        if let Err(e) = close_row(&s1, victim, row).await {
            failures.push(format!("over the bus `{}`: {e}", row.0));
        }
        // Both instances still serve a client that stayed and a new one.
        let r = bystander.request("test", "echo", json!(i)).await;
        assert_eq!(r["response"], json!(i), "bystander after `{}`", row.0);
        let mut fresh = s1.connect().await;
        let r = fresh.request("test", "echo", json!("fresh")).await;
        assert_eq!(r["response"], "fresh", "new client after `{}`", row.0);
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    s1.stop().await;
    s2.stop().await;
}
