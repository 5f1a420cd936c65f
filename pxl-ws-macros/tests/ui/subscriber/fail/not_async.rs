// Subscribers are `async fn`, not generic, without `self`.
use pxl_ws::subscriber;

#[subscriber(channel = "a")]
fn sync_fn() {}

#[subscriber(channel = "a")]
async fn generic<T>() {}

#[subscriber(channel = "a")]
struct NotAFunction;

fn main() {}
