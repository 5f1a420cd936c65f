//! Property test: random frames and random envelopes over a real socket. Every data
//! frame is answered by exactly one frame, or (invalid UTF-8 text) the socket is closed
//! with 1007; nothing panics the server and nothing hangs.

use std::sync::LazyLock;

use proptest::prelude::*;
use pxl_ws::WsConfig;
use pxl_ws_tests::TestServer;
use pxl_ws_tests::raw::{self, RawSocket, frame, op};
use serde_json::{Value, json};

use crate::app::builder;

#[derive(Debug, Clone)]
enum Input {
    /// A JSON envelope sent as text or binary.
    Envelope { value: Value, binary: bool },
    /// Any string as a text frame.
    Text(String),
    /// Any bytes as a binary frame.
    Binary(Vec<u8>),
    /// A text frame whose payload is not UTF-8.
    BadUtf8(Vec<u8>),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map("[a-zA-Z]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn envelope() -> impl Strategy<Value = Value> {
    let ty = prop_oneof![
        Just(json!("test")),
        Just(json!("system")),
        Just(json!("nope")),
        "x-\\PC{0,10}".prop_map(Value::from),
        json_value(),
    ];
    // Actions that answer with exactly one frame (no room sends, no floods).
    let action = prop_oneof![
        prop::sample::select(vec![
            "echo",
            "raw",
            "add",
            "unit",
            "order",
            "fail",
            "internal",
            "panic",
            "whoami",
            "count",
            "ping",
            "joinRoom",
            "refreshToken",
        ])
        .prop_map(Value::from),
        "x-\\PC{0,10}".prop_map(Value::from),
        json_value(),
    ];
    let id = prop_oneof![
        Just(None),
        "[a-z0-9]{1,8}".prop_map(|s| Some(Value::from(s))),
        any::<u32>().prop_map(|n| Some(Value::from(n))),
        json_value().prop_map(Some),
    ];
    (ty, action, json_value(), id, any::<bool>()).prop_map(|(ty, action, data, id, drop_data)| {
        let mut v = json!({ "type": ty, "action": action });
        if !drop_data {
            v["data"] = data;
        }
        if let Some(id) = id {
            v["id"] = id;
        }
        v
    })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (envelope(), any::<bool>()).prop_map(|(value, binary)| Input::Envelope { value, binary }),
        2 => "\\PC{0,64}".prop_map(Input::Text),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Binary),
        1 => prop::collection::vec(any::<u8>(), 1..16)
            .prop_filter("not UTF-8", |b| std::str::from_utf8(b).is_err())
            .prop_map(Input::BadUtf8),
    ]
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    server: TestServer,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(TestServer::start(builder(WsConfig::default())));
    Fixture { rt, server }
});

async fn exchange(inputs: Vec<Input>) -> Result<(), String> {
    let addr = FIXTURE.server.addr;
    let mut sock = RawSocket::connect(addr, "/ws", "").await;
    let hello = sock.read_data(1).await;
    if hello.frames.len() != 1 {
        return Err(format!("no system/connected: {hello:?}"));
    }
    for input in &inputs {
        let bytes = match input {
            Input::Envelope { value, binary } => {
                let opcode = if *binary { op::BINARY } else { op::TEXT };
                frame(true, 0, opcode, true, value.to_string().as_bytes())
            }
            Input::Text(s) => raw::text(s.as_bytes()),
            Input::Binary(b) => frame(true, 0, op::BINARY, true, b),
            Input::BadUtf8(b) => raw::text(b),
        };
        sock.send(&bytes).await;
        if let Input::BadUtf8(_) = input {
            let t = sock.read_until_close().await;
            return match t.close {
                Some(1007) if t.frames.is_empty() => Ok(()),
                _ => Err(format!(
                    "invalid UTF-8: expected close 1007 only, got {t:?}"
                )),
            };
        }
        let t = sock.read_data(1).await;
        let Some(answer) = t.frames.first() else {
            return Err(format!("{input:?} was not answered: {t:?}"));
        };
        if !answer.is_object() || !answer["type"].is_string() || t.close.is_some() {
            return Err(format!("{input:?} got {answer} (close {:?})", t.close));
        }
    }
    // Exactly one answer per frame: the next frame is the reply to this ping.
    sock.send(&raw::text(
        br#"{"type":"system","action":"ping","id":"last"}"#,
    ))
    .await;
    let t = sock.read_data(1).await;
    match t.frames.first() {
        Some(f) if f["id"] == "last" && f["response"] == "pong" => Ok(()),
        other => Err(format!("expected the final pong, got {other:?}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_frames_are_answered_one_to_one_or_closed_with_a_protocol_code(
        inputs in prop::collection::vec(input(), 1..24)
    ) {
        let result = FIXTURE.rt.block_on(exchange(inputs));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
