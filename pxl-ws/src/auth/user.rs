//! [`AuthUser`], the identity a verified token gives. Data only.

use serde::Serialize;

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
