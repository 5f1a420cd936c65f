//! Shared by the tests that run the `example-chat` binary.

use std::process::Stdio;

use pxl_ws_tests::WAIT;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `example-chat` on a free port with `env` set and the Redis variables cleared
/// unless `env` sets them; returns it and its socket URL.
pub(crate) async fn spawn_chat(env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-chat"));
    cmd.env("PXL_WS_PORT", "0")
        .env("RUST_LOG", "warn")
        .env_remove("REDIS_URL")
        .env_remove("PXL_WS_REDIS_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn example-chat");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // "Open http://127.0.0.1:PORT/ in a browser (Ctrl-C to stop)"
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("chat prints its address")
        .unwrap()
        .expect("chat exited early");
    let http = line.split_whitespace().nth(1).expect("address").to_owned();
    (child, http.replacen("http://", "ws://", 1) + "ws")
}
