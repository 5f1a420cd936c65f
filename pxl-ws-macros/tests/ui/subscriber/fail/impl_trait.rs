// `impl Trait` arguments are reported at the argument, not in the generated code.
use pxl_ws::subscriber;

#[subscriber(channel = "a")]
async fn takes_impl(_m: impl serde::de::DeserializeOwned) {}

fn main() {}
