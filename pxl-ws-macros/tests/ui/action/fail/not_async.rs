// Handlers are `async fn`, and not `const`, `unsafe` or `extern`.
use pxl_ws::ws_controller;

struct Chat;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("sync")]
    fn sync(&self) {}

    #[action("unsafe")]
    async unsafe fn unsafe_fn(&self) {}

    #[action("extern")]
    async extern "C" fn extern_fn(&self) {}

    #[action("const")]
    const fn const_fn(&self) {}
}

fn main() {}
