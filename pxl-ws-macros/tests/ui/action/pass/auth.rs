// The accepted forms of `auth` and `roles` on `#[action]`: after the name, in any order,
// together, with trailing commas, over several lines, through a `macro_rules!` fragment.
#![deny(warnings)] // the expansion itself must be warning-free

use pxl_ws::{ws_controller, controller::Controller};

struct Admin;

#[ws_controller(type = "admin")]
impl Admin {
    #[action("auth", auth)]
    async fn auth(&self) {}

    #[action("roles", roles = ["admin"])]
    async fn roles(&self) {}

    #[action("both", auth, roles = ["admin", "moderator"])]
    async fn both(&self) {}

    #[action("both-reversed", roles = ["moderator"], auth)]
    async fn both_reversed(&self) {}

    #[rustfmt::skip]
    #[action("trailing-comma", roles = ["admin",],)]
    async fn trailing_comma(&self) {}

    #[action(
        "multi-line",
        roles = [
            "org:owner",
            "r123456789012345678901234567890123456789012345678901234567890123",
        ]
    )]
    async fn multi_line(&self) {}

    #[pxl_ws::action("path", auth)]
    async fn path(&self) {}

    #[action("public")]
    async fn public(&self) {}
}

struct Macro;

macro_rules! controller_with_role {
    ($role:expr) => {
        #[ws_controller(type = "macro")]
        impl Macro {
            #[action("a", roles = [$role])]
            async fn a(&self) {}
        }
    };
}

controller_with_role!("admin");

fn main() {
    let routes: Vec<_> = Admin
        .routes()
        .iter()
        .map(|r| (r.action, r.auth, r.roles))
        .collect();
    assert_eq!(
        routes,
        [
            ("auth", true, &[][..]),
            ("roles", true, &["admin"][..]),
            ("both", true, &["admin", "moderator"][..]),
            ("both-reversed", true, &["moderator"][..]),
            ("trailing-comma", true, &["admin"][..]),
            (
                "multi-line",
                true,
                &[
                    "org:owner",
                    "r123456789012345678901234567890123456789012345678901234567890123"
                ][..]
            ),
            ("path", true, &[][..]),
            ("public", false, &[][..]),
        ]
    );
    assert_eq!(Macro.routes()[0].roles, ["admin"]);
}
