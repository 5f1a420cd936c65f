//! The controllers the tests talk to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pxl_ws::{
    ActionError, Client, Data, Frame, Server, State, WsConfig, WsServer, WsServerBuilder,
    ws_controller,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct TestController;

#[derive(Deserialize)]
pub(crate) struct Add {
    pub(crate) a: i64,
    pub(crate) b: i64,
}

#[derive(Deserialize)]
pub(crate) struct Order {
    pub(crate) item: Item,
}

#[derive(Deserialize)]
pub(crate) struct Item {
    #[allow(dead_code)]
    pub(crate) name: String,
    pub(crate) qty: u32,
}

#[derive(Deserialize)]
pub(crate) struct Broadcast {
    pub(crate) room: String,
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) exclude_me: bool,
}

#[derive(Serialize)]
pub(crate) struct Sum {
    pub(crate) sum: i64,
}

/// Counts calls; registered as state.
#[derive(Clone, Default)]
pub(crate) struct Counter(pub Arc<AtomicU64>);

#[ws_controller(type = "test")]
impl TestController {
    #[action("echo")]
    async fn echo(&self, Data(v): Data<Value>) -> Value {
        v
    }

    #[action("raw")]
    async fn raw(&self, v: Value) -> Value {
        v
    }

    #[action("unit")]
    async fn unit(&self) {}

    #[action("add")]
    async fn add(&self, Data(x): Data<Add>) -> Result<Sum, ActionError> {
        x.a.checked_add(x.b)
            .map(|sum| Sum { sum })
            .ok_or_else(|| ActionError::new("OVERFLOW", "the sum does not fit in 64 bits"))
    }

    #[action("order")]
    async fn order(&self, Data(o): Data<Order>) -> u32 {
        o.item.qty
    }

    #[action("fail")]
    async fn fail(&self) -> Result<(), ActionError> {
        Err(ActionError::new("NOPE", "not today").with_detail("retry", false))
    }

    #[action("internal")]
    async fn internal(&self) -> Result<u8, ActionError> {
        Err(ActionError::internal("database password is hunter2"))
    }

    #[action("panic")]
    async fn panic(&self) {
        panic!("handler exploded");
    }

    #[action("whoami")]
    async fn whoami(&self, client: Client) -> String {
        client.id().to_string()
    }

    #[action("count")]
    async fn count(&self, State(c): State<Counter>) -> u64 {
        c.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[action("login")]
    async fn login(&self, client: Client, Data(user): Data<String>) {
        client.set_user_id(user);
    }

    #[action("broadcast")]
    async fn broadcast(&self, client: Client, server: Server, Data(b): Data<Broadcast>) -> usize {
        let frame = Frame::new("test", "message", &b.text).expect("frame");
        server.send_to_room(&b.room, &frame, b.exclude_me.then(|| client.id()))
    }

    #[action("flood")]
    async fn flood(&self, client: Client, Data(n): Data<usize>) {
        let frame = Frame::new("test", "flood", &"x".repeat(4096)).expect("frame");
        for _ in 0..n {
            if !client.send(&frame) {
                break;
            }
        }
    }
}

/// A builder with the test controller, its state and `config` (as given).
pub(crate) fn builder(config: WsConfig) -> WsServerBuilder {
    WsServer::builder()
        .config(config)
        .controller(TestController)
        .state(Counter::default())
}
