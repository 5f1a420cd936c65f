// `#[push(...)]` misuse: every mistake at its token, all reported together.
use pxl_ws::Push;
use serde::Serialize;

// No `#[push]` at all.
#[derive(Serialize, Push)]
struct Bare;

// A key missing.
#[derive(Serialize, Push)]
#[push(type = "chat")]
struct NoAction;

#[derive(Serialize, Push)]
#[push(action = "message")]
struct NoType;

// Unknown and duplicate keys.
#[derive(Serialize, Push)]
#[push(type = "chat", action = "message", name = "x", type = "again")]
struct Keys;

// Values that are not string literals; names that break the rule.
#[derive(Serialize, Push)]
#[push(type = chat, action = 1)]
struct NotStrings;

#[derive(Serialize, Push)]
#[push(type = "9chat", action = "has space")]
struct BadNames;

// Two `#[push]` attributes.
#[derive(Serialize, Push)]
#[push(type = "chat", action = "a")]
#[push(type = "chat", action = "b")]
struct Twice;

// Not a list.
#[derive(Serialize, Push)]
#[push = "chat"]
struct NotList;

fn main() {}
