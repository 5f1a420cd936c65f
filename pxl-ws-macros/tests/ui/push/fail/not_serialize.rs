// A push is sent as JSON: the type must implement `Serialize`.
use pxl_ws::Push;

#[derive(Push)]
#[push(type = "chat", action = "message")]
struct NotSerialize {
    text: String,
}

fn main() {}
