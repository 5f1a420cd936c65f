//! Limits against hostile or runaway clients, checked before any work is done for them:
//!
//! - at accept ([`Limits::admit_pending`], called by the accept loop in `accept.rs`):
//!   the caps on connections that are not WebSockets yet, total and per IP. Over them the
//!   TCP connection is closed before any byte is read; the [`ConnectionSlot`] is held
//!   until the connection is upgraded or gone;
//! - at the upgrade ([`Limits::admit`], called once by `upgrade::endpoint`): the `Host`
//!   allowlist (421), the `Origin` allowlist (403), the total connection cap (503) and
//!   the per-IP cap (429). An admitted
//!   request gets a [`ConnectionSlot`], an RAII guard that the connection task holds until
//!   the socket is gone (or the upgrade fails);
//! - per data message ([`RateLimiter`], owned by the connection's reader loop): a token
//!   bucket; over the limit → `RATE_LIMITED`, sustained → close 1008.
//!
//! Room limits (name rules, rooms per client, `authorize_join`) sit in the `system`
//! controller's `joinRoom`. `docs/security.md` lists every limit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;

use crate::config::{LimitsConfig, RateLimitConfig};
use crate::health::Metrics;
use crate::protocol::http_error;

/// The upgrade-time limits of one server.
pub(crate) struct Limits {
    hosts: HostPolicy,
    origins: OriginPolicy,
    connections: Arc<ConnectionCounter>,
    /// Accepted TCP connections not (yet) upgraded.
    pending: Arc<ConnectionCounter>,
}

impl Limits {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        Self {
            hosts: HostPolicy::new(&config.allowed_hosts),
            origins: OriginPolicy::new(&config.allowed_origins),
            connections: Arc::new(ConnectionCounter {
                open: AtomicUsize::new(0),
                per_ip: DashMap::new(),
                max: config.max_connections,
                max_per_ip: config.max_connections_per_ip,
            }),
            pending: Arc::new(ConnectionCounter {
                open: AtomicUsize::new(0),
                per_ip: DashMap::new(),
                max: config.max_pending_connections,
                max_per_ip: config.max_pending_connections_per_ip,
            }),
        }
    }

    /// Checks a just-accepted TCP connection from `peer` against the pending caps.
    /// `Some` is the slot to hold until the connection is upgraded or closed; `None`:
    /// close it now (counted; logged at debug level, as a flood would drown the log).
    pub(crate) fn admit_pending(&self, peer: IpAddr, metrics: &Metrics) -> Option<ConnectionSlot> {
        let ip = ip_key(peer);
        match ConnectionCounter::acquire(&self.pending, Some(ip)) {
            Ok(slot) => Some(slot),
            Err(refused) => {
                metrics.count_pending_rejected();
                tracing::debug!(%ip, ?refused, "connection closed at accept: pending limit");
                None
            }
        }
    }

    /// Checks an upgrade request: its host, its origin, then the connection caps. `Ok`
    /// is the reserved slot, to hold for the life of the connection; `Err` converts into
    /// the HTTP answer. Refusals are counted and logged here.
    pub(crate) fn admit(
        &self,
        req: &Request,
        metrics: &Metrics,
    ) -> Result<ConnectionSlot, Refused> {
        if let Err(host) = self.hosts.check(req.headers()) {
            metrics.count_host_rejected();
            tracing::info!(
                %host,
                "upgrade refused: host not allowed (list it in limits.allowed_hosts / PXL_WS_ALLOWED_HOSTS)"
            );
            return Err(Refused::Host);
        }
        if let Err(origin) = self.origins.check(req.headers()) {
            metrics.count_origin_rejected();
            tracing::info!(%origin, "upgrade refused: origin not allowed");
            return Err(Refused::Origin);
        }
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| ip_key(c.0.ip()));
        ConnectionCounter::acquire(&self.connections, ip).inspect_err(|&refused| {
            match refused {
                Refused::PerIp => metrics.count_connection_rejected_per_ip(),
                _ => metrics.count_connection_rejected(),
            }
            tracing::debug!(?ip, ?refused, "upgrade refused: connection limit");
        })
    }

    /// Sockets counted right now (upgrades in progress included).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.connections.open.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------
// Hosts (DNS rebinding)

/// A `Host` header's host, without the port: an IP address or a lowercase name without
/// a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostName {
    Ip(IpAddr),
    Name(String),
}

/// Parses a `Host` header value (`name[:port]`, `1.2.3.4[:port]`, `[v6][:port]`); `None`
/// when it is not one.
pub(crate) fn parse_host(value: &str) -> Option<HostName> {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = v6.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (HostName::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        let host = match host.parse::<Ipv4Addr>() {
            Ok(ip) => HostName::Ip(IpAddr::V4(ip)),
            Err(_) => HostName::Name(parse_name(host)?),
        };
        (host, port)
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(host)
}

/// A DNS name (letters, digits, `-`, `_`, dots between labels), lowercased, one trailing
/// dot dropped.
fn parse_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        });
    ok.then(|| name.to_ascii_lowercase())
}

/// One entry of `limits.allowed_hosts`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AllowedHost {
    /// `*`.
    Any,
    /// An address.
    Ip(IpAddr),
    /// A name, lowercase.
    Name(String),
    /// `*.example.com`: any name ending in `.example.com` (held with the leading dot).
    Under(String),
}

/// Parses an `allowed_hosts` entry: `*`, a host name, `*.` and a domain, or an IP
/// address (IPv6 with or without brackets). `Err` says what is wrong with it.
pub(crate) fn parse_allowed_host(entry: &str) -> Result<AllowedHost, &'static str> {
    const EXPECTED: &str = "expected `*`, a host name (`chat.example.com`), `*.example.com` or an IP address; no scheme, port or path";
    let entry = entry.trim();
    if entry == "*" {
        return Ok(AllowedHost::Any);
    }
    if let Some(domain) = entry.strip_prefix("*.") {
        return parse_name(domain)
            .map(|d| AllowedHost::Under(format!(".{d}")))
            .ok_or(EXPECTED);
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(AllowedHost::Ip(ip));
    }
    if let Some(v6) = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .map(|ip| AllowedHost::Ip(IpAddr::V6(ip)))
            .map_err(|_| EXPECTED);
    }
    parse_name(entry).map(AllowedHost::Name).ok_or(EXPECTED)
}

/// What `limits.allowed_hosts` allows.
#[derive(Debug)]
struct HostPolicy {
    any: bool,
    /// Empty (and not `any`): loopback names and IP addresses only.
    list: Vec<AllowedHost>,
}

impl HostPolicy {
    fn new(entries: &[String]) -> Self {
        let mut policy = Self {
            any: false,
            list: Vec::new(),
        };
        for e in entries {
            // `validate()` has rejected malformed entries already.
            match parse_allowed_host(e) {
                Ok(AllowedHost::Any) => policy.any = true,
                Ok(h) => policy.list.push(h),
                Err(_) => {}
            }
        }
        policy
    }

    /// `Err` carries the refused host (for the log). The upgrade checks have made sure
    /// there is exactly one well-formed `Host`.
    fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        if self.any {
            return Ok(());
        }
        let raw = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let allowed = match parse_host(raw) {
            None => false,
            Some(host) if self.list.is_empty() => match host {
                // A rebinding attack needs a name; a browser that sends an address
                // connected to that address.
                HostName::Ip(_) => true,
                HostName::Name(n) => n == "localhost" || n.ends_with(".localhost"),
            },
            Some(host) => self.list.iter().any(|entry| match (entry, &host) {
                (AllowedHost::Ip(a), HostName::Ip(b)) => a == b,
                (AllowedHost::Name(a), HostName::Name(b)) => a == b,
                (AllowedHost::Under(suffix), HostName::Name(b)) => b.ends_with(suffix.as_str()),
                _ => false,
            }),
        };
        if allowed { Ok(()) } else { Err(raw.to_owned()) }
    }
}

// ---------------------------------------------------------------------------------------
// Origins

/// What `limits.allowed_origins` allows.
#[derive(Debug)]
struct OriginPolicy {
    any: bool,
    /// Normalised `scheme://host[:port]`; empty (and not `any`) means same origin only.
    list: Vec<String>,
}

impl OriginPolicy {
    fn new(entries: &[String]) -> Self {
        let mut policy = Self {
            any: false,
            list: Vec::new(),
        };
        for e in entries {
            // `validate()` has rejected malformed entries already.
            match parse_allowed_origin(e) {
                Ok(AllowedOrigin::Any) => policy.any = true,
                Ok(AllowedOrigin::Exact(o)) => policy.list.push(o),
                Err(_) => {}
            }
        }
        policy
    }

    /// `Err` carries the rejected origin (for the log).
    fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(raw) = headers.get(header::ORIGIN) else {
            return Ok(()); // not a browser
        };
        if self.any {
            return Ok(());
        }
        let text = raw.to_str().unwrap_or_default();
        let Some(origin) = Origin::parse(text) else {
            return Err(String::from_utf8_lossy(raw.as_bytes()).into_owned());
        };
        let allowed = if self.list.is_empty() {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|host| origin.authority == origin.normalise_authority(host))
        } else {
            let full = origin.to_string();
            self.list.contains(&full)
        };
        if allowed {
            Ok(())
        } else {
            Err(text.to_owned())
        }
    }
}

/// One entry of `limits.allowed_origins`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AllowedOrigin {
    /// `*`.
    Any,
    /// Normalised `scheme://host[:port]`.
    Exact(String),
}

/// Parses an `allowed_origins` entry: `*` or `scheme://host[:port]` (a trailing `/` is
/// tolerated). `Err` says what is wrong with it.
pub(crate) fn parse_allowed_origin(entry: &str) -> Result<AllowedOrigin, &'static str> {
    let entry = entry.trim();
    if entry == "*" {
        return Ok(AllowedOrigin::Any);
    }
    let entry = entry.strip_suffix('/').unwrap_or(entry);
    match Origin::parse(entry) {
        Some(o) => Ok(AllowedOrigin::Exact(o.to_string())),
        None => Err("expected `*` or `scheme://host[:port]`, e.g. `https://app.example.com`"),
    }
}

/// A parsed `Origin`: lowercase scheme and `host[:port]`, default port removed.
struct Origin {
    scheme: String,
    authority: String,
}

impl Origin {
    fn parse(s: &str) -> Option<Self> {
        let (scheme, authority) = s.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let authority_ok = !authority.is_empty()
            && !authority
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@'));
        if !scheme_ok || !authority_ok {
            return None;
        }
        let mut o = Self {
            scheme: scheme.to_ascii_lowercase(),
            authority: String::new(),
        };
        o.authority = o.normalise_authority(authority);
        Some(o)
    }

    /// Lowercases `host[:port]` and drops this scheme's default port.
    fn normalise_authority(&self, authority: &str) -> String {
        let a = authority.to_ascii_lowercase();
        let default = match self.scheme.as_str() {
            "http" | "ws" => ":80",
            "https" | "wss" => ":443",
            _ => return a,
        };
        match a.strip_suffix(default) {
            Some(host) => host.to_owned(),
            None => a,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

// ---------------------------------------------------------------------------------------
// Connection caps

struct ConnectionCounter {
    open: AtomicUsize,
    /// Open sockets per address; only kept when `max_per_ip` is set.
    per_ip: DashMap<IpAddr, usize>,
    max: Option<usize>,
    max_per_ip: Option<usize>,
}

/// Why an upgrade was refused; converts into the HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// 421 `HOST_NOT_ALLOWED` (`limits.allowed_hosts`).
    Host,
    /// 403 `ORIGIN_NOT_ALLOWED`.
    Origin,
    /// 503 `TOO_MANY_CONNECTIONS` (`limits.max_connections`).
    Total,
    /// 429 `TOO_MANY_CONNECTIONS_FROM_IP` (`limits.max_connections_per_ip`).
    PerIp,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Host => http_error(
                StatusCode::MISDIRECTED_REQUEST,
                "HOST_NOT_ALLOWED",
                "This server does not answer to this host name",
            ),
            Self::Origin => http_error(
                StatusCode::FORBIDDEN,
                "ORIGIN_NOT_ALLOWED",
                "This origin may not open a WebSocket here",
            ),
            Self::Total => http_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_CONNECTIONS",
                "The server has reached its connection limit; try again later",
            ),
            Self::PerIp => http_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_CONNECTIONS_FROM_IP",
                "Too many connections from your address",
            ),
        }
    }
}

/// A reserved connection slot. Dropping it frees the slot.
pub(crate) struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    counted_total: bool,
    ip: Option<IpAddr>,
}

impl std::fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSlot")
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl ConnectionCounter {
    /// Reserves a slot atomically: the per-IP count under its map entry's lock, the
    /// total with a compare-and-swap loop. Either failing leaves both counts unchanged.
    fn acquire(this: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionSlot, Refused> {
        let mut slot = ConnectionSlot {
            counter: this.clone(),
            counted_total: false,
            ip: None,
        };
        if let (Some(max), Some(ip)) = (this.max_per_ip, ip) {
            let mut n = this.per_ip.entry(ip).or_insert(0);
            if *n >= max {
                return Err(Refused::PerIp); // the entry is non-zero, nothing to clean up
            }
            *n += 1;
            slot.ip = Some(ip);
        }
        let reserved = this
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match this.max {
                Some(max) if n >= max => None,
                _ => Some(n + 1),
            });
        if reserved.is_err() {
            return Err(Refused::Total); // dropping `slot` gives the per-IP count back
        }
        slot.counted_total = true;
        Ok(slot)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let c = &self.counter;
        if self.counted_total {
            c.open.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(ip) = self.ip
            && let dashmap::Entry::Occupied(mut e) = c.per_ip.entry(ip)
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// The address a per-IP count is kept under: IPv4 as is (also when written as
/// IPv4-mapped IPv6), IPv6 by its /64 network, since one host usually owns a whole /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

// ---------------------------------------------------------------------------------------
// Message rate

/// One client's token bucket. Lives in the connection's reader loop (its only user), so
/// it needs no lock.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    max_violations: u32,
    tokens: f64,
    last: Instant,
    /// Messages limited since the bucket was last full.
    violations: u32,
}

/// What to do with one data message.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Route it.
    Allow,
    /// Answer `RATE_LIMITED`; a token will be there after `retry_after`.
    Limited {
        /// Until the next token.
        retry_after: Duration,
    },
    /// Answer `RATE_LIMITED`, then close with 1008: `max_violations` reached.
    Close,
}

impl RateLimiter {
    /// `None` when the rate limit is off.
    pub(crate) fn new(config: &RateLimitConfig, now: Instant) -> Option<Self> {
        config.enabled.then(|| Self {
            per_second: config.per_second,
            burst: f64::from(config.burst),
            max_violations: config.max_violations,
            tokens: f64::from(config.burst),
            last: now,
            violations: 0,
        })
    }

    /// Takes a token for one message arriving at `now`.
    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= self.burst {
            self.violations = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        self.violations = self.violations.saturating_add(1);
        if self.max_violations > 0 && self.violations >= self.max_violations {
            return Verdict::Close;
        }
        let wait = (1.0 - self.tokens) / self.per_second;
        Verdict::Limited {
            retry_after: Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::HeaderValue;

    fn origins(list: &[&str]) -> OriginPolicy {
        OriginPolicy::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_by_default() {
        let p = origins(&[]);
        assert!(p.check(&headers(None, "app.test:3000")).is_ok());
        assert!(
            p.check(&headers(Some("http://app.test:3000"), "app.test:3000"))
                .is_ok()
        );
        assert!(
            p.check(&headers(Some("http://APP.test:3000"), "app.TEST:3000"))
                .is_ok()
        );
        assert!(
            p.check(&headers(Some("https://app.test"), "app.test:443"))
                .is_ok()
        );
        assert!(
            p.check(&headers(Some("https://app.test"), "app.test"))
                .is_ok()
        );
        assert!(
            p.check(&headers(Some("http://app.test:3001"), "app.test:3000"))
                .is_err()
        );
        assert!(
            p.check(&headers(Some("http://evil.test:3000"), "app.test:3000"))
                .is_err()
        );
        assert!(p.check(&headers(Some("null"), "app.test:3000")).is_err());
        assert_eq!(
            p.check(&headers(Some("https://evil.test"), "app.test")),
            Err("https://evil.test".into())
        );
    }

    fn host_headers(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        h
    }

    fn hosts(list: &[&str]) -> HostPolicy {
        HostPolicy::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn host_headers_parse_names_and_addresses() {
        let name = |n: &str| Some(HostName::Name(n.into()));
        let ip = |a: &str| Some(HostName::Ip(a.parse().unwrap()));
        assert_eq!(parse_host("Chat.Example.com:443"), name("chat.example.com"));
        assert_eq!(parse_host("chat.example.com."), name("chat.example.com"));
        assert_eq!(parse_host("127.0.0.1:3000"), ip("127.0.0.1"));
        assert_eq!(parse_host("[::1]:3000"), ip("::1"));
        assert_eq!(parse_host("[2001:db8::1]"), ip("2001:db8::1"));
        for bad in [
            "",
            ":80",
            "a b",
            "a/b",
            "a:",
            "a:x",
            "a:123456",
            "::1",
            "[::1",
            "[::1]x",
            "a..b",
            ".",
            "a@b",
            "[1.2.3.4]",
        ] {
            assert_eq!(parse_host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn default_hosts_are_loopback_names_and_addresses() {
        let p = hosts(&[]);
        for ok in [
            "localhost",
            "LOCALHOST:3000",
            "app.localhost",
            "127.0.0.1:1",
            "10.0.0.5",
            "[::1]:3000",
        ] {
            assert!(p.check(&host_headers(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "example.com",
            "localhost.example.com",
            "xlocalhost",
            "127.0.0.1.nip.io",
        ] {
            assert_eq!(
                p.check(&host_headers(refused)),
                Err(refused.to_owned()),
                "{refused}"
            );
        }
        assert!(p.check(&HeaderMap::new()).is_err());
        assert!(hosts(&["*"]).check(&host_headers("any.name")).is_ok());
    }

    #[test]
    fn a_host_list_replaces_the_default() {
        let p = hosts(&[
            "Chat.example.com",
            "*.example.org",
            "10.0.0.1",
            "[::1]",
            "::2",
        ]);
        let ok = |h| p.check(&host_headers(h)).is_ok();
        assert!(ok("chat.example.com:8443"));
        assert!(ok("a.b.example.org"));
        assert!(ok("10.0.0.1"));
        assert!(ok("[::1]"));
        assert!(ok("[::2]:80"));
        assert!(!ok("example.org"));
        assert!(!ok("evilexample.org"));
        assert!(!ok("localhost"));
        assert!(!ok("127.0.0.1"));
        assert!(!ok("chat.example.com.evil"));
    }

    #[test]
    fn allowed_host_entries_are_checked() {
        assert_eq!(parse_allowed_host(" * "), Ok(AllowedHost::Any));
        assert_eq!(
            parse_allowed_host("*.Example.com"),
            Ok(AllowedHost::Under(".example.com".into()))
        );
        assert_eq!(
            parse_allowed_host("::1"),
            Ok(AllowedHost::Ip("::1".parse().unwrap()))
        );
        for bad in [
            "",
            "https://a.com",
            "a.com:443",
            "a.com/x",
            "*.",
            "*a.com",
            "a.*.com",
            "[::1]:80",
        ] {
            assert!(parse_allowed_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allowlist_matches_exactly_with_case_insensitive_hosts() {
        let p = origins(&["https://App.example.com/", "http://localhost:8080"]);
        let ok = |o| p.check(&headers(Some(o), "ws.example.com")).is_ok();
        assert!(ok("https://app.example.com"));
        assert!(ok("https://APP.EXAMPLE.COM:443"));
        assert!(ok("http://localhost:8080"));
        assert!(!ok("http://app.example.com"));
        assert!(!ok("https://app.example.com.evil.test"));
        assert!(!ok("https://evil.app.example.com"));
        assert!(!ok("http://localhost:8081"));
        // With a list, same-origin is not implied.
        assert!(
            p.check(&headers(Some("https://ws.example.com"), "ws.example.com"))
                .is_err()
        );
        assert!(origins(&["*"]).check(&headers(Some("null"), "x")).is_ok());
    }

    #[test]
    fn allowed_origin_entries_are_checked() {
        assert_eq!(parse_allowed_origin("*"), Ok(AllowedOrigin::Any));
        assert_eq!(
            parse_allowed_origin("HTTPS://Example.com:443/"),
            Ok(AllowedOrigin::Exact("https://example.com".into()))
        );
        for bad in [
            "example.com",
            "https://",
            "https://a.com/path",
            "://a.com",
            "https://u@a.com",
        ] {
            assert!(parse_allowed_origin(bad).is_err(), "{bad}");
        }
    }

    fn request(ip: &str) -> Request {
        let mut req = Request::new(Body::empty());
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("localhost"));
        let addr: SocketAddr = format!("{ip}:1234").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        req
    }

    #[test]
    fn pending_slots_are_counted_per_ip_and_in_total() {
        let limits = Limits::new(&LimitsConfig {
            max_pending_connections: Some(3),
            max_pending_connections_per_ip: Some(2),
            ..Default::default()
        });
        let m = Metrics::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a1 = limits.admit_pending(ip("10.0.0.1"), &m).unwrap();
        let _a2 = limits.admit_pending(ip("10.0.0.1"), &m).unwrap();
        assert!(limits.admit_pending(ip("10.0.0.1"), &m).is_none());
        let _b1 = limits.admit_pending(ip("10.0.0.2"), &m).unwrap();
        assert!(limits.admit_pending(ip("10.0.0.3"), &m).is_none());
        assert_eq!(m.pending_rejected.load(Ordering::Relaxed), 2);
        // Pending slots are not WebSocket slots.
        assert_eq!(limits.open(), 0);
        drop(a1);
        assert!(limits.admit_pending(ip("10.0.0.1"), &m).is_some());
    }

    #[test]
    fn connection_slots_are_counted_and_released() {
        let limits = Limits::new(&LimitsConfig {
            max_connections: Some(3),
            max_connections_per_ip: Some(2),
            ..Default::default()
        });
        let m = Metrics::default();
        let a1 = limits.admit(&request("10.0.0.1"), &m).unwrap();
        let a2 = limits.admit(&request("10.0.0.1"), &m).unwrap();
        let per_ip = limits.admit(&request("10.0.0.1"), &m).unwrap_err();
        assert_eq!(per_ip, Refused::PerIp);
        assert_eq!(
            per_ip.into_response().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let b1 = limits.admit(&request("10.0.0.2"), &m).unwrap();
        let total = limits.admit(&request("10.0.0.3"), &m).unwrap_err();
        assert_eq!(total, Refused::Total);
        assert_eq!(
            total.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        // The refused total did not leak a per-IP count for 10.0.0.3.
        assert!(
            !limits
                .connections
                .per_ip
                .contains_key(&"10.0.0.3".parse::<IpAddr>().unwrap())
        );
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.open(), 2);
        let a3 = limits.admit(&request("10.0.0.1"), &m).unwrap();
        drop((a2, a3, b1));
        assert_eq!(limits.open(), 0);
        assert!(limits.connections.per_ip.is_empty());
        assert_eq!(Metrics::get(&m.connections_rejected), 1);
        assert_eq!(Metrics::get(&m.connections_rejected_per_ip), 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip_key("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    fn limiter(per_second: f64, burst: u32, max_violations: u32, t0: Instant) -> RateLimiter {
        let config = RateLimitConfig {
            enabled: true,
            per_second,
            burst,
            max_violations,
        };
        RateLimiter::new(&config, t0).unwrap()
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = limiter(10.0, 3, 0, t0);
        for _ in 0..3 {
            assert_eq!(r.check(t0), Verdict::Allow);
        }
        assert_eq!(
            r.check(t0),
            Verdict::Limited {
                retry_after: Duration::from_millis(100)
            }
        );
        // 100 ms later one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.check(t1), Verdict::Allow);
        assert!(matches!(r.check(t1), Verdict::Limited { .. }));
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(r.check(t2), Verdict::Allow);
        }
        assert!(matches!(r.check(t2), Verdict::Limited { .. }));
        let off = RateLimitConfig {
            enabled: false,
            ..Default::default()
        };
        assert!(RateLimiter::new(&off, t0).is_none());
    }

    #[test]
    fn violations_close_unless_the_bucket_refills() {
        let t0 = Instant::now();
        let mut r = limiter(10.0, 2, 3, t0);
        assert_eq!(r.check(t0), Verdict::Allow);
        assert_eq!(r.check(t0), Verdict::Allow);
        assert!(matches!(r.check(t0), Verdict::Limited { .. }));
        assert!(matches!(r.check(t0), Verdict::Limited { .. }));
        // A full bucket (200 ms at 10/s) forgives the violations so far.
        let t1 = t0 + Duration::from_millis(200);
        for _ in 0..2 {
            assert_eq!(r.check(t1), Verdict::Allow);
        }
        assert!(matches!(r.check(t1), Verdict::Limited { .. }));
        assert!(matches!(r.check(t1), Verdict::Limited { .. }));
        // A single token in between does not: the client never slowed down enough.
        let t2 = t1 + Duration::from_millis(100);
        assert_eq!(r.check(t2), Verdict::Allow);
        assert_eq!(r.check(t2), Verdict::Close);
    }
}
