// Values handed in by `macro_rules!` (wrapped in invisible groups) are read like literals.
use pxl_ws::{subscriber, subscribers, subscriber::{Channel, Event}};

macro_rules! on {
    ($name:ident, $channel:expr, $event:expr, $regex:expr, $priority:expr) => {
        #[subscriber(channel = $channel, priority = $priority)]
        async fn $name(_c: Channel) {}

        mod matches {
            use super::*;
            #[subscriber(matches = [$event, regex($regex)])]
            pub(super) async fn all(_c: Channel) {}
        }
    };
}

on!(orders, "orders", Event::Custom, "^analytics:", 5);

fn main() {
    let _ = subscribers![orders, matches::all];
}
