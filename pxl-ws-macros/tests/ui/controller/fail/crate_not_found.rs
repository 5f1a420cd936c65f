// A `crate` path that does not resolve is reported at the `crate = "..."` literal.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat", crate = "nowhere::pxl_ws")]
impl Chat {
    #[action("send")]
    async fn send(&self) {}
}

fn main() {}
