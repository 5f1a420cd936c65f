//! The admin dashboard's server side over real sockets: never open (refused at build
//! without access configured), the `admin` controller's access check (exact codes for
//! anonymous clients, clients without the role and wrong tokens), what admitted clients
//! see, disconnects with the close code the client gets, the live tail, and the tail of
//! a stalled admin staying bounded.

use pxl_ws::{BuildError, ClientId, WsConfig};
use pxl_ws_tests::jwt;
use pxl_ws_tests::raw::{self, RawSocket};
use pxl_ws_tests::{TestClient, TestServer, WAIT, eventually, http_get};
use serde_json::{Value, json};

use crate::app::builder;

const SECRET: &[u8] = b"admin-test-secret-0123456789abcdef";
const TOKEN: &str = "admin-token-0123456789";

/// Token login and JWT access both configured.
fn config() -> WsConfig {
    let mut c = WsConfig::default();
    c.admin.path = Some("/admin".into());
    c.admin.token = Some(TOKEN.into());
    c.auth.jwt_secret = Some(std::str::from_utf8(SECRET).unwrap().into());
    c
}

fn bearer(sub: &str, roles: &[&str]) -> String {
    let mut claims = jwt::claims(sub);
    claims["roles"] = json!(roles);
    format!("Bearer {}", jwt::hs256(SECRET, &claims))
}

async fn connect_as(srv: &TestServer, sub: &str, roles: &[&str]) -> TestClient {
    let auth = bearer(sub, roles);
    let mut c = TestClient::connect_with(&srv.url(), &[("Authorization", &auth)])
        .await
        .expect("token accepted");
    let authed = c.recv().await;
    assert_eq!(authed["action"], "authenticated", "{authed}");
    c
}

fn error_code(reply: &Value) -> &str {
    assert_eq!(reply["type"], "error", "expected an error frame: {reply}");
    reply["data"]["code"].as_str().expect("code")
}

/// Every guarded action.
const GUARDED: &[&str] = &[
    "overview",
    "clients",
    "rooms",
    "routes",
    "disconnect",
    "subscribe",
    "unsubscribe",
];

#[tokio::test]
async fn serving_the_admin_path_without_access_configured_is_refused_at_build() {
    let mut c = WsConfig::default();
    c.admin.path = Some("/admin".into());
    let err = builder(c).build().err().expect("refused");
    let text = err.to_string();
    assert!(matches!(err, BuildError::Config(_)), "{err:?}");
    assert!(text.contains("admin.path"), "{text}");
    assert!(text.contains("PXL_WS_ADMIN_TOKEN"), "{text}");
    assert!(text.contains("never served open"), "{text}");

    // The builder's method sets the same setting.
    let err = builder(WsConfig::default())
        .serve_admin("/admin")
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("admin.path"), "{err}");

    // A short token is refused too, naming the setting and not the token.
    let mut c = WsConfig::default();
    c.admin.path = Some("/admin".into());
    c.admin.token = Some("short-secret".into());
    let text = builder(c).build().err().expect("refused").to_string();
    assert!(text.contains("admin.token"), "{text}");
    assert!(!text.contains("short-secret"), "{text}");
    assert!(!format!("{:?}", config()).contains(TOKEN));

    // Off by default: no route, no controller.
    let srv = TestServer::start(builder(WsConfig::default())).await;
    assert!(
        http_get(srv.addr, "/admin")
            .await
            .starts_with("HTTP/1.1 404")
    );
    assert!(!srv.handle.routes().iter().any(|r| r.ty == "admin"));
    let mut c = srv.connect().await;
    let r = c.request("admin", "overview", json!(null)).await;
    assert_eq!(error_code(&r), "UNKNOWN_ROUTE");
    srv.stop().await;
}

#[tokio::test]
async fn clients_without_the_role_or_the_token_are_refused_with_exact_codes() {
    let srv = TestServer::start(builder(config())).await;
    let mut anon = srv.connect().await;
    let mut user = connect_as(&srv, "u1", &["user"]).await;
    for action in GUARDED {
        let r = anon
            .request("admin", action, json!({"clientId": user.id}))
            .await;
        assert_eq!(error_code(&r), "UNAUTHENTICATED", "anonymous {action}: {r}");
        assert_eq!(
            r["data"]["error"],
            "Admin access requires a token with the `admin` role, or admin/login with the admin token"
        );
        let r = user
            .request("admin", action, json!({"clientId": anon.id}))
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "non-admin {action}: {r}");
    }
    // Nobody was disconnected by the refused attempts.
    assert_eq!(srv.handle.connection_count(), 2);

    let s = anon.request("admin", "session", json!(null)).await;
    assert_eq!(
        s["response"],
        json!({"admitted": false, "via": null, "role": "admin", "tokenLogin": true, "authenticated": false})
    );

    // A wrong token, a token that is a prefix of the real one, and one with a suffix.
    for wrong in ["nope", &TOKEN[..TOKEN.len() - 1], &format!("{TOKEN}x")] {
        let r = anon
            .request("admin", "login", json!({"token": wrong}))
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
        assert_eq!(r["data"]["error"], "Wrong admin token");
    }
    let r = anon.request("admin", "overview", json!(null)).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");

    // The refusals are counted under their routes.
    let mut admin = connect_as(&srv, "root", &["admin"]).await;
    let routes = admin.request("admin", "routes", json!(null)).await;
    let row = |action: &str| {
        routes["response"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "admin" && r["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no admin/{action} in {routes}"))
    };
    assert_eq!(row("overview")["handled"], 3);
    assert_eq!(row("overview")["errors"], 3);
    assert_eq!(row("login")["errors"], 3);
    // The admin's own call is counted once it is answered, after its snapshot.
    assert_eq!(row("routes")["handled"], 2);
    user.close().await;
    admin.close().await;
    srv.stop().await;
}

#[tokio::test]
async fn a_token_with_the_admin_role_sees_instances_clients_rooms_and_routes() {
    let srv = TestServer::start(builder(config())).await;
    let mut a = srv.connect().await;
    let mut b = connect_as(&srv, "bob", &["user"]).await;
    a.join("lobby").await;
    b.join("lobby").await;
    b.join("dev").await;
    let r = a.request("test", "add", json!({"a": 1, "b": 2})).await;
    assert_eq!(r["response"]["sum"], 3);
    let r = a.request("test", "fail", json!(null)).await;
    assert_eq!(error_code(&r), "NOPE");
    let r = a.request("nope", "nothing", json!(null)).await;
    assert_eq!(error_code(&r), "UNKNOWN_ROUTE");

    let mut admin = connect_as(&srv, "root", &["admin"]).await;
    let s = admin.request("admin", "session", json!(null)).await;
    assert_eq!(s["response"]["admitted"], true);
    assert_eq!(s["response"]["via"], "role");

    let o = admin.request("admin", "overview", json!(null)).await["response"].clone();
    let me = srv.handle.instance_id();
    assert_eq!(o["instanceId"], me);
    assert_eq!(
        o["instances"],
        json!([{"id": me, "self": true, "connections": 3}])
    );
    assert_eq!(o["rooms"], 2);
    assert_eq!(o["health"]["activeConnections"], 3);

    let c = admin.request("admin", "clients", json!(null)).await["response"].clone();
    assert_eq!(c["total"], 3);
    assert_eq!(c["truncated"], false);
    let rows = c["clients"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["clientId"] == id).cloned().unwrap();
    assert_eq!(row(&a.id)["rooms"], json!(["lobby"]));
    assert_eq!(row(&a.id)["userId"], Value::Null);
    assert_eq!(row(&a.id)["admin"], false);
    assert_eq!(row(&b.id)["userId"], "bob");
    let mut brooms: Vec<String> = serde_json::from_value(row(&b.id)["rooms"].clone()).unwrap();
    brooms.sort();
    assert_eq!(brooms, ["dev", "lobby"]);
    assert_eq!(row(&admin.id)["admin"], true);
    assert_eq!(row(&a.id)["instanceId"], me);
    assert!(
        row(&a.id)["remoteAddr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let rooms = admin.request("admin", "rooms", json!(null)).await["response"].clone();
    assert_eq!(
        rooms,
        json!({"total": 2, "truncated": false, "rooms": [
            {"name": "lobby", "members": 2, "local": 2},
            {"name": "dev", "members": 1, "local": 1},
        ]})
    );

    let routes = admin.request("admin", "routes", json!(null)).await["response"].clone();
    let find = |ty: &str, action: &str| {
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == ty && r["action"] == action)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("test", "add")["handled"], 1);
    assert_eq!(find("test", "add")["errors"], 0);
    assert_eq!(find("test", "fail")["handled"], 1);
    assert_eq!(find("test", "fail")["errors"], 1);
    assert_eq!(find("system", "joinRoom")["handled"], 3);
    assert_eq!(find("test", "echo")["handled"], 0);
    assert_eq!(routes["unknown"], json!({"handled": 1, "errors": 1}));
    b.close().await;
    admin.close().await;
    srv.stop().await;
}

#[tokio::test]
async fn token_login_admits_and_disconnect_closes_the_client_with_4010() {
    let srv = TestServer::start(builder(config())).await;
    let mut victim = TestClient::connect(&srv.url()).await;
    let mut other = srv.connect().await;
    let mut admin = srv.connect().await;
    let r = admin
        .request("admin", "login", json!({"token": TOKEN}))
        .await;
    assert_eq!(r["response"], json!({"admitted": true, "via": "token"}));
    let s = admin.request("admin", "session", json!(null)).await;
    assert_eq!(s["response"]["via"], "token");

    // Bad payloads are named.
    let r = admin
        .request("admin", "disconnect", json!({"clientId": "x"}))
        .await;
    assert_eq!(error_code(&r), "INVALID_PAYLOAD");
    let r = admin
        .request(
            "admin",
            "disconnect",
            json!({"clientId": victim.id, "code": 1000}),
        )
        .await;
    assert_eq!(error_code(&r), "INVALID_PAYLOAD");
    assert!(r["data"]["error"].as_str().unwrap().contains("4000–4999"));

    let r = admin
        .request("admin", "disconnect", json!({"clientId": victim.id}))
        .await;
    assert_eq!(
        r["response"],
        json!({"clientId": victim.id, "disconnected": true, "code": 4010})
    );
    let (closed, _) = victim.expect_close().await;
    assert_eq!(closed.code, Some(4010));
    assert_eq!(closed.reason, "disconnected by an administrator");

    // With a code and reason of the admin's choosing.
    let r = admin
        .request(
            "admin",
            "disconnect",
            json!({"clientId": other.id, "code": 4403, "reason": "banned"}),
        )
        .await;
    assert_eq!(r["response"]["disconnected"], true);
    let (closed, _) = other.expect_close().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (Some(4403), "banned")
    );

    // An unknown client: nothing closed, said so.
    let ghost = ClientId::random().to_string();
    let r = admin
        .request("admin", "disconnect", json!({"clientId": ghost}))
        .await;
    assert_eq!(r["response"]["disconnected"], false);
    eventually("both clients gone", || srv.handle.connection_count() == 1).await;
    srv.stop().await;
}

/// The next `admin/event` push, skipping replies.
async fn next_event(c: &mut TestClient) -> Value {
    loop {
        let f = c.recv().await;
        if f["type"] == "admin" && f["action"] == "event" {
            return f["data"].clone();
        }
    }
}

#[tokio::test]
async fn the_live_tail_shows_connects_joins_errors_leaves_and_disconnects() {
    let srv = TestServer::start(builder(config())).await;
    let mut admin = connect_as(&srv, "root", &["admin"]).await;
    let r = admin.request("admin", "subscribe", json!(null)).await;
    assert_eq!(r["response"]["subscribed"], true);

    let mut c = TestClient::connect(&srv.url()).await;
    let e = next_event(&mut admin).await;
    assert_eq!(
        (e["kind"].as_str(), e["clientId"].as_str()),
        (Some("connect"), Some(c.id.as_str()))
    );
    assert_eq!(e["instanceId"], srv.handle.instance_id());
    c.join("lobby").await;
    let e = next_event(&mut admin).await;
    assert_eq!(
        (e["kind"].as_str(), e["room"].as_str()),
        (Some("join"), Some("lobby"))
    );
    let r = c.request("test", "fail", json!(null)).await;
    assert_eq!(error_code(&r), "NOPE");
    let e = next_event(&mut admin).await;
    assert_eq!(
        (
            e["kind"].as_str(),
            e["code"].as_str(),
            e["message"].as_str()
        ),
        (Some("error"), Some("NOPE"), Some("not today"))
    );
    c.leave("lobby").await;
    let e = next_event(&mut admin).await;
    assert_eq!(
        (e["kind"].as_str(), e["room"].as_str()),
        (Some("leave"), Some("lobby"))
    );
    let id = c.id.clone();
    c.close().await;
    let e = next_event(&mut admin).await;
    assert_eq!(
        (
            e["kind"].as_str(),
            e["clientId"].as_str(),
            e["code"].as_str()
        ),
        (Some("disconnect"), Some(id.as_str()), Some("1000"))
    );

    let r = admin.request("admin", "unsubscribe", json!(null)).await;
    assert_eq!(r["response"]["unsubscribed"], true);
    let c2 = TestClient::connect(&srv.url()).await;
    eventually("c2 connected", || srv.handle.connection_count() == 2).await;
    // Unsubscribed: the next frame is the barrier's pong, no tail event.
    admin.assert_nothing_queued().await;

    // Subscribing again answers the recent events: the client's whole life, in order.
    let r = admin.request("admin", "subscribe", json!(null)).await;
    let life: Vec<&str> = r["response"]["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["clientId"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(life, ["connect", "join", "error", "leave", "disconnect"]);
    c2.close().await;
    admin.close().await;
    srv.stop().await;
}

#[tokio::test]
async fn a_stalled_admin_page_loses_tail_lines_but_holds_bounded_memory_and_stays_open() {
    const SOFT: usize = 16 * 1024;
    let mut c = config();
    c.limits.outbound.soft_bytes = SOFT;
    let srv = TestServer::start(builder(c)).await;

    // An admin on a socket with a small receive buffer that stops reading after subscribing.
    let mut stalled = RawSocket::connect_small(srv.addr, "/ws", 4096).await;
    let hello = stalled.read_data(1).await;
    let admin_id: ClientId = hello.frames[0]["data"]["clientId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for (i, msg) in [
        json!({"type": "admin", "action": "login", "data": {"token": TOKEN}, "id": 1}),
        json!({"type": "admin", "action": "subscribe", "id": 2}),
    ]
    .iter()
    .enumerate()
    {
        stalled.send(&raw::text(msg.to_string().as_bytes())).await;
        let t = stalled.read_data(1).await;
        assert_eq!(t.frames[0]["id"], i + 1, "{:?}", t.frames);
        assert!(t.frames[0].get("response").is_some(), "{:?}", t.frames);
    }

    // A flood of membership changes, each a tail line for the stalled admin.
    let member = srv.connect().await;
    let member_id: ClientId = member.id.parse().unwrap();
    let rooms: Vec<String> = (0..50)
        .map(|i| format!("room-with-a-longish-name-{i}"))
        .collect();
    let mut changes = 0u64;
    let dropped = loop {
        for r in &rooms {
            srv.handle.join_room(member_id, r);
            srv.handle.leave_room(member_id, r);
            changes += 2;
        }
        let h = srv.handle.health();
        if h.flow.frames_dropped >= 2_000 {
            break h.flow.frames_dropped;
        }
        assert!(
            changes < 400_000,
            "no tail line was ever dropped: {:?}",
            h.flow
        );
        tokio::task::yield_now().await;
    };
    let queued = srv.handle.client(admin_id).unwrap().outbound_bytes();
    assert!(
        queued <= SOFT + 1024,
        "the stalled admin's queue holds {queued} bytes (soft mark {SOFT})"
    );
    let h = srv.handle.health();
    assert_eq!(
        h.slow_clients_dropped, 0,
        "the admin was closed: {:?}",
        h.flow
    );
    assert!(dropped > 0);

    // The server meanwhile answers everyone, and the admin, reading again, is still open.
    let mut other = srv.connect().await;
    other.assert_nothing_queued().await;
    stalled
        .send(&raw::text(
            json!({"type": "system", "action": "ping", "id": "last"})
                .to_string()
                .as_bytes(),
        ))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no pong");
        let t = stalled.read_data(1).await;
        assert!(t.close.is_none(), "closed: {t:?}");
        if t.frames[0]["id"] == "last" {
            assert_eq!(t.frames[0]["response"], "pong");
            break;
        }
    }
    drop(member);
    drop(stalled);
    srv.stop().await;
}

#[tokio::test]
async fn the_page_and_its_client_are_served_self_contained_with_a_strict_policy() {
    let srv = TestServer::start(builder(config())).await;
    let page = http_get(srv.addr, "/admin").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    let csp = head
        .lines()
        .find(|l| l.starts_with("content-security-policy:"))
        .expect("a CSP header");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // Nothing loads from the network: no absolute URL in the page at all.
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "an external URL in the page"
    );
    assert!(!body.contains("{{"), "an unfilled placeholder");
    assert!(body.contains(r#"const ADMIN_PATH = "/admin";"#));
    assert!(body.contains(r#"const WS_PATH = "/ws";"#));
    // The nonce differs per response and matches the policy.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(body.contains(&format!(r#"nonce="{nonce}""#)));
    let again = http_get(srv.addr, "/admin").await;
    assert!(!again.contains(&format!(r#"nonce="{nonce}""#)));

    let js = http_get(srv.addr, "/admin/pxl-ws.js").await;
    assert!(js.starts_with("HTTP/1.1 200"), "{js}");
    assert!(js.contains("export class PxlWsClient"));
    srv.stop().await;
}
