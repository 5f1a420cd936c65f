//! The thin handles an app holds: [`Client`] (one connection), [`Rooms`] (a read
//! view of the room table) and [`Directory`] (cluster-wide answers). Each is a client
//! record or nothing plus a [`Server`]; every change goes through the server's hub.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::auth::user::AuthUser;
use crate::clients::{ClientId, ClientInfo, ClientState};
use crate::cluster::DirectoryError;
use crate::frame::{Frame, RawMessage};
use crate::push::ToFrame;
use crate::service::Server;

/// A handle on one connected client: the `Client` extractor.
///
/// Cheap to clone. Sends go to this client's outbound queue; room operations change the
/// server's room table at once.
#[derive(Clone)]
pub struct Client {
    pub(crate) state: Arc<ClientState>,
    pub(crate) server: Server,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.state.id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The client id (also sent to the client in `system/connected`).
    pub fn id(&self) -> ClientId {
        self.state.id
    }

    /// The peer's socket address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.state.remote_addr
    }

    /// The user id this connection is bound to, if any.
    pub fn user_id(&self) -> Option<String> {
        self.state.user_id().map(|u| u.to_string())
    }

    /// Binds this connection to a user id, so [`Server::send_to_user`] reaches it.
    /// For apps that identify users themselves (e.g. in a login action).
    pub fn set_user_id(&self, user_id: impl Into<String>) {
        if self.bind_user_id(Arc::from(user_id.into())) {
            self.server.hub().announce_update(&self.state);
        }
    }

    /// Binds the user id without telling the other instances; whether it changed.
    fn bind_user_id(&self, user: Arc<str>) -> bool {
        if self.state.user_id().as_deref() == Some(&*user) {
            return false;
        }
        self.server.hub().set_user(&self.state, Some(user));
        true
    }

    /// The authenticated user, if any.
    pub fn auth_user(&self) -> Option<AuthUser> {
        self.state.auth().map(|a| (*a).clone())
    }

    /// Authenticates this connection as `user` (also binding its user id, see
    /// [`set_user_id`](Self::set_user_id)). For apps that verify credentials themselves.
    pub fn set_auth_user(&self, user: AuthUser) {
        if self.bind_auth_user(user) {
            self.server.hub().announce_update(&self.state);
        }
    }

    /// Stores `user` and binds its user id without telling the other instances (the
    /// caller announces, or registers the client afterwards); whether the id changed.
    pub(crate) fn bind_auth_user(&self, user: AuthUser) -> bool {
        let id: Arc<str> = Arc::from(user.user_id());
        self.state.set_auth(user);
        self.bind_user_id(id)
    }

    /// Queues `frame` (a [`Frame`] or a typed push) for this client under its overflow
    /// rule (see [`Frame`]). Returns `false` if the client is gone, the frame was
    /// droppable and the client is behind, the client was closed with 1008 for staying
    /// over its outbound limit, or a push could not be serialised (logged).
    pub fn send(&self, frame: &(impl ToFrame + ?Sized)) -> bool {
        let Some(frame) = frame.to_frame() else {
            return false;
        };
        self.state.push_with(
            frame.to_message(),
            frame.overflow(),
            self.server.hub().metrics(),
        )
    }

    /// Bytes queued for this client and not yet handed to its socket (each frame's
    /// length plus 64): how far behind it is. Compare with
    /// `limits.outbound.soft_bytes` and `queue_bytes`.
    pub fn outbound_bytes(&self) -> usize {
        self.state.outbox.queued_bytes()
    }

    /// Queues a raw text or binary message for this client, unchanged (see
    /// [`RawMessage`]). Returns `false` like [`send`](Self::send).
    pub fn send_raw(&self, message: RawMessage) -> bool {
        self.state.push(message.0, self.server.hub().metrics())
    }

    /// Serialises `{type, action, data}` and queues it for this client.
    pub fn send_json<T: Serialize + ?Sized>(
        &self,
        ty: &str,
        action: &str,
        data: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(self.send(&Frame::new(ty, action, data)?))
    }

    /// One metadata value.
    pub fn metadata(&self, key: &str) -> Option<serde_json::Value> {
        self.state.metadata(key)
    }

    /// Sets one metadata value. A `username` is announced to the other instances.
    pub fn set_metadata(&self, key: &str, value: impl Into<serde_json::Value>) {
        self.server
            .hub()
            .set_metadata(&self.state, key, value.into());
    }

    /// A snapshot of this client's record.
    pub fn info(&self) -> ClientInfo {
        self.state.info()
    }

    /// The rooms this client is in.
    pub fn rooms(&self) -> Vec<String> {
        self.state.room_names()
    }

    /// Whether this client is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.state
            .rooms
            .lock()
            .expect("rooms lock")
            .iter()
            .any(|r| &**r == room)
    }

    /// Joins `room` (see [`Server::join_room`]). Returns `false` if already a member.
    pub fn join(&self, room: &str) -> bool {
        self.server.hub().join(&self.state, room)
    }

    /// Leaves `room`. Returns `false` if not a member.
    pub fn leave(&self, room: &str) -> bool {
        self.server.hub().leave(&self.state, room)
    }

    /// Closes the socket with `code` and `reason` after the frames already queued. As for
    /// [`Server::disconnect_client`], a code that may not be sent becomes 1000 and the
    /// reason is cut to 123 bytes.
    pub fn close(&self, code: u16, reason: impl Into<Cow<'static, str>>) {
        self.state.request_close(code, reason, true);
    }

    /// The server handle.
    pub fn server(&self) -> &Server {
        &self.server
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
    /// such room exists anywhere. With the cluster directory in Redis this instance keeps no copy of the others'
    /// clients: it answers for its own; [`Server::directory`] answers for the cluster.
    pub fn get(&self, name: &str) -> Option<Vec<ClientId>> {
        let hub = self.server.hub();
        let mut members = hub.rooms().members(name).unwrap_or_default();
        members.extend(hub.view().members(name));
        (!members.is_empty()).then_some(members)
    }

    /// The members of `name` connected to this instance, or `None` if it has none here.
    pub fn get_local(&self, name: &str) -> Option<Vec<ClientId>> {
        self.server.hub().rooms().members(name)
    }

    /// Room names with their member counts on every instance, sorted by name. With the cluster directory in Redis this instance keeps no copy of the others'
    /// clients: it answers for its own; [`Server::directory`] answers for the cluster.
    pub fn list(&self) -> Vec<(String, usize)> {
        let hub = self.server.hub();
        let mut counts = hub.view().room_counts();
        if counts.is_empty() {
            return hub.rooms().summary();
        }
        for (name, n) in hub.rooms().summary() {
            *counts.entry(name).or_default() += n;
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort();
        v
    }

    /// How many rooms exist on any instance. With the cluster directory in Redis this instance keeps no copy of the others'
    /// clients: it answers for its own; [`Server::directory`] answers for the cluster.
    pub fn len(&self) -> usize {
        let hub = self.server.hub();
        let mut rooms = hub.view().room_counts();
        if rooms.is_empty() {
            return hub.rooms().len();
        }
        for (name, _) in hub.rooms().summary() {
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
                let hub = self.server.hub();
                let user = match hub.client(id) {
                    Some(c) => c.user_id().map(|u| u.to_string()),
                    None => hub.view().user_of(id),
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

/// Cluster-wide answers, from [`Server::directory`]: which instances are live, and
/// where the cluster's clients, users and room members are.
///
/// With a Redis configured (`cluster.redis_url` or `cluster.redis_cluster_urls`) the
/// answers come from the cluster directory kept in Redis (see `docs/cluster.md`): one
/// round trip or a few, never a copy of the cluster in this process. This instance's own
/// clients are always answered from its own registry; another instance's from what that
/// instance last wrote (usually under a millisecond old on one Redis), and only while it
/// is live. Without Redis (one process, or instances sharing a
/// [`MemoryBus`](crate::bus::MemoryBus)) the same calls answer from this instance's
/// view of the others, as [`Rooms::get`] and [`Server::user_client_ids`] do.
///
/// ```no_run
/// # async fn f(server: pxl_ws::Server) -> Result<(), pxl_ws::cluster::DirectoryError> {
/// let dir = server.directory();
/// let lobby = dir.room_members("lobby").await?;
/// let instances = dir.instances().await?;
/// println!("{} in the lobby across {} instances", lobby.len(), instances.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Directory {
    pub(crate) server: Server,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("in_redis", &self.in_redis())
            .finish()
    }
}

impl Directory {
    #[cfg(feature = "redis")]
    fn store(&self) -> Option<&crate::cluster::directory::redis::RedisDirectory> {
        self.server.hub().cluster().directory()
    }

    /// Whether the answers come from the cluster directory in Redis.
    pub fn in_redis(&self) -> bool {
        #[cfg(feature = "redis")]
        if self.store().is_some() {
            return true;
        }
        false
    }

    /// The live instances, this one included, sorted.
    pub async fn instances(&self) -> Result<Vec<String>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            let me = self.server.instance_id();
            let mut v: Vec<String> = d.instances().await?.into_iter().map(|(id, _)| id).collect();
            if !v.iter().any(|i| i == me) {
                v.push(me.to_owned());
                v.sort();
            }
            return Ok(v);
        }
        Ok(self.server.instances())
    }

    /// How many clients are connected to the live instances.
    pub async fn connection_count(&self) -> Result<usize, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            // The count in Redis includes this instance's clients once written; the
            // local count is exact for them.
            let me = self.server.instance_id().to_owned();
            let others: usize = d.client_count_except(&me).await?;
            return Ok(self.server.hub().client_count() + others);
        }
        Ok(self.server.health().cluster_connections)
    }

    /// The ids of every client on every live instance (this instance's first).
    pub async fn client_ids(&self) -> Result<Vec<ClientId>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            let mut ids = self.server.client_ids();
            ids.extend(d.client_ids_except(self.server.instance_id()).await?);
            return Ok(ids);
        }
        Ok(self.server.cluster_client_ids())
    }

    /// A client's record, wherever it is connected (`instance_id` is set for another
    /// instance's client; `metadata` then holds only `username`, and `last_activity` is
    /// its connection time).
    pub async fn client(&self, id: ClientId) -> Result<Option<ClientInfo>, DirectoryError> {
        if let Some(c) = self.server.hub().client(id) {
            return Ok(Some(c.info()));
        }
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            let info = d.client(id).await?;
            return Ok(info.filter(|i| i.instance_id.as_deref() != Some(self.server.instance_id())));
        }
        Ok(self.server.get_client(id))
    }

    /// The connections of `user_id` on every live instance (this instance's first).
    pub async fn user_clients(&self, user_id: &str) -> Result<Vec<ClientId>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            let mut ids = Vec::new();
            self.server.hub().for_user(user_id, |c| ids.push(c.id));
            let me = self.server.instance_id();
            for (id, at) in d.user_clients(user_id).await? {
                if at != me {
                    ids.push(id);
                }
            }
            return Ok(ids);
        }
        Ok(self.server.user_client_ids(user_id))
    }

    /// Every room with members anywhere, with its member count, sorted by name.
    pub async fn rooms(&self) -> Result<Vec<(String, usize)>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            return d.rooms().await;
        }
        Ok(self.server.rooms().list())
    }

    /// The other live instances with their connections (the admin page's overview).
    pub(crate) async fn remote_instances(&self) -> Result<Vec<(String, usize)>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            return d.instance_counts_except(self.server.instance_id()).await;
        }
        Ok(self.server.hub().cluster().instance_counts())
    }

    /// Up to `limit` clients of the other instances (the admin page's list).
    pub(crate) async fn remote_clients(
        &self,
        limit: usize,
    ) -> Result<Vec<ClientInfo>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            return d.clients(self.server.instance_id(), limit).await;
        }
        let view = self.server.hub().view();
        Ok(view
            .client_ids()
            .into_iter()
            .filter_map(|id| view.client(id))
            .take(limit)
            .collect())
    }

    /// The members of `room` on every live instance (this instance's first); empty when
    /// the room has none anywhere.
    pub async fn room_members(&self, room: &str) -> Result<Vec<ClientId>, DirectoryError> {
        #[cfg(feature = "redis")]
        if let Some(d) = self.store() {
            let mut ids = self.server.hub().rooms().members(room).unwrap_or_default();
            let me = self.server.instance_id();
            for (id, m) in d.room_members(room).await? {
                if m.instance != me {
                    ids.push(id);
                }
            }
            return Ok(ids);
        }
        Ok(self.server.rooms().get(room).unwrap_or_default())
    }
}
