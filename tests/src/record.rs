//! A frame recorder: reads a client's socket in the background and keeps every data
//! frame, for tests that check what arrived (and in which order) after the fact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::SplitSink;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::{TestClient, poll_until};

/// The write half of a recorded client's socket.
pub type Sink = SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// The data frames one client received, in arrival order (JSON; `Value::Null` for a
/// frame that is not JSON). Stops recording when the socket ends or it is dropped.
pub struct Recorder {
    frames: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Records everything `client` receives from now on.
    pub fn start(client: TestClient) -> Self {
        Self::split(client).0
    }

    /// Records what `client` receives and hands back the write half, to send on.
    pub fn split(client: TestClient) -> (Self, Sink) {
        let (sink, mut read) = client.into_inner().split();
        let frames: Arc<Mutex<Vec<Value>>> = Arc::default();
        let out = frames.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(m)) = read.next().await {
                let v = match m {
                    Message::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
                    Message::Binary(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                    _ => continue,
                };
                out.lock().unwrap().push(v);
            }
        });
        (Self { frames, task }, sink)
    }

    /// A copy of what arrived so far.
    pub fn frames(&self) -> Vec<Value> {
        self.frames.lock().unwrap().clone()
    }

    /// Takes what arrived so far out of the recorder (cheaper than a copy for long
    /// recordings); recording goes on from there.
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut self.frames.lock().unwrap())
    }

    /// The `data.seq` of every `t/msg` frame so far, in arrival order.
    pub fn seqs(&self) -> Vec<u64> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == "t" && f["action"] == "msg")
            .filter_map(|f| f["data"]["seq"].as_u64())
            .collect()
    }

    /// Waits (up to `within`) until `cond` holds for the frames so far.
    pub async fn wait_for(&self, what: &str, within: Duration, cond: impl Fn(&[Value]) -> bool) {
        poll_until(what, within, async || {
            let f = self.frames.lock().unwrap();
            if cond(&f) {
                Ok(())
            } else {
                Err(format!("{} frames, last {:?}", f.len(), f.last()))
            }
        })
        .await
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
