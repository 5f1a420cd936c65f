// Handlers take `&self`: other receivers are errors at the receiver, a missing one at the
// parameter list.
use pxl_ws::{Client, ws_controller};

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("none")]
    async fn none() {}

    #[action("none-with-args")]
    async fn none_with_args(client: Client) {
        let _ = client;
    }

    #[action("by-value")]
    async fn by_value(self) {}

    #[action("mut-by-value")]
    async fn mut_by_value(mut self) {}

    #[action("mut-ref")]
    async fn mut_ref(&mut self) {}

    #[action("boxed")]
    async fn boxed(self: Box<Self>) {}

    #[action("explicit-mut")]
    async fn explicit_mut(self: &mut Self) {}
}

fn main() {}
