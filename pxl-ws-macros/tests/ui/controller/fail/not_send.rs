// Handler futures must be `Send`: holding an `Rc` across an `.await` is an error.
use std::rc::Rc;

use pxl_ws::ws_controller;

struct Chat;

async fn yield_now() {}

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send")]
    async fn send(&self) -> u8 {
        let rc = Rc::new(1);
        yield_now().await;
        *rc
    }
}

fn main() {}
