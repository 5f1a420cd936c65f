//! Settings: [`WsConfig`], a plain `Default + Deserialize` struct, and [`WsConfig::from_env`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod pxl;
pub use pxl::PxlConfig;

/// Every server setting, with sane defaults.
///
/// Build it in code (`let mut config = WsConfig::default(); config.port = 8080;`: the
/// settings structs are `#[non_exhaustive]`, so that new settings are not breaking changes), deserialise it from
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
#[non_exhaustive]
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
    /// Bytes read from a socket per system call. The read goes into a buffer on the
    /// stack (on the heap above 8 KiB); only what the frame decoder has not taken yet is
    /// kept, and released once taken, so an idle connection holds no read buffer. A
    /// larger message still arrives whole, in more reads. Default 2 KiB, sized for small
    /// JSON messages. Env: `PXL_WS_READ_BUFFER_SIZE`.
    pub read_buffer_size: usize,
    /// How long graceful shutdown waits for sockets to finish their close handshake.
    /// Default 10 s. Env: `PXL_WS_SHUTDOWN_TIMEOUT_MS`.
    #[serde(with = "duration_ms")]
    pub shutdown_timeout: Duration,
    /// Send `system/connected {clientId}` as each socket's first frame (PXL does).
    /// Default `true`; turn it off for servers that speak only raw frames through a
    /// [`fallback`](crate::WsServerBuilder::fallback). Env: `PXL_WS_CONNECTED_FRAME`.
    pub connected_frame: bool,
    /// Serve a JSON health report at this path (e.g. `/health`). Default off.
    /// Env: `PXL_WS_HEALTH_PATH`.
    pub health_path: Option<String>,
    /// Serve Prometheus metrics at this path (e.g. `/metrics`; needs the `metrics`
    /// feature). Default off. Setting it installs pxl-ws's Prometheus recorder as the
    /// process's global `metrics` recorder; leave it unset to record into the app's
    /// own recorder instead (see `docs/metrics.md`). Env: `PXL_WS_METRICS_PATH`.
    pub metrics_path: Option<String>,
    /// The admin dashboard (`serve_admin`): its path and who may use it. Off by default.
    pub admin: AdminConfig,
    /// Room behaviour.
    pub rooms: RoomsConfig,
    /// Disconnecting clients that send nothing for a while.
    pub disconnect_inactive_clients: InactiveClientsConfig,
    /// Protocol-level ping/pong.
    pub heartbeat: HeartbeatConfig,
    /// Diagnostics.
    pub debug: DebugConfig,
    /// Limits against hostile or runaway clients: origins, connection caps, message rate.
    pub limits: LimitsConfig,
    /// Token (JWT) authentication. Off unless a key is configured.
    pub auth: AuthConfig,
    /// Running several instances as one app (the Redis bus).
    pub cluster: ClusterConfig,
    /// PXL's behaviours, each one opt-in, for PXL clients during a migration (see
    /// [`WsConfig::pxl_compatible`]).
    pub pxl: PxlConfig,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            path: "/ws".into(),
            max_message_size: 1024 * 1024,
            read_buffer_size: 2 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            connected_frame: true,
            health_path: None,
            metrics_path: None,
            admin: AdminConfig::default(),
            rooms: RoomsConfig::default(),
            disconnect_inactive_clients: InactiveClientsConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            debug: DebugConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            cluster: ClusterConfig::default(),
            pxl: PxlConfig::default(),
        }
    }
}

/// The admin dashboard: a page at `path` that shows the live system (instances,
/// connections, rooms, per-route counts, a live tail of events) and can disconnect
/// clients, talking to the server through the `admin` controller over the socket. See
/// `docs/admin.md`.
///
/// Access is never open: a client may use the `admin` actions when its JWT carries
/// `role`, or after `admin/login` with `token`. With `path` set and neither a token nor
/// JWT authentication (`auth`) configured, [`validate`](WsConfig::validate) (and so
/// `build()`) refuses the configuration.
///
/// ```
/// let config: pxl_ws::WsConfig = serde_json::from_str(r#"{
///     "admin": { "path": "/admin", "token": "a-long-random-admin-token" }
/// }"#).unwrap();
/// assert_eq!(config.admin.role, "admin");
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Serve the dashboard at this path (e.g. `/admin`; also
    /// [`serve_admin`](crate::WsServerBuilder::serve_admin)). Default off.
    /// Env: `PXL_WS_ADMIN_PATH`.
    pub path: Option<String>,
    /// A shared secret that admits a connection through `admin/login` (compared in
    /// constant time, never logged; at least 16 characters). Default none.
    /// Env: `PXL_WS_ADMIN_TOKEN`.
    pub token: Option<Secret>,
    /// The JWT role (in `auth.roles_claim`) that admits a connection without the token.
    /// Default `admin`. Env: `PXL_WS_ADMIN_ROLE`.
    pub role: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            path: None,
            token: None,
            role: "admin".into(),
        }
    }
}

/// Room behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RoomsConfig {
    /// When `false`, joining a room first leaves every other room. Default `true`.
    /// Env: `PXL_WS_ROOMS_MULTIPLE`.
    pub client_can_join_multiple_rooms: bool,
    /// Send `room/memberJoined` and `room/memberLeft` to a room's members. Default `false`.
    /// Env: `PXL_WS_PRESENCE_EVENTS`.
    pub presence_events: bool,
    /// Most rooms one client may be in through `system/joinRoom`; one more answers
    /// `TOO_MANY_ROOMS`. Re-joining a room counts once; joins made by app code
    /// ([`Client::join`](crate::Client::join), [`Server::join_room`](crate::Server::join_room))
    /// are not limited. `None`: no limit. Default 100.
    /// Env: `PXL_WS_MAX_ROOMS_PER_CLIENT` (a number, or `off`).
    pub max_rooms_per_client: Option<usize>,
    /// Longest room name `system/joinRoom` accepts, in bytes. Default 128.
    /// Env: `PXL_WS_MAX_ROOM_NAME_LENGTH`.
    pub max_name_length: usize,
    /// Characters `system/joinRoom` accepts in a room name. Default: any printable text.
    /// Env: `PXL_WS_ROOM_NAME_CHARS` (`printable`, `ascii`, or `ascii:` followed by the
    /// allowed punctuation, e.g. `ascii:-_:.`).
    pub name_chars: RoomNameChars,
    /// Room history and recovery on rejoin (`stream` on every frame sent to such a room,
    /// `since` / `history` on `system/joinRoom`). Off by default; see [`HistoryConfig`].
    pub history: HistoryConfig,
    /// Most members `system/presence` lists; the answer says `truncated` when there are
    /// more. Default 1000. Env: `PXL_WS_PRESENCE_MAX_MEMBERS`.
    pub presence_max_members: usize,
    /// Send `room/userJoined` and `room/userLeft` to a room's members when a user's first
    /// connection joins it and its last one leaves (two tabs of one user are one presence),
    /// across the cluster. Default `false`. Env: `PXL_WS_USER_PRESENCE_EVENTS`.
    pub user_presence_events: bool,
}

/// Room history: a bounded stream per room with an offset and an epoch, replayed to a
/// client that rejoins with `since` (see `docs/protocol.md`).
///
/// ```
/// let mut config = pxl_ws::WsConfig::default();
/// config.rooms.history.size = 50;                          // last 50 messages per room
/// config.rooms.history.ttl = Some(std::time::Duration::from_secs(600));
/// config.rooms.history.rooms = Some("^chat:".into());      // only rooms matching this regex
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HistoryConfig {
    /// Messages kept per room; `0` turns history off. Default `0`. At most 100 000.
    /// Env: `PXL_WS_HISTORY_SIZE` (`0` or unset: off).
    pub size: usize,
    /// How long a message stays in the history (and a room's stream lives after its last
    /// message); `None`: no expiry. Default `None`. Env: `PXL_WS_HISTORY_TTL_MS`
    /// (`0`: no expiry).
    #[serde(with = "opt_duration_ms")]
    pub ttl: Option<Duration>,
    /// Only rooms whose name matches this regex have history; `None`: every room.
    /// Default `None`. Env: `PXL_WS_HISTORY_ROOMS`.
    pub rooms: Option<String>,
}

/// Largest `rooms.history.size`.
pub(crate) const MAX_HISTORY_SIZE: usize = 100_000;

mod opt_duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            client_can_join_multiple_rooms: true,
            presence_events: false,
            max_rooms_per_client: Some(100),
            max_name_length: 128,
            name_chars: RoomNameChars::Printable,
            history: HistoryConfig::default(),
            presence_max_members: 1000,
            user_presence_events: false,
        }
    }
}

/// Which characters a room name given to `system/joinRoom` may contain.
///
/// Serialised as `"printable"` or `{"ascii": "-_:."}`.
///
/// ```
/// use pxl_ws::config::RoomNameChars;
/// let rule = RoomNameChars::Ascii("-_:.".into());
/// assert!(rule.check("team-1:general").is_ok());
/// assert!(rule.check("team 1").is_err());
/// assert!(RoomNameChars::Printable.check("Café ☕").is_ok());
/// assert!(RoomNameChars::Printable.check(" padded").is_err());
/// assert!(RoomNameChars::Printable.check("a\u{200B}b").is_err()); // zero-width space
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoomNameChars {
    /// Any Unicode text without control characters (`\n`, `\0`, …), bidirectional
    /// overrides or invisible characters (zero-width space and joiners, soft hyphen,
    /// BOM, word joiner, variation selectors, Hangul fillers, line and paragraph
    /// separators: Unicode's default-ignorable code points and a few blank ones, listed in
    /// `docs/security.md`), and without leading or trailing whitespace.
    #[default]
    Printable,
    /// Only ASCII letters, ASCII digits and the ASCII punctuation characters listed here.
    Ascii(String),
}

impl RoomNameChars {
    /// Checks `name` against this rule; `Err` says what is wrong, for the client.
    pub fn check(&self, name: &str) -> Result<(), String> {
        match self {
            Self::Printable => {
                if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
                    return Err("contains a control or bidirectional-override character".into());
                }
                if let Some(c) = name.chars().find(|&c| is_invisible(c)) {
                    return Err(format!(
                        "contains the invisible character U+{:04X}",
                        u32::from(c)
                    ));
                }
                if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
                    return Err("starts or ends with whitespace".into());
                }
                Ok(())
            }
            Self::Ascii(punct) => {
                if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || punct.contains(c))
                {
                    Ok(())
                } else if punct.is_empty() {
                    Err("may only contain ASCII letters and digits".into())
                } else {
                    Err(format!(
                        "may only contain ASCII letters, digits and `{punct}`"
                    ))
                }
            }
        }
    }
}

/// Invisible characters that reorder text (the "Trojan Source" family).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that display as nothing (or as blank space that is not whitespace), so a
/// name holding them looks like another name, or like no name: Unicode's
/// Default_Ignorable_Code_Point set (zero-width space, joiners, soft hyphen, word joiner
/// and invisible operators, BOM, variation selectors, Hangul fillers, tags, …), plus the
/// line and paragraph separators, the interlinear annotation controls and the blank
/// Braille pattern.
fn is_invisible(c: char) -> bool {
    matches!(c,
        // Default_Ignorable_Code_Point (DerivedCoreProperties.txt)
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
        // Line and paragraph separators, interlinear annotations, blank Braille pattern
        | '\u{2028}' | '\u{2029}' | '\u{FFF9}'..='\u{FFFB}' | '\u{2800}')
}

/// Disconnecting clients that send nothing for a while (PXL's `disconnectInactiveClients`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct DebugConfig {
    /// Log the route table at start. Default `false`. Env: `PXL_WS_PRINT_ROUTES`.
    pub print_routes: bool,
}

/// Limits against hostile or runaway clients. Every limit, its default and what a
/// client sees when it hits it are listed in `docs/security.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Browser origins allowed to open a socket (against cross-site WebSocket hijacking).
    /// Entries are `scheme://host[:port]` (host compared case-insensitively) or `*` for
    /// any. Empty (the default): same origin only, i.e. the `Origin` header's
    /// `host[:port]` must equal the request's `Host`. A request without `Origin` (not a
    /// browser) is always allowed. Others get `403 ORIGIN_NOT_ALLOWED`.
    /// Env: `PXL_WS_ALLOWED_ORIGINS` (comma-separated).
    pub allowed_origins: Vec<String>,
    /// Host names this server answers WebSocket upgrades for (against DNS rebinding: a
    /// page on an attacker's name that resolves to this server passes the same-origin
    /// check, since its `Origin` and `Host` agree, but not this one). Entries are a host
    /// name (`chat.example.com`, compared case-insensitively), `*.` and a domain (any
    /// name under it, not the domain itself), an IP address (`10.0.0.5`, `[::1]`), or `*`
    /// for any host; ports are not compared. Empty (the default): `localhost`, names
    /// under `.localhost` and any IP address. A list replaces that default. Others get
    /// `421 HOST_NOT_ALLOWED`. A server on a real domain, or behind a proxy that forwards
    /// the public `Host`, must list its name. Env: `PXL_WS_ALLOWED_HOSTS` (comma-separated).
    pub allowed_hosts: Vec<String>,
    /// Most sockets open at once on this instance (upgrades in progress included); one
    /// more gets `503 TOO_MANY_CONNECTIONS`. `None`: no limit. Default 10 000.
    /// Env: `PXL_WS_MAX_CONNECTIONS` (a number, or `off`).
    pub max_connections: Option<usize>,
    /// Most sockets open at once from one IP address (IPv6: one /64 network); one more
    /// gets `429 TOO_MANY_CONNECTIONS_FROM_IP`. Behind a reverse proxy every client has
    /// the proxy's address: limit per client there and set this to `None`. Default 1000.
    /// Env: `PXL_WS_MAX_CONNECTIONS_PER_IP` (a number, or `off`).
    pub max_connections_per_ip: Option<usize>,
    /// Most TCP connections accepted by [`serve`](crate::WsServer::serve) that are not
    /// (yet) WebSockets: handshakes in progress, half-sent requests, plain HTTP
    /// keep-alive. Counted at accept, before any byte is read; one more is closed at once,
    /// without an answer. `None`: no limit. Default 1000. Not applied under
    /// [`into_router`](crate::WsServer::into_router) with your own server.
    /// Env: `PXL_WS_MAX_PENDING_CONNECTIONS` (a number, or `off`).
    pub max_pending_connections: Option<usize>,
    /// The same, per IP address (IPv6: one /64 network). Default 100.
    /// Env: `PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP` (a number, or `off`).
    pub max_pending_connections_per_ip: Option<usize>,
    /// How long a connection may take to send a request's headers; the same timer
    /// bounds an idle keep-alive connection (from the end of one response to the end of
    /// the next request's headers). Past it the connection is closed without an answer.
    /// Default 10 s. Not applied under [`into_router`](crate::WsServer::into_router) with
    /// your own server. Env: `PXL_WS_HEADER_READ_TIMEOUT_MS`.
    #[serde(with = "duration_ms")]
    pub header_read_timeout: Duration,
    /// Most bytes a socket holds written but not yet taken by the client (tungstenite's
    /// write buffer, pongs included). Pongs beyond it are coalesced into one; a frame
    /// that does not fit waits for the buffer to drain, up to `write_timeout`. Frames
    /// larger than half of it are sent in fragments of that size. At least 128 KiB.
    /// Default 256 KiB. Env: `PXL_WS_MAX_WRITE_BUFFER`.
    pub max_write_buffer: usize,
    /// How long a socket's unsent output may stay over `max_write_buffer` before the
    /// client is closed with 1008 `write buffer full` (counted in
    /// `Health::slow_clients_dropped`). Default 10 s. Env: `PXL_WS_WRITE_TIMEOUT_MS`.
    #[serde(with = "duration_ms")]
    pub write_timeout: Duration,
    /// Per-client message rate limit.
    pub rate_limit: RateLimitConfig,
    /// What the server queues for each client, in bytes, and for all of them.
    pub outbound: OutboundConfig,
}

/// Flow control of the frames the server sends (`limits.outbound`): each client's queue
/// is limited in bytes, each frame says what happens to it when its client is behind
/// ([`Frame::droppable`](crate::Frame::droppable), [`Frame::coalesce`](crate::Frame::coalesce);
/// kept by default), and one budget bounds all queues of the process. A frame costs its
/// length plus 64 bytes, counted for each client it is queued for (a broadcast's
/// buffer is shared, so this overstates memory). See `docs/performance.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboundConfig {
    /// The hard limit of one client's queue. A kept frame that finds the queue over it is
    /// still queued; a client whose queue stays over it for `grace` is closed with 1008
    /// `outbound queue over limit` (counted in `Health::flow`). Default 1 MiB.
    /// Env: `PXL_WS_OUTBOUND_QUEUE_BYTES`.
    pub queue_bytes: usize,
    /// The soft mark: over it, droppable frames are dropped instead of queued (counted,
    /// logged once per client). Default 64 KiB. At most `queue_bytes`.
    /// Env: `PXL_WS_OUTBOUND_SOFT_BYTES`.
    pub soft_bytes: usize,
    /// How long a queue may stay over `queue_bytes` (a burst that a reading client is
    /// still taking) before the client is closed. Default 5 s; zero closes at once.
    /// Env: `PXL_WS_OUTBOUND_GRACE_MS`.
    #[serde(with = "duration_ms")]
    pub grace: Duration,
    /// What all queues of the process may hold beyond their first 16 KiB each. When it
    /// is spent, a client whose queue is over `soft_bytes` is closed with 1008
    /// `server outbound budget exhausted`; clients under it keep getting their frames.
    /// Default 256 MiB. At least `queue_bytes`. Env: `PXL_WS_OUTBOUND_BUDGET_BYTES`.
    pub budget_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            queue_bytes: 1024 * 1024,
            soft_bytes: 64 * 1024,
            grace: Duration::from_secs(5),
            budget_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: Some(10_000),
            max_connections_per_ip: Some(1_000),
            max_pending_connections: Some(1_000),
            max_pending_connections_per_ip: Some(100),
            header_read_timeout: Duration::from_secs(10),
            max_write_buffer: 256 * 1024,
            write_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
            outbound: OutboundConfig::default(),
        }
    }
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
#[non_exhaustive]
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

/// Per-client message rate limit: a token bucket holding `burst` tokens, refilled at
/// `per_second`. Each data message takes a token; a message that finds none is not
/// routed and answers a `RATE_LIMITED` error frame. A client that has had
/// `max_violations` messages rate limited since its bucket was last full (it never
/// slowed down long enough to earn its whole burst back) is closed with 1008
/// `rate limit exceeded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Default `true`. Env: `PXL_WS_RATE_LIMIT` (`false` turns it off).
    pub enabled: bool,
    /// Sustained messages per second (fractions allowed: `0.5` is one every 2 s).
    /// Default 100. Env: `PXL_WS_RATE_LIMIT_PER_SECOND`.
    pub per_second: f64,
    /// Messages a client may send at once after being quiet. Default 200.
    /// Env: `PXL_WS_RATE_LIMIT_BURST`.
    pub burst: u32,
    /// Rate-limited messages, since the bucket was last full, before the client is
    /// closed with 1008. `0`: never close. Default 100.
    /// Env: `PXL_WS_RATE_LIMIT_MAX_VIOLATIONS`.
    pub max_violations: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_second: 100.0,
            burst: 200,
            max_violations: 100,
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

/// Running several instances of one app behind a load balancer, sharing one Redis.
///
/// With `redis_url` unset the server uses the in-memory bus (one process). With it set,
/// [`WsServerBuilder::build`](crate::WsServerBuilder::build) creates a
/// [`RedisBus`](crate::bus::RedisBus) (feature `redis`) and every send reaches every intended
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
#[non_exhaustive]
pub struct ClusterConfig {
    /// Redis to fan out through, e.g. `redis://10.0.0.5:6379/0`. Default none (in-memory
    /// bus). Env: `PXL_WS_REDIS_URL`, else `REDIS_URL`.
    pub redis_url: Option<String>,
    /// The seed nodes of a Redis Cluster (Redis ≥ 7) to fan out through instead, e.g.
    /// `["redis://10.0.0.5:7000", "redis://10.0.0.6:7000"]`: room and instance channels
    /// travel as sharded pub/sub (`SSUBSCRIBE` / `SPUBLISH`), spread over the shards by
    /// hash slot. Any reachable node is enough; the others are discovered. Mutually
    /// exclusive with `redis_url`. Default none. Env: `PXL_WS_REDIS_CLUSTER_URLS`
    /// (comma-separated).
    pub redis_cluster_urls: Vec<String>,
    /// Channel prefix: channels are `<prefix>:<event>`, so apps with different prefixes
    /// can share one Redis. Default `pxl-ws`. Env: `PXL_WS_CLUSTER_PREFIX`.
    pub prefix: String,
    /// An instance not heard from for this long is taken as dead and its clients and
    /// room memberships are purged from the others' views. Instances announce themselves
    /// every third of it. Default 15 s. Env: `PXL_WS_CLUSTER_TTL_MS`.
    #[serde(with = "duration_ms")]
    pub liveness_ttl: Duration,
    /// Bus messages queued for the Redis publisher connection; beyond this, and while
    /// Redis is unreachable, they are dropped (counted in `Health::bus.dropped`, logged).
    /// Default 4096. Env: `PXL_WS_CLUSTER_PUBLISH_BUFFER`.
    pub publish_buffer: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_cluster_urls: Vec::new(),
            prefix: "pxl-ws".into(),
            liveness_ttl: Duration::from_secs(15),
            publish_buffer: 4096,
        }
    }
}

impl ClusterConfig {
    /// Whether a Redis (single or Cluster) is configured.
    pub fn uses_redis(&self) -> bool {
        self.redis_url.is_some() || !self.redis_cluster_urls.is_empty()
    }

    fn read_env(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        if let Some(url) = (env.0)("PXL_WS_REDIS_URL").or_else(|| (env.0)("REDIS_URL")) {
            self.redis_url = (!url.trim().is_empty()).then(|| url.trim().to_owned());
        }
        if let Some(urls) = (env.0)("PXL_WS_REDIS_CLUSTER_URLS") {
            self.redis_cluster_urls = urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
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
        if !self.redis_cluster_urls.is_empty() {
            if self.redis_url.is_some() {
                return bad(
                    "cluster.redis_cluster_urls",
                    "is set together with cluster.redis_url (REDIS_URL / PXL_WS_REDIS_URL): \
                     set one of them, a single Redis or the seed nodes of a Redis Cluster",
                );
            }
            if let Some(u) = self
                .redis_cluster_urls
                .iter()
                .find(|u| !u.starts_with("redis://"))
            {
                return bad(
                    "cluster.redis_cluster_urls",
                    format!(
                        "{u:?} must start with redis:// (TLS to a Redis Cluster is not supported yet)"
                    ),
                );
            }
            if !cfg!(feature = "redis") {
                return bad(
                    "cluster.redis_cluster_urls",
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

impl ConfigError {
    /// A setting out of range.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// `Err` for a setting out of range.
fn bad<T>(field: &'static str, reason: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::invalid(field, reason))
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
        pxl::read_env(&env, &mut c)?;
        env.string("PXL_WS_HOST", &mut c.host);
        env.parse("PXL_WS_PORT", &mut c.port, "a port number (0-65535)")?;
        env.string("PXL_WS_PATH", &mut c.path);
        env.parse(
            "PXL_WS_MAX_MESSAGE_SIZE",
            &mut c.max_message_size,
            "a size in bytes",
        )?;
        env.parse(
            "PXL_WS_READ_BUFFER_SIZE",
            &mut c.read_buffer_size,
            "a size in bytes",
        )?;
        if lookup("PXL_WS_OUTBOUND_QUEUE").is_some() {
            return bad(
                "outbound_queue",
                "PXL_WS_OUTBOUND_QUEUE (a frame count) is gone: the outbound queue is limited in bytes, \
                 by PXL_WS_OUTBOUND_QUEUE_BYTES (limits.outbound.queue_bytes)",
            );
        }
        env.millis("PXL_WS_SHUTDOWN_TIMEOUT_MS", &mut c.shutdown_timeout)?;
        env.bool("PXL_WS_CONNECTED_FRAME", &mut c.connected_frame)?;
        if let Some(p) = lookup("PXL_WS_HEALTH_PATH") {
            c.health_path = (!p.is_empty()).then_some(p);
        }
        if let Some(p) = lookup("PXL_WS_METRICS_PATH") {
            c.metrics_path = (!p.is_empty()).then_some(p);
        }
        if let Some(p) = lookup("PXL_WS_ADMIN_PATH") {
            c.admin.path = (!p.is_empty()).then_some(p);
        }
        if let Some(t) = lookup("PXL_WS_ADMIN_TOKEN") {
            c.admin.token = (!t.is_empty()).then(|| Secret::new(t));
        }
        if let Some(r) = lookup("PXL_WS_ADMIN_ROLE") {
            c.admin.role = r;
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
        env.limit(
            "PXL_WS_MAX_ROOMS_PER_CLIENT",
            &mut c.rooms.max_rooms_per_client,
        )?;
        env.parse(
            "PXL_WS_MAX_ROOM_NAME_LENGTH",
            &mut c.rooms.max_name_length,
            "a size in bytes",
        )?;
        env.room_name_chars("PXL_WS_ROOM_NAME_CHARS", &mut c.rooms.name_chars)?;
        Self::history_from_env(&env, &mut c.rooms)?;
        Self::limits_from_env(&env, &mut c.limits)?;
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
        c.cluster.read_env(&env)?;
        c.validate()?;
        Ok(c)
    }

    fn history_from_env(env: &Env<'_>, r: &mut RoomsConfig) -> Result<(), ConfigError> {
        env.parse(
            "PXL_WS_HISTORY_SIZE",
            &mut r.history.size,
            "a message count (0: off)",
        )?;
        let mut ttl = r.history.ttl.unwrap_or_default();
        env.millis("PXL_WS_HISTORY_TTL_MS", &mut ttl)?;
        r.history.ttl = (!ttl.is_zero()).then_some(ttl);
        if let Some(p) = (env.0)("PXL_WS_HISTORY_ROOMS") {
            r.history.rooms = (!p.is_empty()).then_some(p);
        }
        env.parse(
            "PXL_WS_PRESENCE_MAX_MEMBERS",
            &mut r.presence_max_members,
            "a member count",
        )?;
        env.bool("PXL_WS_USER_PRESENCE_EVENTS", &mut r.user_presence_events)?;
        Ok(())
    }

    fn limits_from_env(env: &Env<'_>, l: &mut LimitsConfig) -> Result<(), ConfigError> {
        env.list("PXL_WS_ALLOWED_ORIGINS", &mut l.allowed_origins);
        env.list("PXL_WS_ALLOWED_HOSTS", &mut l.allowed_hosts);
        env.limit("PXL_WS_MAX_CONNECTIONS", &mut l.max_connections)?;
        env.limit(
            "PXL_WS_MAX_CONNECTIONS_PER_IP",
            &mut l.max_connections_per_ip,
        )?;
        env.limit(
            "PXL_WS_MAX_PENDING_CONNECTIONS",
            &mut l.max_pending_connections,
        )?;
        env.limit(
            "PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP",
            &mut l.max_pending_connections_per_ip,
        )?;
        env.millis("PXL_WS_HEADER_READ_TIMEOUT_MS", &mut l.header_read_timeout)?;
        env.parse(
            "PXL_WS_MAX_WRITE_BUFFER",
            &mut l.max_write_buffer,
            "a size in bytes",
        )?;
        env.millis("PXL_WS_WRITE_TIMEOUT_MS", &mut l.write_timeout)?;
        let ob = &mut l.outbound;
        env.parse(
            "PXL_WS_OUTBOUND_QUEUE_BYTES",
            &mut ob.queue_bytes,
            "a size in bytes",
        )?;
        env.parse(
            "PXL_WS_OUTBOUND_SOFT_BYTES",
            &mut ob.soft_bytes,
            "a size in bytes",
        )?;
        env.millis("PXL_WS_OUTBOUND_GRACE_MS", &mut ob.grace)?;
        env.parse(
            "PXL_WS_OUTBOUND_BUDGET_BYTES",
            &mut ob.budget_bytes,
            "a size in bytes",
        )?;
        let rl = &mut l.rate_limit;
        env.bool("PXL_WS_RATE_LIMIT", &mut rl.enabled)?;
        env.parse(
            "PXL_WS_RATE_LIMIT_PER_SECOND",
            &mut rl.per_second,
            "messages per second (e.g. 100 or 0.5)",
        )?;
        env.parse("PXL_WS_RATE_LIMIT_BURST", &mut rl.burst, "a message count")?;
        env.parse(
            "PXL_WS_RATE_LIMIT_MAX_VIOLATIONS",
            &mut rl.max_violations,
            "a message count (0: never close)",
        )?;
        Ok(())
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
        self.validate_with_verifier().map(drop)
    }

    /// The admin dashboard's settings: a path of its own, and access configured (a
    /// token, or JWT authentication for `admin.role`) — the dashboard is never open.
    fn validate_admin(&self) -> Result<(), ConfigError> {
        let a = &self.admin;
        let Some(p) = &a.path else {
            return Ok(());
        };
        if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') {
            return bad(
                "admin.path",
                "must start with `/`, name a path and not end with `/` (e.g. `/admin`)",
            );
        }
        if *p == self.path
            || Some(p) == self.health_path.as_ref()
            || Some(p) == self.metrics_path.as_ref()
        {
            return bad(
                "admin.path",
                "must differ from `path`, `health_path` and `metrics_path`",
            );
        }
        if a.role.trim().is_empty() {
            return bad("admin.role", "must not be empty");
        }
        match &a.token {
            Some(t) if t.expose().chars().count() < 16 => {
                return bad(
                    "admin.token",
                    "must be at least 16 characters (PXL_WS_ADMIN_TOKEN)",
                );
            }
            Some(_) => {}
            None if !self.auth.enabled() => {
                return bad(
                    "admin.path",
                    "the admin dashboard needs access configured: an admin token \
                     (admin.token, PXL_WS_ADMIN_TOKEN), or JWT authentication (auth.jwt_secret, \
                     PXL_WS_JWT_SECRET, ...) for users with the admin.role role (PXL_WS_ADMIN_ROLE, \
                     default `admin`); it is never served open",
                );
            }
            None => {}
        }
        Ok(())
    }

    /// [`validate`](Self::validate), keeping the token verifier it built: the one the
    /// server uses, so it is built once.
    pub(crate) fn validate_with_verifier(
        &self,
    ) -> Result<Option<crate::auth::token::TokenVerifier>, ConfigError> {
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
        if let Some(m) = &self.metrics_path {
            if !cfg!(feature = "metrics") {
                return bad(
                    "metrics_path",
                    "needs the `metrics` feature of pxl-ws (features = [\"metrics\"])",
                );
            }
            if !m.starts_with('/') {
                return bad("metrics_path", "must start with `/`");
            }
            if *m == self.path || Some(m) == self.health_path.as_ref() {
                return bad("metrics_path", "must differ from `path` and `health_path`");
            }
        }
        self.validate_admin()?;
        if self.max_message_size < 16 {
            return bad("max_message_size", "must be at least 16 bytes");
        }
        if self.read_buffer_size < 256 {
            return bad("read_buffer_size", "must be at least 256 bytes");
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
        self.pxl.validate()?;
        let verifier = crate::auth::token::TokenVerifier::from_config(
            &self.auth,
            self.pxl.jwt_secret_base64url,
        )?;
        self.cluster.validate()?;
        self.validate_limits()?;
        Ok(verifier)
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let r = &self.rooms;
        if r.max_rooms_per_client == Some(0) {
            return bad(
                "rooms.max_rooms_per_client",
                "must be at least 1 (`None` for no limit)",
            );
        }
        if r.max_name_length == 0 {
            return bad("rooms.max_name_length", "must be at least 1");
        }
        if let RoomNameChars::Ascii(p) = &r.name_chars
            && let Some(c) = p.chars().find(|c| !c.is_ascii_punctuation())
        {
            return bad(
                "rooms.name_chars",
                format!("{c:?} is not ASCII punctuation (letters and digits are always allowed)"),
            );
        }
        if r.history.size > MAX_HISTORY_SIZE {
            return bad(
                "rooms.history.size",
                format!("must be at most {MAX_HISTORY_SIZE} messages (0 turns history off)"),
            );
        }
        if r.history.ttl.is_some_and(|t| t < Duration::from_millis(1)) {
            return bad(
                "rooms.history.ttl",
                "must be at least 1 ms (`None` for no expiry)",
            );
        }
        if let Some(p) = &r.history.rooms
            && let Err(e) = regex::Regex::new(p)
        {
            return bad("rooms.history.rooms", format!("not a valid regex: {e}"));
        }
        if r.presence_max_members == 0 {
            return bad("rooms.presence_max_members", "must be at least 1");
        }
        let l = &self.limits;
        for o in &l.allowed_origins {
            if let Err(e) = crate::limits::parse_allowed_origin(o) {
                return bad("limits.allowed_origins", format!("{o:?}: {e}"));
            }
        }
        for h in &l.allowed_hosts {
            if let Err(e) = crate::limits::parse_allowed_host(h) {
                return bad("limits.allowed_hosts", format!("{h:?}: {e}"));
            }
        }
        if l.max_connections == Some(0) {
            return bad(
                "limits.max_connections",
                "must be at least 1 (`None` for no limit)",
            );
        }
        if l.max_connections_per_ip == Some(0) {
            return bad(
                "limits.max_connections_per_ip",
                "must be at least 1 (`None` for no limit)",
            );
        }
        if l.max_pending_connections == Some(0) {
            return bad(
                "limits.max_pending_connections",
                "must be at least 1 (`None` for no limit)",
            );
        }
        if l.max_pending_connections_per_ip == Some(0) {
            return bad(
                "limits.max_pending_connections_per_ip",
                "must be at least 1 (`None` for no limit)",
            );
        }
        if l.header_read_timeout.is_zero() {
            return bad("limits.header_read_timeout", "must be above zero");
        }
        if l.max_write_buffer < MIN_WRITE_BUFFER {
            return bad(
                "limits.max_write_buffer",
                "must be at least 128 KiB (131072)",
            );
        }
        if l.write_timeout.is_zero() {
            return bad("limits.write_timeout", "must be above zero");
        }
        let ob = &l.outbound;
        if ob.queue_bytes < MIN_OUTBOUND_QUEUE {
            return bad(
                "limits.outbound.queue_bytes",
                "must be at least 16 KiB (16384)",
            );
        }
        if ob.soft_bytes > ob.queue_bytes {
            return bad(
                "limits.outbound.soft_bytes",
                "must be at most limits.outbound.queue_bytes",
            );
        }
        if ob.budget_bytes < ob.queue_bytes {
            return bad(
                "limits.outbound.budget_bytes",
                "must be at least limits.outbound.queue_bytes",
            );
        }
        let rl = &l.rate_limit;
        if rl.enabled {
            if !(rl.per_second.is_finite() && rl.per_second > 0.0) {
                return bad(
                    "limits.rate_limit.per_second",
                    "must be above zero (turn the limit off with `enabled: false`)",
                );
            }
            if rl.burst == 0 {
                return bad("limits.rate_limit.burst", "must be at least 1");
            }
        }
        Ok(())
    }
}

/// The smallest `limits.outbound.queue_bytes`.
const MIN_OUTBOUND_QUEUE: usize = 16 * 1024;

/// The smallest `limits.max_write_buffer`: tungstenite batches up to 64 KiB before
/// writing, and the bound must leave room above that for a frame.
const MIN_WRITE_BUFFER: usize = 128 * 1024;

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

    /// An optional limit: a number, or `off` / `none` / `unlimited` for no limit.
    fn limit(&self, var: &'static str, into: &mut Option<usize>) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *into = match v.trim().to_ascii_lowercase().as_str() {
                "off" | "none" | "unlimited" => None,
                n => Some(n.parse().map_err(|_| ConfigError::InvalidEnv {
                    var,
                    value: v.clone(),
                    expected: "a number, or `off` for no limit",
                })?),
            };
        }
        Ok(())
    }

    /// `printable`, `ascii`, or `ascii:<punctuation>`.
    fn room_name_chars(
        &self,
        var: &'static str,
        into: &mut RoomNameChars,
    ) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *into = match v.trim() {
                "printable" => RoomNameChars::Printable,
                "ascii" => RoomNameChars::Ascii(String::new()),
                other => match other.strip_prefix("ascii:") {
                    Some(p) => RoomNameChars::Ascii(p.to_owned()),
                    None => {
                        return Err(ConfigError::InvalidEnv {
                            var,
                            value: v,
                            expected: "`printable`, `ascii` or `ascii:` plus punctuation (e.g. `ascii:-_:.`)",
                        });
                    }
                },
            };
        }
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
            ("PXL_WS_READ_BUFFER_SIZE", "1024"),
        ])
        .unwrap();
        assert_eq!(c.read_buffer_size, 1024);
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
    fn env_configures_the_admin_dashboard_and_never_opens_it() {
        let c = from(&[
            ("PXL_WS_ADMIN_PATH", "/admin"),
            ("PXL_WS_ADMIN_TOKEN", "0123456789abcdef"),
            ("PXL_WS_ADMIN_ROLE", "ops"),
        ])
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.admin.path.as_deref(), Some("/admin"));
        assert_eq!(
            c.admin.token.as_ref().map(Secret::expose),
            Some("0123456789abcdef")
        );
        assert_eq!(c.admin.role, "ops");
        assert!(!format!("{c:?}").contains("0123456789abcdef"));

        // A path alone: refused, naming how to configure access.
        let err = from(&[("PXL_WS_ADMIN_PATH", "/admin")])
            .and_then(|c| c.validate().map(|()| c))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.path") && err.contains("PXL_WS_ADMIN_TOKEN"),
            "{err}"
        );
        // JWT authentication is access enough (for the role).
        let c = from(&[
            ("PXL_WS_ADMIN_PATH", "/admin"),
            ("PXL_WS_JWT_SECRET", "s3cret"),
        ])
        .unwrap();
        c.validate().unwrap();
        // A path of its own.
        for bad in ["admin", "/admin/", "/", "/ws"] {
            let err = from(&[
                ("PXL_WS_ADMIN_PATH", bad),
                ("PXL_WS_ADMIN_TOKEN", "0123456789abcdef"),
            ])
            .and_then(|c| c.validate().map(|()| c))
            .unwrap_err()
            .to_string();
            assert!(err.contains("admin.path"), "{bad}: {err}");
        }
        // Empty values turn it off.
        let c = from(&[("PXL_WS_ADMIN_PATH", ""), ("PXL_WS_ADMIN_TOKEN", "")]).unwrap();
        assert_eq!(c.admin, AdminConfig::default());
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
    fn redis_cluster_seeds_from_env_exclude_a_single_redis() {
        let c = from(&[(
            "PXL_WS_REDIS_CLUSTER_URLS",
            " redis://a:7000, redis://b:7001 ,",
        )])
        .unwrap();
        assert_eq!(
            c.cluster.redis_cluster_urls,
            ["redis://a:7000", "redis://b:7001"]
        );
        assert!(c.cluster.redis_url.is_none() && c.cluster.uses_redis());
        let err = from(&[
            ("PXL_WS_REDIS_CLUSTER_URLS", "redis://a:7000"),
            ("REDIS_URL", "redis://a:1"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cluster.redis_cluster_urls") && text.contains("cluster.redis_url"),
            "{err}"
        );
        let err = from(&[("PXL_WS_REDIS_CLUSTER_URLS", "redis://a:7000,http://b")]).unwrap_err();
        assert!(err.to_string().contains("\"http://b\""), "{err}");
        assert!(!from(&[]).unwrap().cluster.uses_redis());
    }

    #[test]
    fn deserialises_partial_documents_and_rejects_unknown_keys() {
        let c: WsConfig = serde_json::from_str(r#"{"heartbeat":{"interval":5000}}"#).unwrap();
        assert_eq!(c.heartbeat.interval, Duration::from_secs(5));
        assert!(c.heartbeat.enabled);
        assert!(serde_json::from_str::<WsConfig>(r#"{"prot":1}"#).is_err());
    }

    #[test]
    fn history_and_presence_from_env_and_their_errors_name_the_setting() {
        let c = WsConfig::default();
        assert_eq!(c.rooms.history.size, 0, "history is off by default");
        assert_eq!(c.rooms.presence_max_members, 1000);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            WsConfig::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let c = env(&[
            ("PXL_WS_HISTORY_SIZE", "50"),
            ("PXL_WS_HISTORY_TTL_MS", "60000"),
            ("PXL_WS_HISTORY_ROOMS", "^chat:"),
            ("PXL_WS_PRESENCE_MAX_MEMBERS", "10"),
            ("PXL_WS_USER_PRESENCE_EVENTS", "true"),
        ])
        .unwrap();
        assert_eq!(c.rooms.history.size, 50);
        assert_eq!(c.rooms.history.ttl, Some(Duration::from_secs(60)));
        assert_eq!(c.rooms.history.rooms.as_deref(), Some("^chat:"));
        assert_eq!(c.rooms.presence_max_members, 10);
        assert!(c.rooms.user_presence_events);
        let c = env(&[("PXL_WS_HISTORY_SIZE", "0"), ("PXL_WS_HISTORY_TTL_MS", "0")]).unwrap();
        assert_eq!((c.rooms.history.size, c.rooms.history.ttl), (0, None));
        let e = env(&[("PXL_WS_HISTORY_SIZE", "lots")]).unwrap_err();
        assert!(e.to_string().contains("PXL_WS_HISTORY_SIZE"), "{e}");
        let e = env(&[("PXL_WS_HISTORY_SIZE", "100001")]).unwrap_err();
        assert!(e.to_string().contains("rooms.history.size"), "{e}");
        let e = env(&[("PXL_WS_HISTORY_ROOMS", "(")]).unwrap_err();
        assert!(e.to_string().contains("rooms.history.rooms"), "{e}");
        let e = env(&[("PXL_WS_PRESENCE_MAX_MEMBERS", "0")]).unwrap_err();
        assert!(e.to_string().contains("rooms.presence_max_members"), "{e}");
        let c: WsConfig =
            serde_json::from_str(r#"{"rooms":{"history":{"size":5,"ttl":1000}}}"#).unwrap();
        assert_eq!(c.rooms.history.ttl, Some(Duration::from_secs(1)));
    }

    #[test]
    fn limits_from_env() {
        let c = WsConfig::default();
        assert_eq!(c.limits.max_connections, Some(10_000));
        assert_eq!(c.limits.max_connections_per_ip, Some(1_000));
        assert_eq!(c.limits.max_pending_connections, Some(1_000));
        assert_eq!(c.limits.max_pending_connections_per_ip, Some(100));
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.limits.max_write_buffer, 256 * 1024);
        assert_eq!(c.limits.write_timeout, Duration::from_secs(10));
        assert!(c.limits.rate_limit.enabled);
        assert!(c.limits.allowed_origins.is_empty());
        assert!(c.limits.allowed_hosts.is_empty());
        assert_eq!(c.rooms.max_rooms_per_client, Some(100));
        assert_eq!(c.rooms.max_name_length, 128);
        let c = from(&[
            (
                "PXL_WS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:8080,",
            ),
            ("PXL_WS_MAX_CONNECTIONS", "500"),
            ("PXL_WS_MAX_CONNECTIONS_PER_IP", "off"),
            ("PXL_WS_MAX_PENDING_CONNECTIONS", "200"),
            ("PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP", "off"),
            ("PXL_WS_HEADER_READ_TIMEOUT_MS", "2500"),
            ("PXL_WS_MAX_WRITE_BUFFER", "1048576"),
            ("PXL_WS_WRITE_TIMEOUT_MS", "3000"),
            ("PXL_WS_RATE_LIMIT", "on"),
            ("PXL_WS_RATE_LIMIT_PER_SECOND", "2.5"),
            ("PXL_WS_RATE_LIMIT_BURST", "10"),
            ("PXL_WS_RATE_LIMIT_MAX_VIOLATIONS", "0"),
            ("PXL_WS_MAX_ROOMS_PER_CLIENT", "none"),
            ("PXL_WS_MAX_ROOM_NAME_LENGTH", "64"),
            ("PXL_WS_ROOM_NAME_CHARS", "ascii:-_:."),
            (
                "PXL_WS_ALLOWED_HOSTS",
                "chat.example.com, *.example.org,10.0.0.5,",
            ),
        ])
        .unwrap();
        let l = &c.limits;
        assert_eq!(
            l.allowed_hosts,
            vec!["chat.example.com", "*.example.org", "10.0.0.5"]
        );
        assert_eq!(
            l.allowed_origins,
            vec!["https://app.example.com", "http://localhost:8080"]
        );
        assert_eq!(l.max_connections, Some(500));
        assert_eq!(l.max_connections_per_ip, None);
        assert_eq!(l.max_pending_connections, Some(200));
        assert_eq!(l.max_pending_connections_per_ip, None);
        assert_eq!(l.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(l.max_write_buffer, 1 << 20);
        assert_eq!(l.write_timeout, Duration::from_secs(3));
        assert_eq!(
            l.rate_limit,
            RateLimitConfig {
                enabled: true,
                per_second: 2.5,
                burst: 10,
                max_violations: 0
            }
        );
        assert_eq!(c.rooms.max_rooms_per_client, None);
        assert_eq!(c.rooms.max_name_length, 64);
        assert_eq!(c.rooms.name_chars, RoomNameChars::Ascii("-_:.".into()));
        let c = from(&[
            ("PXL_WS_RATE_LIMIT", "false"),
            ("PXL_WS_ROOM_NAME_CHARS", "ascii"),
        ])
        .unwrap();
        assert!(!c.limits.rate_limit.enabled);
        assert_eq!(c.rooms.name_chars, RoomNameChars::Ascii(String::new()));
    }

    #[test]
    fn nonsense_limits_are_rejected() {
        let err = |vars: &[(&str, &str)]| from(vars).unwrap_err().to_string();
        assert_eq!(
            err(&[("PXL_WS_MAX_CONNECTIONS", "lots")]),
            "environment variable PXL_WS_MAX_CONNECTIONS=\"lots\" is invalid: expected a number, or `off` for no limit"
        );
        assert_eq!(
            err(&[("PXL_WS_MAX_CONNECTIONS", "0")]),
            "invalid setting `limits.max_connections`: must be at least 1 (`None` for no limit)"
        );
        assert!(err(&[("PXL_WS_MAX_CONNECTIONS_PER_IP", "0")]).contains("max_connections_per_ip"));
        assert!(
            err(&[("PXL_WS_MAX_PENDING_CONNECTIONS", "0")]).contains("max_pending_connections")
        );
        assert!(
            err(&[("PXL_WS_MAX_PENDING_CONNECTIONS_PER_IP", "0")])
                .contains("max_pending_connections_per_ip")
        );
        assert!(err(&[("PXL_WS_HEADER_READ_TIMEOUT_MS", "0")]).contains("header_read_timeout"));
        assert!(err(&[("PXL_WS_HEADER_READ_TIMEOUT_MS", "soon")]).contains("milliseconds"));
        assert!(err(&[("PXL_WS_MAX_WRITE_BUFFER", "65536")]).contains("limits.max_write_buffer"));
        assert!(err(&[("PXL_WS_MAX_WRITE_BUFFER", "big")]).contains("PXL_WS_MAX_WRITE_BUFFER"));
        assert!(err(&[("PXL_WS_WRITE_TIMEOUT_MS", "0")]).contains("limits.write_timeout"));
        assert_eq!(
            err(&[("PXL_WS_OUTBOUND_QUEUE_BYTES", "1000")]),
            "invalid setting `limits.outbound.queue_bytes`: must be at least 16 KiB (16384)"
        );
        assert!(
            err(&[("PXL_WS_OUTBOUND_SOFT_BYTES", "2000000")]).contains(
                "`limits.outbound.soft_bytes`: must be at most limits.outbound.queue_bytes"
            )
        );
        assert!(
            err(&[("PXL_WS_OUTBOUND_BUDGET_BYTES", "100000")])
                .contains("`limits.outbound.budget_bytes`: must be at least")
        );
        assert!(err(&[("PXL_WS_OUTBOUND_GRACE_MS", "soon")]).contains("PXL_WS_OUTBOUND_GRACE_MS"));
        // The frame count is gone; an old setting says what replaced it.
        assert!(err(&[("PXL_WS_OUTBOUND_QUEUE", "1024")]).contains("PXL_WS_OUTBOUND_QUEUE_BYTES"));
        let ob = from(&[
            ("PXL_WS_OUTBOUND_QUEUE_BYTES", "2097152"),
            ("PXL_WS_OUTBOUND_SOFT_BYTES", "131072"),
            ("PXL_WS_OUTBOUND_GRACE_MS", "0"),
            ("PXL_WS_OUTBOUND_BUDGET_BYTES", "1073741824"),
        ])
        .unwrap()
        .limits
        .outbound;
        assert_eq!(
            (ob.queue_bytes, ob.soft_bytes, ob.grace, ob.budget_bytes),
            (2 << 20, 128 << 10, Duration::ZERO, 1 << 30)
        );
        let d = OutboundConfig::default();
        assert_eq!(
            (d.queue_bytes, d.soft_bytes, d.grace, d.budget_bytes),
            (1 << 20, 64 << 10, Duration::from_secs(5), 256 << 20)
        );
        assert!(err(&[("PXL_WS_MAX_ROOMS_PER_CLIENT", "0")]).contains("max_rooms_per_client"));
        assert!(err(&[("PXL_WS_MAX_ROOM_NAME_LENGTH", "0")]).contains("max_name_length"));
        assert_eq!(
            err(&[("PXL_WS_RATE_LIMIT_PER_SECOND", "0")]),
            "invalid setting `limits.rate_limit.per_second`: must be above zero (turn the limit off with `enabled: false`)"
        );
        assert!(err(&[("PXL_WS_RATE_LIMIT_PER_SECOND", "NaN")]).contains("per_second"));
        assert!(err(&[("PXL_WS_RATE_LIMIT_PER_SECOND", "-1")]).contains("per_second"));
        assert!(err(&[("PXL_WS_RATE_LIMIT_BURST", "0")]).contains("limits.rate_limit.burst"));
        // Off, the rate and burst are not looked at.
        assert!(
            from(&[
                ("PXL_WS_RATE_LIMIT", "off"),
                ("PXL_WS_RATE_LIMIT_PER_SECOND", "0")
            ])
            .is_ok()
        );
        assert!(err(&[("PXL_WS_ALLOWED_ORIGINS", "example.com")]).contains("scheme://host"));
        for bad_host in [
            "https://chat.example.com",
            "chat.example.com:443",
            "a b",
            "*.",
            "[::1",
        ] {
            assert!(
                err(&[("PXL_WS_ALLOWED_HOSTS", bad_host)]).starts_with(&format!(
                    "invalid setting `limits.allowed_hosts`: {bad_host:?}: "
                )),
                "{bad_host}"
            );
        }
        assert!(
            err(&[("PXL_WS_ROOM_NAME_CHARS", "ascii:-a")]).contains("is not ASCII punctuation")
        );
        assert!(err(&[("PXL_WS_ROOM_NAME_CHARS", "latin")]).contains("PXL_WS_ROOM_NAME_CHARS"));
    }

    #[test]
    fn limits_deserialise() {
        let c: WsConfig = serde_json::from_str(
            r#"{"limits":{"allowed_origins":["*"],"max_connections":null,"rate_limit":{"burst":5}},
                "rooms":{"name_chars":{"ascii":"-_"},"max_rooms_per_client":3}}"#,
        )
        .unwrap();
        assert_eq!(c.limits.allowed_origins, vec!["*"]);
        assert_eq!(c.limits.max_connections, None);
        assert_eq!(c.limits.max_connections_per_ip, Some(1_000));
        assert_eq!(c.limits.rate_limit.burst, 5);
        assert_eq!(c.limits.rate_limit.per_second, 100.0);
        assert_eq!(c.rooms.name_chars, RoomNameChars::Ascii("-_".into()));
        assert_eq!(c.rooms.max_rooms_per_client, Some(3));
        c.validate().unwrap();
    }

    #[test]
    fn room_name_rules() {
        let p = RoomNameChars::Printable;
        assert!(p.check("lobby").is_ok());
        assert!(p.check("Salle de café ☕ 2").is_ok());
        assert!(p.check("a\nb").is_err());
        assert!(p.check("a\u{202E}b").is_err());
        assert!(p.check("trailing ").is_err());
        assert!(p.check("\tleading").is_err());
        // Invisible characters: a name must not look like another name or like nothing.
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{2060}',
            '\u{3164}',
            '\u{2028}',
            '\u{2029}',
            '\u{00AD}',
            '\u{034F}',
            '\u{115F}',
            '\u{180E}',
            '\u{FE0F}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{E0041}',
            '\u{1D173}',
            '\u{FFF9}',
        ] {
            assert_eq!(
                p.check(&format!("a{c}b")),
                Err(format!(
                    "contains the invisible character U+{:04X}",
                    c as u32
                )),
                "U+{:04X}",
                c as u32
            );
            assert!(p.check(&c.to_string()).is_err());
        }
        // Visible neighbours of those ranges stay allowed.
        for ok in [
            "a\u{00AE}b",
            "\u{3165}",
            "\u{2801}",
            "\u{FFA1}",
            "Ærø",
            "東京",
            "שלום",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        let a = RoomNameChars::Ascii("-_:.".into());
        assert!(a.check("team-1:general.v2_x").is_ok());
        assert_eq!(
            a.check("team/1"),
            Err("may only contain ASCII letters, digits and `-_:.`".into())
        );
        assert!(a.check("café").is_err());
        assert_eq!(
            RoomNameChars::Ascii(String::new()).check("a-b"),
            Err("may only contain ASCII letters and digits".into())
        );
    }
}
