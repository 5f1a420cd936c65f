//! A real `redis-server` on a free loopback port, owned by one test, and a real
//! three-master Redis Cluster ([`RedisCluster`]) made of them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::WAIT;

/// A `redis-server` child process on `127.0.0.1:<free port>` (never the system one on
/// 6379). Killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// For a cluster node: its directory (holding `nodes.conf`) and cluster bus port.
    cluster: Option<(std::path::PathBuf, u16)>,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not installed: the message names the install command.
    pub async fn start() -> Self {
        Self::start_node(None).await
    }

    /// Starts it as a cluster node keeping its state in `dir` (the caller forms the
    /// cluster).
    async fn start_node(dir: Option<&std::path::Path>) -> Self {
        match Command::new("redis-server").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`redis-server --version` failed ({}): the cluster tests need a working \
                 redis-server; install it with `apt-get install -y redis-server`",
                out.status
            ),
            Err(e) => panic!(
                "redis-server is not installed ({e}): the cluster tests need a real Redis. \
                 Install it with `apt-get install -y redis-server`"
            ),
        }
        for _ in 0..10 {
            let port = free_port();
            let cluster = dir.map(|d| (d.to_owned(), free_port()));
            let mut server = Self {
                port,
                child: None,
                cluster,
            };
            if server.spawn().await {
                return server;
            }
        }
        panic!("could not start redis-server on a free loopback port");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many client connections the server has, this query's own excluded
    /// (`INFO clients`).
    pub fn connected_clients(&self) -> usize {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"INFO clients\r\n").expect("write INFO");
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !text.contains("connected_clients:") || !text.ends_with("\r\n") {
            let n = s.read(&mut buf).expect("read INFO");
            assert!(n > 0, "redis closed the INFO connection");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let n: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("connected_clients in INFO");
        n - 1
    }

    /// Runs one command and returns its reply flattened to strings: an array's items
    /// (bulk strings, integers as text), or the one item of a plain reply. A Redis
    /// error fails the test.
    pub fn command(&self, args: &[&str]) -> Vec<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(cmd.as_bytes()).expect("write command");
        let mut r = std::io::BufReader::new(s);
        let mut out = Vec::new();
        read_reply(&mut r, &mut out, args);
        out
    }

    /// Kills the server with SIGKILL (connections drop at once).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (after [`kill`](Self::kill)); empty, as Redis
    /// pub/sub keeps no state.
    pub async fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// Spawns on `self.port`; `true` once it answers PING.
    async fn spawn(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        if let Some((dir, bus_port)) = &self.cluster {
            std::fs::create_dir_all(dir).expect("create the cluster node's directory");
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus_port.to_string()])
                .arg("--dir")
                .arg(dir)
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "3000"])
                // The other shards keep serving while one is down.
                .args(["--cluster-require-full-coverage", "no"])
                // A replica's first sync starts at once (not after the default 5 s wait
                // for more replicas).
                .args(["--repl-diskless-sync-delay", "0"]);
        }
        let child = cmd
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None; // exited: the port was taken
                return false;
            }
            if ping(self.port).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads one RESP reply into `out`, arrays flattened.
fn read_reply(r: &mut impl std::io::BufRead, out: &mut Vec<String>, args: &[&str]) {
    let mut line = String::new();
    r.read_line(&mut line).expect("read redis reply");
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "*" => {
            let n: i64 = rest.parse().expect("array length");
            for _ in 0..n.max(0) {
                read_reply(r, out, args);
            }
        }
        "$" => {
            let len: i64 = rest.parse().expect("bulk length");
            if len >= 0 {
                let mut buf = vec![0u8; len as usize + 2];
                r.read_exact(&mut buf).expect("read bulk string");
                buf.truncate(len as usize);
                out.push(String::from_utf8_lossy(&buf).into_owned());
            }
        }
        ":" | "+" => out.push(rest.to_owned()),
        _ => panic!("redis answered {args:?} with {line:?}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn ping(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    let read = tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await;
    matches!(read, Ok(Ok(_))) && &buf == b"+PONG\r\n"
}

/// A connection subscribed (`PSUBSCRIBE`) to a channel pattern on a test's
/// `redis-server`: sees every message published on a matching channel, as Redis
/// forwards it.
pub struct RedisTap {
    conn: BufReader<tokio::net::TcpStream>,
}

impl RedisServer {
    /// Subscribes to `pattern` (e.g. `prefix:*`); returns once Redis confirmed it.
    pub async fn tap(&self, pattern: &str) -> RedisTap {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to redis");
        let cmd = format!(
            "*2\r\n$10\r\nPSUBSCRIBE\r\n${}\r\n{pattern}\r\n",
            pattern.len()
        );
        s.write_all(cmd.as_bytes()).await.expect("write PSUBSCRIBE");
        let mut tap = RedisTap {
            conn: BufReader::new(s),
        };
        let ack = tap.read_array().await;
        assert_eq!(
            ack.first().map(String::as_str),
            Some("psubscribe"),
            "{ack:?}"
        );
        tap
    }
}

impl RedisTap {
    /// The next `(channel, payload)` published on a matching channel, within [`WAIT`].
    pub async fn next(&mut self) -> (String, String) {
        let mut m = self.read_array().await;
        assert_eq!(m.len(), 4, "pmessage expected: {m:?}");
        assert_eq!(m[0], "pmessage", "{m:?}");
        let payload = m.pop().unwrap();
        let channel = m.pop().unwrap();
        (channel, payload)
    }

    /// The next message on `channel` whose payload contains `needle`; the messages
    /// before it are returned too (including it, last), in order.
    pub async fn until(&mut self, channel: &str, needle: &str) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        loop {
            let m = self.next().await;
            let done = m.0 == channel && m.1.contains(needle);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }

    /// One RESP array of bulk strings (integers as text).
    async fn read_array(&mut self) -> Vec<String> {
        let head = self.line().await;
        let n: usize = head
            .strip_prefix('*')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("RESP array expected, got {head:?}"));
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let item = self.line().await;
            if let Some(len) = item.strip_prefix('$') {
                let len: usize = len.parse().expect("bulk length");
                let mut buf = vec![0u8; len + 2];
                tokio::time::timeout(WAIT, self.conn.read_exact(&mut buf))
                    .await
                    .expect("redis message in time")
                    .expect("read bulk string");
                buf.truncate(len);
                out.push(String::from_utf8_lossy(&buf).into_owned());
            } else if let Some(i) = item.strip_prefix(':') {
                out.push(i.to_owned());
            } else {
                panic!("unexpected RESP item {item:?}");
            }
        }
        out
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.conn.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("nothing from redis within {WAIT:?}"))
            .expect("read from redis");
        assert!(n > 0, "redis closed the tap connection");
        line.trim_end().to_owned()
    }
}

/// A TCP proxy on a free loopback port that holds every chunk, in both directions, for
/// `delay` before passing it on: a Redis far away, for tests that must not depend on a
/// round trip being fast.
pub struct SlowLink {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    /// Proxies to `127.0.0.1:target_port` with `delay` each way.
    pub async fn start(target_port: u16, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the slow link");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(delayed_copy(ri, wo, delay));
                tokio::spawn(delayed_copy(ro, wi, delay));
            }
        });
        Self { port, task }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, in order.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at + delay).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A local Redis Cluster of three masters (no replicas) on free loopback ports, each
/// node in its own temporary directory (its `nodes.conf`), formed with
/// `redis-cli --cluster create`. Killed and removed when dropped.
pub struct RedisCluster {
    /// The masters, in the order they were created.
    pub masters: Vec<RedisServer>,
    /// The replicas ([`start_with_replicas`](Self::start_with_replicas)), one per
    /// master, in no particular order (`redis-cli` pairs them).
    pub replicas: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` and forms the cluster; returns
    /// once every node reports `cluster_state:ok` with all 16 384 slots assigned.
    ///
    /// # Panics
    /// When `redis-server` (Debian package `redis-server`) or `redis-cli` (package
    /// `redis-tools`) is missing, or the server is older than Redis 7 (sharded pub/sub).
    pub async fn start() -> Self {
        Self::start_nodes(0).await
    }

    /// Three masters with one replica each (six nodes): a master killed is replaced by
    /// its replica after the node timeout (3 s).
    pub async fn start_with_replicas() -> Self {
        Self::start_nodes(1).await
    }

    async fn start_nodes(replicas_per_master: usize) -> Self {
        match Command::new("redis-cli").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            other => panic!(
                "redis-cli is not installed ({other:?}): the Redis Cluster tests form their \
                 cluster with it. Install it with `apt-get install -y redis-tools`"
            ),
        }
        let version = Command::new("redis-server")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| {
                panic!(
                    "redis-server is not installed ({e}): install it with \
                     `apt-get install -y redis-server`"
                )
            });
        let major: u32 = version
            .split("v=")
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            major >= 7,
            "the Redis Cluster tests need Redis 7 or later (sharded pub/sub); found {version:?}"
        );
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pxl-ws-redis-cluster-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut nodes = Vec::new();
        for i in 0..3 * (1 + replicas_per_master) {
            nodes.push(RedisServer::start_node(Some(&dir.join(i.to_string()))).await);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for m in &nodes {
            create.arg(format!("127.0.0.1:{}", m.port));
        }
        let out = create
            .args(["--cluster-replicas", &replicas_per_master.to_string()])
            .arg("--cluster-yes")
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // `redis-cli` makes the first three nodes the masters.
        let replicas = nodes.split_off(3);
        for m in &nodes {
            assert_eq!(
                m.command(&["ROLE"]).first().map(String::as_str),
                Some("master"),
                "redis-cli --cluster create made another node a master"
            );
        }
        let cluster = Self {
            masters: nodes,
            replicas,
            dir,
        };
        cluster.wait_ok().await;
        cluster.wait_replicas_synced().await;
        cluster
    }

    /// Waits until every replica has synchronised with its master (a replica that
    /// never did cannot take over).
    async fn wait_replicas_synced(&self) {
        const SYNC: Duration = Duration::from_secs(20);
        let deadline = Instant::now() + SYNC;
        while !self.replicas.iter().all(|r| {
            r.command(&["INFO", "replication"])
                .join("\n")
                .contains("master_link_status:up")
        }) {
            assert!(
                Instant::now() < deadline,
                "the replicas did not synchronise with their masters within {SYNC:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The seed list, `redis://127.0.0.1:<p1>,redis://127.0.0.1:<p2>,…` (what
    /// `PXL_WS_REDIS_CLUSTER_URLS` takes; [`crate::cluster::Node::spawn`] and
    /// [`crate::cluster::cluster_config`] recognise it by its commas).
    pub fn url(&self) -> String {
        self.masters
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running master says `cluster_state:ok`, knows all three and
    /// sees every slot served.
    pub async fn wait_ok(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let known = format!(
                "cluster_known_nodes:{}",
                self.masters.len() + self.replicas.len()
            );
            let ok = self.nodes().filter(|m| m.child.is_some()).all(|m| {
                let info = m.command(&["CLUSTER", "INFO"]).join("\n");
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && info.contains(&known)
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster did not reach cluster_state:ok within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of the master that owns `name`'s hash slot.
    pub fn master_of(&self, name: &str) -> usize {
        let up = self
            .masters
            .iter()
            .find(|m| m.child.is_some())
            .expect("a running master");
        let slot: u16 = up.command(&["CLUSTER", "KEYSLOT", name])[0]
            .parse()
            .expect("a slot number");
        self.masters
            .iter()
            .position(|m| m.child.is_some() && m.own_slots().iter().any(|r| r.contains(&slot)))
            .unwrap_or_else(|| panic!("no running master owns slot {slot} of {name:?}"))
    }

    /// `PUBSUB SHARDCHANNELS <pattern>` on every master (in order; empty for one that
    /// is down).
    pub fn shard_channels(&self, pattern: &str) -> Vec<Vec<String>> {
        self.masters
            .iter()
            .map(|m| {
                if m.child.is_none() {
                    return Vec::new();
                }
                let mut v = m.command(&["PUBSUB", "SHARDCHANNELS", pattern]);
                v.sort();
                v
            })
            .collect()
    }

    /// Every node: the masters, then the replicas.
    fn nodes(&self) -> impl Iterator<Item = &RedisServer> {
        self.masters.iter().chain(&self.replicas)
    }

    /// The replica that serves `name`'s hash slot now (its master's replica, promoted),
    /// once one does and the cluster is ok again; waits up to 30 s.
    pub async fn promoted_replica_of(&self, name: &str) -> &RedisServer {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = self
                .nodes()
                .find(|m| m.child.is_some())
                .expect("a running node");
            let slot: u16 = up.command(&["CLUSTER", "KEYSLOT", name])[0]
                .parse()
                .expect("a slot number");
            let owner = self.replicas.iter().find(|r| {
                r.child.is_some()
                    && r.command(&["ROLE"]).first().map(String::as_str) == Some("master")
                    && r.own_slots().iter().any(|s| s.contains(&slot))
            });
            if let Some(r) = owner {
                self.wait_ok().await;
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no replica took over slot {slot} of {name:?} within 30 s: {}",
                up.command(&["CLUSTER", "NODES"]).join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills master `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.masters[i].kill();
    }

    /// Starts master `i` again on its port with its `nodes.conf` (it rejoins with its
    /// slots, empty), and waits for the cluster to be ok.
    pub async fn restart(&mut self, i: usize) {
        self.masters[i].restart().await;
        self.wait_ok().await;
    }
}

impl RedisServer {
    /// The slot ranges this cluster node serves itself (`CLUSTER NODES`, `myself`).
    fn own_slots(&self) -> Vec<std::ops::RangeInclusive<u16>> {
        let nodes = self.command(&["CLUSTER", "NODES"]).join("\n");
        let me = nodes
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(2)
                    .is_some_and(|f| f.contains("myself"))
            })
            .expect("CLUSTER NODES lists myself")
            .to_owned();
        me.split_whitespace()
            .skip(8)
            .filter(|r| !r.starts_with('['))
            .filter_map(|r| match r.split_once('-') {
                Some((a, b)) => Some(a.parse().ok()?..=b.parse().ok()?),
                None => {
                    let s = r.parse().ok()?;
                    Some(s..=s)
                }
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for m in &mut self.masters {
            m.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
