// `type` takes a string literal; anything else is an error at the value.
use pxl_ws::ws_controller;

struct Ident;

#[ws_controller(type = chat)]
impl Ident {
    #[action("a")]
    async fn a(&self) {}
}

struct Int;

#[ws_controller(type = 5)]
impl Int {
    #[action("a")]
    async fn a(&self) {}
}

struct NoValue;

#[ws_controller(type)]
impl NoValue {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
