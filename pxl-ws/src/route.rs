//! The static description of one route: what `#[action]` records and the route table
//! lists. Plain data, below every layer that routes.

use std::fmt;

/// One entry of a controller's static route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The message `type` (the controller's type).
    pub ty: &'static str,
    /// The message `action`.
    pub action: &'static str,
    /// The Rust method that handles it.
    pub method: &'static str,
    /// The payload type named in the method's `Data<T>` argument, if any.
    pub payload: Option<&'static str>,
    /// Source file of the `#[action]` attribute.
    pub file: &'static str,
    /// Source line of the `#[action]` attribute.
    pub line: u32,
    /// Whether the action needs an authenticated client (`auth`, or implied by `roles`).
    pub auth: bool,
    /// Roles of which the user needs at least one (empty: any authenticated user).
    pub roles: &'static [&'static str],
}

impl RouteInfo {
    /// Builds a route entry (usable in `const` tables).
    pub const fn new(
        ty: &'static str,
        action: &'static str,
        method: &'static str,
        payload: Option<&'static str>,
        file: &'static str,
        line: u32,
    ) -> Self {
        Self {
            ty,
            action,
            method,
            payload,
            file,
            line,
            auth: false,
            roles: &[],
        }
    }

    /// Marks the route as requiring authentication and, when `roles` is not empty, one
    /// of `roles`.
    pub const fn with_auth(mut self, roles: &'static [&'static str]) -> Self {
        self.auth = true;
        self.roles = roles;
        self
    }
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}", self.ty, self.action, self.method)?;
        if let Some(p) = self.payload {
            write!(f, "(Data<{p}>)")?;
        }
        if self.auth {
            write!(f, " [auth")?;
            if !self.roles.is_empty() {
                write!(f, ", roles: {}", self.roles.join("|"))?;
            }
            write!(f, "]")?;
        }
        write!(f, " at {}:{}", self.file, self.line)
    }
}
