//! Every scenario runs end to end for a fraction of a second (`--quick`) against both
//! servers under test, in-process on real loopback sockets, and counts add up.

use pxl_ws_bench::{Options, Scenario};
use serde_json::Value;

async fn pxl_ws_server() -> String {
    pxl_ws_server_with(|_| {}).await
}

async fn pxl_ws_server_with(tweak: impl FnOnce(&mut pxl_ws::WsConfig)) -> String {
    let mut config = pxl_ws::WsConfig::default();
    example_bench_server::bench_defaults(&mut config);
    tweak(&mut config);
    let server = example_bench_server::build(config).expect("bench server builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve_listener(listener));
    format!("ws://{addr}/ws")
}

async fn floor_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = pxl_ws_bench::floor::router(Default::default());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("ws://{addr}/ws")
}

async fn run(scenario: Scenario, urls: &[&str], tweak: impl FnOnce(&mut Options)) -> Value {
    let mut options = Options::defaults(scenario);
    options.urls = urls.iter().map(|u| u.to_string()).collect();
    options.server_pids = vec![std::process::id()];
    options.quick();
    tweak(&mut options);
    let result = pxl_ws_bench::run(scenario, &options)
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", scenario.name()));
    assert_eq!(result["scenario"], scenario.name());
    assert!(result["server_cpu_s"].is_number(), "{result}");
    assert!(result["loadgen_cpu_util"].is_number(), "{result}");
    result
}

async fn all_scenarios(url: &str) {
    let connect = run(Scenario::Connect, &[url], |o| o.source_ips = 2).await;
    assert_eq!(connect["connections"], 40, "{connect}");
    assert!(connect["rss_per_connection_kib"].is_number(), "{connect}");
    assert!(
        connect["kernel_tcp_mem_per_connection_kib"].is_number(),
        "{connect}"
    );

    let echo = run(Scenario::Echo, &[url], |o| o.connections = 10).await;
    assert_eq!(echo["errors"], 0, "{echo}");
    assert!(echo["requests"].as_u64().unwrap() > 10, "{echo}");
    assert!(echo["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{echo}");

    // The open loop: 10 sockets, 500 requests/s in total (the quick run caps the rate).
    let open = run(Scenario::Echo, &[url], |o| {
        o.connections = 10;
        o.rate = Some(500.0);
    })
    .await;
    assert_eq!(open["mode"], "open", "{open}");
    assert_eq!(
        (open["errors"].as_u64(), open["unanswered"].as_u64()),
        (Some(0), Some(0)),
        "{open}"
    );
    // 300 ms at 500/s: 150 requests due in the window, give or take the edges.
    let requests = open["requests"].as_u64().unwrap();
    assert!((140..=160).contains(&requests), "{open}");
    assert!(open["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{open}");

    for rate in [None, Some(500.0)] {
        let broadcast = run(Scenario::Broadcast, &[url], |o| {
            o.connections = 20;
            o.rooms = 4;
            o.publishers = 2;
            o.rate = rate;
        })
        .await;
        assert_eq!(broadcast["errors"], 0, "{broadcast}");
        assert_eq!(broadcast["lost"], 0, "{broadcast}");
        let deliveries = broadcast["deliveries"].as_u64().unwrap();
        assert!(deliveries > 0, "{broadcast}");
        assert_eq!(broadcast["expected_deliveries"], deliveries, "{broadcast}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_run_against_the_pxl_ws_bench_server() {
    let url = pxl_ws_server().await;
    all_scenarios(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_run_against_the_floor() {
    let url = floor_server().await;
    all_scenarios(&url).await;
}

/// Without a shared bus the two "instances" are one server reached twice; the scenario's
/// bookkeeping (subscribers and publishers spread over both URLs) is what is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_spreads_over_two_urls() {
    let url = pxl_ws_server().await;
    let cluster = run(Scenario::Cluster, &[&url, &url], |o| {
        o.connections = 20;
        o.rooms = 2;
        o.publishers = 2;
    })
    .await;
    assert_eq!(cluster["urls"], 2, "{cluster}");
    assert_eq!(cluster["lost"], 0, "{cluster}");
    assert!(cluster["deliveries"].as_u64().unwrap() > 0, "{cluster}");
}

/// The rejoin check is the scenario's own: a reply without all the missed frames, in
/// order and recovered, fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_gets_every_missed_message_back() {
    let url = pxl_ws_server_with(|c| c.rooms.history.size = 100).await;
    let recover = run(Scenario::Recover, &[&url], |_| {}).await;
    assert_eq!(recover["missed"], 100, "{recover}");
    assert_eq!(recover["recoveries"], 3, "{recover}");
    assert_eq!(recover["recover_ms"]["samples"], 3, "{recover}");
    assert!(
        recover["recover_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{recover}"
    );
    // 100 stamped frames of some 100 bytes each.
    assert!(
        recover["reply_bytes"].as_f64().unwrap() > 100.0 * 80.0,
        "{recover}"
    );
    assert!(
        recover["server_cpu_us_per_recovery"].as_f64().unwrap() > 0.0,
        "{recover}"
    );

    // A history smaller than the gap: the scenario reports the failed recovery.
    let small = pxl_ws_server_with(|c| c.rooms.history.size = 10).await;
    let mut options = Options::defaults(Scenario::Recover);
    options.urls = vec![small];
    options.quick();
    let err = pxl_ws_bench::run(Scenario::Recover, &options)
        .await
        .expect_err("10 messages of history cannot fill a gap of 100");
    assert!(err.to_string().contains("recovered false"), "{err}");

    // Without history the join reply has no position to resume from.
    let off = pxl_ws_server().await;
    options.urls = vec![off];
    let err = pxl_ws_bench::run(Scenario::Recover, &options)
        .await
        .expect_err("no history");
    assert!(err.to_string().contains("PXL_WS_HISTORY_SIZE"), "{err}");
}

#[test]
fn options_parse() {
    let args: Vec<String> = [
        "echo",
        "-n",
        "5",
        "--rate",
        "max",
        "--url",
        "ws://127.0.0.1:1/ws",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (scenario, options) = Options::parse(&args).unwrap();
    assert_eq!(scenario, Scenario::Echo);
    assert_eq!(options.connections, 5);
    assert_eq!(options.rate, None);
    let one_url: Vec<String> = ["cluster", "--url", "ws://127.0.0.1:1/ws"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(Options::parse(&one_url).is_err());
}
