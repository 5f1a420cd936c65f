// `type` is required: the error points at the attribute.
use pxl_ws::ws_controller;

struct A;

#[ws_controller]
impl A {
    #[action("a")]
    async fn a(&self) {}
}

struct B;

#[ws_controller(crate = "::pxl_ws")]
impl B {
    #[action("b")]
    async fn b(&self) {}
}

fn main() {}
