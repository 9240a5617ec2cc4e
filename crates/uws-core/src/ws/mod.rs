//! WebSocket protocol (RFC 6455), sans-IO.
//!
//! - [`frame`]: header encoding (what we send) and parsing (what clients send).
//! - [`mask`]: client-to-server payload unmasking.
//! - [`utf8`]: incremental, fail-fast UTF-8 validation of text messages.
//! - [`close`]: close frame payloads (codes and reasons).
//! - [`handshake`]: the HTTP upgrade (accept key, request checks, 101 response head).
//! - [`receiver`]: the incoming byte stream turned into message/control events.
//! - [`error`]: the protocol errors that fail a connection.
//! - [`deflate`]: permessage-deflate (RFC 7692) negotiation, compression and bounded inflation.

pub mod close;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod receiver;
pub mod utf8;

pub use frame::{FrameError, OpCode};
pub use receiver::{Event, Payload, ProtocolError, Receiver, ReceiverConfig};
