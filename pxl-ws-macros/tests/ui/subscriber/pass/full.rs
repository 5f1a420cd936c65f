// Every key and extractor; the function stays callable.
use std::time::Duration;

use pxl_ws::{
    Server,
    State,
    WsService,
    subscriber,
    subscribers,
    subscriber::{Channel, Event, LoggingMiddleware, Message, RateLimitMiddleware, SubscriberContext, SubscriberError, Subscriber},
};

#[derive(Clone)]
struct Db;

#[derive(serde::Deserialize)]
struct View {
    page: String,
}

fn is_vip(_channel: &str, message: &serde_json::Value) -> bool {
    message["segment"] == "vip"
}

mod rules {
    pub fn always(_c: &str, _m: &serde_json::Value) -> bool {
        true
    }
}

#[subscriber(
    channels = [Event::QueueJobCompleted, Event::QueueJobError],
    priority = 20,
    name = "queueDashboard",
    description = "Forward queue updates to the live dashboard",
)]
async fn queue_dashboard(Channel(channel): Channel, message: serde_json::Value, ws: WsService) {
    let _ = (channel, message, ws);
}

#[subscriber(
    matches = ["*", "orders", regex("^analytics:"), predicate(is_vip), predicate(rules::always), Event::Custom],
    priority = -3,
    middleware = [LoggingMiddleware, RateLimitMiddleware::new(5, Duration::from_secs(1))],
)]
pub async fn everything(
    Message(view): Message<View>,
    _server: Server,
    State(_db): State<Db>,
    _ctx: SubscriberContext,
) -> Result<(), SubscriberError> {
    let _ = view.page;
    Ok(())
}

#[subscriber(channel = "single")]
async fn single() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let list = subscribers![queue_dashboard, everything, single];
    assert_eq!(list[0].name(), "queueDashboard");
    assert_eq!(list[0].priority(), 20);
    assert_eq!(list[0].description(), Some("Forward queue updates to the live dashboard"));
    assert_eq!(list[1].name(), "everything");
    assert_eq!(list[1].priority(), -3);
    assert_eq!(list[1].matchers().len(), 6);
    assert_eq!(list[1].middleware().len(), 2);
    assert_eq!(list[2].matchers().len(), 1);
    assert!(list[2].description().is_none());
    // Still an ordinary function.
    let _future = single();
}
