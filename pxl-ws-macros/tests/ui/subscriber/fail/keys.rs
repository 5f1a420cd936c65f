// Unknown and duplicate keys.
use pxl_ws::subscriber;

#[subscriber(channel = "a", prio = 3)]
async fn unknown() {}

#[subscriber(channel = "a", priority = 1, priority = 2)]
async fn duplicate_priority() {}

#[subscriber(channel = "a", name = "x", name = "y")]
async fn duplicate_name() {}

#[subscriber(channel = "a", channel = "b")]
async fn duplicate_channel_key() {}

#[subscriber(channel = "a", name = "")]
async fn empty_name() {}

fn main() {}
