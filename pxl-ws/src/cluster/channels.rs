//! Which bus channel carries what: the fixed `<prefix>:<event>` channels, each room's
//! channel and each instance's direct channel. Every name is built here and parsed back
//! here, so a rename cannot drift between the publisher and the receivers.
//!
//! - A send to room `R` travels on [`room`]: `<prefix>:{room:R}:send`. An instance
//!   subscribes to it only while it has local members of `R`.
//! - A send to a client or a user travels on [`instance`] of each instance holding one
//!   of its connections: `<prefix>:{instance:ID}:direct`. Each instance subscribes to
//!   its own for its whole life.
//!
//! The braces are a Redis Cluster hash tag: everything kept for room `R` under keys
//! `<prefix>:{room:R}:…` lives in the same hash slot as `R`'s channel, so one script
//! may touch both.

/// The channel that carries sends to `room`.
///
/// ```text
/// room("pxl-ws", "lobby") == "pxl-ws:{room:lobby}:send"
/// ```
pub(crate) fn room(prefix: &str, room: &str) -> String {
    format!("{prefix}:{{room:{room}}}:send")
}

/// The channel that carries sends for clients of `instance`.
pub(crate) fn instance(prefix: &str, instance: &str) -> String {
    format!("{prefix}:{{instance:{instance}}}:direct")
}

/// A channel name with the prefix and its `:` taken off, as the receiver sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// A fixed channel: one of the event names.
    Event(&'a str),
    /// A room's channel.
    Room(&'a str),
    /// An instance's direct channel.
    Instance(&'a str),
}

/// What `channel` carries; `None` for a channel of another prefix.
pub(crate) fn route<'a>(prefix: &str, channel: &'a str) -> Option<Route<'a>> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix(':')?;
    if let Some(name) = rest
        .strip_prefix("{room:")
        .and_then(|r| r.strip_suffix("}:send"))
    {
        return Some(Route::Room(name));
    }
    if let Some(id) = rest
        .strip_prefix("{instance:")
        .and_then(|r| r.strip_suffix("}:direct"))
    {
        return Some(Route::Instance(id));
    }
    Some(Route::Event(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_share_the_rooms_hash_tag() {
        assert_eq!(room("p", "lobby"), "p:{room:lobby}:send");
        assert_eq!(instance("p", "00aa"), "p:{instance:00aa}:direct");
        assert_eq!(route("p", &room("p", "lobby")), Some(Route::Room("lobby")));
        // Room names may hold anything, braces and the suffix included.
        for odd in ["a}b", "x}:send", "{room:y}", ""] {
            assert_eq!(route("p", &room("p", odd)), Some(Route::Room(odd)));
        }
        assert_eq!(
            route("p", &instance("p", "00aa")),
            Some(Route::Instance("00aa"))
        );
        assert_eq!(
            route("p", "p:sendMessage"),
            Some(Route::Event("sendMessage"))
        );
        assert_eq!(route("p", "q:sendMessage"), None);
        assert_eq!(route("p", "pp:sendMessage"), None);
    }
}
