//! Rooms: named sets of clients. The table is sharded (one lock per shard) so joins,
//! leaves and broadcasts in different rooms do not contend.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use dashmap::DashMap;

use crate::clients::{ClientId, ClientState};
use crate::lock::Membership;

/// Hashes a [`ClientId`] by its own bits. Ids are 128 random bits drawn by the server
/// that holds the socket, never chosen by a client, so they need no keyed hash; the
/// hasher carries no state, so a set of ids is 8 bytes smaller than with `RandomState`.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `ClientId` (which writes one u128); any other input still hashes.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
}

/// The members of one room: a single member inline (no allocation, the usual case for
/// per-user rooms), or a hash set keyed by client id. Used by the local room table
/// (`T` = [`Member`]) and by the cluster's remote view (`T` = [`ClientId`]).
pub(crate) enum ClientSet<T> {
    One(T),
    Many(HashSet<T, BuildHasherDefault<IdHasher>>),
}

impl<T> Default for ClientSet<T> {
    fn default() -> Self {
        // An empty set does not allocate.
        Self::Many(HashSet::default())
    }
}

impl<T: Hash + Eq + Borrow<ClientId>> ClientSet<T> {
    /// Adds `member`; `false` if a member with its id was already there.
    pub(crate) fn insert(&mut self, member: T) -> bool {
        match self {
            Self::Many(set) if set.is_empty() => {
                *self = Self::One(member);
                true
            }
            Self::Many(set) => set.insert(member),
            Self::One(one) => {
                if Borrow::<ClientId>::borrow(&*one) == member.borrow() {
                    return false;
                }
                let mut set = HashSet::with_capacity_and_hasher(2, Default::default());
                let Self::One(one) = std::mem::take(self) else {
                    unreachable!("matched One above")
                };
                set.insert(one);
                set.insert(member);
                *self = Self::Many(set);
                true
            }
        }
    }

    /// Removes the member with `id`; `false` if there was none. A set left with one
    /// member gives its table back.
    pub(crate) fn remove(&mut self, id: &ClientId) -> bool {
        match self {
            Self::One(one) if Borrow::<ClientId>::borrow(&*one) == id => {
                *self = Self::default();
                true
            }
            Self::One(_) => false,
            Self::Many(set) => {
                let removed = set.remove(id);
                if removed && set.len() == 1 {
                    let last = set.drain().next().expect("one member left");
                    *self = Self::One(last);
                }
                removed
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(set) => set.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let (one, many) = match self {
            Self::One(one) => (Some(one), None),
            Self::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// A local room member: the client's record, hashed and compared by its id (so a room's
/// set holds one pointer per member and is searched by [`ClientId`]).
pub(crate) struct Member(pub(crate) Arc<ClientState>);

impl Borrow<ClientId> for Member {
    fn borrow(&self) -> &ClientId {
        &self.0.id
    }
}

impl Hash for Member {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.hash(h);
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Member {}

/// Room name → members. A room exists while it has members. Each room's name is one
/// `Arc<str>`, shared by the table and the room list of every member.
#[derive(Default)]
pub(crate) struct RoomTable {
    // Room names come from clients: keep the keyed hasher here.
    rooms: DashMap<Arc<str>, ClientSet<Member>, RandomState>,
}

impl RoomTable {
    /// Adds `client` to `room`; `false` if it was already there. Keeps the client's own
    /// room list in step (the client's lock is taken first, then the shard's).
    pub(crate) fn join(&self, _: &Membership<'_>, client: &Arc<ClientState>, room: &str) -> bool {
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
            .insert(Member(client.clone()));
        mine.push(name);
        true
    }

    /// Removes `client` from `room`; `false` if it was not there. Empty rooms are removed.
    pub(crate) fn leave(&self, _: &Membership<'_>, client: &ClientState, room: &str) -> bool {
        let mut mine = client.rooms.lock().expect("rooms lock");
        let Some(pos) = mine.iter().position(|r| &**r == room) else {
            return false;
        };
        mine.swap_remove(pos);
        self.remove_member(room, client.id);
        true
    }

    /// Removes `client` from every room; returns the rooms it left.
    pub(crate) fn leave_all(&self, _: &Membership<'_>, client: &ClientState) -> Vec<Arc<str>> {
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
            for m in members.iter() {
                f(&m.0);
            }
        }
    }

    pub(crate) fn members(&self, room: &str) -> Option<Vec<ClientId>> {
        self.rooms
            .get(room)
            .map(|m| m.iter().map(|m| m.0.id).collect::<Vec<_>>())
    }

    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether `room` has members here.
    pub(crate) fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// How many members `room` has here.
    pub(crate) fn member_count(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |m| m.len())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{ClientSet, RoomTable};
    use crate::clients::{ClientId, ClientState};

    fn ids(set: &ClientSet<ClientId>) -> Vec<ClientId> {
        let mut v: Vec<ClientId> = set.iter().copied().collect();
        v.sort();
        v
    }

    #[test]
    fn a_client_set_holds_one_member_inline_and_more_in_a_table() {
        let (a, b, c) = (ClientId::random(), ClientId::random(), ClientId::random());
        let mut set = ClientSet::default();
        assert!(set.is_empty());
        assert!(set.insert(a));
        assert!(matches!(set, ClientSet::One(_)));
        assert!(!set.insert(a), "already a member");
        assert!(set.insert(b));
        assert!(set.insert(c));
        assert!(!set.insert(b));
        assert_eq!(set.len(), 3);
        let mut all = vec![a, b, c];
        all.sort();
        assert_eq!(ids(&set), all);
        assert!(set.remove(&b));
        assert!(!set.remove(&b), "no longer a member");
        assert!(set.remove(&a));
        assert!(
            matches!(set, ClientSet::One(x) if x == c),
            "the last member is held inline again"
        );
        assert!(!set.remove(&a));
        assert!(set.remove(&c));
        assert!(set.is_empty());
        assert_eq!(set.iter().count(), 0);
        assert!(set.insert(a), "an emptied set takes members again");
        assert_eq!(ids(&set), vec![a]);
    }

    #[test]
    fn room_names_are_shared_by_the_table_and_every_member() {
        let table = RoomTable::default();
        let lock = crate::lock::MembershipLock::default();
        let g = lock.lock();
        let x = Arc::new(ClientState::new(
            ClientId::random(),
            Default::default(),
            None,
        ));
        let y = Arc::new(ClientState::new(
            ClientId::random(),
            Default::default(),
            None,
        ));
        assert!(table.join(&g, &x, "lobby"));
        assert!(!table.join(&g, &x, "lobby"));
        assert!(table.join(&g, &y, "lobby"));
        let xs = x.rooms.lock().unwrap()[0].clone();
        let ys = y.rooms.lock().unwrap()[0].clone();
        assert!(Arc::ptr_eq(&xs, &ys), "one allocation for the name");
        let mut members = table.members("lobby").unwrap();
        members.sort();
        let mut want = vec![x.id, y.id];
        want.sort();
        assert_eq!(members, want);
        assert!(table.leave(&g, &x, "lobby"));
        assert!(!table.leave(&g, &x, "lobby"));
        assert_eq!(table.members("lobby").unwrap(), vec![y.id]);
        assert_eq!(table.leave_all(&g, &y).len(), 1);
        assert_eq!(table.len(), 0, "an empty room is removed");
    }
}
