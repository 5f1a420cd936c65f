// The controller type must match `^[A-Za-z][A-Za-z0-9_.-]{0,63}$`; each error points at
// the literal.
use pxl_ws::ws_controller;

struct Empty;

#[ws_controller(type = "")]
impl Empty {
    #[action("a")]
    async fn a(&self) {}
}

struct Digit;

#[ws_controller(type = "9chat")]
impl Digit {
    #[action("a")]
    async fn a(&self) {}
}

struct Space;

#[ws_controller(type = "chat room")]
impl Space {
    #[action("a")]
    async fn a(&self) {}
}

struct TooLong;

#[ws_controller(type = "a1234567890123456789012345678901234567890123456789012345678901234")]
impl TooLong {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
