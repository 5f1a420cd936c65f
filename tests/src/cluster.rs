//! What the cluster tests run on each instance: a probe controller (`type: "t"`) that
//! triggers sends and reports the instance's cluster view, and [`Node`], an instance in
//! its own OS process (the `pxl-ws-test-node` binary).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use pxl_ws::{
    ActionError, Client, ClientId, Data, Frame, Server, Target, WsConfig, WsServer,
    WsServerBuilder, ws_controller,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::WAIT;

/// The probe controller.
pub struct Probe;

/// `t/send`: who to send `t/msg {seq}` to.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReq {
    /// `all`, `rooms`, `user` or `client`.
    pub kind: String,
    /// For `rooms`.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// For `user`.
    #[serde(default)]
    pub user: Option<String>,
    /// For `client`.
    #[serde(default)]
    pub client: Option<ClientId>,
    /// Leave this client out.
    #[serde(default)]
    pub except: Option<ClientId>,
    /// The message number.
    pub seq: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientReq {
    client_id: ClientId,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    ok: bool,
}

#[ws_controller(type = "t")]
impl Probe {
    /// Binds this connection to a user id.
    #[action("setUser")]
    async fn set_user(&self, client: Client, Data(user): Data<String>) -> bool {
        client.set_user_id(user);
        true
    }

    /// Sends `t/msg {seq}` to a target; answers how many local clients got it.
    #[action("send")]
    async fn send(&self, server: Server, Data(req): Data<SendReq>) -> Result<usize, ActionError> {
        let mut target = match req.kind.as_str() {
            "all" => Target::all(),
            "rooms" => Target::rooms(req.rooms),
            "user" => Target::user(req.user.unwrap_or_default()),
            "client" => Target::client(
                req.client
                    .ok_or_else(|| ActionError::new("BAD", "client"))?,
            ),
            other => return Err(ActionError::new("BAD", format!("kind {other}"))),
        };
        if let Some(e) = req.except {
            target = target.except(e);
        }
        let frame =
            Frame::new("t", "msg", &json!({ "seq": req.seq })).map_err(ActionError::internal)?;
        Ok(server.send(&target, &frame))
    }

    /// Sends `t/barrier {instance}` to every client in the cluster.
    #[action("barrier")]
    async fn barrier(&self, server: Server) -> Result<(), ActionError> {
        let frame = Frame::new("t", "barrier", &json!({ "instance": server.instance_id() }))
            .map_err(ActionError::internal)?;
        server.send_to_all(&frame, None);
        Ok(())
    }

    /// This instance's view: instances, cluster clients, and the members of `rooms`.
    #[action("view")]
    async fn view(
        &self,
        server: Server,
        Data(rooms): Data<Vec<String>>,
    ) -> Result<Value, ActionError> {
        let dir = server.directory();
        let internal = |e: pxl_ws::cluster::DirectoryError| ActionError::internal(e);
        let mut members = serde_json::Map::new();
        for r in rooms {
            let mut ids: Vec<String> = dir
                .room_members(&r)
                .await
                .map_err(internal)?
                .iter()
                .map(|c| c.to_string())
                .collect();
            ids.sort();
            members.insert(r, json!(ids));
        }
        let mut clients: Vec<String> = dir
            .client_ids()
            .await
            .map_err(internal)?
            .iter()
            .map(|c| c.to_string())
            .collect();
        clients.sort();
        Ok(json!({
            "instance": server.instance_id(),
            "instances": dir.instances().await.map_err(internal)?,
            "clients": clients,
            "rooms": members,
            "health": server.health(),
        }))
    }

    /// `disconnect_client` on whichever instance holds the client.
    #[action("disconnect")]
    async fn disconnect(&self, server: Server, Data(req): Data<ClientReq>) -> bool {
        server.disconnect_client(req.client_id, 4001, "kicked")
    }

    /// `send_error` to a client anywhere.
    #[action("error")]
    async fn error(&self, server: Server, Data(req): Data<ClientReq>) {
        server.send_error(
            req.client_id,
            &ActionError::new("JOB_FAILED", "it broke").with_detail("jobId", req.job_id),
        );
    }

    /// Reports a background job outcome to a client anywhere.
    #[action("job")]
    async fn job(&self, server: Server, Data(req): Data<ClientReq>) -> Result<(), ActionError> {
        if req.ok {
            server
                .queue_job_completed(req.client_id, req.job_id.as_deref(), &json!({"rows": 3}))
                .map_err(ActionError::internal)
        } else {
            server.queue_job_error(req.client_id, req.job_id.as_deref(), "timed out");
            Ok(())
        }
    }

    /// Publishes a custom event.
    #[action("custom")]
    async fn custom(&self, server: Server, Data(data): Data<Value>) -> Result<(), ActionError> {
        server
            .publish_custom("probe", &data)
            .map_err(ActionError::internal)
    }
}

/// A builder with the probe controller that also forwards every custom event, as
/// `t/custom {origin, name, data}`, to the local members of room `custom-watchers`.
pub fn probe_builder(config: WsConfig) -> WsServerBuilder {
    WsServer::builder()
        .config(config)
        .controller(Probe)
        .on_server_started(|server| {
            let server = server.clone();
            let mut events = server.subscribe_custom();
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if let Ok(f) = Frame::new(
                        "t",
                        "custom",
                        &json!({"origin": ev.origin, "name": ev.name, "data": ev.data}),
                    ) {
                        for id in server
                            .rooms()
                            .get_local("custom-watchers")
                            .unwrap_or_default()
                        {
                            if let Some(c) = server.client(id) {
                                c.send(&f);
                            }
                        }
                    }
                }
            });
        })
}

/// The environment variable a Redis URL goes in: `PXL_WS_REDIS_CLUSTER_URLS` for a
/// comma-separated seed list ([`RedisCluster::url`](crate::RedisCluster::url)), else
/// `REDIS_URL`.
pub fn redis_env(redis_url: &str) -> &'static str {
    if redis_url.contains(',') {
        "PXL_WS_REDIS_CLUSTER_URLS"
    } else {
        "REDIS_URL"
    }
}

/// A cluster config for tests: `redis_url` (a Redis Cluster's seeds when it holds
/// commas), `prefix`, a short liveness TTL, no protocol heartbeat, no per-client rate
/// limit.
pub fn cluster_config(redis_url: &str, prefix: &str, ttl: Duration) -> WsConfig {
    let mut c = WsConfig::default();
    if redis_url.contains(',') {
        c.cluster.redis_cluster_urls = redis_url.split(',').map(str::to_owned).collect();
    } else {
        c.cluster.redis_url = Some(redis_url.to_owned());
    }
    c.cluster.prefix = prefix.to_owned();
    c.cluster.liveness_ttl = ttl;
    c.heartbeat.enabled = false;
    c.limits.rate_limit.enabled = false;
    c
}

/// One instance in its own OS process.
pub struct Node {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its instance id.
    pub instance_id: String,
}

impl Node {
    /// Starts `bin` (the `pxl-ws-test-node` binary: pass
    /// `env!("CARGO_BIN_EXE_pxl-ws-test-node")`) against `redis_url` (a Redis
    /// Cluster's seed list when it holds commas, see [`redis_env`]).
    pub async fn spawn(bin: &str, redis_url: &str, prefix: &str, ttl: Duration) -> Self {
        let mut child = Command::new(bin)
            .env_remove("REDIS_URL")
            .env_remove("PXL_WS_REDIS_URL")
            .env_remove("PXL_WS_REDIS_CLUSTER_URLS")
            .env(redis_env(redis_url), redis_url)
            .env("PXL_WS_CLUSTER_PREFIX", prefix)
            .env("PXL_WS_CLUSTER_TTL_MS", ttl.as_millis().to_string())
            .env("PXL_WS_HEARTBEAT", "false")
            .env("PXL_WS_OUTBOUND_QUEUE_BYTES", "67108864")
            // The test's drivers pipeline thousands of sends from one socket, and every
            // client comes from 127.0.0.1.
            .env("PXL_WS_RATE_LIMIT", "false")
            .env("PXL_WS_MAX_CONNECTIONS_PER_IP", "off")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("node prints its address")
            .expect("read node stdout")
            .expect("node exited before listening");
        // "listening <addr> <instance id>"
        let mut parts = line.split_whitespace().skip(1);
        let addr = parts.next().expect("addr").parse().expect("socket address");
        let instance_id = parts.next().expect("instance id").to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            addr,
            instance_id,
        }
    }

    /// `ws://ADDR/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL: no goodbye, no `clientDisconnected`.
    pub async fn kill9(mut self) {
        self.child.kill().await.expect("kill -9 the node");
    }
}
