//! End-to-end tests: real servers on 127.0.0.1:0, real WebSocket clients.

mod admin;
mod app;
mod auth;
mod client;
mod errors;
mod fallback;
mod faults;
mod flow;
mod fuzz;
mod hardening;
mod history;
mod hooks;
mod hostile;
mod hosts;
mod jwt;
mod lifecycle;
mod limits;
mod presence;
mod pxl_client;
mod pxl_server;
mod rooms;
mod routing;
mod subscribers;
