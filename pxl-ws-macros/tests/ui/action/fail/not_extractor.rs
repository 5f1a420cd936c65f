// Every handler argument must be an extractor. The error is reported once per argument,
// at the argument's type, with the `FromMessage` diagnostic.
use pxl_ws::{Data, ws_controller};

struct Chat;

struct NotAnExtractor;

struct NotDeserialize;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("send")]
    async fn send(&self, text: String, Data(n): Data<u32>, other: NotAnExtractor) {
        let _ = (text, n, other);
    }

    #[action("borrow")]
    async fn borrow(&self, text: &str) {
        let _ = text;
    }

    #[action("payload")]
    async fn payload(&self, Data(p): Data<NotDeserialize>) {
        let _ = p;
    }
}

fn main() {}
