//! Utilities with no knowledge of the server: panic isolation, process signals, time.

pub(crate) mod panic;
pub(crate) mod signals;
pub(crate) mod time;
