//! Utilities with no knowledge of the server: process signals and time.

pub(crate) mod signals;
pub(crate) mod time;
