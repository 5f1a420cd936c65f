//! The in-memory history engine: one process. Each room's stream is a bounded
//! `VecDeque` behind its own mutex, which is held while the stamped frame is delivered, so
//! concurrent sends to one room reach every member in offset order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{
    Appended, HistoryEngine, HistoryError, Recovery, Since, expired, new_epoch, recover, stamp,
};
use crate::util::time::now_ms;

struct Stream {
    epoch: String,
    last: u64,
    last_write_ms: u64,
    /// (offset, written at, frame), oldest first.
    frames: VecDeque<(u64, u64, Utf8Bytes)>,
}

impl Stream {
    fn new(now: u64) -> Self {
        Self {
            epoch: new_epoch(),
            last: 0,
            last_write_ms: now,
            frames: VecDeque::new(),
        }
    }

    fn trim(&mut self, size: usize, ttl: Option<Duration>, now: u64) {
        while self.frames.len() > size {
            self.frames.pop_front();
        }
        while self.frames.front().is_some_and(|f| expired(f.1, ttl, now)) {
            self.frames.pop_front();
        }
    }
}

/// Room streams kept in this process.
pub(crate) struct MemoryHistory {
    size: usize,
    ttl: Option<Duration>,
    rooms: DashMap<String, Arc<Mutex<Stream>>>,
}

impl MemoryHistory {
    pub(crate) fn new(size: usize, ttl: Option<Duration>) -> Self {
        Self {
            size,
            ttl,
            rooms: DashMap::new(),
        }
    }

    /// The room's stream; one idle for longer than the TTL is gone (a new epoch).
    fn stream(&self, room: &str, now: u64) -> Arc<Mutex<Stream>> {
        let found = self.rooms.get(room).map(|s| s.clone());
        if let Some(s) = found {
            let lapsed = expired(s.lock().expect("stream lock").last_write_ms, self.ttl, now);
            if !lapsed {
                return s;
            }
            self.rooms.remove(room);
        }
        self.rooms
            .entry(room.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(Stream::new(now))))
            .clone()
    }

    /// Rooms with a stream (for tests and memory accounting).
    #[cfg(test)]
    fn rooms(&self) -> usize {
        self.rooms.len()
    }
}

impl HistoryEngine for MemoryHistory {
    fn append(
        &self,
        room: &str,
        frame: &str,
        _stamp: &dyn Fn() -> String,
        deliver: &mut dyn FnMut(Utf8Bytes),
    ) -> Appended {
        let now = now_ms();
        let stream = self.stream(room, now);
        let mut s = stream.lock().expect("stream lock");
        let Some(stamped) = stamp(frame, room, s.last + 1, &s.epoch) else {
            return Appended::NotRecorded;
        };
        s.last += 1;
        s.last_write_ms = now;
        let stamped = Utf8Bytes::from(stamped);
        let offset = s.last;
        s.frames.push_back((offset, now, stamped.clone()));
        s.trim(self.size, self.ttl, now);
        deliver(stamped);
        Appended::Delivered
    }

    fn read<'a>(
        &'a self,
        room: &'a str,
        since: Since,
    ) -> BoxFuture<'a, Result<Recovery, HistoryError>> {
        let now = now_ms();
        let stream = self.stream(room, now);
        let mut s = stream.lock().expect("stream lock");
        s.trim(self.size, self.ttl, now);
        let entries = s.frames.iter().map(|(o, _, f)| (*o, f.clone())).collect();
        let r = recover(&s.epoch, s.last, entries, &since);
        Box::pin(std::future::ready(Ok(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Position;

    fn read(h: &MemoryHistory, room: &str, since: Since) -> Recovery {
        futures_util::FutureExt::now_or_never(h.read(room, since))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn appends_are_stamped_bounded_and_replayed() {
        let h = MemoryHistory::new(3, None);
        let mut sent = Vec::new();
        for i in 1..=5 {
            let f = format!(r#"{{"type":"chat","action":"m","data":{i}}}"#);
            assert_eq!(
                h.append("r", &f, &String::new, &mut |s| sent.push(s)),
                Appended::Delivered
            );
        }
        assert_eq!(sent.len(), 5);
        let epoch = read(&h, "r", Since::Nothing).position.epoch;
        let r = read(
            &h,
            "r",
            Since::Position(Position {
                offset: 2,
                epoch: epoch.clone(),
            }),
        );
        assert!(r.recovered);
        assert_eq!(r.missed, sent[2..].to_vec());
        let r = read(&h, "r", Since::Position(Position { offset: 1, epoch }));
        assert!(!r.recovered, "offset 2 fell out of a history of 3");
        assert_eq!(h.rooms(), 1);
        assert_eq!(
            h.append("r", "not json", &String::new, &mut |_| panic!()),
            Appended::NotRecorded
        );
    }

    #[test]
    fn an_idle_stream_past_its_ttl_gets_a_new_epoch() {
        let h = MemoryHistory::new(10, Some(Duration::from_millis(1)));
        h.append("r", "{}", &String::new, &mut |_| {});
        let before = read(&h, "r", Since::Nothing).position;
        std::thread::sleep(Duration::from_millis(3));
        let r = read(&h, "r", Since::Position(before.clone()));
        assert!(!r.recovered);
        assert_ne!(r.position.epoch, before.epoch);
        assert_eq!(r.position.offset, 0);
    }
}
