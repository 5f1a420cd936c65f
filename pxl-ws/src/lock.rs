//! The membership lock. Registry and room-table changes take a [`Membership`] guard,
//! which only [`MembershipLock::lock`] makes, so no membership change (nor the cluster
//! event that announces it) can happen outside the lock, and the lock order is fixed by
//! construction: the membership lock first, then a client's `rooms` mutex and a
//! room-table shard (taken inside the table's methods while the guard is held), then a
//! client's outbox mutex. The hub owns the one `MembershipLock` of a server. Data only.

use std::sync::{Mutex, MutexGuard};

/// The lock held across a membership change and its cluster event, and while a snapshot
/// is built and published.
#[derive(Default)]
pub(crate) struct MembershipLock(Mutex<()>);

impl MembershipLock {
    /// Takes the lock; never held across an `.await` (the guard is not `Send`).
    pub(crate) fn lock(&self) -> Membership<'_> {
        Membership(self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Proof that the membership lock is held.
pub(crate) struct Membership<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);
