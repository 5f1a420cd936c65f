//! Subscribers on pxl-ws: the queue-dashboard and segment-targeting subscribers of PXL's
//! guide, working across instances. Run with `cargo run -p example-subscribers`
//! (several instances: set `REDIS_URL` and distinct `PXL_WS_PORT`s).
//!
//! | client sends | effect |
//! |---|---|
//! | `system/joinRoom {roomName: "dashboard"}` | receives `queue/done` and `queue/errored` for every job, from any instance |
//! | `system/joinRoom {roomName: "segment:vip"}` | receives `analytics/vip` for every VIP analytics event, from any instance |
//! | `jobs/run {jobId, fail?}` | runs a (pretend) background job; the caller gets `queue/jobCompleted` or `queue/jobError` |
//! | `analytics/track {event, segment, ...}` | publishes the data on the app channel `analytics:<event>` |
//!
//! Subscribers run on every instance, so each one delivers with
//! [`Server::send_local`] to its own clients: every dashboard gets each update once.

use pxl_ws::{
    ActionError, Client, Data, Frame, Server, State, Target, WsServer, WsServerBuilder, subscriber,
    subscriber::{Channel, Event, SubscriberError},
    subscribers, ws_controller,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The room of the live queue dashboard.
pub const DASHBOARD: &str = "dashboard";
/// The room of the VIP feed.
pub const VIP_FEED: &str = "segment:vip";

/// Forwards queue updates to the live dashboard (PXL guide, `queue-dashboard.ts`).
#[subscriber(
    channels = [Event::QueueJobCompleted, Event::QueueJobError],
    priority = 20,
    name = "queueDashboard",
    description = "Forward queue updates to the live dashboard",
)]
async fn queue_dashboard(
    Channel(channel): Channel,
    message: Value,
    server: Server,
) -> Result<(), SubscriberError> {
    let action = if channel == Event::QueueJobCompleted.as_str() {
        "done"
    } else {
        "errored"
    };
    let frame = Frame::new("queue", action, &message)?;
    server.send_local(&Target::room(DASHBOARD), &frame);
    Ok(())
}

/// VIP analytics events: queued for the analytics worker and shown on the VIP feed
/// (PXL guide, `segment-targeting.ts`).
#[subscriber(
    matches = [regex("^analytics:"), predicate(is_vip)],
    name = "segmentTargeting",
    description = "Queue VIP analytics events and show them on the VIP feed",
)]
async fn segment_targeting(
    Channel(channel): Channel,
    message: Value,
    server: Server,
    State(queue): State<AnalyticsQueue>,
) -> Result<(), SubscriberError> {
    // PXL's `match` list is "any of": analytics channels, and VIP messages anywhere;
    // only the VIP ones are ours.
    if !is_vip(&channel, &message) {
        return Ok(());
    }
    queue
        .0
        .send(json!({"channel": channel, "message": message}))?;
    let frame = Frame::new(
        "analytics",
        "vip",
        &json!({"channel": channel, "data": message}),
    )?;
    server.send_local(&Target::room(VIP_FEED), &frame);
    Ok(())
}

/// The predicate of `segmentTargeting`.
fn is_vip(_channel: &str, message: &Value) -> bool {
    message["segment"] == "vip"
}

/// Where VIP analytics events go for the (pretend) analytics worker.
#[derive(Clone)]
pub struct AnalyticsQueue(pub mpsc::UnboundedSender<Value>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunJob {
    job_id: String,
    #[serde(default)]
    fail: bool,
}

struct Jobs;

#[ws_controller(type = "jobs")]
impl Jobs {
    /// Runs a pretend job and reports its outcome to the caller (and, through the
    /// `queueJob*` events, to the dashboards of every instance).
    #[action("run")]
    async fn run(
        &self,
        client: Client,
        server: Server,
        Data(job): Data<RunJob>,
    ) -> Result<(), ActionError> {
        if job.fail {
            server.queue_job_error(client.id(), Some(&job.job_id), "the job failed");
        } else {
            server
                .queue_job_completed(client.id(), Some(&job.job_id), &json!({"ok": true}))
                .map_err(ActionError::internal)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Track {
    event: String,
    #[serde(flatten)]
    data: serde_json::Map<String, Value>,
}

struct Analytics;

#[ws_controller(type = "analytics")]
impl Analytics {
    /// Publishes the event on `analytics:<event>`, for the subscribers of every instance.
    #[action("track")]
    async fn track(&self, server: Server, Data(t): Data<Track>) -> Result<(), ActionError> {
        server
            .publish(&format!("analytics:{}", t.event), &t.data)
            .map_err(ActionError::internal)
    }
}

/// The app: controllers, subscribers and the analytics queue (its receiving end is
/// returned for the worker).
pub fn app() -> (WsServerBuilder, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let builder = WsServer::builder()
        .controller(Jobs)
        .controller(Analytics)
        .state(AnalyticsQueue(tx))
        .subscribers(subscribers![queue_dashboard, segment_targeting]);
    (builder, rx)
}
