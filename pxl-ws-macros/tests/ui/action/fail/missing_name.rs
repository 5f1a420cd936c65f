// The action name is a string literal, and it is required.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action]
    async fn bare(&self) {}

    #[action()]
    async fn empty_parens(&self) {}

    #[action = "send"]
    async fn name_value(&self) {}

    #[action(5)]
    async fn integer(&self) {}

    #[action(send)]
    async fn unquoted(&self) {}

    // A key is not mistaken for an unquoted name.
    #[action(auth)]
    async fn key_only(&self) {}

    #[action(roles = ["admin"])]
    async fn key_value_only(&self) {}
}

fn main() {}
