//! The dashboard's live tail: connects, disconnects, joins, leaves and errors, pushed to
//! the admin connections that asked for it (`admin/subscribe`) as droppable
//! `admin/event` frames, so an admin page that stops reading loses tail lines (counted
//! in `Health::flow`) instead of holding server memory or being closed. The last
//! [`RECENT`] events are kept to show a page that just opened.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::clients::ClientId;
use crate::frame::Frame;
use crate::handles::Client;
use crate::util::time::now_ms;

/// How many past events a page gets when it subscribes.
pub(crate) const RECENT: usize = 200;

/// Most client ids remembered to tell a connect from an update of the same client (the
/// cluster announces a changed user id or name as `clientConnected` again). Past it the
/// set starts over: a later update then shows as a connect.
const KNOWN_MAX: usize = 100_000;

/// One tail line, as the page gets it in `admin/event`'s `data`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TailEvent {
    /// `connect`, `update`, `disconnect`, `join`, `leave`, `error`.
    pub(crate) kind: &'static str,
    /// Unix ms.
    pub(crate) at: u64,
    /// The instance that holds the client.
    pub(crate) instance_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<ClientId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    /// The display name the connection set (`username` metadata), on connects and updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) room: Option<String>,
    /// An error code, or a close code as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

impl TailEvent {
    pub(crate) fn new(kind: &'static str, instance_id: &str) -> Self {
        Self {
            kind,
            at: now_ms(),
            instance_id: instance_id.to_owned(),
            client_id: None,
            user_id: None,
            username: None,
            room: None,
            code: None,
            message: None,
        }
    }
}

/// The watchers and the recent events.
#[derive(Default)]
pub(crate) struct Tail {
    /// Admin connections subscribed to the tail (few: one per open dashboard).
    watchers: Mutex<Vec<Client>>,
    /// Whether `watchers` is non-empty, read without the lock on every event.
    watched: AtomicBool,
    recent: Mutex<VecDeque<TailEvent>>,
    known: Mutex<HashSet<ClientId>>,
}

impl Tail {
    /// Adds `client` as a watcher; returns the recent events, oldest first.
    pub(crate) fn subscribe(&self, client: &Client) -> Vec<TailEvent> {
        let mut w = self.watchers.lock().expect("tail watchers");
        if !w.iter().any(|c| c.id() == client.id()) {
            w.push(client.clone());
        }
        self.watched.store(true, Ordering::Release);
        drop(w);
        self.recent
            .lock()
            .expect("tail recent")
            .iter()
            .cloned()
            .collect()
    }

    /// Removes a watcher (on `admin/unsubscribe` or when it disconnects).
    pub(crate) fn unsubscribe(&self, id: ClientId) -> bool {
        let mut w = self.watchers.lock().expect("tail watchers");
        let before = w.len();
        w.retain(|c| c.id() != id);
        self.watched.store(!w.is_empty(), Ordering::Release);
        w.len() != before
    }

    /// How many connections watch the tail.
    pub(crate) fn watchers(&self) -> usize {
        self.watchers.lock().expect("tail watchers").len()
    }

    /// Whether `id` was seen connecting before (so this `clientConnected` is an update);
    /// remembers it.
    pub(crate) fn seen(&self, id: ClientId) -> bool {
        let mut known = self.known.lock().expect("tail known");
        if known.len() >= KNOWN_MAX {
            known.clear();
        }
        !known.insert(id)
    }

    /// Forgets a client that disconnected.
    pub(crate) fn forget(&self, id: ClientId) {
        self.known.lock().expect("tail known").remove(&id);
    }

    /// Records `event` and pushes it to every watcher as a droppable frame.
    pub(crate) fn emit(&self, event: TailEvent) {
        {
            let mut recent = self.recent.lock().expect("tail recent");
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        if !self.watched.load(Ordering::Acquire) {
            return;
        }
        let frame = match Frame::new("admin", "event", &event) {
            Ok(f) => f.droppable(),
            Err(e) => return tracing::error!(error = %e, "could not encode an admin tail event"),
        };
        // Cloned out so no send happens under the lock.
        let watchers = self.watchers.lock().expect("tail watchers").clone();
        for w in &watchers {
            w.send(&frame);
        }
    }
}
