//! PXL's `system/clientList`, bounded and opt-in (`pxl.client_list`): one frame to a new
//! client, after its greeting, listing up to `client_list` clients of the cluster as
//! `{clientId, ws: null, lastActivity, user: {userId} | null}`, with
//! `clientListType: "addClient"`.
//!
//! PXL sends the whole registry (each local socket's internals and every user's token
//! claims included) to every socket on every connect, join, leave and disconnect
//! anywhere in the cluster: O(N) frames of O(N) bytes per change. Here it is one frame
//! of at most `client_list` entries per connect, to that client only, with no claims;
//! live changes come from `room/memberJoined` / `room/memberLeft`
//! (`rooms.presence_events`).

use serde_json::{Value, json};

use crate::frame::Frame;
use crate::handles::Client;
use crate::protocol;

/// Sends the list to `client`, when `pxl.client_list` is set.
pub(crate) fn send_on_connect(client: &Client) {
    let server = client.server();
    let Some(max) = server.config().pxl.client_list else {
        return;
    };
    if let Some(frame) = frame(client, max) {
        client.send(&frame);
    }
}

/// The frame: the new client first, then others, up to `max` entries.
fn frame(client: &Client, max: usize) -> Option<Frame> {
    let server = client.server();
    let pxl = &server.config().pxl;
    let me = client.id();
    let ids = std::iter::once(me).chain(
        server
            .cluster_client_ids()
            .into_iter()
            .filter(move |id| *id != me),
    );
    let entries: Vec<Value> = ids
        .filter_map(|id| server.get_client(id))
        .take(max)
        .map(|info| {
            json!({
                "clientId": info.id,
                "ws": null,
                "lastActivity": info.last_activity,
                "user": info
                    .user_id
                    .map(|u| json!({ "userId": pxl.user_id_value(&Value::String(u)) })),
            })
        })
        .collect();
    protocol::client_list_frame(&entries)
}
