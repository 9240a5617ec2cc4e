//! Sans-IO protocol core of uws-rs: bytes in, events and bytes out.
//!
//! Nothing here touches sockets, threads or N-API, so every piece is unit-tested with
//! `cargo test` and can be fuzzed. The Node addon (the root crate) owns the I/O.

pub mod http;
pub mod pubsub;
pub mod send_queue;
pub mod ws;
