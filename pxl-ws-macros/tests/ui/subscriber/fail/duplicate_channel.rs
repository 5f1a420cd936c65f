// A channel or matcher given twice, also spelled differently.
use pxl_ws::{subscriber, subscriber::Event};

#[subscriber(channels = ["orders", "billing", "orders"])]
async fn twice() {}

#[subscriber(channels = [Event::QueueJobError, "queueJobError"])]
async fn event_and_string() {}

#[subscriber(matches = [regex("^a"), "*", regex("^a")])]
async fn regex_twice() {}

fn main() {}
