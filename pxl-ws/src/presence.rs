//! Room presence across the cluster: who is in a room (`system/presence`), how many
//! connections and users (`system/presenceStats`), and whether a connection is its
//! user's first or last one in a room (for `room/userJoined` / `room/userLeft`).
//!
//! Members are this instance's (the room table) plus the other instances': from the
//! cluster directory in Redis when there is one ([`members_now`]), else from the cluster
//! view, kept by membership events and purged when an instance's liveness lapses (also
//! what `room/userJoined` / `room/userLeft` are decided from, synchronously). A
//! connection without a user id is its own user (its client id stands for the user).

use std::collections::HashSet;

use serde::Serialize;

use crate::clients::{ClientId, ClientState};
use crate::hub::Hub;

/// One connection in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    pub(crate) client_id: ClientId,
    pub(crate) user_id: String,
    pub(crate) username: Option<String>,
}

/// The user a connection stands for: its user id, else its client id.
pub(crate) fn user_of(c: &ClientState) -> String {
    c.user_id()
        .map(|u| u.to_string())
        .unwrap_or_else(|| c.id.to_string())
}

/// This instance's connections in `room`.
fn local_members(hub: &Hub, room: &str) -> Vec<Member> {
    let mut out = Vec::new();
    hub.rooms().for_each_member(room, |c| {
        out.push(Member {
            client_id: c.id,
            user_id: user_of(c),
            username: c.metadata_str("username"),
        });
    });
    out
}

/// Every connection in `room`, on every instance, sorted by client id.
pub(crate) fn members(hub: &Hub, room: &str) -> Vec<Member> {
    let mut out = local_members(hub, room);
    let view = hub.view();
    for id in view.members(room) {
        if let Some(info) = view.client(id) {
            out.push(Member {
                client_id: id,
                user_id: info.user_id.unwrap_or_else(|| id.to_string()),
                username: info
                    .metadata
                    .get("username")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            });
        }
    }
    out.sort_by_key(|m| m.client_id.to_string());
    out.dedup_by_key(|m| m.client_id);
    out
}

/// Every connection in `room`, on every instance, sorted by client id: the other
/// instances' from the cluster directory in Redis when there is one (a Redis that
/// cannot answer falls back to the view, logged), else from the view.
pub(crate) async fn members_now(hub: &Hub, room: &str) -> Vec<Member> {
    #[cfg(feature = "redis")]
    if let Some(d) = hub.cluster().directory() {
        match d.room_members(room).await {
            Ok(remote) => {
                let mut out = local_members(hub, room);
                for (id, m) in remote {
                    if m.instance != hub.instance_id() {
                        out.push(Member {
                            client_id: id,
                            user_id: m.user_id.unwrap_or_else(|| id.to_string()),
                            username: m.username,
                        });
                    }
                }
                out.sort_by_key(|m| m.client_id.to_string());
                out.dedup_by_key(|m| m.client_id);
                return out;
            }
            Err(e) => {
                tracing::warn!(error = %e, room, "presence: the cluster directory did not answer; answering from the view");
            }
        }
    }
    members(hub, room)
}

/// (connections, distinct users) among `members`.
pub(crate) fn stats(members: &[Member]) -> (usize, usize) {
    let users: HashSet<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    (members.len(), users.len())
}

/// Whether another connection of `c`'s user (here or elsewhere) is in `room`.
pub(crate) fn user_has_another(hub: &Hub, room: &str, c: &ClientState) -> bool {
    let Some(user) = c.user_id() else {
        return false; // anonymous: the connection is the user
    };
    let mut found = false;
    hub.rooms().for_each_member(room, |m| {
        if m.id != c.id && m.user_id().as_deref() == Some(&*user) {
            found = true;
        }
    });
    if found {
        return true;
    }
    let view = hub.view();
    view.members(room)
        .into_iter()
        .any(|id| id != c.id && view.user_of(id).as_deref() == Some(&*user))
}

/// Most user presence decisions waiting for the cluster directory at once; beyond it
/// they are dropped (logged once per burst).
const PENDING_MAX: usize = 4096;

/// A `room/userJoined` or `room/userLeft` to decide once the cluster directory says
/// whether another connection of the user is in the room on another instance.
pub(crate) struct Deferred {
    client_id: ClientId,
    user: String,
    username: Option<String>,
    room: String,
    action: &'static str,
}

/// The queue of [`Deferred`] decisions (with the cluster directory in Redis).
pub(crate) struct Pending {
    tx: tokio::sync::mpsc::Sender<Deferred>,
    rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Deferred>>>,
    dropped: std::sync::atomic::AtomicBool,
}

impl Default for Pending {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(PENDING_MAX);
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            dropped: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Pending {
    pub(crate) fn defer(&self, c: &ClientState, room: &str, action: &str) {
        let action = if action == "userJoined" {
            "userJoined"
        } else {
            "userLeft"
        };
        let d = Deferred {
            client_id: c.id,
            user: user_of(c),
            username: c.metadata_str("username"),
            room: room.to_owned(),
            action,
        };
        use std::sync::atomic::Ordering;
        if self.tx.try_send(d).is_err() {
            if !self.dropped.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    room,
                    "user presence: too many decisions waiting for redis; dropping"
                );
            }
        } else {
            self.dropped.store(false, Ordering::Relaxed);
        }
    }

    /// The receiving end, once.
    pub(crate) fn take(&self) -> Option<tokio::sync::mpsc::Receiver<Deferred>> {
        self.rx.lock().expect("presence lock").take()
    }
}

/// Decides one deferred `room/userJoined` / `room/userLeft`: announced unless another
/// connection of the user is in the room, here or (per the cluster directory) on
/// another instance. A directory that cannot answer counts as none there (logged).
pub(crate) async fn decide(hub: &Hub, d: Deferred) {
    let mut other = false;
    hub.rooms().for_each_member(&d.room, |m| {
        if m.id != d.client_id && user_of(m) == d.user {
            other = true;
        }
    });
    #[cfg(feature = "redis")]
    if !other && let Some(dir) = hub.cluster().directory() {
        match dir.room_members(&d.room).await {
            Ok(remote) => {
                other = remote.iter().any(|(id, m)| {
                    *id != d.client_id
                        && m.instance != hub.instance_id()
                        && m.user_id.as_deref().unwrap_or_default() == d.user
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, room = %d.room, "user presence: the cluster directory did not answer; deciding from this instance");
            }
        }
    }
    if !other {
        hub.announce_user(d.client_id, &d.user, d.username, &d.room, d.action);
    }
}
