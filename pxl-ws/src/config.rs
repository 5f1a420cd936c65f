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
    /// Token (JWT) authentication. Off unless a key is configured.
    pub auth: AuthConfig,
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
            auth: AuthConfig::default(),
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

/// Token authentication: a JWT on the upgrade request (`?token=` or
/// `Authorization: Bearer`), checked before the socket opens.
///
/// It is on when exactly one key is set: [`jwt_secret`](Self::jwt_secret),
/// [`jwt_secret_base64`](Self::jwt_secret_base64) or
/// [`jwt_public_key_pem`](Self::jwt_public_key_pem). A bad token is answered with HTTP 401
/// and a JSON `{error, code}` body; see `docs/security.md` for every code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC secret; its UTF-8 bytes are the key. Env: `PXL_WS_JWT_SECRET`.
    pub jwt_secret: Option<Secret>,
    /// HMAC secret given as base64 (standard or URL-safe alphabet, padding optional); the
    /// decoded bytes are the key. Env: `PXL_WS_JWT_SECRET_BASE64`.
    pub jwt_secret_base64: Option<Secret>,
    /// Public key (RSA, EC or Ed25519) in PEM, for asymmetric algorithms.
    /// Env: `PXL_WS_JWT_PUBLIC_KEY_PEM` (the PEM text itself).
    pub jwt_public_key_pem: Option<String>,
    /// Accepted `alg` values, e.g. `["RS256"]`. Default `["HS256"]`. Every one must fit
    /// the key (HS* with a secret, RS*/PS*/ES*/EdDSA with a matching public key); `none`
    /// is never accepted. Env: `PXL_WS_JWT_ALGORITHMS` (comma-separated).
    pub algorithms: Vec<String>,
    /// Refuse connections without a token (401 `TOKEN_MISSING`). Default `false`: a
    /// client without a token connects anonymously and routes declared `auth` refuse
    /// it. Env: `PXL_WS_AUTH_REQUIRED`.
    pub required: bool,
    /// Refuse tokens without `exp`. Default `true`. Env: `PXL_WS_JWT_REQUIRE_EXP`.
    pub require_exp: bool,
    /// Clock skew tolerated on `exp` and `nbf`. Default 30 s. Env: `PXL_WS_JWT_LEEWAY_MS`.
    #[serde(with = "duration_ms")]
    pub leeway: Duration,
    /// Accepted issuers (`iss`); empty accepts any. When set, `iss` is required.
    /// Env: `PXL_WS_JWT_ISSUER` (comma-separated).
    pub issuer: Vec<String>,
    /// Accepted audiences (`aud`); empty accepts any. When set, `aud` is required.
    /// Env: `PXL_WS_JWT_AUDIENCE` (comma-separated).
    pub audience: Vec<String>,
    /// Claim holding the user's roles (an array of strings, or one string).
    /// Default `roles`. Env: `PXL_WS_JWT_ROLES_CLAIM`.
    pub roles_claim: String,
    /// When a live connection's token expires, how long the client has to send
    /// `system/refreshToken` before it is closed with 4001. Default 30 s.
    /// Env: `PXL_WS_JWT_REFRESH_GRACE_MS`.
    #[serde(with = "duration_ms")]
    pub refresh_grace: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_secret_base64: None,
            jwt_public_key_pem: None,
            algorithms: vec!["HS256".into()],
            required: false,
            require_exp: true,
            leeway: Duration::from_secs(30),
            issuer: Vec::new(),
            audience: Vec::new(),
            roles_claim: "roles".into(),
            refresh_grace: Duration::from_secs(30),
        }
    }
}

impl AuthConfig {
    /// Whether a key is configured (token authentication on).
    pub fn enabled(&self) -> bool {
        self.jwt_secret.is_some()
            || self.jwt_secret_base64.is_some()
            || self.jwt_public_key_pem.is_some()
    }
}

/// A secret string: used as is, never printed (`Debug` shows `Secret(..)`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
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
        let auth = &mut c.auth;
        env.secret("PXL_WS_JWT_SECRET", &mut auth.jwt_secret);
        env.secret("PXL_WS_JWT_SECRET_BASE64", &mut auth.jwt_secret_base64);
        if let Some(pem) = lookup("PXL_WS_JWT_PUBLIC_KEY_PEM") {
            auth.jwt_public_key_pem = (!pem.trim().is_empty()).then_some(pem);
        }
        env.list("PXL_WS_JWT_ALGORITHMS", &mut auth.algorithms);
        env.bool("PXL_WS_AUTH_REQUIRED", &mut auth.required)?;
        env.bool("PXL_WS_JWT_REQUIRE_EXP", &mut auth.require_exp)?;
        env.millis("PXL_WS_JWT_LEEWAY_MS", &mut auth.leeway)?;
        env.list("PXL_WS_JWT_ISSUER", &mut auth.issuer);
        env.list("PXL_WS_JWT_AUDIENCE", &mut auth.audience);
        env.string("PXL_WS_JWT_ROLES_CLAIM", &mut auth.roles_claim);
        env.millis("PXL_WS_JWT_REFRESH_GRACE_MS", &mut auth.refresh_grace)?;
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
        crate::auth::TokenVerifier::from_config(&self.auth)?;
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

    fn secret(&self, var: &'static str, into: &mut Option<Secret>) {
        if let Some(v) = (self.0)(var) {
            *into = (!v.is_empty()).then(|| Secret::new(v));
        }
    }

    /// A comma-separated list; blanks are dropped.
    fn list(&self, var: &'static str, into: &mut Vec<String>) {
        if let Some(v) = (self.0)(var) {
            *into = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
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
    fn auth_settings_come_from_the_environment() {
        let c = from(&[
            ("PXL_WS_JWT_SECRET_BASE64", "c2VjcmV0"),
            ("PXL_WS_JWT_ALGORITHMS", "HS256, HS512"),
            ("PXL_WS_AUTH_REQUIRED", "true"),
            ("PXL_WS_JWT_ISSUER", "https://issuer.example"),
            ("PXL_WS_JWT_AUDIENCE", "chat,admin"),
            ("PXL_WS_JWT_LEEWAY_MS", "0"),
            ("PXL_WS_JWT_REFRESH_GRACE_MS", "5000"),
            ("PXL_WS_JWT_ROLES_CLAIM", "groups"),
        ])
        .unwrap();
        let a = &c.auth;
        assert!(a.enabled());
        assert_eq!(a.jwt_secret_base64.as_ref().unwrap().expose(), "c2VjcmV0");
        assert_eq!(a.algorithms, ["HS256", "HS512"]);
        assert!(a.required);
        assert_eq!(a.issuer, ["https://issuer.example"]);
        assert_eq!(a.audience, ["chat", "admin"]);
        assert_eq!(a.leeway, Duration::ZERO);
        assert_eq!(a.refresh_grace, Duration::from_secs(5));
        assert_eq!(a.roles_claim, "groups");
        // Secrets never show in debug output.
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
        let err = from(&[("PXL_WS_AUTH_REQUIRED", "true")]).unwrap_err();
        assert!(err.to_string().contains("auth.required"), "{err}");
        let err = from(&[
            ("PXL_WS_JWT_SECRET", "s"),
            ("PXL_WS_JWT_ALGORITHMS", "RS256"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("auth.algorithms"), "{err}");
    }

    #[test]
    fn deserialises_partial_documents_and_rejects_unknown_keys() {
        let c: WsConfig = serde_json::from_str(r#"{"heartbeat":{"interval":5000}}"#).unwrap();
        assert_eq!(c.heartbeat.interval, Duration::from_secs(5));
        assert!(c.heartbeat.enabled);
        assert!(serde_json::from_str::<WsConfig>(r#"{"prot":1}"#).is_err());
    }
}
