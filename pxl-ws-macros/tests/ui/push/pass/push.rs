// `#[derive(Push)]` on structs, enums and generic types, with a renamed crate, under
// `#![no_implicit_prelude]`; sends take the values directly.
#![no_implicit_prelude]

extern crate pxl_ws;
extern crate serde;
extern crate std;

mod renamed {
    pub use ::pxl_ws::*;
}

#[derive(serde::Serialize, pxl_ws::Push)]
#[push(type = "chat", action = "message")]
struct Message {
    text: std::string::String,
}

#[derive(serde::Serialize, pxl_ws::Push)]
#[push(type = "game", action = "state.changed", crate = "renamed")]
enum State {
    Idle,
    Playing { round: u32 },
}

#[derive(serde::Serialize, pxl_ws::Push)]
#[push(type = "feed", action = "item")]
struct Item<T: serde::Serialize> {
    value: T,
}

fn send(server: &pxl_ws::Server, client: &pxl_ws::Client) {
    server.send_to_room("lobby", &Message { text: std::string::String::new() }, std::option::Option::None);
    server.send_to_all(&State::Playing { round: 1 }, std::option::Option::None);
    client.send(&Item { value: 1u8 });
    let _ = State::Idle;
    let _ = <Item<u8> as pxl_ws::Push>::TYPE;
}

fn main() {
    let _ = send;
}
