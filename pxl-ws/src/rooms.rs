//! Rooms: named sets of clients. The table is sharded (one lock per shard) so joins,
//! leaves and broadcasts in different rooms do not contend.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use dashmap::DashMap;

use crate::clients::{ClientId, ClientState};
use crate::service::Server;

/// Room name → members. A room exists while it has members.
#[derive(Default)]
pub(crate) struct RoomTable {
    rooms: DashMap<Arc<str>, HashMap<ClientId, Arc<ClientState>>>,
}

impl RoomTable {
    /// Adds `client` to `room`; `false` if it was already there. Keeps the client's own
    /// room list in step (the client's lock is taken first, then the shard's).
    pub(crate) fn join(&self, client: &Arc<ClientState>, room: &str) -> bool {
        let mut mine = client.rooms.lock().expect("rooms lock");
        if mine.iter().any(|r| &**r == room) {
            return false;
        }
        let name: Arc<str> = match self.rooms.get(room) {
            Some(e) => e.key().clone(),
            None => Arc::from(room),
        };
        self.rooms
            .entry(name.clone())
            .or_default()
            .insert(client.id, client.clone());
        mine.push(name);
        true
    }

    /// Removes `client` from `room`; `false` if it was not there. Empty rooms are removed.
    pub(crate) fn leave(&self, client: &ClientState, room: &str) -> bool {
        let mut mine = client.rooms.lock().expect("rooms lock");
        let Some(pos) = mine.iter().position(|r| &**r == room) else {
            return false;
        };
        mine.swap_remove(pos);
        self.remove_member(room, client.id);
        true
    }

    /// Removes `client` from every room; returns the rooms it left.
    pub(crate) fn leave_all(&self, client: &ClientState) -> Vec<Arc<str>> {
        let left = std::mem::take(&mut *client.rooms.lock().expect("rooms lock"));
        for room in &left {
            self.remove_member(room, client.id);
        }
        left
    }

    fn remove_member(&self, room: &str, id: ClientId) {
        self.rooms.remove_if_mut(room, |_, members| {
            members.remove(&id);
            members.is_empty()
        });
    }

    /// Calls `f` for each member of `room` (under the shard's read lock: `f` must not block).
    pub(crate) fn for_each_member(&self, room: &str, mut f: impl FnMut(&Arc<ClientState>)) {
        if let Some(members) = self.rooms.get(room) {
            for c in members.values() {
                f(c);
            }
        }
    }

    pub(crate) fn members(&self, room: &str) -> Option<Vec<ClientId>> {
        self.rooms
            .get(room)
            .map(|m| m.keys().copied().collect::<Vec<_>>())
    }

    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    pub(crate) fn summary(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self
            .rooms
            .iter()
            .map(|e| (e.key().to_string(), e.value().len()))
            .collect();
        v.sort();
        v
    }
}

/// A read view of the room table, from [`Server::rooms`].
///
/// ```no_run
/// # fn f(server: pxl_ws::Server) {
/// let rooms = server.rooms();
/// if let Some(members) = rooms.get("lobby") {
///     println!("{} in the lobby", members.len());
/// }
/// rooms.print();
/// # }
/// ```
#[derive(Clone)]
pub struct Rooms {
    pub(crate) server: Server,
}

impl Rooms {
    /// The members of `name` on every instance (this instance's first), or `None` if no
    /// such room exists anywhere.
    pub fn get(&self, name: &str) -> Option<Vec<ClientId>> {
        let sh = &self.server.shared;
        let mut members = sh.rooms.members(name).unwrap_or_default();
        members.extend(sh.cluster.view.members(name));
        (!members.is_empty()).then_some(members)
    }

    /// The members of `name` connected to this instance, or `None` if it has none here.
    pub fn get_local(&self, name: &str) -> Option<Vec<ClientId>> {
        self.server.shared.rooms.members(name)
    }

    /// Room names with their member counts on every instance, sorted by name.
    pub fn list(&self) -> Vec<(String, usize)> {
        let sh = &self.server.shared;
        let mut counts = sh.cluster.view.room_counts();
        if counts.is_empty() {
            return sh.rooms.summary();
        }
        for (name, n) in sh.rooms.summary() {
            *counts.entry(name).or_default() += n;
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort();
        v
    }

    /// How many rooms exist on any instance.
    pub fn len(&self) -> usize {
        let sh = &self.server.shared;
        let mut rooms = sh.cluster.view.room_counts();
        if rooms.is_empty() {
            return sh.rooms.len();
        }
        for (name, _) in sh.rooms.summary() {
            rooms.entry(name).or_default();
        }
        rooms.len()
    }

    /// Whether no room exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A human-readable table of rooms and members (what [`print`](Self::print) logs).
    pub fn render(&self) -> String {
        let list = self.list();
        let mut out = format!("Rooms (Count: {}):\n", list.len());
        if list.is_empty() {
            out.push_str("No rooms\n");
        }
        for (i, (name, count)) in list.iter().enumerate() {
            let _ = writeln!(out, "Room {} (Name: {name} | Clients: {count}):", i + 1);
            let mut ids = self.get(name).unwrap_or_default();
            ids.sort();
            for id in ids {
                let sh = &self.server.shared;
                let user = match sh.clients.get(id) {
                    Some(c) => c.user_id().map(|u| u.to_string()),
                    None => sh.cluster.view.user_of(id),
                }
                .unwrap_or_else(|| "-".into());
                let _ = writeln!(out, "  Client (ID: {id} | User: {user})");
            }
        }
        out
    }

    /// Logs [`render`](Self::render) at info level.
    pub fn print(&self) {
        tracing::info!("\n{}", self.render());
    }
}
