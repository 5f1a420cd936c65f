//! The chat's contract: the committed snapshot (`contract.json`) against what the code
//! declares now — an incompatible change fails here, naming each change — and the
//! contract routes behind `PXL_WS_CONTRACT`.
//!
//! After a compatible change, refresh the snapshot:
//! `cargo run -p example-chat -- contract json > examples/chat/contract.json`.

use std::net::SocketAddr;
use std::process::Command;

use pxl_ws::contract::{Change, Contract, diff};
use pxl_ws_tests::http_get;

mod common;
use common::spawn_chat;

const SNAPSHOT: &str = include_str!("../contract.json");

/// `example-chat contract <format>` (the documented command), as text.
fn command(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_example-chat"))
        .args(["contract", format])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run example-chat contract");
    assert!(
        out.status.success(),
        "contract {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn current() -> Contract {
    Contract::from_json(&command("json")).expect("the command prints a contract")
}

#[test]
fn the_chat_keeps_its_committed_contract() {
    let snapshot = Contract::from_json(SNAPSHOT).expect("contract.json reads");
    let changes = diff(&snapshot, &current());
    assert!(
        changes.is_empty(),
        "incompatible change(s) to the chat's contract (clients built against \
         examples/chat/contract.json would break):\n  {}\nKeep the old shape, or, if the \
         break is intended, refresh the snapshot with \
         `cargo run -p example-chat -- contract json > examples/chat/contract.json`",
        changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn every_payload_reply_and_push_of_the_chat_is_typed() {
    assert_eq!(current().untyped(), Vec::<String>::new());
}

#[test]
fn the_check_fails_on_an_incompatible_change() {
    let snapshot = Contract::from_json(SNAPSHOT).unwrap();
    // The current contract with `chat/typing` gone, `SendMsg` needing a field more and
    // `chat/message` losing `text`.
    let mut broken = current();
    broken
        .actions
        .retain(|a| !(a.ty == "chat" && a.action == "typing"));
    let send_msg = broken.schemas.get_mut("SendMsg").unwrap();
    send_msg["required"]
        .as_array_mut()
        .unwrap()
        .push("channel".into());
    let message = broken.schemas.get_mut("ChatMessage").unwrap();
    message["required"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f != "text");
    let changes = diff(&snapshot, &broken);
    assert!(changes.contains(&Change::ActionRemoved {
        route: "chat/typing".into()
    }));
    assert!(
        changes
            .iter()
            .any(|c| c.to_string() == "chat/send: payload field `data.channel` is now required"),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.to_string()
                == "chat/message push: field `data.text` is no longer always sent"),
        "{changes:?}"
    );
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .expect("host:port")
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").expect("a body").1
}

#[tokio::test]
async fn pxl_ws_contract_serves_the_asyncapi_document_and_the_typescript() {
    let (mut chat, url) = spawn_chat(&[("PXL_WS_CONTRACT", "true")]).await;
    let doc = http_get(addr(&url), "/asyncapi.json").await;
    assert!(doc.starts_with("HTTP/1.1 200"), "{doc}");
    let served: serde_json::Value = serde_json::from_str(body(&doc)).unwrap();
    let printed: serde_json::Value = serde_json::from_str(&command("asyncapi")).unwrap();
    assert_eq!(served, printed, "served and printed documents agree");
    assert_eq!(served["asyncapi"], "3.0.0");
    let ts = http_get(addr(&url), "/contract.ts").await;
    assert!(ts.starts_with("HTTP/1.1 200"), "{ts}");
    assert!(ts.contains("export class TypedClient"), "{ts}");
    chat.kill().await.unwrap();

    let (mut plain, url) = spawn_chat(&[]).await;
    let r = http_get(addr(&url), "/asyncapi.json").await;
    assert!(r.starts_with("HTTP/1.1 404"), "off by default: {r}");
    plain.kill().await.unwrap();
}

#[test]
fn an_invalid_pxl_ws_contract_is_refused_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-chat"))
        .env("PXL_WS_CONTRACT", "maybe")
        .env("PXL_WS_PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PXL_WS_CONTRACT=") && stderr.contains("expected true or false"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_contract_format_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-chat"))
        .args(["contract", "yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected `contract ts`"), "{stderr}");
}
