//! `pxl_ws::contract::diff` on every kind of change, between two real versions of one
//! controller (the macros write both contracts), and on snapshots edited as JSON.

use pxl_ws::contract::{Change, Contract, diff};
use pxl_ws::{ActionError, Data, Push, WsServer, ws_controller};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[allow(dead_code, reason = "the payload types exist for their schemas")]
mod v1 {
    use super::*;

    #[derive(Deserialize, JsonSchema)]
    pub(crate) struct Send {
        pub(crate) room: String,
        #[serde(default)]
        pub(crate) text: Option<String>,
        pub(crate) count: u32,
    }

    #[derive(Serialize, JsonSchema)]
    pub(crate) struct Sent {
        pub(crate) id: u64,
        pub(crate) at: u64,
        pub(crate) by: Author,
        pub(crate) note: Option<String>,
    }

    #[derive(Serialize, JsonSchema)]
    pub(crate) struct Author {
        pub(crate) name: String,
        pub(crate) level: u8,
    }

    #[derive(Serialize, JsonSchema, Push)]
    #[push(type = "chat", action = "message")]
    pub(crate) struct Message {
        pub(crate) text: String,
        pub(crate) from: String,
    }

    #[derive(Serialize, JsonSchema, Push)]
    #[push(type = "chat", action = "typing")]
    pub(crate) struct Typing {
        pub(crate) from: String,
    }

    pub(crate) struct Chat;

    #[ws_controller(type = "chat", pushes = [Message, Typing])]
    impl Chat {
        #[action("send")]
        async fn send(&self, Data(_m): Data<Send>) -> Result<Sent, ActionError> {
            Err(ActionError::new("NO", "no"))
        }
        #[action("history")]
        async fn history(&self) -> Vec<u64> {
            Vec::new()
        }
        #[action("ping")]
        async fn ping(&self) {}
        #[action("ban", auth)]
        async fn ban(&self) {}
        #[action("kick", roles = ["admin", "moderator"])]
        async fn kick(&self) {}
        #[action("mute", auth)]
        async fn mute(&self) {}
        #[action("stats")]
        async fn stats(&self) -> u64 {
            0
        }
    }
}

#[allow(dead_code, reason = "the payload types exist for their schemas")]
mod v2 {
    use super::*;

    /// Compatible: a description. Incompatible: `text` required (and no longer null),
    /// `count` retyped,
    /// `channel` added as required.
    #[derive(Deserialize, JsonSchema)]
    pub(crate) struct Send {
        pub(crate) room: String,
        pub(crate) text: String,
        pub(crate) count: String,
        pub(crate) channel: String,
        /// Compatible: an optional field.
        #[serde(default)]
        pub(crate) silent: bool,
    }

    /// `at` removed, `id` retyped, `note` no longer always sent, `by.level` retyped;
    /// `extra` added (compatible).
    #[derive(Serialize, JsonSchema)]
    pub(crate) struct Sent {
        pub(crate) id: String,
        pub(crate) by: Author,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) note: Option<String>,
        pub(crate) extra: bool,
    }

    #[derive(Serialize, JsonSchema)]
    pub(crate) struct Author {
        pub(crate) name: String,
        pub(crate) level: String,
    }

    /// `from` removed.
    #[derive(Serialize, JsonSchema, Push)]
    #[push(type = "chat", action = "message")]
    pub(crate) struct Message {
        pub(crate) text: String,
    }

    #[derive(Deserialize, JsonSchema)]
    pub(crate) struct PingData {
        pub(crate) at: u64,
    }

    pub(crate) struct Chat;

    /// `typing` push removed, `history` removed, `ping` now takes data, `ban` narrowed
    /// to a role, `kick` lost the `moderator` role, `stats` now needs auth; `mute` went
    /// public (compatible); `new` is new (compatible).
    #[ws_controller(type = "chat", pushes = [Message])]
    impl Chat {
        #[action("send")]
        async fn send(&self, Data(_m): Data<Send>) -> Result<Sent, ActionError> {
            Err(ActionError::new("NO", "no"))
        }
        #[action("ping")]
        async fn ping(&self, Data(_d): Data<PingData>) {}
        #[action("ban", roles = ["admin"])]
        async fn ban(&self) {}
        #[action("kick", roles = ["admin"])]
        async fn kick(&self) {}
        #[action("mute")]
        async fn mute(&self) {}
        #[action("stats", auth)]
        async fn stats(&self) -> u64 {
            0
        }
        #[action("new")]
        async fn new_action(&self) {}
    }
}

fn contract_v1() -> Contract {
    WsServer::builder()
        .controller(v1::Chat)
        .build()
        .unwrap()
        .contract()
}

fn contract_v2() -> Contract {
    WsServer::builder()
        .controller(v2::Chat)
        .build()
        .unwrap()
        .contract()
}

#[test]
fn a_contract_is_compatible_with_itself_and_its_snapshot() {
    let c = contract_v1();
    assert_eq!(diff(&c, &c), vec![]);
    let snapshot = Contract::from_json(&c.to_json()).unwrap();
    assert_eq!(diff(&snapshot, &c), vec![]);
}

#[test]
fn every_kind_of_incompatible_change_is_listed() {
    let changes: Vec<String> = diff(&contract_v1(), &contract_v2())
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected = [
        "chat/ban: authorization tightened: authenticated clients -> roles admin",
        "chat/history: action removed",
        "chat/kick: authorization tightened: roles admin|moderator -> roles admin",
        "chat/ping: now requires `data`",
        "chat/send: payload field `data.text` is now required",
        "chat/send: payload field `data.channel` is now required",
        "chat/send: payload field `data.text` changed type: {\"type\":[\"string\",\"null\"]} -> {\"type\":\"string\"}",
        "chat/send: payload field `data.count` changed type: {\"format\":\"uint32\",\"minimum\":0,\"type\":\"integer\"} -> {\"type\":\"string\"}",
        "chat/send: field `response.at` is no longer always sent",
        "chat/send: field `response.note` is no longer always sent",
        "chat/send: field `response.by.level` changed type: {\"format\":\"uint8\",\"maximum\":255,\"minimum\":0,\"type\":\"integer\"} -> {\"type\":\"string\"}",
        "chat/send: field `response.id` changed type: {\"format\":\"uint64\",\"minimum\":0,\"type\":\"integer\"} -> {\"type\":\"string\"}",
        "chat/stats: authorization tightened: anyone -> authenticated clients",
        "chat/message push: field `data.from` is no longer always sent",
        "chat/typing: push removed",
    ];
    let mut got = changes.clone();
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "\ngot:\n{}", changes.join("\n"));
}

#[test]
fn compatible_changes_are_not_listed() {
    // v2 → v1 is a different story, but additions alone are fine: v1 plus new actions,
    // pushes, optional fields, response fields, looser auth.
    let old = contract_v1();
    let mut new = old.clone();
    let mut extra = new.actions.last().unwrap().clone();
    extra.action = "added".into();
    new.actions.push(extra);
    let mute = new.actions.iter_mut().find(|a| a.action == "mute").unwrap();
    mute.auth = false;
    let kick = new.actions.iter_mut().find(|a| a.action == "kick").unwrap();
    kick.roles.push("helper".into());
    // An optional payload field, a response field, a description.
    let send = new.schemas.get_mut("Send").unwrap();
    send["properties"]["quiet"] = json!({"type": "boolean"});
    send["description"] = json!("now documented");
    new.schemas.get_mut("Sent").unwrap()["properties"]["more"] = json!({"type": "string"});
    new.schemas.get_mut("Sent").unwrap()["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("more"));
    // An object that listed no fields (any) gains typed optional ones, in a response.
    let any = json!({"type": "object", "additionalProperties": true});
    let mut old = old;
    old.schemas.insert(
        "Open".into(),
        json!({"type": "object", "properties": {"data": any}}),
    );
    let mut typed = any.clone();
    typed["properties"] =
        json!({"stream": {"type": "object", "properties": {"offset": {"type": "integer"}}}});
    new.schemas.insert(
        "Open".into(),
        json!({"type": "object", "properties": {"data": typed}}),
    );
    let stats = |c: &mut Contract| {
        let a = c.actions.iter_mut().find(|a| a.action == "stats").unwrap();
        a.response.as_mut().unwrap().schema = Some(json!({"$ref": "#/components/schemas/Open"}));
    };
    stats(&mut old);
    stats(&mut new);
    assert_eq!(diff(&old, &new), vec![]);
    // Not the other way round when the old object was something else.
    let mut retyped = new.clone();
    retyped.schemas.get_mut("Open").unwrap()["properties"]["data"] = json!({"type": "string"});
    assert_eq!(diff(&new, &retyped).len(), 1, "{:?}", diff(&new, &retyped));
}

#[test]
fn untyped_payloads_are_not_compared_but_removals_still_are() {
    let mut old = contract_v1();
    for a in &mut old.actions {
        if let Some(p) = &mut a.payload {
            p.schema = None;
        }
    }
    let new = contract_v2();
    let changes = diff(&old, &new);
    assert!(
        !changes.iter().any(|c| matches!(
            c,
            Change::RequiredFieldAdded { .. } | Change::PayloadFieldRetyped { .. }
        )),
        "{changes:?}"
    );
    assert!(changes.contains(&Change::ActionRemoved {
        route: "chat/history".into()
    }));
}
