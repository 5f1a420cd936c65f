// A return value must be `Serialize` (and a `Result`'s error `Into<ActionError>`); the
// error points at the return type.
use pxl_ws::ws_controller;

struct Chat;

struct NotSerialize;

struct NotAnActionError;

#[ws_controller(type = "chat")]
impl Chat {
    #[action("value")]
    async fn value(&self) -> NotSerialize {
        NotSerialize
    }

    #[action("result")]
    async fn result(&self) -> Result<u8, NotAnActionError> {
        Ok(1)
    }
}

fn main() {}
