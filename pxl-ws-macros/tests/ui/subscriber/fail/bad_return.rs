// A subscriber returns `()` or `Result<(), E>`.
use pxl_ws::subscriber;

#[subscriber(channel = "a")]
async fn returns_number() -> u32 {
    1
}

fn main() {}
