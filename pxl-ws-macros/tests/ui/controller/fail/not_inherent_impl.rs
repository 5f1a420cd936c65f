// `#[ws_controller]` only goes on an inherent impl block. On a trait impl the error points
// at the trait, and the `#[action]`s inside are dropped so they add no errors of their own.
use pxl_ws::ws_controller;

struct Chat;

trait Handlers {
    async fn send(&self);
}

#[ws_controller(type = "chat")]
impl Handlers for Chat {
    #[action("send")]
    async fn send(&self) {}
}

#[ws_controller(type = "chat")]
async fn free_function() {}

#[ws_controller(type = "chat")]
pub struct Struct;

#[ws_controller(type = "chat")]
/// Attributes before the item are skipped: the error points at `enum`.
enum Enum {}

fn main() {
    let _ = (free_function(), Struct);
}
