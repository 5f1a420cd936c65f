//! Route authorization declared in the macros: `auth` and `roles`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pxl_ws::{AuthUser, Client, Data, WsConfig, ws_controller};
use pxl_ws_tests::TestServer;
use serde::Deserialize;
use serde_json::json;

use crate::app::builder;

/// Counts the runs of its handlers.
struct AdminController {
    runs: Arc<AtomicUsize>,
}

#[ws_controller(type = "admin", auth)]
impl AdminController {
    #[action("whoami")]
    async fn whoami(&self, user: AuthUser) -> String {
        self.runs.fetch_add(1, Ordering::SeqCst);
        user.user_id().to_owned()
    }

    #[action("ban", roles = ["admin"])]
    async fn ban(&self) -> bool {
        self.runs.fetch_add(1, Ordering::SeqCst);
        true
    }
}

struct OpenController;

#[derive(Deserialize)]
struct Login {
    user: String,
    roles: Vec<String>,
}

#[ws_controller(type = "open")]
impl OpenController {
    /// Stands in for a real credential check.
    #[action("login")]
    async fn login(&self, client: Client, Data(l): Data<Login>) {
        client.set_auth_user(AuthUser::new(l.user, l.roles, Default::default()));
    }

    #[action("maybe")]
    async fn maybe(&self, user: Option<AuthUser>) -> Option<String> {
        user.map(|u| u.user_id().to_owned())
    }

    #[action("moderate", roles = ["moderator", "admin"])]
    async fn moderate(&self) {}
}

/// The server and how many times an `admin` handler ran.
async fn server() -> (TestServer, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let srv = TestServer::start(
        builder(WsConfig::default())
            .controller(AdminController { runs: runs.clone() })
            .controller(OpenController),
    )
    .await;
    (srv, runs)
}

#[tokio::test]
async fn anonymous_clients_get_unauthenticated_and_the_handler_does_not_run() {
    let (srv, runs) = server().await;
    let mut c = srv.connect().await;
    for (ty, action) in [("admin", "whoami"), ("admin", "ban"), ("open", "moderate")] {
        let r = c.request(ty, action, json!(null)).await;
        assert_eq!(
            r["data"],
            json!({"error": "Authentication required", "code": "UNAUTHENTICATED", "type": ty, "action": action}),
            "{ty}/{action}"
        );
    }
    assert_eq!(
        c.request("open", "maybe", json!(null)).await["response"],
        json!(null)
    );
    // Authorization runs before extraction: a bad payload does not reveal the shape.
    let r = c.request("admin", "whoami", json!({"junk": [1, 2]})).await;
    assert_eq!(r["data"]["code"], "UNAUTHENTICATED");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a refused handler ran");
    // Once authenticated, the same route runs (and is counted).
    c.request("open", "login", json!({"user": "u1", "roles": []}))
        .await;
    assert_eq!(
        c.request("admin", "whoami", json!(null)).await["response"],
        "u1"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    srv.stop().await;
}

#[tokio::test]
async fn roles_are_checked_after_authentication() {
    let (srv, _) = server().await;
    let mut user = srv.connect().await;
    user.request("open", "login", json!({"user": "u1", "roles": ["reader"]}))
        .await;
    assert_eq!(
        user.request("admin", "whoami", json!(null)).await["response"],
        "u1"
    );
    assert_eq!(
        user.request("open", "maybe", json!(null)).await["response"],
        "u1"
    );
    let r = user.request("admin", "ban", json!(null)).await;
    assert_eq!(
        r["data"],
        json!({"error": "This action requires one of the roles: admin", "code": "FORBIDDEN", "type": "admin", "action": "ban"})
    );
    let r = user.request("open", "moderate", json!(null)).await;
    assert_eq!(
        r["data"]["error"],
        "This action requires one of the roles: moderator, admin"
    );

    let mut admin = srv.connect().await;
    admin
        .request("open", "login", json!({"user": "boss", "roles": ["admin"]}))
        .await;
    assert_eq!(
        admin.request("admin", "ban", json!(null)).await["response"],
        true
    );
    assert_eq!(
        admin.request("open", "moderate", json!(null)).await["action"],
        "moderate"
    );

    // The authenticated user id also targets user sends.
    let frame = pxl_ws::Frame::new("note", "n", &1).unwrap();
    assert_eq!(srv.handle.send_to_user("boss", &frame), 1);
    assert_eq!(admin.recv().await["type"], "note");
    let routes = srv.handle.routes();
    let ban = routes
        .iter()
        .find(|r| r.ty == "admin" && r.action == "ban")
        .unwrap();
    assert!(ban.auth);
    assert_eq!(ban.roles, ["admin"]);
    srv.stop().await;
}
