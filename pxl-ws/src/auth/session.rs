//! A live connection's token: the `auth/authenticated` frame, expiry with a grace period
//! (`auth/expired`, then close 4001), and `system/refreshToken`.
//!
//! The expiry deadline lives in [`ClientState`] (Unix ms, 0 = none) so a refresh can move
//! it; the reader loop owns an [`Expiry`] timer that re-reads it whenever it fires and
//! after every message it handled.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, Sleep};

use super::Verified;
use crate::clients::ClientState;
use crate::handles::Client;
use crate::protocol::{self, ActionError, codes};
use crate::router::{Data, FromMessage, MessageContext, Reply};
use crate::service::Server;
use crate::util::time::{iso8601, now_ms};

/// Close code for a connection whose token expired and was not refreshed in time.
pub(crate) const CLOSE_TOKEN_EXPIRED: u16 = 4001;

/// Binds a verified token to a connection (user id, claims, expiry) without announcing
/// it to the other instances; whether the user id changed.
pub(crate) fn bind(client: &Client, verified: &Verified) -> bool {
    let changed = client.bind_auth_user(verified.user.clone());
    // `pxl.keep_expired_sessions`: `exp` was checked at connect; no live expiry.
    let keep = client.server.shared.config.pxl.keep_expired_sessions;
    let expires = if keep { None } else { verified.expires_at_ms };
    client.state.set_auth_expires_ms(expires.unwrap_or(0));
    tracing::Span::current().record("user", verified.user.user_id());
    changed
}

/// Sends PXL's `auth/authenticated {userId, message}`.
pub(crate) fn send_authenticated(client: &Client, verified: &Verified) {
    let user_id = client
        .server
        .shared
        .config
        .pxl
        .user_id_value(&verified.subject);
    if let Some(f) = protocol::authenticated_frame(&user_id) {
        client.send(&f);
    }
}

/// The reader loop's token-expiry timer.
pub(crate) struct Expiry {
    /// The deadline last read from the client state (0 = none).
    seen: u64,
    /// End of the grace period once `auth/expired` was sent.
    grace_until: Option<u64>,
    grace: Duration,
    /// Allocated on first use: most connections never have a token that expires.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Expiry {
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            seen: 0,
            grace_until: None,
            grace,
            sleep: None,
            armed: false,
        }
    }

    /// Re-reads the deadline after a message was handled (a refresh may have moved it).
    pub(crate) fn sync(&mut self, state: &ClientState) {
        let exp = state.auth_expires_ms();
        if exp != self.seen {
            self.seen = exp;
            self.grace_until = None;
            self.arm_at(exp);
        }
    }

    fn arm_at(&mut self, at_ms: u64) {
        if at_ms == 0 {
            self.armed = false;
            return;
        }
        let deadline = Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_ms()));
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.armed = true;
    }

    /// Resolves when the current deadline passes; never while disarmed.
    pub(crate) async fn wait(&mut self) {
        match &mut self.sleep {
            Some(sleep) if self.armed => sleep.as_mut().await,
            _ => std::future::pending::<()>().await,
        }
    }

    /// The deadline passed: warn with `auth/expired` and start the grace period, or
    /// close with 4001 when the grace period is over too.
    pub(crate) fn fire(&mut self, client: &Client) {
        let state = &client.state;
        let now = now_ms();
        let exp = state.auth_expires_ms();
        self.seen = exp;
        if exp == 0 || now < exp {
            self.grace_until = None;
            self.arm_at(exp);
            return;
        }
        match self.grace_until {
            None => {
                let until = now + self.grace.as_millis() as u64;
                self.grace_until = Some(until);
                let grace_ms = self.grace.as_millis() as u64;
                if let Some(f) = protocol::expired_frame(&iso8601(exp), grace_ms) {
                    client.send(&f);
                }
                self.arm_at(until);
            }
            Some(until) if now >= until => {
                tracing::info!("token expired and was not refreshed; closing");
                client.server.shared.metrics.count_token_expired();
                state.request_close(CLOSE_TOKEN_EXPIRED, "token expired", true);
                self.armed = false;
            }
            Some(until) => self.arm_at(until),
        }
    }
}

/// The payload of `system/refreshToken`.
#[derive(Deserialize)]
struct RefreshRequest {
    token: String,
}

/// `system/refreshToken {token}` (a route of the built-in `system` controller): verifies
/// a new token (same rules as on connect; the same `sub` when the connection is already
/// authenticated) and moves the expiry. An anonymous connection becomes authenticated
/// this way.
///
/// The new token must also be valid now without the leeway (`exp` in the future, else
/// `TOKEN_EXPIRED`) and, when the current token has an `exp`, expire later than it
/// (`TOKEN_NOT_NEWER`): a stale token must not restart the grace period. A refused
/// refresh changes nothing.
pub(crate) fn refresh_token(ctx: &MessageContext<'_>, client: &Client, server: &Server) -> Reply {
    let Some(verifier) = server.shared.verifier.as_ref() else {
        return Reply::Error(ActionError::new(
            codes::UNAUTHENTICATED,
            "Token authentication is not configured on this server",
        ));
    };
    let req = match Data::<RefreshRequest>::from_message(ctx) {
        Ok(Data(r)) => r,
        Err(e) => return Reply::Error(e),
    };
    let verified = match verifier.verify(&req.token) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(code = e.code(), "token refresh refused");
            return Reply::Error(ActionError::new(e.code(), e.message().to_owned()));
        }
    };
    if verified.expires_at_ms.is_some_and(|exp| exp <= now_ms()) {
        tracing::info!(code = codes::TOKEN_EXPIRED, "token refresh refused");
        return Reply::Error(ActionError::new(
            codes::TOKEN_EXPIRED,
            "The token has expired: a refresh needs a token that is valid now",
        ));
    }
    let current: Option<Arc<super::AuthUser>> = client.state.auth();
    if let Some(current) = current
        && current.user_id() != verified.user.user_id()
    {
        return Reply::Error(ActionError::new(
            codes::TOKEN_SUBJECT_MISMATCH,
            "The new token names another user",
        ));
    }
    // 0: anonymous, or a token without `exp`; any valid token may replace it.
    let current_exp = client.state.auth_expires_ms();
    if current_exp != 0 && verified.expires_at_ms.is_some_and(|exp| exp <= current_exp) {
        tracing::info!(code = codes::TOKEN_NOT_NEWER, "token refresh refused");
        return Reply::Error(ActionError::new(
            codes::TOKEN_NOT_NEWER,
            "The new token does not expire later than the current one",
        ));
    }
    if bind(client, &verified) {
        server.hub().announce_update(&client.state);
    }
    Reply::value(&json!({
        "success": true,
        "userId": client.server.shared.config.pxl.user_id_value(&verified.subject),
        "expiresAt": verified.expires_at_ms.map(iso8601),
    }))
}
