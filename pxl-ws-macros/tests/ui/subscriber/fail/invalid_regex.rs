// Regexes are compiled by the macro; the error is at the literal.
use pxl_ws::subscriber;

#[subscriber(matches = ["orders", regex("^analytics:(")])]
async fn bad_regex() {}

#[subscriber(matches = [regex("[z-a]")])]
async fn bad_range() {}

fn main() {}
