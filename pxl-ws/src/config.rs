//! Settings: [`WsConfig`], a plain `Default + Deserialize` struct, and [`WsConfig::from_env`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every server setting, with sane defaults.
///
/// Build it in code (`WsConfig { port: 8080, ..Default::default() }`), deserialise it from
/// any serde format (durations are integers in milliseconds, keys in `snake_case`), or read
/// it from the environment with [`WsConfig::from_env`].
///
/// ```
/// let config: pxl_ws::WsConfig = serde_json::from_str(r#"{
///     "port": 8080,
///     "rooms": { "client_can_join_multiple_rooms": false },
///     "disconnect_inactive_clients": { "enabled": true, "inactive_time": 300000 }
/// }"#).unwrap();
/// assert_eq!(config.port, 8080);
/// assert_eq!(config.path, "/ws");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Interface that [`WsConfig::addr`] names. Default `127.0.0.1`; use `0.0.0.0` in containers.
    /// Env: `PXL_WS_HOST`.
    pub host: String,
    /// Port that [`WsConfig::addr`] names. Default `3000`. Env: `PXL_WS_PORT`.
    pub port: u16,
    /// Exact path of the WebSocket endpoint. Default `/ws`. Env: `PXL_WS_PATH`.
    pub path: String,
    /// Largest inbound message in bytes; a larger one closes the socket with 1009.
    /// Default 1 MiB. Env: `PXL_WS_MAX_MESSAGE_SIZE`.
    pub max_message_size: usize,
    /// Frames each client's outbound queue holds. A client that falls this far behind is
    /// closed with 1008 (and counted) instead of growing memory. Default 1024.
    /// Env: `PXL_WS_OUTBOUND_QUEUE`.
    pub outbound_queue: usize,
    /// How long graceful shutdown waits for sockets to finish their close handshake.
    /// Default 10 s. Env: `PXL_WS_SHUTDOWN_TIMEOUT_MS`.
    #[serde(with = "duration_ms")]
    pub shutdown_timeout: Duration,
    /// Serve a JSON health report at this path (e.g. `/health`). Default off.
    /// Env: `PXL_WS_HEALTH_PATH`.
    pub health_path: Option<String>,
    /// Room behaviour.
    pub rooms: RoomsConfig,
    /// Disconnecting clients that send nothing for a while.
    pub disconnect_inactive_clients: InactiveClientsConfig,
    /// Protocol-level ping/pong.
    pub heartbeat: HeartbeatConfig,
    /// Diagnostics.
    pub debug: DebugConfig,
    /// Running several instances as one app (the Redis bus).
    pub cluster: ClusterConfig,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            path: "/ws".into(),
            max_message_size: 1024 * 1024,
            outbound_queue: 1024,
            shutdown_timeout: Duration::from_secs(10),
            health_path: None,
            rooms: RoomsConfig::default(),
            disconnect_inactive_clients: InactiveClientsConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            debug: DebugConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Room behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// When `false`, joining a room first leaves every other room. Default `true`.
    /// Env: `PXL_WS_ROOMS_MULTIPLE`.
    pub client_can_join_multiple_rooms: bool,
    /// Send `room/memberJoined` and `room/memberLeft` to a room's members. Default `false`.
    /// Env: `PXL_WS_PRESENCE_EVENTS`.
    pub presence_events: bool,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            client_can_join_multiple_rooms: true,
            presence_events: false,
        }
    }
}

/// Disconnecting clients that send nothing for a while (PXL's `disconnectInactiveClients`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InactiveClientsConfig {
    /// Default `false`. Env: `PXL_WS_INACTIVE_ENABLED`.
    pub enabled: bool,
    /// A client whose last message is older than this is closed with 4000. Default 5 min.
    /// Env: `PXL_WS_INACTIVE_TIME_MS`.
    #[serde(with = "duration_ms")]
    pub inactive_time: Duration,
    /// How often to check. Default 1 min. Env: `PXL_WS_INACTIVE_CHECK_MS`.
    #[serde(with = "duration_ms")]
    pub interval_check_time: Duration,
    /// Log each disconnection at info level. Default `false`. Env: `PXL_WS_INACTIVE_LOG`.
    pub log: bool,
}

impl Default for InactiveClientsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            inactive_time: Duration::from_secs(300),
            interval_check_time: Duration::from_secs(60),
            log: false,
        }
    }
}

/// Protocol-level heartbeat: the server pings every `interval`; a client that has sent
/// no frame at all (pong included) for `interval + timeout` is closed with 1011.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Default `true`. Env: `PXL_WS_HEARTBEAT` (`false` turns it off).
    pub enabled: bool,
    /// Default 30 s. Env: `PXL_WS_HEARTBEAT_INTERVAL_MS`.
    #[serde(with = "duration_ms")]
    pub interval: Duration,
    /// Default 10 s. Env: `PXL_WS_HEARTBEAT_TIMEOUT_MS`.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// Log the route table at start. Default `false`. Env: `PXL_WS_PRINT_ROUTES`.
    pub print_routes: bool,
}

/// Running several instances of one app behind a load balancer, sharing one Redis.
///
/// With `redis_url` unset the server uses the in-memory bus (one process). With it set,
/// [`WsServerBuilder::build`](crate::WsServerBuilder::build) creates a
/// [`RedisBus`](crate::RedisBus) (feature `redis`) and every send reaches every intended
/// client on every instance. See `docs/cluster.md`.
///
/// ```
/// let config: pxl_ws::WsConfig = serde_json::from_str(r#"{
///     "cluster": { "redis_url": "redis://127.0.0.1:6379", "prefix": "chat", "liveness_ttl": 15000 }
/// }"#).unwrap();
/// assert_eq!(config.cluster.prefix, "chat");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Redis to fan out through, e.g. `redis://10.0.0.5:6379/0`. Default none (in-memory
    /// bus). Env: `PXL_WS_REDIS_URL`, else `REDIS_URL`.
    pub redis_url: Option<String>,
    /// Channel prefix: channels are `<prefix>:<event>`, so apps with different prefixes
    /// can share one Redis. Default `pxl-ws`. Env: `PXL_WS_CLUSTER_PREFIX`.
    pub prefix: String,
    /// An instance not heard from for this long is taken as dead and its clients and
    /// room memberships are purged from the others' views. Instances announce themselves
    /// every third of it. Default 15 s. Env: `PXL_WS_CLUSTER_TTL_MS`.
    #[serde(with = "duration_ms")]
    pub liveness_ttl: Duration,
    /// Bus messages held while Redis is unreachable; beyond this they are dropped (counted
    /// in `Health::bus.dropped`, logged). Default 4096. Env: `PXL_WS_CLUSTER_PUBLISH_BUFFER`.
    pub publish_buffer: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            prefix: "pxl-ws".into(),
            liveness_ttl: Duration::from_secs(15),
            publish_buffer: 4096,
        }
    }
}

impl ClusterConfig {
    fn read_env(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        if let Some(url) = (env.0)("PXL_WS_REDIS_URL").or_else(|| (env.0)("REDIS_URL")) {
            self.redis_url = (!url.trim().is_empty()).then(|| url.trim().to_owned());
        }
        env.string("PXL_WS_CLUSTER_PREFIX", &mut self.prefix);
        env.millis("PXL_WS_CLUSTER_TTL_MS", &mut self.liveness_ttl)?;
        env.parse(
            "PXL_WS_CLUSTER_PUBLISH_BUFFER",
            &mut self.publish_buffer,
            "a message count",
        )
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if self.prefix.is_empty()
            || self
                .prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '*' | '?' | '[' | ']'))
        {
            return bad(
                "cluster.prefix",
                "must be non-empty, without whitespace or glob characters",
            );
        }
        if self.liveness_ttl < Duration::from_millis(300) {
            return bad("cluster.liveness_ttl", "must be at least 300 ms");
        }
        if self.publish_buffer == 0 {
            return bad("cluster.publish_buffer", "must be at least 1");
        }
        if let Some(url) = &self.redis_url {
            if !["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|s| url.starts_with(s))
            {
                return bad(
                    "cluster.redis_url",
                    "must start with redis://, rediss://, redis+unix:// or unix://",
                );
            }
            if !cfg!(feature = "redis") {
                return bad(
                    "cluster.redis_url",
                    "needs pxl-ws's `redis` feature, which is off",
                );
            }
        }
        Ok(())
    }
}

/// A setting that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value of the wrong form.
    #[error("environment variable {var}={value:?} is invalid: expected {expected}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// What it held.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A setting is out of range.
    #[error("invalid setting `{field}`: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl WsConfig {
    /// Defaults, overridden by the `PXL_WS_*` environment variables named on each field.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (handy in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let env = Env(&lookup);
        env.string("PXL_WS_HOST", &mut c.host);
        env.parse("PXL_WS_PORT", &mut c.port, "a port number (0-65535)")?;
        env.string("PXL_WS_PATH", &mut c.path);
        env.parse(
            "PXL_WS_MAX_MESSAGE_SIZE",
            &mut c.max_message_size,
            "a size in bytes",
        )?;
        env.parse(
            "PXL_WS_OUTBOUND_QUEUE",
            &mut c.outbound_queue,
            "a frame count",
        )?;
        env.millis("PXL_WS_SHUTDOWN_TIMEOUT_MS", &mut c.shutdown_timeout)?;
        if let Some(p) = lookup("PXL_WS_HEALTH_PATH") {
            c.health_path = (!p.is_empty()).then_some(p);
        }
        env.bool(
            "PXL_WS_ROOMS_MULTIPLE",
            &mut c.rooms.client_can_join_multiple_rooms,
        )?;
        env.bool("PXL_WS_PRESENCE_EVENTS", &mut c.rooms.presence_events)?;
        let inactive = &mut c.disconnect_inactive_clients;
        env.bool("PXL_WS_INACTIVE_ENABLED", &mut inactive.enabled)?;
        env.millis("PXL_WS_INACTIVE_TIME_MS", &mut inactive.inactive_time)?;
        env.millis(
            "PXL_WS_INACTIVE_CHECK_MS",
            &mut inactive.interval_check_time,
        )?;
        env.bool("PXL_WS_INACTIVE_LOG", &mut inactive.log)?;
        env.bool("PXL_WS_HEARTBEAT", &mut c.heartbeat.enabled)?;
        env.millis("PXL_WS_HEARTBEAT_INTERVAL_MS", &mut c.heartbeat.interval)?;
        env.millis("PXL_WS_HEARTBEAT_TIMEOUT_MS", &mut c.heartbeat.timeout)?;
        env.bool("PXL_WS_PRINT_ROUTES", &mut c.debug.print_routes)?;
        c.cluster.read_env(&env)?;
        c.validate()?;
        Ok(c)
    }

    /// `host:port` as a socket address (falls back to `0.0.0.0` if `host` is not an IP).
    pub fn addr(&self) -> SocketAddr {
        let ip = self
            .host
            .parse()
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        SocketAddr::new(ip, self.port)
    }

    /// Checks ranges; [`WsServerBuilder::build`](crate::WsServerBuilder::build) calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if !self.path.starts_with('/') {
            return bad("path", "must start with `/`");
        }
        if let Some(h) = &self.health_path {
            if !h.starts_with('/') {
                return bad("health_path", "must start with `/`");
            }
            if *h == self.path {
                return bad("health_path", "must differ from `path`");
            }
        }
        if self.max_message_size < 16 {
            return bad("max_message_size", "must be at least 16 bytes");
        }
        if self.outbound_queue == 0 {
            return bad("outbound_queue", "must be at least 1");
        }
        let ic = &self.disconnect_inactive_clients;
        if ic.enabled && (ic.inactive_time.is_zero() || ic.interval_check_time.is_zero()) {
            return bad(
                "disconnect_inactive_clients",
                "inactive_time and interval_check_time must be above zero",
            );
        }
        if self.heartbeat.enabled && (self.heartbeat.interval.is_zero()) {
            return bad("heartbeat.interval", "must be above zero");
        }
        self.cluster.validate()?;
        Ok(())
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn string(&self, var: &'static str, into: &mut String) {
        if let Some(v) = (self.0)(var) {
            *into = v;
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        into: &mut T,
        expected: &'static str,
    ) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *into = v.trim().parse().map_err(|_| ConfigError::InvalidEnv {
                var,
                value: v,
                expected,
            })?;
        }
        Ok(())
    }

    fn millis(&self, var: &'static str, into: &mut Duration) -> Result<(), ConfigError> {
        let mut ms = into.as_millis() as u64;
        self.parse(var, &mut ms, "a whole number of milliseconds")?;
        *into = Duration::from_millis(ms);
        Ok(())
    }

    fn bool(&self, var: &'static str, into: &mut bool) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *into = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::InvalidEnv {
                        var,
                        value: v,
                        expected: "true or false",
                    });
                }
            };
        }
        Ok(())
    }
}

/// Serde adapter: `Duration` as whole milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<WsConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WsConfig::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn env_overrides_defaults() {
        let c = from(&[
            ("PXL_WS_PORT", "8080"),
            ("PXL_WS_PATH", "/socket"),
            ("PXL_WS_ROOMS_MULTIPLE", "false"),
            ("PXL_WS_INACTIVE_TIME_MS", "1500"),
            ("PXL_WS_HEALTH_PATH", "/health"),
        ])
        .unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.path, "/socket");
        assert!(!c.rooms.client_can_join_multiple_rooms);
        assert_eq!(
            c.disconnect_inactive_clients.inactive_time,
            Duration::from_millis(1500)
        );
        assert_eq!(c.health_path.as_deref(), Some("/health"));
        assert_eq!(c.addr().to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn bad_env_names_the_variable() {
        let err = from(&[("PXL_WS_PORT", "eighty")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable PXL_WS_PORT=\"eighty\" is invalid: expected a port number (0-65535)"
        );
        let err = from(&[("PXL_WS_PATH", "ws")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `path`: must start with `/`"
        );
    }

    #[test]
    fn cluster_settings_from_env() {
        let c = from(&[
            ("REDIS_URL", "redis://a:1"),
            ("PXL_WS_CLUSTER_TTL_MS", "2000"),
        ])
        .unwrap();
        assert_eq!(c.cluster.redis_url.as_deref(), Some("redis://a:1"));
        assert_eq!(c.cluster.liveness_ttl, Duration::from_secs(2));
        assert_eq!(c.cluster.prefix, "pxl-ws");
        let c = from(&[
            ("REDIS_URL", "redis://a:1"),
            ("PXL_WS_REDIS_URL", "redis://b:2"),
            ("PXL_WS_CLUSTER_PREFIX", "chat"),
        ])
        .unwrap();
        assert_eq!(c.cluster.redis_url.as_deref(), Some("redis://b:2"));
        assert_eq!(c.cluster.prefix, "chat");
        assert!(from(&[]).unwrap().cluster.redis_url.is_none());
        let err = from(&[("PXL_WS_CLUSTER_PREFIX", "a b")]).unwrap_err();
        assert!(err.to_string().contains("cluster.prefix"), "{err}");
        let err = from(&[("REDIS_URL", "http://x")]).unwrap_err();
        assert!(err.to_string().contains("cluster.redis_url"), "{err}");
    }

    #[test]
    fn deserialises_partial_documents_and_rejects_unknown_keys() {
        let c: WsConfig = serde_json::from_str(r#"{"heartbeat":{"interval":5000}}"#).unwrap();
        assert_eq!(c.heartbeat.interval, Duration::from_secs(5));
        assert!(c.heartbeat.enabled);
        assert!(serde_json::from_str::<WsConfig>(r#"{"prot":1}"#).is_err());
    }
}
