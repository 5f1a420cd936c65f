//! The subscriber on a Redis Cluster: one RESP3 cluster connection (a socket per node)
//! whose pub/sub messages arrive as push frames. The fixed channels are plain
//! SUBSCRIBEs (plain pub/sub reaches every node of a cluster); the dynamic set is
//! SSUBSCRIBEd, each channel on the node owning its hash slot, in one command per slot.
//!
//! A node lost (killed, restarted, failed over) is reported by a disconnection push:
//! the subscriber then takes nothing as confirmed, reports itself disconnected, and
//! subscribes the whole set again, retrying with backoff the channels whose node is
//! still unreachable (an SSUBSCRIBE for a channel already held is a no-op, so channels on
//! the healthy nodes never stop). Once every channel is confirmed again it yields the
//! resync marker. A slot moved away (resharding) unsubscribes its channels on the old
//! node (a `sunsubscribe` push); they are subscribed again, on the new owner.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::cluster_async::ClusterConnection;
use redis::{PushKind, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Backoff, BusMessage, CONNECT_TIMEOUT, Inner, RESPONSE_TIMEOUT, SUBSCRIBE_BATCH};
use crate::redis_target::by_slot;

/// Subscription commands in flight at once (one per slot).
const CONCURRENT: usize = 64;

/// Keeps the cluster subscription up for `out`; ends when `out`'s receiver is dropped.
pub(super) async fn subscribe_loop(inner: Arc<Inner>, out: mpsc::Sender<BusMessage>) {
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        let (push_tx, mut push) = mpsc::unbounded_channel();
        let conn = tokio::select! {
            _ = out.closed() => return,
            r = inner.target.cluster_subscriber(push_tx) => r.expect("a cluster target"),
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                inner.sub_connected.store(false, Ordering::Relaxed);
                if failures == 0 {
                    tracing::warn!(error = %e, "redis cluster subscriber cannot connect; retrying");
                }
                failures += 1;
                tokio::select! {
                    _ = out.closed() => return,
                    _ = tokio::time::sleep(backoff.next()) => continue,
                }
            }
        };
        let mut fixed = false;
        // Whether everything wanted is confirmed; the resync marker goes out each time it
        // becomes so.
        let mut complete = false;
        let mut retry_at = Some(Instant::now());
        let mut heard = Instant::now();
        loop {
            let idle = tokio::time::sleep_until(heard + inner.idle_limit);
            tokio::select! {
                _ = out.closed() => return,
                _ = inner.changed.notified() => {
                    if complete && !sync(&inner, &conn, &mut fixed).await {
                        tracing::warn!("redis cluster subscription change failed; retrying");
                        inner.sub_connected.store(false, Ordering::Release);
                        complete = false;
                        retry_at = Some(Instant::now() + backoff.next());
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                    if sync(&inner, &conn, &mut fixed).await {
                        complete = true;
                        backoff.reset();
                        if failures > 0 {
                            tracing::info!("redis cluster subscriber resubscribed");
                            crate::metrics::bus_reconnect();
                            failures = 0;
                        }
                        inner.sub_connected.store(true, Ordering::Release);
                        // Let the publisher reconnect too before the server resyncs.
                        inner.wake.notify_one();
                        let deadline = Instant::now() + CONNECT_TIMEOUT;
                        while inner.down.load(Ordering::Acquire) && Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if out.send(BusMessage::resync()).await.is_err() {
                            return;
                        }
                    } else {
                        if failures == 0 {
                            tracing::warn!("redis cluster subscriber: a node is unreachable; retrying its channels");
                        }
                        failures += 1;
                        retry_at = Some(Instant::now() + backoff.next());
                    }
                }
                _ = idle => {
                    tracing::warn!("redis cluster subscriber heard nothing for a whole liveness TTL");
                    break;
                }
                p = push.recv() => {
                    let Some(p) = p else { break };
                    heard = Instant::now();
                    match p.kind {
                        PushKind::Message | PushKind::SMessage => {
                            if let [channel, payload, ..] = p.data.as_slice()
                                && let (Some(channel), Some(payload)) = (bytes(channel), bytes(payload))
                            {
                                let msg = BusMessage {
                                    channel: String::from_utf8_lossy(channel).into_owned(),
                                    payload: Bytes::copy_from_slice(payload),
                                };
                                if out.send(msg).await.is_err() {
                                    return;
                                }
                            }
                        }
                        PushKind::Disconnection => {
                            if complete || failures == 0 {
                                tracing::warn!("redis cluster subscriber lost a node; resubscribing");
                            }
                            inner.sub_connected.store(false, Ordering::Release);
                            inner.dynamic().lost();
                            fixed = false;
                            complete = false;
                            failures = failures.max(1);
                            retry_at.get_or_insert_with(|| Instant::now() + backoff.next());
                        }
                        PushKind::SUnsubscribe => {
                            // Ours (a last leave), or the server's: the slot moved away.
                            if let Some(ch) = p.data.first().and_then(bytes) {
                                let ch = String::from_utf8_lossy(ch);
                                let mut d = inner.dynamic();
                                if d.wanted.contains(ch.as_ref()) && d.confirmed.remove(ch.as_ref()) {
                                    retry_at.get_or_insert_with(Instant::now);
                                    complete = false;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        inner.sub_connected.store(false, Ordering::Release);
        inner.dynamic().lost();
        tracing::warn!("redis cluster subscriber connection lost; reconnecting");
        failures = failures.max(1);
    }
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Subscribes the fixed channels (unless `fixed` says they are) and brings the sharded
/// subscriptions in line with the wanted set, one command per slot (several at once);
/// releases the waiters of what got confirmed. `true` when everything is in place.
async fn sync(inner: &Inner, conn: &ClusterConnection, fixed: &mut bool) -> bool {
    let mut ok = true;
    if !*fixed {
        let groups = by_slot(inner.channels.clone(), |c| c.as_bytes());
        let results: Vec<bool> = futures_util::stream::iter(groups)
            .map(|g| {
                let mut c = conn.clone();
                async move {
                    match tokio::time::timeout(RESPONSE_TIMEOUT, c.subscribe(&g)).await {
                        Ok(Ok(())) => true,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "redis cluster SUBSCRIBE failed");
                            false
                        }
                        Err(_) => false,
                    }
                }
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        *fixed = results.iter().all(|r| *r);
        ok &= *fixed;
    }
    let (add, remove): (Vec<String>, Vec<String>) = {
        let d = inner.dynamic();
        (
            d.wanted.difference(&d.confirmed).cloned().collect(),
            d.confirmed.difference(&d.wanted).cloned().collect(),
        )
    };
    let chunks = |v: Vec<String>| -> Vec<Vec<String>> {
        by_slot(v, |c| c.as_bytes())
            .into_iter()
            .flat_map(|g| {
                g.chunks(SUBSCRIBE_BATCH)
                    .map(<[String]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut adds = futures_util::stream::iter(chunks(add))
        .map(|g| {
            let mut c = conn.clone();
            async move {
                let r = tokio::time::timeout(RESPONSE_TIMEOUT, c.ssubscribe(&g)).await;
                (g, matches!(r, Ok(Ok(()))))
            }
        })
        .buffer_unordered(CONCURRENT);
    while let Some((g, done)) = adds.next().await {
        if done {
            let mut d = inner.dynamic();
            d.confirmed.extend(g);
            d.release();
        } else {
            ok = false;
        }
    }
    let mut removes = futures_util::stream::iter(chunks(remove))
        .map(|g| {
            let mut c = conn.clone();
            async move {
                let r = tokio::time::timeout(RESPONSE_TIMEOUT, c.sunsubscribe(&g)).await;
                (g, matches!(r, Ok(Ok(()))))
            }
        })
        .buffer_unordered(CONCURRENT);
    while let Some((g, done)) = removes.next().await {
        if done {
            let mut d = inner.dynamic();
            for ch in &g {
                d.confirmed.remove(ch);
            }
        } else {
            ok = false;
        }
    }
    ok
}
