//! The cluster view: room memberships, clients and users of other instances converge,
//! including on an instance started after the rooms formed; leaves and disconnects
//! propagate; apps with different prefixes on one Redis do not see each other.

use std::collections::BTreeMap;
use std::time::Duration;

use pxl_ws::{ClientId, Frame};
use pxl_ws_tests::cluster::{cluster_config, probe_builder};
use pxl_ws_tests::{
    RedisServer, TestClient, TestServer, WAIT, eventually, eventually_async, poll_until, room_len,
};
use serde_json::json;

/// Long enough that only a goodbye (never a lapsed liveness) can purge an instance
/// within the test.
const TTL: Duration = Duration::from_secs(60);

/// Room name -> sorted members, as `server`'s directory sees them.
async fn rooms_seen(server: &TestServer, names: &[String]) -> BTreeMap<String, Vec<ClientId>> {
    let mut out = BTreeMap::new();
    for r in names {
        let mut m = server
            .handle
            .directory()
            .room_members(r)
            .await
            .unwrap_or_default();
        m.sort();
        out.insert(r.clone(), m);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_converges_including_an_instance_started_later() {
    let redis = RedisServer::start().await;
    let config = cluster_config(&redis.url(), "membership", TTL);
    let s1 = TestServer::start(probe_builder(config.clone())).await;
    let s2 = TestServer::start(probe_builder(config.clone())).await;

    // 30 clients over two instances, each in one or two of five rooms; some with users.
    let names: Vec<String> = (0..5).map(|i| format!("room{i}")).collect();
    let mut clients: Vec<TestClient> = Vec::new();
    let mut expected: BTreeMap<String, Vec<ClientId>> =
        names.iter().map(|n| (n.clone(), Vec::new())).collect();
    for i in 0..30 {
        let srv = if i % 2 == 0 { &s1 } else { &s2 };
        let mut c = srv.connect().await;
        let id: ClientId = c.id.parse().unwrap();
        for r in [i % 5, (i * 3 + 1) % 5] {
            let name = &names[r];
            if !expected[name].contains(&id) {
                c.join(name).await;
                expected.get_mut(name).unwrap().push(id);
            }
        }
        if i % 3 == 0 {
            let r = c
                .request("t", "setUser", json!(format!("user{}", i % 6)))
                .await;
            assert_eq!(r["response"], true);
        }
        clients.push(c);
    }
    for m in expected.values_mut() {
        m.sort();
    }
    eventually_async("the two instances agree on every room", async || {
        rooms_seen(&s1, &names).await == expected && rooms_seen(&s2, &names).await == expected
    })
    .await;

    // An instance started now sees everything in the directory.
    let s3 = TestServer::start(probe_builder(config)).await;
    eventually_async("the late instance sees every room", async || {
        rooms_seen(&s3, &names).await == expected
    })
    .await;
    eventually("the late instance hears both others", || {
        s3.handle.instances().len() == 3
    })
    .await;
    let dir3 = s3.handle.directory();
    let mut all = dir3.client_ids().await.unwrap();
    all.sort();
    let mut want: Vec<ClientId> = clients.iter().map(|c| c.id.parse().unwrap()).collect();
    want.sort();
    assert_eq!(all, want);
    // User lookups and client records span the cluster.
    let mut user0 = dir3.user_clients("user0").await.unwrap();
    user0.sort();
    let mut want_user0: Vec<ClientId> = [0, 6, 12, 18, 24]
        .iter()
        .filter(|i| *i % 3 == 0)
        .map(|i| clients[*i].id.parse().unwrap())
        .collect();
    want_user0.sort();
    assert_eq!(user0, want_user0);
    let c0: ClientId = clients[0].id.parse().unwrap();
    let info = dir3
        .client(c0)
        .await
        .unwrap()
        .expect("a remote client's record");
    assert_eq!(info.instance_id.as_deref(), Some(s1.handle.instance_id()));
    assert_eq!(info.user_id.as_deref(), Some("user0"));
    assert_eq!(s1.handle.get_client(c0).unwrap().instance_id, None);
    let list = dir3.rooms().await.unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(
        list.iter().map(|(_, n)| n).sum::<usize>(),
        expected.values().map(Vec::len).sum::<usize>()
    );

    // A client on the late instance joins; a leave and a disconnect elsewhere.
    let mut newcomer = s3.connect().await;
    newcomer.join("room0").await;
    let newcomer_id: ClientId = newcomer.id.parse().unwrap();
    expected.get_mut("room0").unwrap().push(newcomer_id);
    let leaver: ClientId = clients[1].id.parse().unwrap();
    clients[1].leave("room1").await;
    expected.get_mut("room1").unwrap().retain(|c| *c != leaver);
    let gone = clients.remove(2);
    let gone_id: ClientId = gone.id.parse().unwrap();
    gone.close().await;
    for m in expected.values_mut() {
        m.retain(|c| *c != gone_id);
        m.sort();
    }
    eventually_async("changes reach every instance", async || {
        for s in [&s1, &s2, &s3] {
            if rooms_seen(s, &names).await != expected {
                return false;
            }
        }
        true
    })
    .await;
    for s in [&s1, &s2, &s3] {
        let dir = s.handle.directory();
        assert!(dir.client(gone_id).await.unwrap().is_none());
        assert_eq!(dir.connection_count().await.unwrap(), clients.len() + 1);
    }

    // A graceful stop is announced: the others forget the instance at once, a small
    // fraction of the 60 s TTL after which liveness alone would purge it.
    let s3_id = s3.handle.instance_id().to_owned();
    drop(newcomer);
    drop(clients);
    s3.stop().await;
    poll_until(
        "a stopped instance leaves the others' views",
        WAIT,
        async || {
            let views = (s1.handle.instances(), s2.handle.instances());
            (!views.0.contains(&s3_id) && !views.1.contains(&s3_id))
                .then_some(())
                .ok_or_else(|| format!("{views:?}"))
        },
    )
    .await;
    s1.stop().await;
    s2.stop().await;
}

#[tokio::test]
async fn apps_with_different_prefixes_on_one_redis_do_not_see_each_other() {
    let redis = RedisServer::start().await;
    let a1 = TestServer::start(probe_builder(cluster_config(&redis.url(), "app-a", TTL))).await;
    let a2 = TestServer::start(probe_builder(cluster_config(&redis.url(), "app-a", TTL))).await;
    let b1 = TestServer::start(probe_builder(cluster_config(&redis.url(), "app-b", TTL))).await;
    let mut x = a1.connect().await;
    let mut y = a2.connect().await;
    let mut z = b1.connect().await;
    for c in [&mut x, &mut y, &mut z] {
        c.join("lobby").await;
    }
    // App A is a cluster of two...
    eventually_async("app A's instances see each other", async || {
        room_len(&a1.handle, "lobby").await == 2 && a2.handle.instances().len() == 2
    })
    .await;
    // One subscriber, one publisher and one directory connection per instance.
    eventually("three redis connections per instance", || {
        redis.connected_clients() == 3 * 3
    })
    .await;
    // ...and app B is alone.
    assert_eq!(
        b1.handle.instances(),
        vec![b1.handle.instance_id().to_owned()]
    );
    assert_eq!(room_len(&b1.handle, "lobby").await, 1);

    // Sends stay inside their app.
    let frame = |seq: u64| Frame::new("t", "msg", &json!({ "seq": seq })).unwrap();
    assert_eq!(a1.handle.send_to_room("lobby", &frame(1), None), 1);
    assert_eq!(x.recv().await["data"]["seq"], 1);
    assert_eq!(y.recv().await["data"]["seq"], 1);
    assert_eq!(b1.handle.send_to_all(&frame(2), None), 1);
    assert_eq!(z.recv().await["data"]["seq"], 2);
    // B publishes a send to y on its own channels; Redis has it before A publishes a
    // marker to y, so the marker is y's next frame only if B's send never reached A.
    let mut tap = redis.tap("app-b:*").await;
    let y_id: ClientId = y.id.parse().unwrap();
    assert_eq!(b1.handle.send_to_client(y_id, &frame(3)), 0);
    tap.until(&format!("app-b:{{client:{y_id}}}:send"), &y.id)
        .await;
    assert_eq!(a1.handle.send_to_client(y_id, &frame(4)), 0);
    assert_eq!(y.recv().await["data"]["seq"], 4);
    for c in [&mut x, &mut z] {
        c.assert_nothing_queued().await;
    }
    assert_eq!(a1.handle.instances().len(), 2);
    assert_eq!(b1.handle.instances().len(), 1);
    drop((x, y, z));
    for s in [a1, a2, b1] {
        s.stop().await;
    }
}
