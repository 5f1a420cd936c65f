//! Requests waiting for their reply, and how a reply finds its request.
//!
//! A pxl-ws server echoes the request's `id`, so a reply is matched by it. A PXL server
//! echoes no id: its replies are `{type, action, response?}` and its error frames
//! `{"type":"error","action":"message","data":{"error"}}`. So, on a connection whose
//! server has not been seen to echo ids, a reply without an id goes to the oldest
//! pending request of its `(type, action)`, and an error frame without an id to the
//! oldest pending request of the route its `data` names (`type` and `action`, which
//! pxl-ws adds), or else to the oldest pending request of all. Once the server is seen
//! to echo ids (its greeting is `system/connected`, or a reply came with a known id),
//! frames without an id are never taken for answers.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::Answer;

/// One request waiting for its answer.
struct Entry {
    ty: String,
    action: String,
    tx: oneshot::Sender<Answer>,
}

/// The requests waiting for an answer, oldest first (ids only grow).
#[derive(Default)]
pub(super) struct Pending {
    by_id: BTreeMap<u64, Entry>,
    /// The current connection's server echoes ids.
    echoes_ids: bool,
}

impl Pending {
    /// Waits for the answer to request `id`, sent as `ty/action`.
    pub(super) fn insert(&mut self, id: u64, ty: &str, action: &str, tx: oneshot::Sender<Answer>) {
        self.by_id.insert(
            id,
            Entry {
                ty: ty.to_owned(),
                action: action.to_owned(),
                tx,
            },
        );
    }

    /// Stops waiting for request `id` (it timed out or was never sent).
    pub(super) fn remove(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    /// A new connection: whether its server echoes ids is learned again.
    pub(super) fn set_echoes_ids(&mut self, echoes: bool) {
        self.echoes_ids = echoes;
    }

    /// Whether the current server is known to echo ids.
    #[cfg(test)]
    pub(super) fn echoes_ids(&self) -> bool {
        self.echoes_ids
    }

    /// The request a frame carrying `id` answers; the server echoes ids from now on.
    pub(super) fn take_id(&mut self, id: u64) -> Option<oneshot::Sender<Answer>> {
        let entry = self.by_id.remove(&id)?;
        self.echoes_ids = true;
        Some(entry.tx)
    }

    /// The oldest request sent as `ty/action`, when the server does not echo ids.
    pub(super) fn take_route(&mut self, ty: &str, action: &str) -> Option<oneshot::Sender<Answer>> {
        if self.echoes_ids {
            return None;
        }
        let id = self
            .by_id
            .iter()
            .find(|(_, e)| e.ty == ty && e.action == action)
            .map(|(id, _)| *id)?;
        self.by_id.remove(&id).map(|e| e.tx)
    }

    /// The oldest request of all, when the server does not echo ids.
    pub(super) fn take_oldest(&mut self) -> Option<oneshot::Sender<Answer>> {
        if self.echoes_ids {
            return None;
        }
        self.by_id.pop_first().map(|(_, e)| e.tx)
    }

    /// Every waiting request (the connection is gone).
    pub(super) fn drain(&mut self) -> Vec<oneshot::Sender<Answer>> {
        std::mem::take(&mut self.by_id)
            .into_values()
            .map(|e| e.tx)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(p: &mut Pending, id: u64, ty: &str, action: &str) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        p.insert(id, ty, action, tx);
        rx
    }

    fn answered(rx: &mut oneshot::Receiver<Answer>) -> bool {
        rx.try_recv().is_ok()
    }

    #[test]
    fn without_ids_replies_go_to_the_oldest_request_of_their_route() {
        let mut p = Pending::default();
        let mut a1 = waiting(&mut p, 1, "chat", "send");
        let mut b = waiting(&mut p, 2, "system", "joinRoom");
        let mut a2 = waiting(&mut p, 3, "chat", "send");
        let _ = p.take_route("chat", "send").unwrap().send(Ok(None));
        assert!(answered(&mut a1));
        assert!(!answered(&mut a2) && !answered(&mut b));
        let _ = p.take_route("chat", "send").unwrap().send(Ok(None));
        assert!(answered(&mut a2));
        assert!(p.take_route("chat", "send").is_none());
        let _ = p.take_oldest().unwrap().send(Ok(None));
        assert!(answered(&mut b));
        assert!(p.take_oldest().is_none());
    }

    #[test]
    fn once_the_server_echoes_an_id_frames_without_one_are_no_answers() {
        let mut p = Pending::default();
        let _a = waiting(&mut p, 1, "chat", "send");
        let _b = waiting(&mut p, 2, "chat", "send");
        assert!(!p.echoes_ids());
        assert!(p.take_id(2).is_some());
        assert!(p.echoes_ids());
        assert!(p.take_route("chat", "send").is_none());
        assert!(p.take_oldest().is_none());
        assert!(p.take_id(1).is_some());
        assert!(p.take_id(1).is_none(), "an id is answered once");
        p.set_echoes_ids(false);
        assert!(!p.echoes_ids());
    }

    #[test]
    fn drain_hands_back_every_waiting_request() {
        let mut p = Pending::default();
        let _a = waiting(&mut p, 1, "a", "b");
        let _b = waiting(&mut p, 2, "c", "d");
        p.remove(1);
        assert_eq!(p.drain().len(), 1);
        assert!(p.take_oldest().is_none());
    }
}
