// `#[action]` takes no keys after the name (yet): each one is an error at the key.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send", auth)]
    async fn send(&self) {}

    #[action("join", roles = ["admin"], timeout(5))]
    async fn join(&self) {}
}

fn main() {}
