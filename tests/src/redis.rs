//! A real `redis-server` on a free loopback port, owned by one test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on `127.0.0.1:<free port>` (never the system one on
/// 6379). Killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not installed: the message names the install command.
    pub fn start() -> Self {
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
            let mut server = Self { port, child: None };
            if server.spawn() {
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

    /// Kills the server with SIGKILL (connections drop at once).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (after [`kill`](Self::kill)); empty, as Redis
    /// pub/sub keeps no state.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// Spawns on `self.port`; `true` once it answers PING.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
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
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
