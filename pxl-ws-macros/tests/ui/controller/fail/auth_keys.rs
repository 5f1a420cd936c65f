// `auth` is a bare flag and `roles` a non-empty list of role names (string literals,
// `^[A-Za-z0-9_.:-]{1,64}$`, each once) on `#[ws_controller]`; every mistake is reported
// at its token, all together.
use pxl_ws::ws_controller;

struct FlagWithValue;

#[ws_controller(type = "a", auth = true)]
impl FlagWithValue {
    #[action("a")]
    async fn a(&self) {}
}

struct FlagWithArgs;

#[ws_controller(type = "a", auth(admin))]
impl FlagWithArgs {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesWithoutValue;

#[ws_controller(type = "a", roles)]
impl RolesWithoutValue {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesAsArgs;

#[ws_controller(type = "a", roles("admin"))]
impl RolesAsArgs {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesNotAList;

#[ws_controller(type = "a", roles = "admin")]
impl RolesNotAList {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesIdent;

#[ws_controller(type = "a", roles = admin)]
impl RolesIdent {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesEmpty;

#[ws_controller(type = "a", roles = [])]
impl RolesEmpty {
    #[action("a")]
    async fn a(&self) {}
}

struct RolesBad;

#[ws_controller(
    type = "a",
    roles = ["admin", admin, 5, "", "team lead", "moderator", "admin", "org:owner"]
)]
impl RolesBad {
    #[action("a")]
    async fn a(&self) {}
}

struct RoleTooLong;

#[ws_controller(
    type = "a",
    roles = ["r1234567890123456789012345678901234567890123456789012345678901234"]
)]
impl RoleTooLong {
    #[action("a")]
    async fn a(&self) {}
}

fn main() {}
