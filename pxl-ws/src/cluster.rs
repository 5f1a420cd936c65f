//! The cross-instance event contract: what one instance publishes on the bus and how
//! the others act on it. Channels are `<prefix>:<event>` with PXL's event names.
//!
//! `sendMessage` / `sendMessageToAll` payload:
//! `{"origin": "<instance id>", "to": "all"|"rooms"|"user"|"client", ...target fields,
//! "except"?: "<client id>", "frame": <the frame, verbatim>}`. The frame is serialised
//! once at the origin and embedded as raw JSON; receivers copy its bytes out unchanged.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Message;

use crate::bus::BusMessage;
use crate::service::{Server, Shared, Target, To};

/// Channel prefix shared by every instance of one app.
pub(crate) const PREFIX: &str = "pxl-ws";

const SEND_MESSAGE: &str = "sendMessage";
const SEND_MESSAGE_TO_ALL: &str = "sendMessageToAll";

#[derive(Serialize)]
struct SendOut<'a> {
    origin: &'a str,
    #[serde(flatten)]
    target: &'a Target,
    frame: &'a RawValue,
}

#[derive(Deserialize)]
struct SendIn<'a> {
    #[serde(borrow)]
    origin: &'a str,
    #[serde(flatten)]
    target: Target,
    #[serde(borrow)]
    frame: &'a RawValue,
}

fn channel(event: &str) -> String {
    format!("{PREFIX}:{event}")
}

/// Publishes a send for the other instances.
pub(crate) fn publish_send(shared: &Shared, target: &Target, frame_json: &str) {
    let Ok(frame) = serde_json::from_str::<&RawValue>(frame_json) else {
        tracing::error!("refusing to publish a frame that is not JSON");
        return;
    };
    let event = if matches!(target.to, To::All) {
        SEND_MESSAGE_TO_ALL
    } else {
        SEND_MESSAGE
    };
    let body = SendOut {
        origin: &shared.instance_id,
        target,
        frame,
    };
    match serde_json::to_vec(&body) {
        Ok(payload) => shared.bus.publish(BusMessage {
            channel: channel(event),
            payload: Bytes::from(payload),
        }),
        Err(e) => tracing::error!(error = %e, "could not encode a bus event"),
    }
}

/// Acts on one message from the bus.
pub(crate) fn receive(server: &Server, msg: &BusMessage) {
    let shared: &Arc<Shared> = &server.shared;
    let Some(event) = msg
        .channel
        .strip_prefix(PREFIX)
        .and_then(|c| c.strip_prefix(':'))
    else {
        return;
    };
    match event {
        SEND_MESSAGE | SEND_MESSAGE_TO_ALL => {
            let ev: SendIn<'_> = match serde_json::from_slice(&msg.payload) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::warn!(channel = %msg.channel, error = %e, "dropping a malformed bus event");
                    return;
                }
            };
            if ev.origin == shared.instance_id {
                return;
            }
            shared
                .metrics
                .bus_messages_in
                .fetch_add(1, Ordering::Relaxed);
            let text = ev.frame.get().to_owned();
            server.deliver_local(&ev.target, Message::Text(text.into()));
        }
        _ => {}
    }
}
