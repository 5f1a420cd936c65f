// `auth` and `roles` on `#[ws_controller]` apply to every action; an action's own
// `roles` replace the controller's, and `auth` with `roles` on one attribute is allowed.
#![deny(warnings)] // the expansion itself must be warning-free

use pxl_ws::{AuthUser, Data, ws_controller, controller::{Controller, RouteInfo}};

struct Admin;

#[ws_controller(type = "admin", auth)]
impl Admin {
    #[action("stats")]
    async fn stats(&self) {}

    #[action("ban", roles = ["admin", "moderator"])]
    async fn ban(&self, user: AuthUser, Data(target): Data<String>) -> String {
        format!("{} banned {target}", user.user_id())
    }
}

struct Moderation;

#[ws_controller(roles = ["admin", "moderator"], type = "moderation")]
impl Moderation {
    #[action("warn")]
    async fn warn(&self, user: Option<AuthUser>) -> bool {
        user.is_some()
    }

    #[action("purge", roles = ["admin"])]
    async fn purge(&self) {}

    // `auth` alone keeps the controller's roles.
    #[action("mute", auth)]
    async fn mute(&self) {}
}

struct Both;

#[ws_controller(type = "both", auth, roles = ["org:owner", "team.lead-2_x"], crate = "::pxl_ws")]
impl Both {
    #[action("a")]
    async fn a(&self) {}
}

struct Public;

#[ws_controller(type = "public")]
impl Public {
    #[action("open")]
    async fn open(&self) {}
}

fn requirement(route: &RouteInfo) -> (&str, bool, &[&str]) {
    (route.action, route.auth, route.roles)
}

fn main() {
    let admin: Vec<_> = Admin.routes().iter().map(requirement).collect();
    assert_eq!(
        admin,
        [
            ("stats", true, &[][..]),
            ("ban", true, &["admin", "moderator"][..]),
        ]
    );
    let moderation: Vec<_> = Moderation.routes().iter().map(requirement).collect();
    assert_eq!(
        moderation,
        [
            ("warn", true, &["admin", "moderator"][..]),
            ("purge", true, &["admin"][..]),
            ("mute", true, &["admin", "moderator"][..]),
        ]
    );
    assert_eq!(
        requirement(&Both.routes()[0]),
        ("a", true, &["org:owner", "team.lead-2_x"][..])
    );
    assert_eq!(requirement(&Public.routes()[0]), ("open", false, &[][..]));
}
