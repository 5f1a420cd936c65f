// Exactly one of `channel`, `channels` and `matches`.
use pxl_ws::subscriber;

#[subscriber(priority = 1)]
async fn none() {}

#[subscriber(channel = "a", matches = ["*"])]
async fn several() {}

#[subscriber(channel = "a", channels = ["b"], matches = ["*"])]
async fn three() {}

fn main() {}
