//! Authentication: [`AuthUser`], the identity a verified token gives; token checks on
//! connect; the token's life on an open socket; and route
//! authorization (`auth` / `roles` on `#[ws_controller]` and `#[action]`).

pub(crate) mod session;
mod token;

pub use token::TokenError;
pub(crate) use token::{TokenVerifier, Verified, token_from_request};

use std::sync::Arc;

use serde::Serialize;

use crate::protocol::{ActionError, codes};
use crate::router::{FromMessage, MessageContext, server_only};
use crate::state::StateMap;

/// The authenticated user of a connection: its id (the token's `sub`), its roles and
/// every verified claim. As an extractor it answers `UNAUTHENTICATED` for anonymous
/// clients; take `Option<AuthUser>` to accept both.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthUser {
    user_id: String,
    roles: Vec<String>,
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AuthUser {
    /// A user with an id, roles and claims (what token verification produces; also for
    /// apps that authenticate some other way).
    pub fn new(
        user_id: impl Into<String>,
        roles: Vec<String>,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            roles,
            claims,
        }
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Every verified claim.
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// One claim.
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }
}

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
