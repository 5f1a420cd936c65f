// `pushes = [...]` lists push types: a type that is not a `Push` is reported at the
// type, a value that is not a list at the value.
use pxl_ws::ws_controller;

struct NotAPush;

struct Listed;

#[ws_controller(type = "chat", pushes = [NotAPush])]
impl Listed {
    #[action("a")]
    async fn a(&self) {}
}

struct NotList;

#[ws_controller(type = "chat", pushes = NotAPush)]
impl NotList {
    #[action("b")]
    async fn b(&self) {}
}

struct Twice;

#[ws_controller(type = "chat", pushes = [], pushes = [])]
impl Twice {
    #[action("c")]
    async fn c(&self) {}
}

fn main() {}
