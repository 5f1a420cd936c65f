//! The contract from the code (`pxl_ws::contract`): typed pushes over real sockets,
//! schemas checked against real frames and values (a JSON Schema validator, both
//! directions), the AsyncAPI messages against what the server really sends, the
//! breaking-change diff on every kind of change, and the opt-in HTTP routes.

mod app;
mod diff;
mod frames;
mod pushes;
mod roundtrip;
