//! Matchers: which channels (and messages) a subscriber runs for.

use std::fmt;
use std::sync::Arc;

/// The eleven events of PXL's cluster contract, as subscriber channels.
///
/// A subscriber on `Event::QueueJobCompleted` runs for the channel `"queueJobCompleted"`
/// (the event name without the cluster prefix) on every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// `clientConnected`: a client connected (or its user id / username changed).
    ClientConnected,
    /// `clientDisconnected`: a client's socket closed.
    ClientDisconnected,
    /// `disconnectClient`: an instance asked for a client to be disconnected.
    DisconnectClient,
    /// `clientJoinedRoom`: a client joined a room.
    ClientJoinedRoom,
    /// `clientLeftRoom`: a client left a room.
    ClientLeftRoom,
    /// `sendMessage`: a send to rooms, a user or a client.
    SendMessage,
    /// `sendMessageToAll`: a send to every client.
    SendMessageToAll,
    /// `messageError`: an error frame routed to a client's instance.
    MessageError,
    /// `queueJobCompleted`: a queue job finished for a client.
    QueueJobCompleted,
    /// `queueJobError`: a queue job failed for a client.
    QueueJobError,
    /// `custom`: an event from [`Server::publish_custom`](crate::Server::publish_custom).
    Custom,
}

impl Event {
    /// All eleven, in PXL's order.
    pub const ALL: [Event; 11] = [
        Event::ClientConnected,
        Event::ClientDisconnected,
        Event::DisconnectClient,
        Event::ClientJoinedRoom,
        Event::ClientLeftRoom,
        Event::SendMessage,
        Event::SendMessageToAll,
        Event::MessageError,
        Event::QueueJobCompleted,
        Event::QueueJobError,
        Event::Custom,
    ];

    /// The channel name, e.g. `"queueJobCompleted"`.
    pub const fn as_str(self) -> &'static str {
        use crate::events as c;
        match self {
            Event::ClientConnected => c::CLIENT_CONNECTED,
            Event::ClientDisconnected => c::CLIENT_DISCONNECTED,
            Event::DisconnectClient => c::DISCONNECT_CLIENT,
            Event::ClientJoinedRoom => c::CLIENT_JOINED_ROOM,
            Event::ClientLeftRoom => c::CLIENT_LEFT_ROOM,
            Event::SendMessage => c::SEND_MESSAGE,
            Event::SendMessageToAll => c::SEND_MESSAGE_TO_ALL,
            Event::MessageError => c::MESSAGE_ERROR,
            Event::QueueJobCompleted => c::QUEUE_JOB_COMPLETED,
            Event::QueueJobError => c::QUEUE_JOB_ERROR,
            Event::Custom => c::CUSTOM,
        }
    }

    /// The event named `channel`, if it is one of the eleven.
    pub fn from_channel(channel: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == channel)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Event> for Matcher {
    fn from(e: Event) -> Self {
        Matcher::Exact(e.as_str().into())
    }
}

impl From<&str> for Matcher {
    /// `"*"` is [`Matcher::Any`]; any other string matches that channel exactly.
    fn from(s: &str) -> Self {
        if s == "*" {
            Matcher::Any
        } else {
            Matcher::Exact(s.into())
        }
    }
}

/// A predicate over the channel and the message.
pub type Predicate = Arc<dyn Fn(&str, &serde_json::Value) -> bool + Send + Sync>;

/// One way a subscriber selects events. A subscriber runs when any of its matchers
/// matches.
///
/// ```
/// use pxl_ws::{Event, Matcher};
/// let msg = serde_json::json!({"segment": "vip"});
/// assert!(Matcher::from("*").matches("anything", &msg));
/// assert!(Matcher::from(Event::QueueJobError).matches("queueJobError", &msg));
/// assert!(Matcher::regex("^analytics:").unwrap().matches("analytics:view", &msg));
/// let vip = Matcher::predicate(|_channel, m| m["segment"] == "vip");
/// assert!(vip.matches("orders", &msg));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Matcher {
    /// Every channel (`"*"`).
    Any,
    /// Exactly this channel.
    Exact(Box<str>),
    /// Channels this regular expression finds a match in (unanchored, like JavaScript's
    /// `RegExp.test`; anchor with `^...$`).
    Regex(regex::Regex),
    /// Events for which the predicate returns `true`. A panicking predicate is logged and
    /// counts as `false`.
    Predicate(Predicate),
}

impl Matcher {
    /// A regex matcher; `Err` when `pattern` is not a valid regular expression.
    pub fn regex(pattern: &str) -> Result<Matcher, regex::Error> {
        regex::Regex::new(pattern).map(Matcher::Regex)
    }

    /// A predicate matcher.
    pub fn predicate(f: impl Fn(&str, &serde_json::Value) -> bool + Send + Sync + 'static) -> Self {
        Matcher::Predicate(Arc::new(f))
    }

    /// Whether this matcher selects the event.
    pub fn matches(&self, channel: &str, message: &serde_json::Value) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Exact(c) => &**c == channel,
            Matcher::Regex(r) => r.is_match(channel),
            Matcher::Predicate(p) => match crate::util::panic::isolate(|| p(channel, message)) {
                Ok(b) => b,
                Err(panic) => {
                    tracing::error!(
                        channel,
                        %panic,
                        "subscriber predicate panicked; counted as no match"
                    );
                    false
                }
            },
        }
    }

    /// Whether this matcher might select an event on `channel` (predicates might).
    pub(crate) fn may_match(&self, channel: &str) -> bool {
        match self {
            Matcher::Predicate(_) => true,
            m => m.matches(channel, &serde_json::Value::Null),
        }
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Any => f.write_str("*"),
            Matcher::Exact(c) => write!(f, "{c:?}"),
            Matcher::Regex(r) => write!(f, "regex({:?})", r.as_str()),
            Matcher::Predicate(_) => f.write_str("predicate"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_event_enum_is_the_event_name_table() {
        let names: Vec<&str> = super::Event::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names, crate::events::PXL_EVENTS);
        for name in crate::events::EVENTS {
            assert_eq!(
                super::Event::from_channel(name).is_some(),
                crate::events::is_builtin(name),
                "{name}"
            );
        }
    }
}
