// Every argument must be a subscriber extractor.
use pxl_ws::{subscriber, subscriber::Channel};

struct Db;

#[subscriber(channel = "a")]
async fn takes_db(Channel(_c): Channel, _db: Db) {}

#[subscriber(channel = "b")]
async fn takes_client(_client: pxl_ws::Client) {}

fn main() {}
