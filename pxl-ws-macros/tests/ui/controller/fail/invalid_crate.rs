// `crate` takes a path to the pxl_ws crate, as a string literal.
use pxl_ws::ws_controller;

struct NotAPath;

#[ws_controller(type = "chat", crate = "not a path")]
impl NotAPath {
    #[action("a")]
    async fn a(&self) {}
}

struct NotAString;

#[ws_controller(type = "chat", crate = pxl_ws)]
impl NotAString {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
