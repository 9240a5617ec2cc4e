//! permessage-deflate for WebSocket connections: the agreement reached at the upgrade, kept per
//! socket; the loop's shared compressors (one per window size, reset every message) and its
//! shared decompressor; inflating received messages and compressing sent ones.
//!
//! Protocol logic (negotiation, bounded inflation, deflate) is in `uws_core::ws::deflate`; this
//! module only decides which stream serves which socket. Dedicated streams are created on first
//! use, so a socket that never sends or receives a compressed message owns no zlib memory.

use crate::app::Behavior;
use crate::conn::{Conn, State};
use crate::event_loop::Loop;
use crate::host_zlib;
use crate::slab::Key;
use std::cell::RefCell;
use std::sync::Arc;
use uws_core::ws::deflate::{
    negotiate, Agreement, CompressOptions, Compressor, Decompressor, Deflater, Inflater,
};
use uws_core::ws::frame::{encode_header, OpCode};
use uws_core::ws::{ProtocolError, Receiver, ReceiverConfig};

/// What uWebSockets.js v20 reports (1006, no close frame) for a message that does not inflate
/// within maxPayloadLength, or does not inflate at all.
pub const INFLATION_ERROR: &[u8] = b"Received too big message, or other inflation error";

/// Scratch buffers larger than this are freed after use rather than kept for the next message.
const KEEP_SCRATCH: usize = 256 * 1024;

/// The compression state of one socket that negotiated permessage-deflate.
pub struct SocketDeflate {
    compressor: Compressor,
    /// The dedicated compressor, once something was sent compressed.
    deflater: Option<Deflater>,
    decompressor: Decompressor,
    /// The dedicated decompressor, once something compressed was received.
    inflater: Option<Inflater>,
}

impl SocketDeflate {
    /// The window of the loop's shared compressor this socket uses, if it uses one.
    pub fn shared_window(&self) -> Option<u8> {
        match self.compressor {
            Compressor::Shared { window_bits } => Some(window_bits),
            Compressor::Dedicated { .. } => None,
        }
    }
}

/// Per-loop (per JS thread) shared streams and scratch buffers.
#[derive(Default)]
struct Shared {
    /// Indexed by window bits - 9.
    deflaters: [Option<Deflater>; 7],
    inflater: Option<Inflater>,
    /// Compressed output of the message being sent.
    deflated: Vec<u8>,
    /// Inflated input of the message being dispatched.
    inflated: Vec<u8>,
}

thread_local! {
    static SHARED: RefCell<Shared> = RefCell::new(Shared::default());
}

/// Negotiates for a WebSocket route from the request's `Sec-WebSocket-Extensions` value.
/// `None`: no compression (disabled on the route, or no acceptable offer): no response header.
pub fn negotiate_for(behavior: &Behavior, offers: &[u8]) -> Option<Agreement> {
    let options = CompressOptions::from_bits(behavior.settings.compression)?;
    if offers.is_empty() {
        return None;
    }
    negotiate(&options, offers)
}

/// Turns compression on for a socket just upgraded (before any of its frames was read): its
/// receiver is rebuilt as `WsConn::new` builds it, but accepting RSV1 on data messages.
pub fn enable(lp: &Loop, key: Key, agreement: &Agreement) {
    let mut conns = lp.conns.borrow_mut();
    let Some(c) = conns.get_mut(key) else { return };
    let State::Ws(ws) = &mut c.state else { return };
    ws.receiver = Receiver::new(ReceiverConfig {
        max_payload_length: ws.behavior.settings.max_payload_length,
        require_mask: true,
        allow_rsv1: true,
    });
    ws.deflate = Some(Box::new(SocketDeflate {
        compressor: agreement.compressor,
        deflater: None,
        decompressor: agreement.decompressor,
        inflater: None,
    }));
}

/// Why a compressed message was refused.
pub enum InflateFailure {
    /// Too big once inflated, or not inflatable: [`INFLATION_ERROR`].
    Inflation,
    /// A text message that is not UTF-8 once inflated.
    Protocol(ProtocolError),
}

/// Inflates a compressed message of socket `key` (bounded by its maxPayloadLength) and, for
/// text, validates it. Hand the result back with [`recycle`] after the handler ran.
pub fn inflate(
    lp: &Loop,
    key: Key,
    payload: &[u8],
    binary: bool,
) -> Result<Vec<u8>, InflateFailure> {
    let mut out = SHARED.with(|s| std::mem::take(&mut s.borrow_mut().inflated));
    let result = {
        let mut conns = lp.conns.borrow_mut();
        let ws = match conns.get_mut(key).map(|c| &mut c.state) {
            Some(State::Ws(ws)) => ws,
            _ => return Err(InflateFailure::Inflation),
        };
        let max = ws.behavior.settings.max_payload_length;
        match ws.deflate.as_deref_mut() {
            None => Err(InflateFailure::Inflation),
            Some(d) => match d.decompressor {
                Decompressor::Dedicated { window_bits } => d
                    .inflater
                    .get_or_insert_with(|| Inflater::new(window_bits, true))
                    .inflate(payload, max, &mut out)
                    .map_err(|_| InflateFailure::Inflation),
                Decompressor::Shared => SHARED.with(|s| {
                    s.borrow_mut()
                        .inflater
                        .get_or_insert_with(|| Inflater::new(15, false))
                        .inflate(payload, max, &mut out)
                        .map_err(|_| InflateFailure::Inflation)
                }),
            },
        }
    };
    let result = result.and_then(|()| {
        if binary || uws_core::ws::utf8::is_valid(&out) {
            Ok(())
        } else {
            Err(InflateFailure::Protocol(ProtocolError::InvalidUtf8))
        }
    });
    match result {
        Ok(()) => Ok(out),
        Err(e) => {
            recycle(out);
            Err(e)
        }
    }
}

/// Returns a buffer from [`inflate`] or [`compress`] for reuse (large ones are freed).
pub fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() > KEEP_SCRATCH {
        return;
    }
    buf.clear();
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let slot = if s.inflated.capacity() == 0 {
            &mut s.inflated
        } else {
            &mut s.deflated
        };
        if slot.capacity() < buf.capacity() {
            *slot = buf;
        }
    });
}

fn take_deflated() -> Vec<u8> {
    SHARED.with(|s| std::mem::take(&mut s.borrow_mut().deflated))
}

/// Compresses with the loop's shared compressor of `window_bits`. `None` if compressing does
/// not make the message smaller (then it goes uncompressed: with no context taken over, each
/// message may choose) or failed.
pub fn compress_shared(window_bits: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = take_deflated();
    let ok = SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let slot = &mut s.deflaters[(window_bits.clamp(9, 15) - 9) as usize];
        slot.get_or_insert_with(|| Deflater::with_engine(window_bits, 8, false, &host_zlib::engine))
            .compress(payload, &mut out)
            .is_ok()
    });
    if ok && out.len() < payload.len() {
        Some(out)
    } else {
        recycle(out);
        None
    }
}

/// Compresses a whole message for a socket's negotiated compressor. `None`: send it
/// uncompressed (not negotiated, not worth it with the shared compressor, or failed).
pub fn compress(sd: &mut SocketDeflate, payload: &[u8]) -> Option<Vec<u8>> {
    match sd.compressor {
        Compressor::Shared { window_bits } => compress_shared(window_bits, payload),
        Compressor::Dedicated {
            window_bits,
            mem_level,
        } => {
            // With context taken over, every message compressed must reach the peer: no
            // choosing the smaller form here.
            let mut out = take_deflated();
            let d = sd.deflater.get_or_insert_with(|| {
                Deflater::with_engine(window_bits, mem_level, true, &host_zlib::engine)
            });
            if d.compress(payload, &mut out).is_ok() {
                Some(out)
            } else {
                // The stream was reset: start over with a fresh one (the peer's window holds
                // nothing of this message, which goes uncompressed).
                sd.deflater = None;
                recycle(out);
                None
            }
        }
    }
}

/// The frames of one publish, each built at most once and shared (reference-counted) by every
/// subscriber that takes it: the plain frame, and with `compress` one compressed frame per
/// window size of the shared compressors (in practice one). A subscriber with a dedicated
/// compressor gets the message compressed by its own stream (its peer's window must see every
/// message that stream compressed), as uWebSockets.js does for every subscriber.
pub struct PublishFrames<'a> {
    payload: &'a [u8],
    opcode: OpCode,
    compress: bool,
    plain: Option<Arc<[u8]>>,
    short: Option<ShortFrame>,
    /// Per window bits - 9: `Some(None)` when compressing did not pay (the plain frame goes).
    deflated: [Option<Option<Arc<[u8]>>>; 7],
}

impl<'a> PublishFrames<'a> {
    pub fn new(payload: &'a [u8], binary: bool, compress: bool) -> Self {
        PublishFrames {
            payload,
            opcode: if binary { OpCode::Binary } else { OpCode::Text },
            compress: compress && !payload.is_empty(),
            plain: None,
            short: None,
            deflated: Default::default(),
        }
    }

    /// Queues the message on `c`, a WebSocket connection.
    pub fn write(&mut self, lp: &Loop, key: Key, c: &mut Conn) {
        let sd = match &mut c.state {
            State::Ws(ws) if self.compress => ws.deflate.as_deref_mut(),
            _ => None,
        };
        if let Some(sd) = sd {
            match sd.shared_window() {
                Some(window) => {
                    let (payload, opcode) = (self.payload, self.opcode);
                    let slot = &mut self.deflated[(window.clamp(9, 15) - 9) as usize];
                    let frame = slot.get_or_insert_with(|| {
                        let deflated = compress_shared(window, payload)?;
                        let frame = build_frame(opcode, true, &deflated);
                        recycle(deflated);
                        Some(frame)
                    });
                    if let Some(frame) = frame {
                        c.write_shared(lp, key, frame);
                        return;
                    }
                }
                None => {
                    if let Some(deflated) = compress(sd, self.payload) {
                        let mut header = [0u8; 10];
                        let n = encode_header(&mut header, true, self.opcode, true, deflated.len());
                        c.write(lp, key, &[&header[..n], &deflated]);
                        recycle(deflated);
                        return;
                    }
                }
            }
        }
        let (payload, opcode) = (self.payload, self.opcode);
        // A short message to a subscriber that is keeping up is copied into its corked bytes,
        // as a reply would be: it leaves with them in one write within this wakeup, and costs
        // less than a shared chunk (refcount, queue slot, one more iovec). Sharing is for what
        // may stay queued: long frames, and sockets under backpressure.
        if payload.len() <= COPY_SHORT_PUBLISH && !c.queue.is_blocked() {
            let (frame, len) = self
                .short
                .get_or_insert_with(|| short_frame(opcode, payload));
            c.write(lp, key, &[&frame[..*len]]);
            return;
        }
        let plain = self
            .plain
            .get_or_insert_with(|| build_frame(opcode, false, payload));
        c.write_shared(lp, key, plain);
    }
}

/// Published payloads up to this size are copied to subscribers that are not backpressured
/// (see `PublishFrames::write`).
const COPY_SHORT_PUBLISH: usize = 256;

/// A short frame, built on the stack once per publish: one copy per subscriber, not two.
type ShortFrame = ([u8; COPY_SHORT_PUBLISH + 4], usize);

fn short_frame(opcode: OpCode, payload: &[u8]) -> ShortFrame {
    let mut frame = [0u8; COPY_SHORT_PUBLISH + 4];
    let mut header = [0u8; 10];
    let n = encode_header(&mut header, true, opcode, false, payload.len());
    frame[..n].copy_from_slice(&header[..n]);
    frame[n..n + payload.len()].copy_from_slice(payload);
    (frame, n + payload.len())
}

fn build_frame(opcode: OpCode, rsv1: bool, payload: &[u8]) -> Arc<[u8]> {
    let mut header = [0u8; 10];
    let n = encode_header(&mut header, true, opcode, rsv1, payload.len());
    let mut frame = Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&header[..n]);
    frame.extend_from_slice(payload);
    frame.into()
}
