// `#[action("name", ...)]` takes `auth` (a bare flag) and `roles = [...]` (a non-empty
// list of role names, each once) after the name; every mistake is reported at its token.
use pxl_ws::ws_controller;

struct Admin;

#[ws_controller(type = "admin")]
impl Admin {
    #[action("flag-value", auth = true)]
    async fn flag_value(&self) {}

    #[action("flag-args", auth())]
    async fn flag_args(&self) {}

    #[action("roles-bare", roles)]
    async fn roles_bare(&self) {}

    #[action("roles-args", roles["admin"])]
    async fn roles_args(&self) {}

    #[action("roles-string", roles = "admin")]
    async fn roles_string(&self) {}

    #[action("roles-tuple", roles = ("admin", "moderator"))]
    async fn roles_tuple(&self) {}

    #[action("roles-empty", roles = [])]
    async fn roles_empty(&self) {}

    #[action("roles-bad", roles = [Role::Admin, "", "a/b", "mod", "mod"])]
    async fn roles_bad(&self) {}

    #[action("twice", auth, roles = ["admin"], auth, roles = ["moderator"])]
    async fn twice(&self) {}
}

fn main() {}
