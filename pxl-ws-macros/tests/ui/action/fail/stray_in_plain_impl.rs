// An impl without `#[ws_controller]` does not turn `#[action]` methods into handlers.
use pxl_ws::action;

struct Chat;

impl Chat {
    #[action("send")]
    async fn send(&self) {}
}

fn main() {
    let _ = Chat.send();
}
