//! Turns the bytes a client sends into message and control events (RFC 6455 section 5-6).
//!
//! Zero copy where it matters: a data frame that is a whole message, or a control frame, lying
//! wholly in the buffer given to [`Receiver::feed`] is unmasked in place and reported as a range
//! of that buffer. Only a message that spans feeds (fragmented, or a frame cut by the end of a
//! read) is assembled in a buffer owned by the receiver, each byte copied once.

use std::ops::Range;

use super::close::parse_close_payload;
use super::frame::{
    parse_header, FrameError, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_MASKED_HEADER_LEN,
};
use super::mask::apply_mask;
use super::utf8::{self, Utf8Stream};

pub use super::error::ProtocolError;

/// Largest buffer reserved up front on the word of a frame header alone. Beyond it the
/// message buffer grows as bytes really arrive, so a peer cannot make us commit memory by
/// announcing a huge frame when `max_payload_length` is configured very high.
const PREALLOC_LIMIT: usize = 16 << 20;

#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Largest message (sum of its fragments; compressed size when compressed) accepted.
    pub max_payload_length: usize,
    /// Reject unmasked frames (servers must: RFC 6455 section 5.1).
    pub require_mask: bool,
    /// Accept RSV1 on the first frame of a data message (permessage-deflate negotiated).
    pub allow_rsv1: bool,
}

impl Default for ReceiverConfig {
    /// uWebSockets.js defaults for a server: 16 KiB messages, no compression.
    fn default() -> Self {
        ReceiverConfig {
            max_payload_length: 16 * 1024,
            require_mask: true,
            allow_rsv1: false,
        }
    }
}

/// Where the bytes of an event are.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload {
    /// This range of the `input` slice given to the `feed` call that produced the event
    /// (already unmasked). Only meaningful together with that same slice.
    Input(Range<usize>),
    /// Bytes assembled across feeds.
    Owned(Vec<u8>),
}

impl Payload {
    /// The bytes, given the `input` of the `feed` call that returned this payload.
    ///
    /// Panics if an `Input` range does not fit `input` (that is, `input` is another slice).
    pub fn as_slice<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        match self {
            Payload::Input(range) => &input[range.clone()],
            Payload::Owned(bytes) => bytes,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Payload::Input(range) => range.len(),
            Payload::Owned(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes as an owned vector (copies only an `Input` payload).
    pub fn into_vec(self, input: &[u8]) -> Vec<u8> {
        match self {
            Payload::Input(range) => input[range].to_vec(),
            Payload::Owned(bytes) => bytes,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete data message. When `compressed` (RSV1 on its first frame) the payload is the
    /// deflated bytes, not yet UTF-8 validated: the caller inflates and validates text.
    Message {
        payload: Payload,
        binary: bool,
        compressed: bool,
    },
    Ping(Payload),
    Pong(Payload),
    /// The peer's close frame, validated. Nothing after it is read.
    Close {
        code: Option<u16>,
        reason: Payload,
    },
}

/// A frame whose payload is arriving across feeds.
#[derive(Clone, Copy, Debug)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: usize,
    received: usize,
}

/// A data message being assembled.
#[derive(Debug)]
struct Message {
    binary: bool,
    compressed: bool,
    data: Vec<u8>,
    utf8: Utf8Stream,
}

impl Message {
    fn validates_utf8(&self) -> bool {
        !self.binary && !self.compressed
    }
}

/// The three control opcodes, so that control handling cannot be reached with a data opcode.
#[derive(Clone, Copy)]
enum Control {
    Close,
    Ping,
    Pong,
}

impl Control {
    fn of(opcode: OpCode) -> Option<Control> {
        match opcode {
            OpCode::Close => Some(Control::Close),
            OpCode::Ping => Some(Control::Ping),
            OpCode::Pong => Some(Control::Pong),
            OpCode::Continuation | OpCode::Text | OpCode::Binary => None,
        }
    }

    /// Builds the event for a complete control payload. `payload_at` turns a range of
    /// `payload` into the event's `Payload`.
    fn event(
        self,
        payload: &[u8],
        payload_at: impl Fn(Range<usize>) -> Payload,
    ) -> Result<Event, ProtocolError> {
        let all = 0..payload.len();
        Ok(match self {
            Control::Ping => Event::Ping(payload_at(all)),
            Control::Pong => Event::Pong(payload_at(all)),
            Control::Close => {
                let (code, reason) = parse_close_payload(payload)?;
                let reason = payload_at(payload.len() - reason.len()..payload.len());
                Event::Close { code, reason }
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame was received: input is ignored.
    Closed,
    /// A protocol error was returned: every later feed returns it again.
    Failed(ProtocolError),
}

/// Whether to keep reading frames after completing one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Incremental reader of the client-to-server frame stream of one connection.
#[derive(Debug)]
pub struct Receiver {
    cfg: ReceiverConfig,
    state: State,
    /// Start of a header cut by the end of the previous feed.
    header: [u8; MAX_MASKED_HEADER_LEN],
    header_len: usize,
    /// The frame whose payload is being received, if a header has been read.
    frame: Option<Frame>,
    /// The data message in progress (fragmented, or its frame cut across feeds).
    message: Option<Message>,
    /// Payload of a control frame cut across feeds; `frame.received` bytes are valid.
    control: [u8; MAX_CONTROL_PAYLOAD],
    /// Where the buffer of a message cut across feeds comes from (see `set_buffer_source`).
    new_buffer: fn(usize) -> Vec<u8>,
}

impl Receiver {
    pub fn new(cfg: ReceiverConfig) -> Self {
        Receiver {
            cfg,
            state: State::Open,
            header: [0; MAX_MASKED_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            new_buffer: Vec::with_capacity,
        }
    }

    /// Makes the message buffers of messages cut across feeds come from `source(capacity)`
    /// (an empty Vec with at least that capacity), e.g. a pool the application returns lent
    /// buffers to. Default: `Vec::with_capacity`.
    pub fn set_buffer_source(&mut self, source: fn(usize) -> Vec<u8>) {
        self.new_buffer = source;
    }

    /// Unmasks `input` in place and pushes every event it completes, in order.
    ///
    /// Bytes of an incomplete frame or message are kept inside the receiver. On `Err`, the
    /// events pushed before the error are valid: dispatch them, then fail the connection with
    /// the error's close code. The receiver is then dead and returns the same error forever.
    /// After an [`Event::Close`], all further input is ignored.
    pub fn feed(&mut self, input: &mut [u8], events: &mut Vec<Event>) -> Result<(), ProtocolError> {
        match self.state {
            State::Open => {}
            State::Closed => return Ok(()),
            State::Failed(e) => return Err(e),
        }
        let result = self.read_frames(input, events);
        if let Err(e) = result {
            self.state = State::Failed(e);
            self.release();
        }
        result
    }

    /// Bytes currently held (partial header + partial frame/message), for memory accounting.
    pub fn buffered_bytes(&self) -> usize {
        let control = match self.frame {
            Some(f) if f.opcode.is_control() => f.received,
            _ => 0,
        };
        self.header_len + control + self.message.as_ref().map_or(0, |m| m.data.len())
    }

    /// Whether a close frame has been received (all input is now ignored).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    fn release(&mut self) {
        self.frame = None;
        self.message = None;
        self.header_len = 0;
    }

    fn read_frames(
        &mut self,
        input: &mut [u8],
        events: &mut Vec<Event>,
    ) -> Result<(), ProtocolError> {
        let mut pos = 0;
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => {
                    let Some(header) = self.read_header(input, &mut pos)? else {
                        return Ok(());
                    };
                    let len = self.check_header(&header)?;
                    let whole_message = header.opcode.is_control()
                        || (header.fin && header.opcode != OpCode::Continuation);
                    if whole_message && input.len() - pos >= len {
                        let range = pos..pos + len;
                        pos += len;
                        if self.complete_in_place(&header, range, input, events)? == Flow::Stop {
                            return Ok(());
                        }
                        continue;
                    }
                    self.begin_frame(&header, len)
                }
            };

            let take = (frame.len - frame.received).min(input.len() - pos);
            let chunk = &mut input[pos..pos + take];
            pos += take;
            if let Some(key) = frame.mask {
                apply_mask(chunk, key, frame.received);
            }
            self.absorb(&frame, chunk)?;
            frame.received += take;
            if frame.received < frame.len {
                // Input exhausted mid-frame.
                self.frame = Some(frame);
                return Ok(());
            }
            self.frame = None;
            if self.complete_buffered(&frame, events)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Reads the next header, joining it with the bytes kept from the previous feed.
    /// `Ok(None)`: the input ran out first (its bytes are kept).
    fn read_header(
        &mut self,
        input: &[u8],
        pos: &mut usize,
    ) -> Result<Option<FrameHeader>, ProtocolError> {
        let rest = &input[*pos..];
        if self.header_len == 0 {
            if rest.is_empty() {
                return Ok(None);
            }
            if let Some(header) = parse_header(rest)? {
                *pos += header.header_len;
                return Ok(Some(header));
            }
            let n = rest.len().min(MAX_MASKED_HEADER_LEN);
            self.header[..n].copy_from_slice(&rest[..n]);
            self.header_len = n;
            *pos += n;
            return Ok(None);
        }

        let held = self.header_len;
        let n = rest.len().min(MAX_MASKED_HEADER_LEN - held);
        self.header[held..held + n].copy_from_slice(&rest[..n]);
        match parse_header(&self.header[..held + n])? {
            Some(header) => {
                self.header_len = 0;
                *pos += header.header_len.saturating_sub(held);
                Ok(Some(header))
            }
            None => {
                self.header_len = held + n;
                *pos += n;
                Ok(None)
            }
        }
    }

    /// Applies the rules that depend on configuration and on the message in progress, and
    /// returns the payload length (which then fits in memory limits).
    fn check_header(&self, h: &FrameHeader) -> Result<usize, ProtocolError> {
        if self.cfg.require_mask && h.mask.is_none() {
            return Err(FrameError::Unmasked.into());
        }
        let starts_message = matches!(h.opcode, OpCode::Text | OpCode::Binary);
        if h.rsv1 && !(self.cfg.allow_rsv1 && starts_message) {
            return Err(FrameError::UnexpectedRsv1.into());
        }
        if h.opcode.is_control() {
            // parse_header guarantees <= 125.
            return Ok(h.payload_len as usize);
        }
        match (&self.message, starts_message) {
            (None, false) => return Err(FrameError::UnexpectedContinuation.into()),
            (Some(_), true) => return Err(FrameError::ExpectedContinuation.into()),
            _ => {}
        }
        // Checked before any payload is buffered, so a huge announced length costs nothing.
        let buffered = self.message.as_ref().map_or(0, |m| m.data.len()) as u64;
        if buffered.saturating_add(h.payload_len) > self.cfg.max_payload_length as u64 {
            return Err(ProtocolError::TooBig);
        }
        // <= max_payload_length, a usize.
        Ok(h.payload_len as usize)
    }

    /// Emits the event of a frame that is a whole message and lies wholly in `input[range]`.
    fn complete_in_place(
        &mut self,
        h: &FrameHeader,
        range: Range<usize>,
        input: &mut [u8],
        events: &mut Vec<Event>,
    ) -> Result<Flow, ProtocolError> {
        let payload = &mut input[range.clone()];
        if let Some(key) = h.mask {
            apply_mask(payload, key, 0);
        }
        let Some(control) = Control::of(h.opcode) else {
            let binary = h.opcode == OpCode::Binary;
            if !binary && !h.rsv1 && !utf8::is_valid(payload) {
                return Err(ProtocolError::InvalidUtf8);
            }
            events.push(Event::Message {
                payload: Payload::Input(range),
                binary,
                compressed: h.rsv1,
            });
            return Ok(Flow::Continue);
        };
        let start = range.start;
        let event = control.event(payload, |r| Payload::Input(start + r.start..start + r.end))?;
        Ok(self.push_control(event, events))
    }

    /// Sets up the receipt of a frame whose payload continues past the end of this input.
    fn begin_frame(&mut self, h: &FrameHeader, len: usize) -> Frame {
        let prealloc = len.min(PREALLOC_LIMIT);
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                self.message = Some(Message {
                    binary: h.opcode == OpCode::Binary,
                    compressed: h.rsv1,
                    data: (self.new_buffer)(prealloc),
                    utf8: Utf8Stream::default(),
                });
            }
            OpCode::Continuation => {
                if let Some(m) = &mut self.message {
                    reserve_for_frame(&mut m.data, prealloc, self.cfg.max_payload_length);
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {}
        }
        Frame {
            opcode: h.opcode,
            fin: h.fin,
            mask: h.mask,
            len,
            received: 0,
        }
    }

    /// Stores the next unmasked bytes of `frame`'s payload.
    fn absorb(&mut self, frame: &Frame, chunk: &[u8]) -> Result<(), ProtocolError> {
        if frame.opcode.is_control() {
            // frame.len <= 125, so this range is within `control`.
            self.control[frame.received..frame.received + chunk.len()].copy_from_slice(chunk);
            return Ok(());
        }
        if let Some(m) = &mut self.message {
            if m.validates_utf8() {
                // Validated as it arrives, not at the end: fail fast on the first bad byte.
                m.utf8.feed(chunk).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            m.data.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Emits the event (if any) completed by the last byte of a buffered frame.
    fn complete_buffered(
        &mut self,
        frame: &Frame,
        events: &mut Vec<Event>,
    ) -> Result<Flow, ProtocolError> {
        if let Some(control) = Control::of(frame.opcode) {
            let payload = &self.control[..frame.len];
            let event = control.event(payload, |r| Payload::Owned(payload[r].to_vec()))?;
            return Ok(self.push_control(event, events));
        }
        if !frame.fin {
            return Ok(Flow::Continue);
        }
        if let Some(mut m) = self.message.take() {
            if m.validates_utf8() {
                m.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            events.push(Event::Message {
                payload: Payload::Owned(m.data),
                binary: m.binary,
                compressed: m.compressed,
            });
        }
        Ok(Flow::Continue)
    }

    fn push_control(&mut self, event: Event, events: &mut Vec<Event>) -> Flow {
        let closing = matches!(event, Event::Close { .. });
        events.push(event);
        if closing {
            self.state = State::Closed;
            self.release();
            return Flow::Stop;
        }
        Flow::Continue
    }
}

/// Makes room for `additional` more bytes with at most one allocation, growing geometrically
/// (so many small fragments stay linear) but never past `max` on account of the growth.
fn reserve_for_frame(data: &mut Vec<u8>, additional: usize, max: usize) {
    let needed = data.len().saturating_add(additional);
    if needed <= data.capacity() {
        return;
    }
    let target = data.capacity().saturating_mul(2).min(max).max(needed);
    data.reserve_exact(target - data.len());
}

#[cfg(test)]
mod tests;
