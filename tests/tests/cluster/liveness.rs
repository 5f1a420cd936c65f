//! `kill -9` of one instance process: its clients leave the others' views (rooms,
//! cluster clients, instances) once its liveness TTL has lapsed, and not before; the
//! survivors' own clients stay. On one Redis and on a three-master Redis Cluster.

use std::time::{Duration, Instant};

use pxl_ws_tests::cluster::Node;
use pxl_ws_tests::{RedisCluster, RedisServer, TestClient};

use crate::{NODE_BIN, instances, members, probe, sorted, view, wait_view};

const TTL: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_killed_instance_is_purged_from_the_others_views_once_its_ttl_lapses() {
    let redis = RedisServer::start().await;
    purged_once_its_ttl_lapses(&redis.url()).await;
}

#[tokio::test]
async fn a_killed_instance_is_purged_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    purged_once_its_ttl_lapses(&redis.url()).await;
}

async fn purged_once_its_ttl_lapses(url: &str) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::spawn(NODE_BIN, url, "liveness", TTL).await);
    }
    // Four clients per node, all in "lobby".
    let mut clients: Vec<Vec<TestClient>> = Vec::new();
    for n in &nodes {
        let mut mine = Vec::new();
        for _ in 0..4 {
            let mut c = TestClient::connect(&n.url()).await;
            c.join("lobby").await;
            mine.push(c);
        }
        clients.push(mine);
    }
    let everyone = sorted(clients.iter().flatten().map(|c| c.id.clone()).collect());
    let survivors = sorted(
        clients[..2]
            .iter()
            .flatten()
            .map(|c| c.id.clone())
            .collect(),
    );

    let mut p0 = probe(&nodes[0]).await;
    let mut p1 = probe(&nodes[1]).await;
    for p in [&mut p0, &mut p1] {
        let all =
            |v: &serde_json::Value| members(v, "lobby") == everyone && instances(v).len() == 3;
        wait_view(
            p,
            &["lobby"],
            Duration::from_secs(5),
            "all twelve members on every node",
            all,
        )
        .await;
    }

    // No goodbye: SIGKILL.
    let dead = nodes.pop().unwrap();
    let dead_id = dead.instance_id.clone();
    dead.kill9().await;
    let killed_at = Instant::now();
    drop(clients.pop());

    // Its last heartbeat was at most a third of the TTL before the kill, so it is still
    // known two thirds of the TTL after it (a purge before would not be liveness)...
    let still = view(&mut p0, &["lobby"]).await;
    let checked_after = killed_at.elapsed();
    if checked_after < TTL * 2 / 3 {
        assert!(
            instances(&still).contains(&dead_id),
            "purged too early: {still}"
        );
    }
    // ...and purged by the sweep after TTL + a sweep period (a tenth of it). The bound
    // allows another TTL of slack so a loaded machine does not fail it; a node that only
    // a goodbye (or nothing at all) would remove is never purged.
    for p in [&mut p0, &mut p1] {
        let purged = |v: &serde_json::Value| {
            members(v, "lobby") == survivors && !instances(v).contains(&dead_id)
        };
        let left = (TTL * 2 + TTL / 10).saturating_sub(killed_at.elapsed());
        wait_view(
            p,
            &["lobby"],
            left,
            "the killed node's clients leave the view",
            purged,
        )
        .await;
    }
    let purged_after = killed_at.elapsed();
    // The survivors' clients are all still there, cluster-wide.
    let v = view(&mut p0, &[]).await;
    let clients_seen: Vec<String> = serde_json::from_value(v["clients"].clone()).unwrap();
    for id in &survivors {
        assert!(
            clients_seen.contains(id),
            "{id} missing from {clients_seen:?}"
        );
    }
    assert_eq!(instances(&v).len(), 2, "{v}");
    eprintln!("TTL {TTL:?}: purged {purged_after:?} after kill -9");
}
