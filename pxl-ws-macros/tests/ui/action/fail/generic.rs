// Handlers cannot have generic parameters of any kind; the error covers `<...>`.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("type")]
    async fn type_param<T: pxl_ws::controller::FromMessage>(&self, t: T) {
        let _ = t;
    }

    #[action("const")]
    async fn const_param<const N: usize>(&self) {}

    #[action("lifetime")]
    async fn lifetime<'a>(&'a self) {}

    #[action("impl-trait")]
    async fn impl_trait(&self, t: impl pxl_ws::controller::FromMessage) {
        let _ = t;
    }
}

fn main() {}
