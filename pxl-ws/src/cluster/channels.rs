//! Which bus channel carries what: the fixed `<prefix>:<event>` channels, each room's
//! channel and each instance's direct channel. Every name is built here and parsed back
//! here, so a rename cannot drift between the publisher and the receivers.
//!
//! - A send to room `R` travels on [`room`]: `<prefix>:{room:R}:send`. An instance
//!   subscribes to it only while it has local members of `R`.
//! - A send to user `U` travels on [`user`]: `<prefix>:{user:U}:send`, subscribed by
//!   the instances holding one of its connections while they do; a send to client `C`
//!   on [`client`]: `<prefix>:{client:C}:send`, subscribed by the instance holding it.
//! - Each instance also subscribes to its own direct channel, [`instance`]:
//!   `<prefix>:{instance:ID}:direct`, for its whole life; earlier versions sent client
//!   and user sends there, and it is still received (a cluster in a rolling upgrade).
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

/// The channel that carries sends to `user`'s connections.
pub(crate) fn user(prefix: &str, user: &str) -> String {
    format!("{prefix}:{{user:{user}}}:send")
}

/// The channel that carries sends to one client.
pub(crate) fn client(prefix: &str, id: crate::clients::ClientId) -> String {
    format!("{prefix}:{{client:{id}}}:send")
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
    /// A user's channel.
    User(&'a str),
    /// A client's channel (its id as text).
    Client(&'a str),
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
    if let Some(name) = rest
        .strip_prefix("{user:")
        .and_then(|r| r.strip_suffix("}:send"))
    {
        return Some(Route::User(name));
    }
    if let Some(id) = rest
        .strip_prefix("{client:")
        .and_then(|r| r.strip_suffix("}:send"))
    {
        return Some(Route::Client(id));
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
        for odd in ["a}b", "x}:send", "{user:y}", ""] {
            assert_eq!(route("p", &user("p", odd)), Some(Route::User(odd)));
        }
        let c: crate::clients::ClientId = format!("{:032x}", 7).parse().unwrap();
        assert_eq!(client("p", c), format!("p:{{client:{c}}}:send"));
        assert_eq!(
            route("p", &client("p", c)),
            Some(Route::Client(&c.to_string()))
        );
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
