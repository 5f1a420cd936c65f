// `#[action]` takes `auth` and `roles` after the name: any other key is an error at the
// key, listing the known ones; the known keys around it are still parsed.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send", auht)]
    async fn send(&self) {}

    #[action("join", role = ["admin"], auth, timeout(5))]
    async fn join(&self) {}
}

fn main() {}
