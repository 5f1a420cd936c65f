// Sends take a `Frame` or a `Push`: anything else says how to make it one.
use pxl_ws::Server;
use serde::Serialize;

#[derive(Serialize)]
struct Plain {
    text: String,
}

fn send(server: &Server) {
    server.send_to_room("lobby", &Plain { text: "hi".into() }, None);
}

fn main() {}
