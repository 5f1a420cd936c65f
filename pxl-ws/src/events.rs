//! The event-name table: every channel of the cluster contract, by the name PXL gives it.
//! The cluster's channels, [`Event`](crate::subscriber::Event) and the macro's list of event names
//! all come from (or are checked against) this table. Data only.

pub(crate) const CLIENT_CONNECTED: &str = "clientConnected";
pub(crate) const CLIENT_DISCONNECTED: &str = "clientDisconnected";
pub(crate) const DISCONNECT_CLIENT: &str = "disconnectClient";
pub(crate) const CLIENT_JOINED_ROOM: &str = "clientJoinedRoom";
pub(crate) const CLIENT_LEFT_ROOM: &str = "clientLeftRoom";
pub(crate) const SEND_MESSAGE: &str = "sendMessage";
pub(crate) const SEND_MESSAGE_TO_ALL: &str = "sendMessageToAll";
pub(crate) const MESSAGE_ERROR: &str = "messageError";
pub(crate) const QUEUE_JOB_COMPLETED: &str = "queueJobCompleted";
pub(crate) const QUEUE_JOB_ERROR: &str = "queueJobError";
pub(crate) const CUSTOM: &str = "custom";
pub(crate) const INSTANCE_HEARTBEAT: &str = "instanceHeartbeat";
pub(crate) const SNAPSHOT_REQUEST: &str = "snapshotRequest";
pub(crate) const SNAPSHOT: &str = "snapshot";
/// An app channel message from [`Server::publish`](crate::Server::publish):
/// `{origin, channel, message}`.
pub(crate) const CHANNEL_MESSAGE: &str = "channelMessage";

/// PXL's eleven events, in PXL's order: the ones subscribers see by name.
pub(crate) const PXL_EVENTS: [&str; 11] = [
    CLIENT_CONNECTED,
    CLIENT_DISCONNECTED,
    DISCONNECT_CLIENT,
    CLIENT_JOINED_ROOM,
    CLIENT_LEFT_ROOM,
    SEND_MESSAGE,
    SEND_MESSAGE_TO_ALL,
    MESSAGE_ERROR,
    QUEUE_JOB_COMPLETED,
    QUEUE_JOB_ERROR,
    CUSTOM,
];

/// Every event name, PXL's eleven first.
pub(crate) const EVENTS: [&str; 15] = {
    let ours = [
        INSTANCE_HEARTBEAT,
        SNAPSHOT_REQUEST,
        SNAPSHOT,
        CHANNEL_MESSAGE,
    ];
    let mut all = [""; 15];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < PXL_EVENTS.len() {
            PXL_EVENTS[i]
        } else {
            ours[i - PXL_EVENTS.len()]
        };
        i += 1;
    }
    all
};

/// Whether `event` is one of PXL's eleven (the ones subscribers see by name).
pub(crate) fn is_builtin(event: &str) -> bool {
    PXL_EVENTS.contains(&event)
}

/// The full channel names for `prefix`.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn channels(prefix: &str) -> Vec<String> {
    EVENTS.iter().map(|e| format!("{prefix}:{e}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_pxls_eleven_first_and_each_name_once() {
        assert_eq!(EVENTS[..11], PXL_EVENTS);
        let mut names = EVENTS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENTS.len());
        assert_eq!(channels("app").len(), 15);
        assert_eq!(channels("app")[0], "app:clientConnected");
    }
}
