// An impl with no `#[action]` method is an error at the attribute.
use pxl_ws::ws_controller;

struct Empty;

#[ws_controller(type = "empty")]
impl Empty {}

struct Helpers;

#[ws_controller(type = "helpers")]
impl Helpers {
    async fn not_an_action(&self) {}

    fn helper(&self) {}
}

fn main() {}
