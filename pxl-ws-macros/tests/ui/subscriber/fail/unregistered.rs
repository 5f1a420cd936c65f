// A subscriber that is never passed to `subscribers![...]` never runs: rustc's
// `dead_code` lint reports it at the function's name (a warning with a note saying how to
// register it; an error here, under `deny(warnings)`, which drops the note). A registered
// subscriber, and one whose function allows `dead_code`, are not reported, and the
// function itself is not reported a second time.
//
// (trybuild allows `dead_code` on the command line: `deny(dead_code)` turns it back on.)
#![deny(warnings, dead_code)]

use pxl_ws::{Channel, subscriber, subscribers};

#[subscriber(channel = "orders")]
async fn forgotten(_c: Channel) {}

#[subscriber(channel = "orders")]
async fn registered(_c: Channel) {}

#[subscriber(channel = "orders")]
#[allow(dead_code)]
async fn kept_for_later(_c: Channel) {}

fn main() {
    let _ = subscribers![registered];
}
