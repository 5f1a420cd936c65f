// Every mistake in one item is reported at once, each at its own token; the impl is still
// emitted, so the inherent methods and the `Controller` impl remain usable (no follow-on
// errors in `main`).
use pxl_ws::{ws_controller, controller::Controller};

struct Chat;

#[ws_controller(type = "chat room", prio = 1)]
impl Chat {
    #[action("send")]
    fn send(&self) {}

    #[action("send")]
    async fn send_again<T>(&self) {}

    #[action("bad name")]
    async fn bad(self) {}

    #[action]
    async fn unnamed(client: pxl_ws::Client) {
        let _ = client;
    }

    fn helper(&self) -> u8 {
        1
    }
}

fn main() {
    let _ = Chat.helper();
    let _ = Chat.routes();
}
