// Lists must not be empty.
use pxl_ws::subscriber;

#[subscriber(channels = [])]
async fn no_channels() {}

#[subscriber(matches = [])]
async fn no_matchers() {}

fn main() {}
