//! The hub: the one owner of a server's membership state — the local registry, the room
//! table, the cluster layer with its view of the other instances — and of the
//! membership lock. Every membership change (register, unregister, join, leave, user id
//! and `username` changes) and every send goes through it; the handles (`Server`,
//! `Client`, `Rooms`, `WsService`) only call it.
//!
//! The lock order is kept by types: the registry's and the room table's mutators take a
//! [`Membership`] guard, which only the hub's private [`MembershipLock`] hands out, and
//! so do the cluster events that announce a change. A change and its announcement
//! therefore happen under one lock, taken before a client's `rooms` mutex, a room-table
//! shard and an outbox mutex.

use std::collections::HashSet;
use std::sync::Arc;

use tokio_tungstenite::tungstenite::Message;

use crate::bus::{Bus, BusMessage};
use crate::clients::{ClientId, ClientState, Registry};
use crate::cluster::{Cluster, LocalNode, RemoteView};
use crate::flow::Overflow;
use crate::frame::{Frame, Target, To};
use crate::health::Metrics;
use crate::history::{Appended, History};
use crate::lock::{Membership, MembershipLock};
use crate::protocol;
use crate::rooms::RoomTable;

/// Room rules the hub applies on join.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomRules {
    /// Off: joining a room leaves the others first.
    pub(crate) multiple_rooms: bool,
    /// `room/memberJoined` and `room/memberLeft` to the other members.
    pub(crate) presence_events: bool,
    /// `room/userJoined` and `room/userLeft`: a user's first connection in, last one out.
    pub(crate) user_presence_events: bool,
}

/// A server's membership state and the only code that changes it.
pub(crate) struct Hub {
    clients: Registry,
    rooms: RoomTable,
    cluster: Cluster,
    membership: MembershipLock,
    metrics: Arc<Metrics>,
    rules: RoomRules,
    history: Option<History>,
    /// `room/userJoined` / `room/userLeft` waiting for the cluster directory's answer
    /// (whether another connection of the user is in the room on another instance).
    user_presence: crate::presence::Pending,
}

impl Hub {
    pub(crate) fn new(cluster: Cluster, metrics: Arc<Metrics>, rules: RoomRules) -> Self {
        Self {
            clients: Registry::default(),
            rooms: RoomTable::default(),
            cluster,
            membership: MembershipLock::default(),
            metrics,
            rules,
            history: None,
            user_presence: crate::presence::Pending::default(),
        }
    }

    /// The user presence decisions waiting for the cluster directory (taken once, by
    /// the task that answers them: [`crate::presence::decide`]).
    pub(crate) fn pending_user_presence(&self) -> &crate::presence::Pending {
        &self.user_presence
    }

    /// Turns room history on.
    pub(crate) fn with_history(mut self, history: Option<History>) -> Self {
        self.history = history;
        self
    }

    /// The room history, when it is on.
    pub(crate) fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    fn lock(&self) -> Membership<'_> {
        self.membership.lock()
    }

    // ---- reads ---------------------------------------------------------------------

    pub(crate) fn instance_id(&self) -> &str {
        self.cluster.instance_id()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn bus(&self) -> &Arc<dyn Bus> {
        self.cluster.bus()
    }

    /// The cluster layer, for events that change no membership (custom events, app
    /// channels, errors and disconnect requests for other instances).
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The other instances' clients and rooms.
    pub(crate) fn view(&self) -> &RemoteView {
        self.cluster.view()
    }

    pub(crate) fn rooms(&self) -> &RoomTable {
        &self.rooms
    }

    pub(crate) fn client(&self, id: ClientId) -> Option<Arc<ClientState>> {
        self.clients.get(id)
    }

    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub(crate) fn for_each_client(&self, f: impl FnMut(&Arc<ClientState>)) {
        self.clients.for_each(f);
    }

    pub(crate) fn for_user(&self, user: &str, f: impl FnMut(&Arc<ClientState>)) {
        self.clients.for_user(user, f);
    }

    // ---- client lifecycle, announced to the other instances --------------------------

    /// Registers a new local client and announces it.
    pub(crate) fn register(&self, c: &Arc<ClientState>) {
        let g = self.lock();
        self.clients.insert(&g, c.clone());
        self.cluster.serve_client(&g, c.id);
        if let Some(user) = c.user_id() {
            self.cluster.serve_user(&g, &user);
        }
        self.cluster.client_connected(&g, c);
    }

    /// Resolves once sends to client `id` from other instances reach this one (the
    /// `system/connected` frame, which tells the client its id, waits for it).
    pub(crate) fn client_ready(&self, id: ClientId) -> futures_util::future::BoxFuture<'_, ()> {
        self.cluster.client_ready(id)
    }

    /// Takes a gone client out of the registry and its rooms (presence events go out),
    /// then announces it gone; returns the rooms it left.
    pub(crate) fn unregister(&self, c: &ClientState) -> Vec<String> {
        let left = {
            let g = self.lock();
            self.clients.remove(&g, c.id);
            if let Some(h) = &self.history {
                h.gates.forget(c);
            }
            let left = self.rooms.leave_all(&g, c);
            self.announce_left(&g, c.id, &left);
            left
        };
        self.presence_left(c, &left);
        let g = self.lock();
        self.cluster.unserve_client(&g, c.id);
        if let Some(user) = c.user_id()
            && !self.clients.has_user(&user)
        {
            self.cluster.unserve_user(&g, &user);
        }
        self.cluster.client_disconnected(&g, c.id);
        left.iter().map(|r| r.to_string()).collect()
    }

    /// Binds a local client to a user id (or none) without announcing it; whether it
    /// changed.
    pub(crate) fn set_user(&self, c: &Arc<ClientState>, user: Option<Arc<str>>) -> bool {
        if c.user_id() == user {
            return false;
        }
        let g = self.lock();
        let old = c.user_id();
        self.clients.set_user(&g, c, user.clone());
        if let Some(old) = old
            && !self.clients.has_user(&old)
        {
            self.cluster.unserve_user(&g, &old);
        }
        // A client not registered yet (bound at connect) is served by `register`.
        if let Some(user) = user
            && self.clients.get(c.id).is_some()
        {
            self.cluster.serve_user(&g, &user);
        }
        true
    }

    /// Announces a change of a local client's user id or username.
    pub(crate) fn announce_update(&self, c: &ClientState) {
        let g = self.lock();
        self.cluster.client_connected(&g, c);
    }

    /// Sets one metadata value; a `username` is announced to the other instances.
    pub(crate) fn set_metadata(&self, c: &ClientState, key: &str, value: serde_json::Value) {
        c.set_metadata(key, value);
        if key == "username" {
            self.announce_update(c);
        }
    }

    /// [`set_metadata`](Self::set_metadata) by id; `false` if there is no such client.
    pub(crate) fn update_client(&self, id: ClientId, key: &str, value: serde_json::Value) -> bool {
        let set = {
            let g = self.lock();
            self.clients.set_metadata(&g, id, key, value)
        };
        if set
            && key == "username"
            && let Some(c) = self.clients.get(id)
        {
            self.announce_update(&c);
        }
        set
    }

    // ---- rooms, with their side effects (presence, leftRoom) -------------------------

    /// Puts `c` in `room`, leaving its other rooms first when multiple rooms are off;
    /// `false` if it was already a member.
    pub(crate) fn join(&self, c: &Arc<ClientState>, room: &str) -> bool {
        if !self.rules.multiple_rooms {
            let others: Vec<Arc<str>> = c
                .rooms
                .lock()
                .expect("rooms lock")
                .iter()
                .filter(|r| &***r != room)
                .cloned()
                .collect();
            for other in others {
                if self.leave(c, &other) {
                    self.notify_left(c, &other);
                }
            }
        }
        let joined = {
            let g = self.lock();
            let joined = self.rooms.join(&g, c, room);
            if joined {
                if self.rooms.member_count(room) == 1 {
                    self.cluster.serve_room(&g, room);
                }
                self.cluster.joined(&g, c.id, room);
            }
            joined
        };
        if joined && self.rules.presence_events {
            self.presence(c, room, "memberJoined");
        }
        if joined {
            self.user_presence(c, room, "userJoined");
        }
        joined
    }

    /// Takes `c` out of `room`; `false` if it was not a member.
    pub(crate) fn leave(&self, c: &ClientState, room: &str) -> bool {
        let left = {
            let g = self.lock();
            let left = self.rooms.leave(&g, c, room);
            if left {
                self.announce_left(&g, c.id, &[room]);
            }
            left
        };
        if left && self.rules.presence_events {
            self.presence(c, room, "memberLeft");
        }
        if left {
            self.user_presence(c, room, "userLeft");
        }
        left
    }

    /// Takes `c` out of every room; returns the rooms it left.
    pub(crate) fn leave_all(&self, c: &ClientState) -> Vec<String> {
        let left = {
            let g = self.lock();
            let left = self.rooms.leave_all(&g, c);
            self.announce_left(&g, c.id, &left);
            left
        };
        self.presence_left(c, &left);
        left.iter().map(|r| r.to_string()).collect()
    }

    /// Announces that `id` left `rooms`; a room left with no local member is no longer
    /// served here.
    fn announce_left(&self, g: &Membership<'_>, id: ClientId, rooms: &[impl AsRef<str>]) {
        for room in rooms {
            let room = room.as_ref();
            if !self.rooms.contains(room) {
                self.cluster.unserve_room(g, room);
            }
            self.cluster.left(g, id, room);
        }
    }

    /// Resolves once sends to `room` from other instances reach this one (the
    /// `joinRoom` reply waits for it; bounded, see [`Bus::watching`]).
    pub(crate) fn room_ready(&self, room: &str) -> futures_util::future::BoxFuture<'_, ()> {
        self.cluster.room_ready(room)
    }

    /// Tells a client it left a room (`user/leftRoom`).
    pub(crate) fn notify_left(&self, c: &ClientState, room: &str) {
        if let Some(f) = protocol::left_room_frame(room) {
            c.push(f.to_message(), &self.metrics);
        }
    }

    fn presence_left(&self, c: &ClientState, left: &[Arc<str>]) {
        if self.rules.presence_events {
            for room in left {
                self.presence(c, room, "memberLeft");
            }
        }
        for room in left {
            self.user_presence(c, room, "userLeft");
        }
    }

    /// `room/userJoined` / `room/userLeft` when `c` is its user's only connection in
    /// `room` (after it joined, or once it left).
    fn user_presence(&self, c: &ClientState, room: &str, action: &str) {
        if !self.rules.user_presence_events || crate::presence::user_has_another(self, room, c) {
            return;
        }
        if !self.cluster.replicates() {
            // The other instances' members are in Redis: decided once it answers.
            return self.user_presence.defer(c, room, action);
        }
        self.announce_user(
            c.id,
            &crate::presence::user_of(c),
            c.metadata_str("username"),
            room,
            action,
        );
    }

    /// Sends `room/userJoined` or `room/userLeft` for `user` to the room's other members.
    pub(crate) fn announce_user(
        &self,
        id: ClientId,
        user: &str,
        username: Option<String>,
        room: &str,
        action: &str,
    ) {
        if let Some(f) = protocol::user_presence_frame(action, room, user, username) {
            self.send_unrecorded(&Target::room(room).except(id), &f);
        }
    }

    fn presence(&self, c: &ClientState, room: &str, action: &str) {
        let username = c.metadata_str("username");
        let user = c.user_id();
        if let Some(f) = protocol::presence_frame(action, room, c.id, user.as_deref(), username) {
            self.send_unrecorded(&Target::room(room).except(c.id), &f);
        }
    }

    // ---- sends -----------------------------------------------------------------------

    /// Delivers `frame` to `target` here and publishes it once for the other instances
    /// (unless it went to the one client it names, found here). Returns how many clients
    /// of *this* instance got it.
    pub(crate) fn send(&self, target: &Target, frame: &Frame) -> usize {
        if let Some(h) = &self.history
            && !target.unrecorded
            && let To::Rooms { rooms } = &target.to
            && let [room] = rooms.as_slice()
            && h.covers(room)
        {
            let mut n = 0;
            let stamp = || self.cluster.stamp_fields();
            let appended = h
                .engine()
                .append(room, frame.as_str(), &stamp, &mut |stamped| {
                    n = self.deliver_local(
                        target,
                        Message::Text(stamped.clone()),
                        frame.overflow(),
                    );
                    self.cluster.publish_send(target, stamped.as_str());
                });
            if appended != Appended::NotRecorded {
                return n;
            }
        }
        self.send_unrecorded(target, frame)
    }

    /// [`send`](Self::send) without history: for presence, which is state, not messages.
    fn send_unrecorded(&self, target: &Target, frame: &Frame) -> usize {
        let n = self.deliver_local(target, frame.to_message(), frame.overflow());
        let delivered_to_the_one_client = matches!(target.to, To::Client { .. }) && n > 0;
        if !delivered_to_the_one_client {
            self.cluster.publish_send(target, frame.as_str());
        }
        n
    }

    /// Delivers to this instance's clients only.
    pub(crate) fn deliver_local(&self, target: &Target, msg: Message, policy: &Overflow) -> usize {
        let mut n = 0;
        // Frames queued now, counted once at the end (held ones count in `park_with`).
        let mut queued = 0;
        // Checked per member: a member seen in the room opened its gate (if any) before
        // it joined, so the gate is visible here.
        let mut gated: Option<Option<(&History, &str, u64)>> = None;
        let mut push = |c: &Arc<ClientState>| {
            if Some(c.id) == target.except {
                return;
            }
            let gate = match gated {
                Some(g) => g,
                None if self.history.as_ref().is_some_and(|h| h.gates.any()) => {
                    *gated.insert(self.gated(target, &msg))
                }
                None => None,
            };
            if let Some((h, room, offset)) = gate
                && let Some(kept) = h.gates.hold(c, room, offset, &msg, policy, &self.metrics)
            {
                n += usize::from(kept);
                return;
            }
            if c.queue(msg.clone(), policy, &self.metrics) {
                n += 1;
                queued += 1;
            }
        };
        match &target.to {
            To::All => self.clients.for_each(&mut push),
            To::Rooms { rooms } if rooms.len() == 1 => {
                self.rooms.for_each_member(&rooms[0], &mut push);
            }
            To::Rooms { rooms } => {
                let mut seen = HashSet::new();
                for room in rooms {
                    self.rooms.for_each_member(room, |c| {
                        if seen.insert(c.id) {
                            push(c);
                        }
                    });
                }
            }
            To::User { user_id } => self.clients.for_user(user_id, &mut push),
            To::Client { client_id } => {
                if let Some(c) = self.clients.get(*client_id) {
                    push(&c);
                }
            }
        }
        self.metrics.count_messages_out(queued);
        n
    }

    /// For a stamped frame to one history room while some join is reading a history: the
    /// history, the room and the frame's offset, to check the members' gates.
    fn gated<'a>(
        &'a self,
        target: &'a Target,
        msg: &Message,
    ) -> Option<(&'a History, &'a str, u64)> {
        let h = self.history.as_ref()?;
        let To::Rooms { rooms } = &target.to else {
            return None;
        };
        let [room] = rooms.as_slice() else {
            return None;
        };
        let Message::Text(t) = msg else { return None };
        Some((h, room, crate::history::offset_of(t)?))
    }

    /// Ends a client's history reads once its reply is queued: the live frames held
    /// meanwhile follow it, without those the reply carried.
    pub(crate) fn release_gates(&self, c: &ClientState) {
        if let Some(h) = &self.history {
            h.gates.release(c);
        }
    }

    /// A rooms send that came on the channel of `rooms[via]`: its local members that are
    /// in none of the rooms before it (those got their copy on that room's channel).
    fn deliver_via(&self, target: &Target, via: usize, msg: Message) -> usize {
        let To::Rooms { rooms } = &target.to else {
            return 0;
        };
        if rooms.len() == 1 {
            // One room (history frames among them, whose members may be gated).
            return self.deliver_local(target, msg, &Overflow::Keep);
        }
        let Some(room) = rooms.get(via) else {
            return 0;
        };
        let mut earlier = HashSet::new();
        for r in &rooms[..via] {
            self.rooms.for_each_member(r, |c| {
                earlier.insert(c.id);
            });
        }
        let mut n = 0;
        self.rooms.for_each_member(room, |c| {
            if Some(c.id) != target.except
                && !earlier.contains(&c.id)
                && c.push(msg.clone(), &self.metrics)
            {
                n += 1;
            }
        });
        n
    }

    /// Queues `msg` for one local client; `false` if there is none (or its queue is full).
    pub(crate) fn push_to(&self, id: ClientId, msg: Message) -> bool {
        match self.clients.get(id) {
            Some(c) => c.push(msg, &self.metrics),
            None => false,
        }
    }

    /// A queue job's outcome to its client, wherever it is (the `queueJob*` events).
    pub(crate) fn queue_job(
        &self,
        id: ClientId,
        job_id: Option<serde_json::Value>,
        outcome: Result<serde_json::Value, serde_json::Value>,
    ) {
        self.cluster.queue_job(self, id, job_id, outcome);
    }

    // ---- the cluster's timers and bus task -------------------------------------------

    /// Acts on one message from the bus (the bus task).
    pub(crate) fn receive(&self, msg: &BusMessage) {
        self.cluster.receive(self, msg);
    }

    /// Announces this instance (with `ttl` zero when it is leaving).
    pub(crate) fn heartbeat(&self, ttl: std::time::Duration) {
        self.cluster.heartbeat(ttl, self.clients.len());
    }

    /// Purges instances whose liveness lapsed (the sweep timer).
    pub(crate) fn sweep(&self) {
        self.cluster.sweep();
    }
}

impl LocalNode for Hub {
    fn deliver(&self, target: &Target, msg: Message) -> usize {
        self.deliver_local(target, msg, &Overflow::Keep)
    }

    fn deliver_via(&self, target: &Target, via: usize, msg: Message) -> usize {
        Hub::deliver_via(self, target, via, msg)
    }

    fn serves(&self, room: &str) -> bool {
        self.rooms.contains(room)
    }

    fn push_to(&self, id: ClientId, msg: Message) -> bool {
        Hub::push_to(self, id, msg)
    }

    fn close_client(&self, id: ClientId, code: u16, reason: String) -> bool {
        match self.clients.get(id) {
            Some(c) => {
                c.request_close(code, reason, true);
                true
            }
            None => false,
        }
    }

    fn snapshot(&self, publish: &mut dyn FnMut(&[Arc<ClientState>])) {
        let _g = self.lock();
        let mut clients = Vec::with_capacity(self.clients.len());
        self.clients.for_each(|c| clients.push(c.clone()));
        publish(&clients);
    }

    fn client_count(&self) -> usize {
        self.clients.len()
    }
}
