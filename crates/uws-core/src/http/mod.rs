//! HTTP/1.1 server protocol, sans-IO.
//!
//! Semantics follow uWebSockets.js v20.30 (the build this crate replaces) wherever they are
//! observable from JavaScript; each module documents where it deliberately differs.

pub mod chunked;
pub mod date;
pub mod multipart;
pub mod proxy;
pub mod query;
pub mod request;
pub mod router;
