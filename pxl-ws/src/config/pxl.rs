//! PXL compatibility: each PXL behaviour that pxl-ws does differently by default is a
//! setting of its own in [`PxlConfig`] (`WsConfig::pxl`), and
//! [`WsConfig::pxl_compatible`] (env `PXL_WS_PXL_COMPAT=true`) turns them on together.
//! See `docs/migrating-from-pxl.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConfigError, Env, WsConfig};

/// PXL's behaviours, for serving PXL clients (`@scpxl/nodejs-framework`'s
/// `WebSocketClient`, or apps written against PXL's wire) during a migration. Every
/// setting is off by default, which keeps pxl-ws's own (safer) behaviour;
/// [`WsConfig::pxl_compatible`] turns them all on. Each one is independent.
///
/// ```
/// let mut config = pxl_ws::WsConfig::default();
/// config.pxl.silent_unknown_routes = true; // just this one
/// let pxl = pxl_ws::WsConfig::pxl_compatible(); // or all of them
/// assert!(pxl.pxl.path_prefix && !pxl.auth.require_exp);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PxlConfig {
    /// `auth.jwt_secret` is PXL's `auth.jwtSecretKey`: the HMAC key is its
    /// base64url-decoding (PXL imports it as a JWK `k`), not its UTF-8 bytes. A secret
    /// that is not base64url is refused at `build()`. Default `false`.
    /// Env: `PXL_WS_PXL_JWT_SECRET_BASE64URL`.
    pub jwt_secret_base64url: bool,
    /// Upgrade any request whose path starts with `path` (PXL: every target starting
    /// `/ws`, so `/ws2` and `/ws/x` too); other paths still get ordinary HTTP answers
    /// (PXL drops them unanswered). The server's router then has a fallback, so app
    /// routes given to `routes()` must not set one. Default `false` (exact path).
    /// Env: `PXL_WS_PXL_PATH_PREFIX`.
    pub path_prefix: bool,
    /// `system/joinRoom`'s `userId`, `userType` and `username` are taken from the
    /// payload for clients without an authenticated user: `userId` binds the
    /// connection's user id (so `send_to_user` and presence events carry it) and the
    /// other two are stored as metadata. An authenticated client's identity still comes
    /// from its token only. Default `false`: ids in the payload are ignored.
    /// Env: `PXL_WS_PXL_JOIN_IDENTITY`.
    pub join_identity: bool,
    /// `auth/authenticated` (and the `system/refreshToken` reply) carry `userId` as a
    /// number when the token's `sub` is a string of digits, as PXL's `parseInt` does.
    /// Default `false`: `sub` as it is in the token. Env: `PXL_WS_PXL_NUMERIC_USER_ID`.
    pub numeric_user_id: bool,
    /// Send nothing for a frame no route takes (PXL only logs it). Default `false`:
    /// such a frame is answered `UNKNOWN_ROUTE`. Env: `PXL_WS_PXL_SILENT_UNKNOWN_ROUTES`.
    pub silent_unknown_routes: bool,
    /// Leaving a room the client is not in answers `success: true` (PXL's answer).
    /// Default `false`: `success: false` with `Not a member of room: R`.
    /// Env: `PXL_WS_PXL_LEAVE_ANY_ROOM`.
    pub leave_any_room: bool,
    /// A connection whose token expires stays open: `exp` is checked at connect only,
    /// as PXL does. PXL clients cannot send `system/refreshToken`; without this they
    /// are closed with 4001 and reconnect with the same, expired, token. Default
    /// `false`. Env: `PXL_WS_PXL_KEEP_EXPIRED_SESSIONS`.
    pub keep_expired_sessions: bool,
    /// Send each new client one `system/clientList` frame after its greeting, listing
    /// up to this many clients of the cluster as `{clientId, ws: null, lastActivity,
    /// user: {userId} | null}` (PXL's shape without the socket dump and the token
    /// claims). It goes to the new client only, once: for live updates use
    /// `rooms.presence_events`. Default `None` (off); must be at least 1.
    /// Env: `PXL_WS_PXL_CLIENT_LIST` (a number, or `off`).
    pub client_list: Option<usize>,
}

/// How many clients [`WsConfig::pxl_compatible`] lists in `system/clientList`.
const PROFILE_CLIENT_LIST: usize = 100;

impl WsConfig {
    /// The defaults, plus PXL's behaviours for PXL clients: every [`PxlConfig`]
    /// setting on (`system/clientList` listing up to 100 clients), and PXL's token
    /// rules: `exp` optional (`auth.require_exp = false`) and HS256, HS384 and HS512
    /// accepted. Everything else keeps pxl-ws's defaults (the `Origin` check, rate and
    /// size limits, the exact checks of the upgrade). Env: `PXL_WS_PXL_COMPAT=true`
    /// starts [`from_env`](Self::from_env) from this profile.
    pub fn pxl_compatible() -> Self {
        let mut c = Self {
            pxl: PxlConfig {
                jwt_secret_base64url: true,
                path_prefix: true,
                join_identity: true,
                numeric_user_id: true,
                silent_unknown_routes: true,
                leave_any_room: true,
                keep_expired_sessions: true,
                client_list: Some(PROFILE_CLIENT_LIST),
            },
            ..Self::default()
        };
        c.auth.require_exp = false;
        c.auth.algorithms = vec!["HS256".into(), "HS384".into(), "HS512".into()];
        c
    }
}

/// `PXL_WS_PXL_COMPAT` (the profile, read first so the other variables override it),
/// then each `PXL_WS_PXL_*` setting.
pub(super) fn read_env(env: &Env<'_>, c: &mut WsConfig) -> Result<(), ConfigError> {
    let mut profile = false;
    env.bool("PXL_WS_PXL_COMPAT", &mut profile)?;
    if profile {
        *c = WsConfig::pxl_compatible();
    }
    let p = &mut c.pxl;
    env.bool(
        "PXL_WS_PXL_JWT_SECRET_BASE64URL",
        &mut p.jwt_secret_base64url,
    )?;
    env.bool("PXL_WS_PXL_PATH_PREFIX", &mut p.path_prefix)?;
    env.bool("PXL_WS_PXL_JOIN_IDENTITY", &mut p.join_identity)?;
    env.bool("PXL_WS_PXL_NUMERIC_USER_ID", &mut p.numeric_user_id)?;
    env.bool(
        "PXL_WS_PXL_SILENT_UNKNOWN_ROUTES",
        &mut p.silent_unknown_routes,
    )?;
    env.bool("PXL_WS_PXL_LEAVE_ANY_ROOM", &mut p.leave_any_room)?;
    env.bool(
        "PXL_WS_PXL_KEEP_EXPIRED_SESSIONS",
        &mut p.keep_expired_sessions,
    )?;
    env.limit("PXL_WS_PXL_CLIENT_LIST", &mut p.client_list)?;
    Ok(())
}

impl PxlConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.client_list == Some(0) {
            return Err(ConfigError::invalid(
                "pxl.client_list",
                "must be at least 1 (`None` for no list)",
            ));
        }
        Ok(())
    }

    /// The `userId` to show for a token's `sub`: with
    /// [`numeric_user_id`](Self::numeric_user_id), a string of digits that fits an
    /// integer becomes that number.
    pub(crate) fn user_id_value(&self, subject: &Value) -> Value {
        if self.numeric_user_id
            && let Value::String(s) = subject
            && !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = s.parse::<u64>()
        {
            return Value::from(n);
        }
        subject.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from(vars: &[(&str, &str)]) -> Result<WsConfig, ConfigError> {
        WsConfig::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_profile_turns_every_setting_on_and_keeps_the_secure_defaults() {
        let p = WsConfig::pxl_compatible();
        let d = WsConfig::default();
        assert_eq!(d.pxl, PxlConfig::default());
        assert!(p.pxl.jwt_secret_base64url && p.pxl.path_prefix && p.pxl.join_identity);
        assert!(p.pxl.numeric_user_id && p.pxl.silent_unknown_routes && p.pxl.leave_any_room);
        assert!(p.pxl.keep_expired_sessions);
        assert_eq!(p.pxl.client_list, Some(100));
        assert!(!p.auth.require_exp);
        // Not relaxed by the profile.
        assert_eq!(p.limits, d.limits);
        assert_eq!(p.path, d.path);
        assert_eq!(p.max_message_size, d.max_message_size);
        p.validate().unwrap();
    }

    #[test]
    fn the_env_switch_starts_from_the_profile_and_each_setting_overrides_it() {
        let c = from(&[
            ("PXL_WS_PXL_COMPAT", "true"),
            ("PXL_WS_PXL_LEAVE_ANY_ROOM", "false"),
            ("PXL_WS_PXL_CLIENT_LIST", "5"),
            ("PXL_WS_JWT_REQUIRE_EXP", "true"),
        ])
        .unwrap();
        assert!(c.pxl.path_prefix && !c.pxl.leave_any_room);
        assert_eq!(c.pxl.client_list, Some(5));
        assert!(c.auth.require_exp);
        let one = from(&[("PXL_WS_PXL_SILENT_UNKNOWN_ROUTES", "1")]).unwrap();
        assert!(one.pxl.silent_unknown_routes && !one.pxl.path_prefix);
        let err = from(&[("PXL_WS_PXL_COMPAT", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("PXL_WS_PXL_COMPAT"), "{err}");
        let err = from(&[("PXL_WS_PXL_CLIENT_LIST", "0")]).unwrap_err();
        assert!(err.to_string().contains("pxl.client_list"), "{err}");
    }

    #[test]
    fn numeric_user_ids_only_for_digit_strings() {
        let mut p = PxlConfig::default();
        assert_eq!(p.user_id_value(&json!("42")), json!("42"));
        p.numeric_user_id = true;
        assert_eq!(p.user_id_value(&json!("42")), json!(42));
        assert_eq!(p.user_id_value(&json!(7)), json!(7));
        for kept in [json!("42abc"), json!("-1"), json!(""), json!("u-1")] {
            assert_eq!(p.user_id_value(&kept), kept);
        }
        let huge = json!("99999999999999999999999");
        assert_eq!(p.user_id_value(&huge), huge);
    }
}
