// `#[action]` outside a `#[ws_controller]` impl is an error; the item is kept.
use pxl_ws::action;

#[action("send")]
async fn send() {}

fn main() {
    let _ = send();
}
