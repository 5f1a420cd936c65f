// Two methods cannot handle the same action: the error is on the second, with a note at
// the first.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send")]
    async fn send(&self) {}

    #[action("other")]
    async fn other(&self) {}

    #[action("send")]
    async fn send_again(&self) {}
}

fn main() {}
