//! The directory's Redis store (feature `redis`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{DirectoryError, Member};
use crate::clients::{ClientId, ClientInfo, ClientState};
use crate::redis_target::{RedisTarget, by_slot};

impl From<redis::RedisError> for DirectoryError {
    fn from(e: redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

/// What an instance's hash holds for one of its clients.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    user_id: Option<String>,
    username: Option<String>,
    connected_at: u64,
    #[serde(default)]
    rooms: Vec<String>,
}

impl Record {
    /// The record as a [`ClientInfo`] of a client of instance `at`: `metadata` holds only
    /// `username`, `last_activity` is its connection time.
    fn info(self, id: ClientId, at: &str) -> ClientInfo {
        let mut metadata = serde_json::Map::new();
        if let Some(name) = self.username {
            metadata.insert("username".into(), name.into());
        }
        let mut rooms = self.rooms;
        rooms.sort();
        ClientInfo {
            id,
            user_id: self.user_id,
            connected_at: self.connected_at,
            last_activity: self.connected_at,
            metadata,
            rooms,
            instance_id: Some(at.to_owned()),
        }
    }
}

/// Refreshes (or, with a TTL of 0, removes) an instance's liveness and count.
/// KEYS: alive, counts. ARGV: id, ttl ms, connections.
const ALIVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ttl == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"#;

/// The live instances with their counts, flat: id, count, id, count…
/// KEYS: alive, counts.
const LIVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or '0'
end
return out
"#;

/// Claims the lapsed instances: each is removed here, so exactly one caller gets it.
/// KEYS: alive, counts.
const CLAIM: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return gone
"#;

/// How long a read reuses the live-instance set.
const LIVE_CACHE: Duration = Duration::from_millis(500);
/// The writer's first and longest wait before restating after a failure.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// Commands sent in one go by the writer.
const BATCH: usize = 256;

type Conn = crate::redis_target::Conn;

/// The live instances with their connection counts.
type Live = Arc<HashMap<String, usize>>;

/// One command and the key that places it (its hash slot on a Redis Cluster).
struct Command {
    key: String,
    cmd: redis::Cmd,
}

enum Op {
    Write(Vec<Command>),
    /// Delete what Redis holds for this instance and write its clients again.
    Restate,
    /// Claim lapsed instances and delete their entries.
    Sweep,
    /// Answered once everything queued before it has been sent.
    Flush(oneshot::Sender<()>),
}

/// The key names, all under the prefix.
struct Keys {
    prefix: String,
}

impl Keys {
    fn alive(&self) -> String {
        format!("{}:{{instances}}:alive", self.prefix)
    }
    fn counts(&self) -> String {
        format!("{}:{{instances}}:clients", self.prefix)
    }
    fn instance(&self, id: &str) -> String {
        format!("{}:{{instance:{id}}}:clients", self.prefix)
    }
    fn bucket(&self, id: ClientId) -> String {
        let hex = id.to_string();
        format!("{}:{{clients:{}}}:instance", self.prefix, &hex[..2])
    }
    fn user(&self, user: &str) -> String {
        format!("{}:{{user:{user}}}:clients", self.prefix)
    }
    fn room(&self, room: &str) -> String {
        format!("{}:{{room:{room}}}:members", self.prefix)
    }
    fn rooms(&self) -> String {
        format!("{}:{{rooms}}:names", self.prefix)
    }
    /// `SADD` of `room` to the room index (idempotent, so a write sent twice counts once).
    fn index(&self, room: &str) -> Command {
        let key = self.rooms();
        let mut cmd = redis::cmd("SADD");
        cmd.arg(&key).arg(room);
        Command { key, cmd }
    }
}

fn hset(key: String, field: impl redis::ToRedisArgs, value: impl redis::ToRedisArgs) -> Command {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(&key).arg(field).arg(value);
    Command { key, cmd }
}

fn hdel(key: String, field: impl redis::ToRedisArgs) -> Command {
    let mut cmd = redis::cmd("HDEL");
    cmd.arg(&key).arg(field);
    Command { key, cmd }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The cluster directory in Redis (feature `redis`, with `cluster.redis_url` or
/// `cluster.redis_cluster_urls`).
pub(crate) struct RedisDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    target: RedisTarget,
    keys: Keys,
    instance_id: String,
    /// This instance's clients as last written (the source of a restate).
    local: Mutex<HashMap<ClientId, Record>>,
    tx: mpsc::Sender<Op>,
    rx: Mutex<Option<mpsc::Receiver<Op>>>,
    started: AtomicBool,
    conn: tokio::sync::Mutex<Option<Conn>>,
    live: Mutex<Option<(Instant, Live)>>,
    /// Operations dropped at the door (the queue was full): the writer restates before
    /// its next batch. (A failed batch is restated by the writer itself, retrying.)
    lost: AtomicU64,
    /// The last heartbeat's TTL (ms) and count, which a restate writes again first.
    alive: Mutex<(u64, usize)>,
}

impl RedisDirectory {
    pub(crate) fn new(target: RedisTarget, prefix: &str, instance_id: &str, buffer: usize) -> Self {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        Self {
            inner: Arc::new(Inner {
                target,
                keys: Keys {
                    prefix: prefix.to_owned(),
                },
                instance_id: instance_id.to_owned(),
                local: Mutex::new(HashMap::new()),
                tx,
                rx: Mutex::new(Some(rx)),
                started: AtomicBool::new(false),
                conn: tokio::sync::Mutex::new(None),
                live: Mutex::new(None),
                lost: AtomicU64::new(0),
                alive: Mutex::new((0, 0)),
            }),
        }
    }

    fn send(&self, op: Op) {
        if !self.inner.started.load(Ordering::Acquire)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
            && let Some(rx) = self.inner.rx.lock().expect("directory lock").take()
        {
            self.inner.started.store(true, Ordering::Release);
            rt.spawn(write_loop(Arc::downgrade(&self.inner), rx));
        }
        if self.inner.tx.try_send(op).is_err()
            && self.inner.lost.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("cluster directory: write queue full; restating once it drains");
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, Record>> {
        self.inner.local.lock().expect("directory lock")
    }

    /// A local client connected, or its user id or username changed.
    pub(crate) fn upsert(&self, c: &ClientState) {
        let rec = Record {
            user_id: c.user_id().map(|u| u.to_string()),
            username: c.metadata_str("username"),
            connected_at: c.connected_at_ms,
            rooms: c.room_names(),
        };
        let old = self.local().insert(c.id, rec.clone());
        let mut cmds = Vec::new();
        if let Some(old_user) = old.as_ref().and_then(|o| o.user_id.as_deref())
            && rec.user_id.as_deref() != Some(old_user)
        {
            cmds.push(hdel(self.inner.keys.user(old_user), c.id.to_string()));
        }
        self.inner.register(c.id, &rec, &mut cmds);
        self.send(Op::Write(cmds));
    }

    /// A local client is gone.
    pub(crate) fn remove(&self, id: ClientId) {
        let Some(rec) = self.local().remove(&id) else {
            return;
        };
        let k = &self.inner.keys;
        let mut cmds = vec![
            hdel(k.instance(&self.inner.instance_id), id.to_string()),
            hdel(k.bucket(id), id.to_string()),
        ];
        if let Some(user) = &rec.user_id {
            cmds.push(hdel(k.user(user), id.to_string()));
        }
        for room in &rec.rooms {
            cmds.push(hdel(k.room(room), id.to_string()));
        }
        self.send(Op::Write(cmds));
    }

    /// A local client joined (`joined`) or left a room.
    pub(crate) fn room_change(&self, id: ClientId, room: &str, joined: bool) {
        let rec = {
            let mut local = self.local();
            let Some(rec) = local.get_mut(&id) else {
                return;
            };
            rec.rooms.retain(|r| r != room);
            if joined {
                rec.rooms.push(room.to_owned());
            }
            rec.clone()
        };
        let k = &self.inner.keys;
        let field = id.to_string();
        let change = if joined {
            hset(k.room(room), &field, self.inner.member(&rec))
        } else {
            hdel(k.room(room), &field)
        };
        let record = hset(k.instance(&self.inner.instance_id), &field, json(&rec));
        let mut cmds = vec![change, record];
        if joined {
            cmds.push(k.index(room));
        }
        self.send(Op::Write(cmds));
    }

    /// Refreshes this instance's liveness (a TTL of zero: it is leaving, and its
    /// entries go with it).
    pub(crate) fn heartbeat(&self, ttl: Duration, clients: usize) {
        let ttl_ms = ttl.as_millis() as u64;
        *self.inner.alive.lock().expect("directory lock") = (ttl_ms, clients);
        self.send(Op::Write(vec![self.inner.alive_command(ttl_ms, clients)]));
        if ttl.is_zero() {
            self.local().clear();
            self.send(Op::Restate);
        }
    }

    /// Restates this instance's entries (after a resync: Redis may have lost them).
    pub(crate) fn restate(&self) {
        self.send(Op::Restate);
    }

    /// Claims lapsed instances and deletes their entries.
    pub(crate) fn sweep(&self) {
        self.send(Op::Sweep);
    }

    /// Waits (at most `within`) until the writes queued so far have been sent.
    pub(crate) async fn flush(&self, within: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.try_send(Op::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(within, rx).await;
        }
    }

    // ---- reads ---------------------------------------------------------------------

    /// The live instances with their connection counts (at their last heartbeat).
    pub(crate) async fn instances(&self) -> Result<Vec<(String, usize)>, DirectoryError> {
        let live = self.inner.live().await?;
        let mut v: Vec<(String, usize)> = live.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        Ok(v)
    }

    /// The live instances other than `except` with the clients each holds now (its
    /// hash, counted).
    pub(crate) async fn instance_counts_except(
        &self,
        except: &str,
    ) -> Result<Vec<(String, usize)>, DirectoryError> {
        let live = self.inner.live().await?;
        let mut out = Vec::new();
        for id in live.keys().filter(|id| *id != except) {
            let len: usize = self
                .inner
                .query(redis::cmd("HLEN").arg(self.inner.keys.instance(id)))
                .await?;
            out.push((id.clone(), len));
        }
        out.sort();
        Ok(out)
    }

    /// How many clients the live instances other than `except` hold now (each
    /// instance's hash, counted).
    pub(crate) async fn client_count_except(&self, except: &str) -> Result<usize, DirectoryError> {
        let counts = self.instance_counts_except(except).await?;
        Ok(counts.iter().map(|(_, n)| n).sum())
    }

    /// The ids of the clients of the live instances other than `except`.
    pub(crate) async fn client_ids_except(
        &self,
        except: &str,
    ) -> Result<Vec<ClientId>, DirectoryError> {
        let i = &self.inner;
        let live = i.live().await?;
        let mut out = Vec::new();
        for at in live.keys().filter(|id| *id != except) {
            let ids: Vec<String> = i
                .query(redis::cmd("HKEYS").arg(i.keys.instance(at)))
                .await?;
            out.extend(ids.iter().filter_map(|id| id.parse::<ClientId>().ok()));
        }
        Ok(out)
    }

    /// A client of a live instance.
    pub(crate) async fn client(&self, id: ClientId) -> Result<Option<ClientInfo>, DirectoryError> {
        let i = &self.inner;
        let field = id.to_string();
        let at: Option<String> = i
            .query(redis::cmd("HGET").arg(i.keys.bucket(id)).arg(&field))
            .await?;
        let Some(at) = at else { return Ok(None) };
        if !i.live().await?.contains_key(&at) {
            return Ok(None);
        }
        let rec: Option<String> = i
            .query(redis::cmd("HGET").arg(i.keys.instance(&at)).arg(&field))
            .await?;
        let Some(rec) = rec.and_then(|r| serde_json::from_str::<Record>(&r).ok()) else {
            return Ok(None);
        };
        Ok(Some(rec.info(id, &at)))
    }

    /// The connections of `user` on live instances, with their instance.
    pub(crate) async fn user_clients(
        &self,
        user: &str,
    ) -> Result<Vec<(ClientId, String)>, DirectoryError> {
        let i = &self.inner;
        let all = i.hgetall(&i.keys.user(user)).await?;
        let live = i.live().await?;
        Ok(all
            .into_iter()
            .filter(|(_, at)| live.contains_key(at))
            .filter_map(|(id, at)| Some((id.parse().ok()?, at)))
            .collect())
    }

    /// Every room with members, with its member count across the cluster (each room's
    /// members hash, counted; a lapsed instance's members count until the sweep deletes
    /// its entries), sorted by name. Rooms found empty leave the index.
    pub(crate) async fn rooms(&self) -> Result<Vec<(String, usize)>, DirectoryError> {
        let i = &self.inner;
        let names: Vec<String> = i.query(redis::cmd("SMEMBERS").arg(i.keys.rooms())).await?;
        let mut v = Vec::with_capacity(names.len());
        let mut empty = Vec::new();
        for name in names {
            let n: usize = i.query(redis::cmd("HLEN").arg(i.keys.room(&name))).await?;
            if n == 0 {
                empty.push(name);
            } else {
                v.push((name, n));
            }
        }
        if !empty.is_empty() {
            // A join since the HLEN adds the name back (its SADD follows its HSET).
            let _: () = i
                .query(redis::cmd("SREM").arg(i.keys.rooms()).arg(&empty))
                .await?;
        }
        v.sort();
        Ok(v)
    }

    /// Up to about `limit` clients of the live instances other than `except` (for the
    /// admin page: one `HSCAN` page per instance).
    pub(crate) async fn clients(
        &self,
        except: &str,
        limit: usize,
    ) -> Result<Vec<ClientInfo>, DirectoryError> {
        let i = &self.inner;
        let live = i.live().await?;
        let mut out = Vec::new();
        let mut ids: Vec<&String> = live.keys().filter(|id| *id != except).collect();
        ids.sort();
        for at in ids {
            if out.len() >= limit {
                break;
            }
            let (_, page): (String, Vec<(String, String)>) = i
                .query(
                    redis::cmd("HSCAN")
                        .arg(i.keys.instance(at))
                        .arg(0)
                        .arg("COUNT")
                        .arg(limit - out.len()),
                )
                .await?;
            for (id, rec) in page {
                let (Ok(id), Ok(rec)) = (id.parse(), serde_json::from_str::<Record>(&rec)) else {
                    continue;
                };
                out.push(rec.info(id, at));
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The members of `room` on live instances.
    pub(crate) async fn room_members(
        &self,
        room: &str,
    ) -> Result<Vec<(ClientId, Member)>, DirectoryError> {
        let i = &self.inner;
        let all = i.hgetall(&i.keys.room(room)).await?;
        let live = i.live().await?;
        Ok(all
            .into_iter()
            .filter_map(|(id, m)| Some((id.parse().ok()?, serde_json::from_str(&m).ok()?)))
            .filter(|(_, m): &(ClientId, Member)| live.contains_key(&m.instance))
            .collect())
    }
}

impl Inner {
    /// How a room's members hash holds this instance's client `r`.
    fn member(&self, r: &Record) -> String {
        json(&Member {
            instance: self.instance_id.clone(),
            user_id: r.user_id.clone(),
            username: r.username.clone(),
        })
    }

    /// The writes that put this instance's client `id` in every index: its record, where
    /// it is, its user's connections, its rooms' members and the room index.
    fn register(&self, id: ClientId, rec: &Record, cmds: &mut Vec<Command>) {
        let (k, me, field) = (&self.keys, &self.instance_id, id.to_string());
        cmds.push(hset(k.instance(me), &field, json(rec)));
        cmds.push(hset(k.bucket(id), &field, me));
        if let Some(user) = &rec.user_id {
            cmds.push(hset(k.user(user), &field, me));
        }
        let member = self.member(rec);
        for room in &rec.rooms {
            cmds.push(hset(k.room(room), &field, &member));
            cmds.push(k.index(room));
        }
    }

    /// The liveness script's call for this instance.
    fn alive_command(&self, ttl_ms: u64, clients: usize) -> Command {
        let k = &self.keys;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ALIVE)
            .arg(2)
            .arg(k.alive())
            .arg(k.counts())
            .arg(&self.instance_id)
            .arg(ttl_ms)
            .arg(clients);
        Command {
            key: k.alive(),
            cmd,
        }
    }

    async fn connection(&self) -> Result<Conn, DirectoryError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let c = self.target.connect().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets the connection after an error (the next call connects again).
    fn failed(&self, e: redis::RedisError) -> DirectoryError {
        if let Ok(mut slot) = self.conn.try_lock() {
            *slot = None;
        }
        e.into()
    }

    /// Runs one command on the directory's connection.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, DirectoryError> {
        let mut conn = self.connection().await?;
        cmd.query_async(&mut conn).await.map_err(|e| self.failed(e))
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, DirectoryError> {
        self.query(redis::cmd("HGETALL").arg(key)).await
    }

    /// The live instances (reused for [`LIVE_CACHE`]).
    async fn live(&self) -> Result<Live, DirectoryError> {
        if let Some((at, live)) = &*self.live.lock().expect("directory lock")
            && at.elapsed() < LIVE_CACHE
        {
            return Ok(live.clone());
        }
        let flat: Vec<String> = self
            .query(
                redis::cmd("EVAL")
                    .arg(LIVE)
                    .arg(2)
                    .arg(self.keys.alive())
                    .arg(self.keys.counts()),
            )
            .await?;
        let live: HashMap<String, usize> = flat
            .chunks(2)
            .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.parse().unwrap_or(0))))
            .collect();
        let live = Arc::new(live);
        *self.live.lock().expect("directory lock") = Some((Instant::now(), live.clone()));
        Ok(live)
    }

    /// Sends `cmds` in order per key (one pipeline, or one per slot on a Redis Cluster).
    async fn write(&self, cmds: Vec<Command>) -> Result<(), DirectoryError> {
        if cmds.is_empty() {
            return Ok(());
        }
        let conn = self.connection().await?;
        let groups = if self.target.is_cluster() {
            by_slot(cmds, |c| c.key.as_bytes())
        } else {
            vec![cmds]
        };
        let results = futures_util::future::join_all(groups.into_iter().map(|group| {
            let mut conn = conn.clone();
            async move {
                let mut pipe = redis::pipe();
                for c in group {
                    pipe.add_command(c.cmd).ignore();
                }
                pipe.query_async::<()>(&mut conn).await
            }
        }))
        .await;
        for r in results {
            r.map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Deletes every entry `instance`'s hash lists, and the hash; how many clients it
    /// listed.
    async fn purge(&self, instance: &str) -> Result<usize, DirectoryError> {
        let hash = self.keys.instance(instance);
        let entries = self.hgetall(&hash).await?;
        let mut cmds = Vec::new();
        for (id, rec) in &entries {
            let Ok(cid) = id.parse::<ClientId>() else {
                continue;
            };
            let rec: Record = serde_json::from_str(rec).unwrap_or_default();
            cmds.push(hdel(self.keys.bucket(cid), id));
            if let Some(user) = &rec.user_id {
                cmds.push(hdel(self.keys.user(user), id));
            }
            for room in &rec.rooms {
                cmds.push(hdel(self.keys.room(room), id));
            }
        }
        let mut del = redis::cmd("DEL");
        del.arg(&hash);
        cmds.push(Command {
            key: hash,
            cmd: del,
        });
        self.write(cmds).await?;
        Ok(entries.len())
    }

    /// Says again that this instance is live (a Redis restart forgot it), deletes its
    /// entries and writes its clients again.
    async fn restate(&self) -> Result<(), DirectoryError> {
        let me = &self.instance_id;
        let (ttl_ms, clients) = *self.alive.lock().expect("directory lock");
        if ttl_ms > 0 {
            self.write(vec![self.alive_command(ttl_ms, clients)])
                .await?;
        }
        self.purge(me).await?;
        let local: Vec<(ClientId, Record)> = self
            .local
            .lock()
            .expect("directory lock")
            .iter()
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        let mut cmds = Vec::new();
        for (id, rec) in local {
            self.register(id, &rec, &mut cmds);
        }
        for chunk in chunks(cmds, BATCH * 4) {
            self.write(chunk).await?;
        }
        Ok(())
    }

    async fn sweep(&self) -> Result<(), DirectoryError> {
        let gone: Vec<String> = self
            .query(
                redis::cmd("EVAL")
                    .arg(CLAIM)
                    .arg(2)
                    .arg(self.keys.alive())
                    .arg(self.keys.counts()),
            )
            .await?;
        for instance in gone {
            if instance == self.instance_id {
                // Our own heartbeat lapsed (a long stall): we are alive, say so again.
                continue;
            }
            let n = self.purge(&instance).await?;
            tracing::warn!(instance = %instance, clients = n, "cluster directory: instance liveness lapsed; deleted its entries");
        }
        Ok(())
    }
}

fn chunks<T>(mut v: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while v.len() > n {
        let rest = v.split_off(n);
        out.push(std::mem::replace(&mut v, rest));
    }
    out.push(v);
    out
}

/// Runs the queued operations in order; writes are sent in batches. Ends when the
/// directory is dropped.
async fn write_loop(inner: Weak<Inner>, mut rx: mpsc::Receiver<Op>) {
    let mut ops = Vec::with_capacity(BATCH);
    let mut logged = false;
    while rx.recv_many(&mut ops, BATCH).await > 0 {
        let Some(i) = inner.upgrade() else { return };
        // A restate answers every loss before it.
        let lost = i.lost.swap(0, Ordering::Relaxed);
        let mut result = if lost > 0 { i.restate().await } else { Ok(()) };
        let mut pending = Vec::new();
        for op in ops.drain(..) {
            if result.is_err() {
                break;
            }
            match op {
                Op::Write(cmds) => pending.extend(cmds),
                Op::Restate => {
                    result = i.write(std::mem::take(&mut pending)).await;
                    if result.is_ok() {
                        result = i.restate().await;
                    }
                }
                Op::Sweep => {
                    result = i.write(std::mem::take(&mut pending)).await;
                    if result.is_ok() {
                        result = i.sweep().await;
                    }
                }
                Op::Flush(done) => {
                    result = i.write(std::mem::take(&mut pending)).await;
                    let _ = done.send(());
                }
            }
        }
        if result.is_ok() {
            result = i.write(pending).await;
        }
        match result {
            Ok(()) if logged => {
                logged = false;
                tracing::info!("cluster directory: writes work again");
            }
            Ok(()) => {}
            Err(e) => {
                // Every write is idempotent and the local map holds what they wrote: a
                // restate, retried with backoff until Redis answers, puts back all that
                // failed or was skipped.
                ops.clear();
                if !logged {
                    logged = true;
                    tracing::warn!(error = %e, "cluster directory: writes failed; restating once redis answers");
                }
                drop(i);
                let mut delay = RETRY_MIN;
                loop {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                    let Some(i) = inner.upgrade() else { return };
                    if i.restate().await.is_ok() {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_slot_of_what_they_belong_to() {
        let k = Keys { prefix: "p".into() };
        let slot = |s: &str| crate::redis_target::slot(s.as_bytes());
        assert_eq!(
            slot(&k.room("lobby")),
            slot(&crate::cluster::channels::room("p", "lobby"))
        );
        assert_eq!(
            slot(&k.instance("a1")),
            slot(&crate::cluster::channels::instance("p", "a1"))
        );
        assert_eq!(slot(&k.alive()), slot(&k.counts()));
        let id: ClientId = format!("{:032x}", 0xab_u128 << 120).parse().unwrap();
        assert_eq!(k.bucket(id), "p:{clients:ab}:instance");
    }

    #[test]
    fn chunks_keep_the_order() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(
            chunks(v, 4),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        assert_eq!(chunks(Vec::<u32>::new(), 4), vec![Vec::<u32>::new()]);
    }
}
