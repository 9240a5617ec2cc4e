//! permessage-deflate (RFC 7692), sans-IO.
//!
//! - [`negotiation`]: the server's options (uWebSockets.js's `compression` bitmask), the
//!   client's offers, the response header.
//! - [`inflate`]: client messages inflated with their output bounded while inflating.
//! - [`deflate`]: server messages compressed, with or without context takeover.
//!
//! Backed by zlib-rs (zlib in safe-API Rust): raw DEFLATE with any window of 9..15 bits and a
//! chosen memLevel, which uWebSockets.js's dedicated compressor sizes need. The compressing
//! stream can be another [`DeflateEngine`] (the addon uses the host process's zlib).

#[allow(clippy::module_inception)]
pub mod deflate;
#[doc(hidden)]
pub mod engine_checks;
pub mod inflate;
pub mod negotiation;

pub use deflate::{DeflateEngine, DeflateError, Deflater, EngineFactory, ZlibRsEngine};
pub use inflate::{InflateError, Inflater, TAIL};
pub use negotiation::{negotiate, Agreement, CompressOptions, Compressor, Decompressor};
