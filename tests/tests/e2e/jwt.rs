//! Token authentication on connect, expiry on a live socket, and `system/refreshToken`.

use std::time::Duration;

use pxl_ws::{AuthUser, WsConfig, ws_controller};
use pxl_ws_tests::jwt::{self, claims, hs256, now};
use pxl_ws_tests::{TestClient, TestServer};
use serde_json::{Value, json};

use crate::app::builder;

pub(crate) const SECRET: &[u8] = b"a test secret of at least thirty-two bytes";

pub(crate) struct MeController;

#[ws_controller(type = "me", auth)]
impl MeController {
    #[action("whoami")]
    async fn whoami(&self, user: AuthUser) -> Value {
        json!({ "userId": user.user_id(), "roles": user.roles(), "name": user.claim("name") })
    }

    #[action("admin", roles = ["admin"])]
    async fn admin(&self) -> &'static str {
        "granted"
    }
}

pub(crate) fn hs_config(required: bool) -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.auth.jwt_secret = Some(std::str::from_utf8(SECRET).unwrap().into());
        cfg.auth.required = required;
        cfg
    }
}

/// Auth required, one asymmetric algorithm with its public key.
pub(crate) fn public_key_config(pem: &str, alg: &str) -> WsConfig {
    {
        let mut cfg = WsConfig::default();
        cfg.auth.jwt_public_key_pem = Some(pem.into());
        cfg.auth.algorithms = vec![alg.into()];
        cfg.auth.required = true;
        cfg
    }
}

pub(crate) async fn server(config: WsConfig) -> TestServer {
    TestServer::start(builder(config).controller(MeController)).await
}

fn with_token(srv: &TestServer, token: &str) -> String {
    format!("{}?token={token}", srv.url())
}

/// Connects with a token and reads `auth/authenticated`.
async fn login(srv: &TestServer, token: &str) -> (TestClient, Value) {
    let mut c = TestClient::connect(&with_token(srv, token)).await;
    let frame = c.recv().await;
    assert_eq!(frame["type"], "auth", "{frame}");
    assert_eq!(frame["action"], "authenticated", "{frame}");
    (c, frame["data"].clone())
}

#[tokio::test]
async fn query_token_authenticates_and_handlers_see_the_claims() {
    let srv = server(hs_config(true)).await;
    let mut c = claims("alice");
    c["roles"] = json!(["admin", "ops"]);
    c["name"] = json!("Alice");
    let (mut alice, data) = login(&srv, &hs256(SECRET, &c)).await;
    assert_eq!(
        data,
        json!({"userId": "alice", "message": "Authentication successful"})
    );
    let me = alice.request("me", "whoami", json!(null)).await;
    assert_eq!(
        me["response"],
        json!({"userId": "alice", "roles": ["admin", "ops"], "name": "Alice"})
    );
    assert_eq!(
        alice.request("me", "admin", json!(null)).await["response"],
        "granted"
    );
    // The registry binds the user id, so user-targeted sends reach it.
    assert_eq!(
        srv.handle
            .get_client(alice.id.parse().unwrap())
            .unwrap()
            .user_id
            .as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn bearer_header_works_and_numeric_subjects_stay_numbers_on_the_wire() {
    let srv = server(hs_config(true)).await;
    let token = hs256(SECRET, &claims(42));
    let auth = format!("Bearer {token}");
    let mut c = TestClient::connect_with(&srv.url(), &[("authorization", &auth)])
        .await
        .expect("accepted");
    let frame = c.recv().await;
    assert_eq!(frame["data"]["userId"], json!(42));
    let me = c.request("me", "whoami", json!(null)).await;
    assert_eq!(me["response"]["userId"], "42");
    // Without the admin role: FORBIDDEN, and the socket stays usable.
    let denied = c.request("me", "admin", json!(null)).await;
    assert_eq!(denied["data"]["code"], "FORBIDDEN");
    assert_eq!(
        c.request("me", "whoami", json!(null)).await["response"]["userId"],
        "42"
    );
}

#[tokio::test]
async fn required_auth_refuses_connections_without_a_token_with_401_json() {
    let srv = server(hs_config(true)).await;
    for url in [srv.url(), format!("{}?token=", srv.url())] {
        let refused = TestClient::connect_with(&url, &[])
            .await
            .err()
            .expect("401");
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.body,
            json!({"error": "A token is required", "code": "TOKEN_MISSING"})
        );
        assert_eq!(refused.headers["www-authenticate"], "Bearer");
    }
    assert_eq!(srv.handle.health().auth_rejected, 2);
    login(&srv, &hs256(SECRET, &claims("bob"))).await;
}

#[tokio::test]
async fn optional_auth_admits_anonymous_clients_that_protected_routes_refuse() {
    let srv = server(hs_config(false)).await;
    let mut anon = srv.connect().await;
    let r = anon.request("me", "whoami", json!(null)).await;
    assert_eq!(r["data"]["code"], "UNAUTHENTICATED");
    // A bad token is still refused: optional means "no token", not "any token".
    let refused = TestClient::connect_with(&with_token(&srv, "garbage"), &[])
        .await
        .err()
        .expect("401");
    assert_eq!(refused.body["code"], "TOKEN_MALFORMED");
    // An anonymous connection can authenticate later with system/refreshToken.
    let token = hs256(SECRET, &claims("carol"));
    let r = anon
        .request("system", "refreshToken", json!({ "token": token }))
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
    assert_eq!(r["response"]["userId"], "carol");
    let me = anon.request("me", "whoami", json!(null)).await;
    assert_eq!(me["response"]["userId"], "carol");
}

#[tokio::test]
async fn public_keys_verify_rs256_and_es256_tokens() {
    let srv = server(public_key_config(jwt::RSA_PUBLIC_PEM, "RS256")).await;
    let (_, data) = login(&srv, &jwt::rs256(&claims("rita"))).await;
    assert_eq!(data["userId"], "rita");
    // An ES256 token does not verify against the RSA key's algorithm list.
    let refused = TestClient::connect_with(&with_token(&srv, &jwt::es256(&claims("x"))), &[])
        .await
        .err()
        .expect("401");
    assert_eq!(refused.body["code"], "TOKEN_ALGORITHM_NOT_ALLOWED");

    let srv = server(public_key_config(jwt::EC_PUBLIC_PEM, "ES256")).await;
    let (_, data) = login(&srv, &jwt::es256(&claims("eve"))).await;
    assert_eq!(data["userId"], "eve");
}

fn short_lived(grace_ms: u64) -> WsConfig {
    let mut config = hs_config(true);
    config.auth.leeway = Duration::ZERO;
    config.auth.refresh_grace = Duration::from_millis(grace_ms);
    config
}

/// The next frame must be `auth/expired`.
async fn expect_expired(c: &mut TestClient) -> Value {
    let frame = c.recv().await;
    assert_eq!(frame["type"], "auth", "{frame}");
    assert_eq!(frame["action"], "expired", "{frame}");
    frame
}

#[tokio::test]
async fn an_expired_token_gets_auth_expired_then_close_4001_after_the_grace_period() {
    let srv = server(short_lived(500)).await;
    let mut c = claims("dave");
    c["exp"] = json!(now() + 1);
    let (mut dave, _) = login(&srv, &hs256(SECRET, &c)).await;
    let frame = expect_expired(&mut dave).await;
    assert_eq!(frame["data"]["graceMs"], 500);
    let (closed, _) = dave.expect_close().await;
    assert_eq!(closed.code, Some(4001));
    assert_eq!(closed.reason, "token expired");
    pxl_ws_tests::eventually("expiry counted", || srv.handle.health().tokens_expired == 1).await;
}

#[tokio::test]
async fn refreshing_within_the_grace_period_keeps_the_socket() {
    let srv = server(short_lived(1500)).await;
    let mut c = claims("erin");
    c["exp"] = json!(now() + 1);
    let (mut erin, _) = login(&srv, &hs256(SECRET, &c)).await;
    // The same grace, a second later and never refreshed: its close marks the moment
    // erin's old grace period is over.
    c["sub"] = json!("frank");
    c["exp"] = json!(c["exp"].as_i64().unwrap() + 1);
    let (mut frank, _) = login(&srv, &hs256(SECRET, &c)).await;
    expect_expired(&mut erin).await;

    // Refusals leave the grace period running and the socket open.
    let other = hs256(SECRET, &claims("mallory"));
    let r = erin
        .request("system", "refreshToken", json!({ "token": other }))
        .await;
    assert_eq!(r["data"]["code"], "TOKEN_SUBJECT_MISMATCH", "{r}");
    let mut stale = claims("erin");
    stale["exp"] = json!(now() - 10);
    let r = erin
        .request(
            "system",
            "refreshToken",
            json!({ "token": hs256(SECRET, &stale) }),
        )
        .await;
    assert_eq!(r["data"]["code"], "TOKEN_EXPIRED", "{r}");
    let r = erin.request("system", "refreshToken", json!({})).await;
    assert_eq!(r["data"]["code"], "INVALID_PAYLOAD", "{r}");

    // Valid until 2100-01-01T00:00:00Z.
    let mut fresh = claims("erin");
    fresh["exp"] = json!(4_102_444_800_i64);
    let r = erin
        .request(
            "system",
            "refreshToken",
            json!({ "token": hs256(SECRET, &fresh) }),
        )
        .await;
    assert_eq!(
        r["response"],
        json!({"success": true, "userId": "erin", "expiresAt": "2100-01-01T00:00:00.000Z"}),
        "{r}"
    );
    // Past the old grace period (frank's, a second later, has run out): erin is still
    // open and serving, and nothing was queued for her.
    expect_expired(&mut frank).await;
    let (closed, _) = frank.expect_close().await;
    assert_eq!(closed.code, Some(4001));
    erin.assert_nothing_queued().await;
    let me = erin.request("me", "whoami", json!(null)).await;
    assert_eq!(me["response"]["userId"], "erin");
}

#[tokio::test]
async fn refresh_token_without_configured_auth_is_a_clear_error() {
    let srv = TestServer::start(builder(WsConfig::default())).await;
    let mut c = srv.connect().await;
    let r = c
        .request("system", "refreshToken", json!({ "token": "x.y.z" }))
        .await;
    assert_eq!(r["data"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        r["data"]["error"],
        "Token authentication is not configured on this server"
    );
}

/// A server with the default 30 s leeway and a `grace_ms` refresh grace period.
fn with_leeway(grace_ms: u64) -> WsConfig {
    let mut config = hs_config(true);
    config.auth.refresh_grace = Duration::from_millis(grace_ms);
    config
}

#[tokio::test]
async fn a_refresh_with_an_expired_token_inside_the_leeway_is_refused_and_the_grace_period_runs_on()
{
    let srv = server(with_leeway(1500)).await;
    let mut c = claims("frank");
    c["exp"] = json!(now() + 1);
    let (mut frank, _) = login(&srv, &hs256(SECRET, &c)).await;
    expect_expired(&mut frank).await;
    // Tokens that expired seconds ago pass the 30 s leeway on connect, but a refresh must
    // carry a token that is valid now: each is refused and none restarts the grace period.
    for ago in [5, 2, 1] {
        let mut stale = claims("frank");
        stale["exp"] = json!(now() - ago);
        let r = frank
            .request(
                "system",
                "refreshToken",
                json!({ "token": hs256(SECRET, &stale) }),
            )
            .await;
        assert_eq!(r["data"]["code"], "TOKEN_EXPIRED", "{r}");
    }
    // The first grace period ends the socket: no second `auth/expired` came before the close.
    let (closed, before) = frank.expect_close().await;
    assert_eq!(closed.code, Some(4001), "{before:?}");
    assert!(before.is_empty(), "the grace period restarted: {before:?}");
    // Another client is still served.
    let (mut grace, _) = login(&srv, &hs256(SECRET, &claims("grace"))).await;
    let me = grace.request("me", "whoami", json!(null)).await;
    assert_eq!(me["response"]["userId"], "grace");
}

#[tokio::test]
async fn a_refresh_must_carry_a_later_exp_than_the_current_token() {
    let srv = server(hs_config(true)).await;
    let mut current = claims("gina");
    current["exp"] = json!(now() + 3600);
    let (mut gina, _) = login(&srv, &hs256(SECRET, &current)).await;
    for exp in [now() + 1800, current["exp"].as_i64().unwrap()] {
        let mut older = claims("gina");
        older["exp"] = json!(exp);
        let r = gina
            .request(
                "system",
                "refreshToken",
                json!({ "token": hs256(SECRET, &older) }),
            )
            .await;
        assert_eq!(r["data"]["code"], "TOKEN_NOT_NEWER", "{r}");
        assert!(r["data"]["error"].is_string(), "{r}");
    }
    let mut newer = claims("gina");
    newer["exp"] = json!(now() + 7200);
    let r = gina
        .request(
            "system",
            "refreshToken",
            json!({ "token": hs256(SECRET, &newer) }),
        )
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
    let me = gina.request("me", "whoami", json!(null)).await;
    assert_eq!(me["response"]["userId"], "gina");
}

#[tokio::test]
async fn tokens_and_the_secret_never_reach_the_log_even_at_trace() {
    let logs = pxl_ws_tests::logs::LogCapture::start();
    tracing::trace!("trace capture on");
    let srv = server(hs_config(false)).await;
    let mut tokens = Vec::new();
    let mut mint = |c: &Value, secret: &[u8]| {
        let t = hs256(secret, c);
        tokens.push(t.clone());
        t
    };
    // Accepted in the query and in the header.
    let (mut query, _) = login(&srv, &mint(&claims("q-user"), SECRET)).await;
    let bearer = format!("Bearer {}", mint(&claims("h-user"), SECRET));
    let mut header = TestClient::connect_with(&srv.url(), &[("authorization", &bearer)])
        .await
        .expect("bearer accepted");
    assert_eq!(header.recv().await["action"], "authenticated");
    // Refused: wrong key, expired, malformed.
    let mut expired = claims("late");
    expired["exp"] = json!(now() - 600);
    for bad in [
        mint(
            &claims("forger"),
            b"another secret of at least thirty-two bytes",
        ),
        mint(&expired, SECRET),
    ] {
        let r = TestClient::connect_with(&with_token(&srv, &bad), &[]).await;
        assert_eq!(r.err().expect("refused").status, 401);
    }
    let malformed = "not-a-jwt-but-a-long-opaque-string-7d1e".to_owned();
    let r = TestClient::connect_with(&with_token(&srv, &malformed), &[]).await;
    assert_eq!(r.err().expect("refused").body["code"], "TOKEN_MALFORMED");
    // Refreshed on a live socket: accepted, then refused (another subject).
    let mut later = claims("q-user");
    later["exp"] = json!(now() + 7200);
    let fresh = mint(&later, SECRET);
    let r = query
        .request("system", "refreshToken", json!({ "token": fresh }))
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
    let other = mint(&claims("someone-else"), SECRET);
    let r = query
        .request("system", "refreshToken", json!({ "token": other }))
        .await;
    assert_eq!(r["data"]["code"], "TOKEN_SUBJECT_MISMATCH", "{r}");
    assert_eq!(srv.handle.health().auth_rejected, 3);
    query.close().await;
    header.close().await;
    srv.stop().await;

    tokens.push(malformed);
    let log = logs.text();
    // The capture works: the refusals are logged, with their codes.
    assert!(log.contains("TOKEN_SIGNATURE_INVALID"), "{log}");
    assert!(log.contains("TOKEN_EXPIRED"), "{log}");
    assert!(log.contains("trace capture on"), "{log}");
    // tungstenite (the test's client, and the server's socket) dumps whole frames and
    // handshakes at TRACE; docs/security.md says to keep its target below TRACE. Every
    // other line, pxl-ws's own included, must be free of tokens.
    let lines_with = |needle: &str| -> Vec<&str> {
        log.lines()
            .filter(|l| l.contains(needle) && !l.contains(" tungstenite::"))
            .collect()
    };
    let secret = std::str::from_utf8(SECRET).unwrap();
    assert_eq!(
        lines_with(secret),
        Vec::<&str>::new(),
        "the secret is logged"
    );
    for t in &tokens {
        // Not the token, nor its claims or signature segment as sent.
        for part in std::iter::once(t.as_str()).chain(t.split('.').skip(1)) {
            assert_eq!(
                lines_with(part),
                Vec::<&str>::new(),
                "{part} (of {t}) is logged"
            );
        }
    }
}
