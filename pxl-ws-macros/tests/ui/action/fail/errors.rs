// `errors = [...]` lists the action's error codes as string literals following the
// name rule; each mistake at its token.
use pxl_ws::ws_controller;

struct Codes;

#[ws_controller(type = "chat")]
impl Codes {
    #[action("a", errors = "NOT_IN_ROOM")]
    async fn a(&self) {}

    #[action("b", errors = [NOT_IN_ROOM, 1])]
    async fn b(&self) {}

    #[action("c", errors = ["", "has space"])]
    async fn c(&self) {}

    #[action("d", errors = ["A"], errors = ["B"])]
    async fn d(&self) {}

    #[action("e", errors)]
    async fn e(&self) {}
}

fn main() {}
