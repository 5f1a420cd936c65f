//! Authentication: [`AuthUser`], the identity a verified token gives; token checks on
//! connect ([`token`]); the token's life on an open socket ([`session`]); and route
//! authorization (`auth` / `roles` on `#[ws_controller]` and `#[action]`).

pub(crate) mod session;
pub(crate) mod token;
pub(crate) mod user;

pub use token::TokenError;
pub(crate) use token::{Verified, token_from_request};
pub use user::AuthUser;

use std::sync::Arc;

use crate::protocol::{ActionError, codes};
use crate::router::{FromMessage, MessageContext, server_only};
use crate::state::StateMap;

impl FromMessage for AuthUser {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        let (client, _) = ctx.server_side("`AuthUser`")?;
        client
            .state
            .auth()
            .map(|a| (*a).clone())
            .ok_or_else(unauthenticated)
    }

    fn check(state: &StateMap) -> Result<(), String> {
        server_only(state, "AuthUser")
    }
}

impl FromMessage for Option<AuthUser> {
    fn from_message(ctx: &MessageContext<'_>) -> Result<Self, ActionError> {
        let (client, _) = ctx.server_side("`Option<AuthUser>`")?;
        Ok(client.state.auth().map(|a| (*a).clone()))
    }

    fn check(state: &StateMap) -> Result<(), String> {
        server_only(state, "Option<AuthUser>")
    }
}

fn unauthenticated() -> ActionError {
    ActionError::new(codes::UNAUTHENTICATED, "Authentication required")
}

/// Checks a route's `auth` / `roles` requirement: anonymous → `UNAUTHENTICATED`;
/// authenticated without any of `roles` (when not empty) → `FORBIDDEN`.
#[doc(hidden)]
pub fn authorize(ctx: &MessageContext<'_>, roles: &[&str]) -> Result<(), ActionError> {
    let (client, _) = ctx.server_side("`auth` / `roles`")?;
    let user: Option<Arc<AuthUser>> = client.state.auth();
    let Some(user) = user else {
        return Err(unauthenticated());
    };
    if roles.is_empty() || roles.iter().any(|r| user.has_role(r)) {
        Ok(())
    } else {
        Err(ActionError::new(
            codes::FORBIDDEN,
            format!(
                "This action requires one of the roles: {}",
                roles.join(", ")
            ),
        ))
    }
}
