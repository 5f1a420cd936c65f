// Action names follow the controller type's rule; each error points at the literal.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("")]
    async fn empty(&self) {}

    #[action("send message")]
    async fn space(&self) {}

    #[action("-send")]
    async fn dash_first(&self) {}

    #[action("chat/send")]
    async fn slash(&self) {}

    #[action("a1234567890123456789012345678901234567890123456789012345678901234")]
    async fn too_long(&self) {}
}

fn main() {}
