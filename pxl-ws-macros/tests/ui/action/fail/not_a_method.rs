// `#[action]` on an associated item that is not a method is an error (it is consumed by
// `#[ws_controller]`, so the stray-`#[action]` error does not follow).
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("limit")]
    const LIMIT: u8 = 1;

    #[action("send")]
    async fn send(&self) {}
}

fn main() {
    let _ = Chat::LIMIT;
}
