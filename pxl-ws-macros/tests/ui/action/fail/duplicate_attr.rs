// A method handles exactly one action: a second `#[action]` (or a second name) is an
// error on the second, with a note at the first.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send")]
    #[action("post")]
    async fn send(&self) {}

    #[action("join", "enter")]
    async fn join(&self) {}
}

fn main() {}
