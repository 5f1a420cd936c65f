//! This instance's view of the others: their live instances, clients and room
//! memberships, kept from bus events and snapshots, purged when an instance's liveness
//! lapses. Written only by the bus task; read by `rooms.get`, presence and user lookups.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::clients::{ClientId, ClientInfo};
use crate::rooms::ClientSet;

/// One client connected to another instance.
pub(crate) struct RemoteClient {
    pub(crate) origin: Arc<str>,
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) connected_at: u64,
    /// The rooms it is in; each name is the key of `Inner::rooms` (one allocation per room).
    pub(crate) rooms: Vec<Arc<str>>,
}

/// What a snapshot or a `clientConnected` event says about one client.
pub(crate) struct ClientRecord {
    pub(crate) id: ClientId,
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) connected_at: u64,
    pub(crate) rooms: Vec<String>,
}

struct Instance {
    last_seen: Instant,
    ttl: Duration,
    /// The connections it announced in its last heartbeat.
    announced: usize,
}

#[derive(Default)]
struct Inner {
    instances: HashMap<Arc<str>, Instance>,
    clients: HashMap<ClientId, RemoteClient>,
    rooms: HashMap<Arc<str>, ClientSet<ClientId>>,
    users: HashMap<String, HashSet<ClientId>>,
}

/// The remote view. One `RwLock`: writes come from the single bus task.
#[derive(Default)]
pub(crate) struct RemoteView {
    inner: RwLock<Inner>,
}

impl RemoteView {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().expect("view lock")
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().expect("view lock")
    }

    /// Marks `origin` as alive now (with its announced `ttl`, if given). Returns `true`
    /// when the instance was not known (new, or purged earlier).
    pub(crate) fn touch(
        &self,
        origin: &str,
        ttl: Option<Duration>,
        default_ttl: Duration,
        announced: Option<usize>,
    ) -> bool {
        let mut v = self.write();
        match v.instances.get_mut(origin) {
            Some(i) => {
                i.last_seen = Instant::now();
                if let Some(ttl) = ttl {
                    i.ttl = ttl;
                }
                if let Some(n) = announced {
                    i.announced = n;
                }
                false
            }
            None => {
                v.instances.insert(
                    Arc::from(origin),
                    Instance {
                        last_seen: Instant::now(),
                        ttl: ttl.unwrap_or(default_ttl),
                        announced: announced.unwrap_or(0),
                    },
                );
                true
            }
        }
    }

    /// Each live instance with the connections it announced in its last heartbeat.
    pub(crate) fn announced_counts(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self
            .read()
            .instances
            .iter()
            .map(|(k, i)| (k.to_string(), i.announced))
            .collect();
        v.sort();
        v
    }

    /// Adds or updates a client of `origin` (its rooms are kept).
    pub(crate) fn upsert(&self, origin: &str, rec: ClientRecord) {
        let mut v = self.write();
        v.upsert(origin, rec, false);
    }

    pub(crate) fn remove(&self, id: ClientId) {
        self.write().remove(id);
    }

    /// Puts a remote client in `room`, creating a bare record if the client is unknown
    /// (its `clientConnected` may have been missed; a snapshot completes it).
    pub(crate) fn join(&self, origin: &str, id: ClientId, room: &str) {
        let mut v = self.write();
        if !v.clients.contains_key(&id) {
            v.upsert(
                origin,
                ClientRecord {
                    id,
                    user_id: None,
                    username: None,
                    connected_at: 0,
                    rooms: Vec::new(),
                },
                false,
            );
        }
        v.join(id, room);
    }

    pub(crate) fn leave(&self, id: ClientId, room: &str) {
        let mut v = self.write();
        if let Some(c) = v.clients.get_mut(&id)
            && let Some(pos) = c.rooms.iter().position(|r| &**r == room)
        {
            c.rooms.swap_remove(pos);
        }
        v.unroom(id, room);
    }

    /// Replaces everything known about `origin` with its snapshot.
    pub(crate) fn replace(&self, origin: &str, clients: Vec<ClientRecord>) {
        let mut v = self.write();
        v.purge(origin, false);
        for rec in clients {
            v.upsert(origin, rec, true);
        }
    }

    /// Forgets `origin` and its clients. Returns how many clients were removed.
    pub(crate) fn purge(&self, origin: &str) -> usize {
        self.write().purge(origin, true)
    }

    /// Instances whose liveness lapsed.
    pub(crate) fn expired(&self) -> Vec<Arc<str>> {
        let now = Instant::now();
        self.read()
            .instances
            .iter()
            .filter(|(_, i)| now.duration_since(i.last_seen) > i.ttl)
            .map(|(k, _)| k.clone())
            .collect()
    }

    // ---- queries ----

    pub(crate) fn instances(&self) -> Vec<String> {
        self.read()
            .instances
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Each live instance with how many clients it holds (the admin dashboard's cluster
    /// view).
    pub(crate) fn instance_counts(&self) -> Vec<(String, usize)> {
        let inner = self.read();
        let mut counts: HashMap<&str, usize> = inner.instances.keys().map(|k| (&**k, 0)).collect();
        for c in inner.clients.values() {
            *counts.entry(&*c.origin).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> =
            counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        v.sort();
        v
    }

    pub(crate) fn client_count(&self) -> usize {
        self.read().clients.len()
    }

    pub(crate) fn client_ids(&self) -> Vec<ClientId> {
        self.read().clients.keys().copied().collect()
    }

    pub(crate) fn contains(&self, id: ClientId) -> bool {
        self.read().clients.contains_key(&id)
    }

    pub(crate) fn client(&self, id: ClientId) -> Option<ClientInfo> {
        let v = self.read();
        let c = v.clients.get(&id)?;
        let mut metadata = serde_json::Map::new();
        if let Some(name) = &c.username {
            metadata.insert("username".into(), name.clone().into());
        }
        Some(ClientInfo {
            id,
            user_id: c.user_id.clone(),
            connected_at: c.connected_at,
            last_activity: c.connected_at,
            metadata,
            rooms: {
                let mut rooms: Vec<String> = c.rooms.iter().map(|r| r.to_string()).collect();
                rooms.sort();
                rooms
            },
            instance_id: Some(c.origin.to_string()),
        })
    }

    pub(crate) fn members(&self, room: &str) -> Vec<ClientId> {
        self.read()
            .rooms
            .get(room)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn user_clients(&self, user: &str) -> Vec<ClientId> {
        self.read()
            .users
            .get(user)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Room name → remote member count.
    pub(crate) fn room_counts(&self) -> HashMap<String, usize> {
        self.read()
            .rooms
            .iter()
            .map(|(k, v)| (k.to_string(), v.len()))
            .collect()
    }

    pub(crate) fn user_of(&self, id: ClientId) -> Option<String> {
        self.read().clients.get(&id).and_then(|c| c.user_id.clone())
    }
}

impl Inner {
    /// Puts a known client in `room` (both indexes), sharing the room's name.
    fn join(&mut self, id: ClientId, room: &str) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.rooms.iter().any(|r| &**r == room) {
            return;
        }
        let name: Arc<str> = match self.rooms.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => Arc::from(room),
        };
        c.rooms.push(name.clone());
        self.rooms.entry(name).or_default().insert(id);
    }

    fn upsert(&mut self, origin: &str, rec: ClientRecord, with_rooms: bool) {
        let origin: Arc<str> = match self.instances.get_key_value(origin) {
            Some((k, _)) => k.clone(),
            None => Arc::from(origin),
        };
        if let Some(old) = self.clients.get(&rec.id)
            && (old.origin != origin || with_rooms)
        {
            // The client moved (or a snapshot restates it): start from scratch.
            self.remove(rec.id);
        }
        let id = rec.id;
        let old_user = self.clients.get(&id).and_then(|c| c.user_id.clone());
        if old_user != rec.user_id {
            if let Some(u) = &old_user {
                self.unuser(id, u);
            }
            if let Some(u) = &rec.user_id {
                self.users.entry(u.clone()).or_default().insert(id);
            }
        }
        let entry = self.clients.entry(id).or_insert_with(|| RemoteClient {
            origin: origin.clone(),
            user_id: None,
            username: None,
            connected_at: 0,
            rooms: Vec::new(),
        });
        entry.user_id = rec.user_id;
        if rec.username.is_some() {
            entry.username = rec.username;
        }
        if rec.connected_at != 0 {
            entry.connected_at = rec.connected_at;
        }
        if with_rooms {
            for room in &rec.rooms {
                self.join(id, room);
            }
        }
    }

    fn remove(&mut self, id: ClientId) {
        let Some(c) = self.clients.remove(&id) else {
            return;
        };
        for room in &c.rooms {
            self.unroom(id, room);
        }
        if let Some(u) = &c.user_id {
            self.unuser(id, u);
        }
    }

    fn unroom(&mut self, id: ClientId, room: &str) {
        if let Some(m) = self.rooms.get_mut(room) {
            m.remove(&id);
            if m.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    fn unuser(&mut self, id: ClientId, user: &str) {
        if let Some(m) = self.users.get_mut(user) {
            m.remove(&id);
            if m.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// Removes `origin`'s clients; with `forget`, the instance too.
    fn purge(&mut self, origin: &str, forget: bool) -> usize {
        // Every client recorded under `origin`, also those recorded before the instance
        // itself was known.
        let ids: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| &*c.origin == origin)
            .map(|(id, _)| *id)
            .collect();
        let n = ids.len();
        for id in ids {
            self.remove(id);
        }
        if forget {
            self.instances.remove(origin);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: ClientId, user: Option<&str>, rooms: &[&str]) -> ClientRecord {
        ClientRecord {
            id,
            user_id: user.map(Into::into),
            username: None,
            connected_at: 1,
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn joins_snapshots_and_purges_keep_indexes_in_step() {
        let v = RemoteView::default();
        let ttl = Duration::from_secs(1);
        assert!(v.touch("a", None, ttl, None));
        assert!(!v.touch("a", None, ttl, None));
        let (x, y) = (ClientId::random(), ClientId::random());
        v.upsert("a", rec(x, Some("u1"), &[]));
        v.join("a", x, "r1");
        v.join("a", y, "r1"); // unknown client: a bare record
        assert_eq!(v.members("r1").len(), 2);
        assert_eq!(v.user_clients("u1"), vec![x]);
        v.leave(y, "r1");
        assert_eq!(v.members("r1"), vec![x]);

        // A snapshot replaces the instance's clients wholesale.
        v.replace("a", vec![rec(y, Some("u2"), &["r2", "r3"])]);
        assert!(v.members("r1").is_empty());
        assert_eq!(v.members("r2"), vec![y]);
        assert!(v.user_clients("u1").is_empty());
        assert_eq!(v.client(y).unwrap().rooms, vec!["r2", "r3"]);

        assert_eq!(v.purge("a"), 1);
        assert_eq!(v.client_count(), 0);
        assert!(v.room_counts().is_empty());
        assert!(v.instances().is_empty());
    }

    #[test]
    fn a_room_name_is_stored_once_for_all_its_remote_members() {
        let v = RemoteView::default();
        let (x, y) = (ClientId::random(), ClientId::random());
        v.join("a", x, "lobby");
        v.replace("b", vec![rec(y, None, &["lobby", "other"])]);
        v.join("a", x, "lobby");
        assert_eq!(v.members("lobby").len(), 2);
        let inner = v.read();
        let (key, _) = inner.rooms.get_key_value("lobby").unwrap();
        for id in [x, y] {
            let name = inner.clients[&id].rooms.iter().find(|r| &***r == "lobby");
            assert!(Arc::ptr_eq(key, name.unwrap()), "{id}");
        }
        assert_eq!(
            inner.clients[&x].rooms.len(),
            1,
            "joined twice, listed once"
        );
    }
}
