// A repeated key is an error at the second occurrence, with a note at the first.
use pxl_ws::ws_controller;

struct Twice;

#[ws_controller(type = "chat", type = "other")]
impl Twice {
    #[action("a")]
    async fn a(&self) {}
}

struct CrateTwice;

#[ws_controller(crate = "::pxl_ws", type = "chat", crate = "::pxl_ws")]
impl CrateTwice {
    #[action("a")]
    async fn a(&self) {}
}

struct AuthTwice;

#[ws_controller(type = "admin", auth, roles = ["admin"], auth, roles = ["moderator"])]
impl AuthTwice {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
