// The accepted forms of `#[action]` and of handler signatures.
#![deny(warnings)] // the expansion itself must be warning-free

use pxl_ws::{Client, Data, ws_controller, controller::Controller};
use serde::Serialize;

struct Chat;

#[ws_controller(type = "Chat.v2")]
impl Chat {
    const LIMIT: u8 = 3;

    /// Doc comments and other attributes may come before or after `#[action]`.
    #[action("send.v2-beta_9")]
    #[allow(unused_variables)]
    async fn send(&self, client: Client) {}

    #[action("a123456789012345678901234567890123456789012345678901234567890123")]
    async fn longest(&self) {}

    #[rustfmt::skip]
    #[action("trailing-comma",)]
    async fn trailing_comma(&self) {}

    #[pxl_ws::action("path")]
    async fn path(&self) {}

    #[::pxl_ws::action("absolute-path")]
    async fn absolute_path(&self) {}

    #[action("anonymous-lifetime")]
    async fn anonymous_lifetime(&'_ self) {}

    #[action("explicit-receiver")]
    async fn explicit_receiver(self: &Self) {}

    #[action("patterns")]
    async fn patterns(&self, _: Client, mut n: Data<u8>, Data(_): pxl_ws::Data<()>) -> u8 {
        n.0 += Self::LIMIT;
        n.0
    }

    #[action("opaque")]
    async fn opaque(&self) -> impl Serialize {
        "ok"
    }

    async fn not_an_action(&self) {}
}

fn main() {
    let names: Vec<&str> = Chat.routes().iter().map(|r| r.action).collect();
    assert_eq!(
        names,
        [
            "send.v2-beta_9",
            "a123456789012345678901234567890123456789012345678901234567890123",
            "trailing-comma",
            "path",
            "absolute-path",
            "anonymous-lifetime",
            "explicit-receiver",
            "patterns",
            "opaque",
        ]
    );
    assert_eq!(Chat.routes()[7].payload, Some("u8"));
    assert_eq!(Chat.routes()[7].method, "patterns");
    let _ = Chat.not_an_action();
}
