//! Load generator for pxl-ws and the floor it is compared with.
//!
//! Scenarios (each prints one JSON line and stops by itself, see `docs/performance.md`):
//!
//! | scenario | what it does | what it reports |
//! |---|---|---|
//! | `connect` | opens N idle sockets | connections/s, server RSS per idle socket |
//! | `echo` | N sockets × K requests in flight for S seconds | requests/s, latency p50/p99/p99.9 |
//! | `broadcast` | N subscribers over R rooms, P publishers at a rate or at max | deliveries/s, loss, one-way latency |
//! | `cluster` | `broadcast` with subscribers and publishers spread over two server URLs | the same |
//! | `recover` | a client rejoins a history room `--missed` messages behind (`since`), `--recoveries` times | time from the join request to the reply with all of them, server CPU per recovery |
//!
//! Every scenario also reports the server's CPU time per message (from `/proc/PID/stat`
//! of the `--server-pid` processes) and the load generator's own CPU use, so a run whose
//! load generator was saturated is visible as such.

pub mod floor;
pub mod options;
pub mod procstat;
pub mod scenarios;
mod wire;

pub use options::{Options, Scenario};

/// Any failure of a scenario (connect refused, handshake failed, bad arguments).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs `scenario` with `options`; the JSON object is the scenario's result line.
pub async fn run(scenario: Scenario, options: &Options) -> Result<serde_json::Value, Error> {
    let mut result = match scenario {
        Scenario::Connect => scenarios::connect(options).await?,
        Scenario::Echo => scenarios::echo(options).await?,
        Scenario::Broadcast | Scenario::Cluster => scenarios::broadcast(options).await?,
        Scenario::Recover => scenarios::recover(options).await?,
    };
    if let Some(object) = result.as_object_mut() {
        object.insert("scenario".into(), scenario.name().into());
        object.insert("label".into(), options.label.clone().into());
    }
    Ok(result)
}
