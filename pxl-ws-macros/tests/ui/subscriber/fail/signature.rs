// Subscribers are plain `async fn`s, like `#[action]` methods: not `const`, `unsafe` or
// `extern`, and without a receiver.
use pxl_ws::subscriber;

#[subscriber(channel = "a")]
const fn const_fn() {}

#[subscriber(channel = "a")]
async unsafe fn unsafe_fn() {}

#[subscriber(channel = "a")]
async extern "C" fn extern_fn() {}

#[subscriber(channel = "a")]
async fn lifetime<'a>(_c: pxl_ws::Channel) {}

struct S;

impl S {
    #[subscriber(channel = "a")]
    async fn method(&self) {}
}

fn main() {}
