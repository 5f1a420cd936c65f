//! Token claims never go on the bus: other instances learn a client's id, user id and
//! rooms, never its token, roles or other claims. Checked on the Redis traffic itself,
//! through a pattern subscription on the app's prefix.

use std::time::Duration;

use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::jwt::{claims, hs256};
use pxl_ws_tests::{RedisServer, TestClient, TestServer, eventually_async, room_len};
use serde_json::json;

const SECRET: &str = "a cluster secret of at least thirty-two bytes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_claim_crosses_the_bus() {
    let redis = RedisServer::start().await;
    let mut tap = redis.tap("tokens:*").await;
    let mut config = cluster_config(&redis.url(), "tokens", Duration::from_secs(60));
    config.auth.jwt_secret = Some(SECRET.into());
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config.clone())).await;

    let private = |email: &str| {
        let mut c = claims("alice");
        c["roles"] = json!(["admin", "ops"]);
        c["email"] = json!(email);
        c["tenantKey"] = json!("tenant-claim-7f3a");
        c
    };
    let first = hs256(SECRET.as_bytes(), &private("alice@example.test"));
    let mut alice = TestClient::connect(&format!("{}?token={first}", s1.url())).await;
    assert_eq!(alice.recv().await["action"], "authenticated");
    alice.join("room").await;
    // A refresh must expire later than the token it replaces.
    let mut refreshed = private("alice.two@example.test");
    refreshed["exp"] = json!(refreshed["exp"].as_i64().expect("exp") + 3600);
    let second = hs256(SECRET.as_bytes(), &refreshed);
    let r = alice
        .request("system", "refreshToken", json!({ "token": second }))
        .await;
    assert_eq!(r["response"]["success"], true, "{r}");
    let bob_token = hs256(SECRET.as_bytes(), &claims("bob"));
    let bearer = format!("Bearer {bob_token}");
    let mut bob = TestClient::connect_with(&s2.url(), &[("authorization", &bearer)])
        .await
        .expect("bob connects");
    assert_eq!(bob.recv().await["action"], "authenticated");
    bob.join("room").await;
    // A late instance gets everything through snapshots too.
    let s3 = TestServer::start(probe_builder(config)).await;
    eventually_async("every instance sees both members", async || {
        for s in [&s1, &s2, &s3] {
            if room_len(&s.handle, "room").await != 2 {
                return false;
            }
        }
        true
    })
    .await;
    s1.handle.publish_custom("sentinel", &json!("end")).unwrap();
    let traffic = tap.until("tokens:custom", "sentinel").await;

    // The tap saw the membership traffic: alice's user id crossed, as it should.
    assert!(
        traffic
            .iter()
            .any(|(ch, p)| ch == "tokens:clientConnected" && p.contains("\"alice\"")),
        "{traffic:?}"
    );
    for (channel, payload) in &traffic {
        for secret in [
            first.as_str(),
            second.as_str(),
            bob_token.as_str(),
            "alice@example.test",
            "alice.two@example.test",
            "tenant-claim-7f3a",
            "roles",
            "admin",
            SECRET,
        ] {
            assert!(
                !payload.contains(secret),
                "{secret:?} went on the bus in {channel}: {payload}"
            );
        }
        for t in [&first, &second, &bob_token] {
            let signature = t.rsplit('.').next().unwrap();
            assert!(!payload.contains(signature), "a signature in {channel}");
        }
    }
    drop((alice, bob));
    for s in [s1, s2, s3] {
        s.stop().await;
    }
}
