// Priorities are integers; channels are strings or `Event::Variant`; events exist.
use pxl_ws::{subscriber, subscriber::Event};

#[subscriber(channel = "a", priority = "high")]
async fn string_priority() {}

#[subscriber(channel = "a", priority = 1.5)]
async fn float_priority() {}

#[subscriber(channel = Event::QueueJobDone)]
async fn unknown_event() {}

#[subscriber(channels = [42])]
async fn number_channel() {}

#[subscriber(channel = ["a", "b"])]
async fn channel_list() {}

#[subscriber(matches = [starts_with("a")])]
async fn unknown_matcher() {}

#[subscriber(channel = "")]
async fn empty_channel() {}

fn main() {}
