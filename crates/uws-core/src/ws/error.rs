//! Errors that fail a WebSocket connection, with the close code and reason uWebSockets.js
//! reports for each.

use std::fmt;

use super::frame::FrameError;

/// A violation of RFC 6455 (or of the configured size limit) by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message exceeds `max_payload_length`.
    TooBig,
    /// A text message or close reason is not valid UTF-8.
    InvalidUtf8,
    /// A frame breaks the framing rules.
    InvalidFrame(FrameError),
}

impl ProtocolError {
    /// The close code for this failure: 1009, 1007 or 1002.
    pub const fn close_code(&self) -> u16 {
        match self {
            ProtocolError::TooBig => 1009,
            ProtocolError::InvalidUtf8 => 1007,
            ProtocolError::InvalidFrame(_) => 1002,
        }
    }

    /// The reason string uWebSockets.js reports (JS sees it in the `close` handler).
    pub const fn reason(&self) -> &'static str {
        match self {
            ProtocolError::TooBig => "Received too big message",
            ProtocolError::InvalidUtf8 => "Received invalid UTF-8",
            ProtocolError::InvalidFrame(_) => "Received invalid WebSocket frame",
        }
    }
}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        ProtocolError::InvalidFrame(e)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidFrame(detail) => write!(f, "{} ({detail})", self.reason()),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons() {
        let frame = ProtocolError::InvalidFrame(FrameError::Unmasked);
        assert_eq!(ProtocolError::TooBig.close_code(), 1009);
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), 1007);
        assert_eq!(frame.close_code(), 1002);
        assert_eq!(ProtocolError::TooBig.reason(), "Received too big message");
        assert_eq!(
            ProtocolError::InvalidUtf8.reason(),
            "Received invalid UTF-8"
        );
        assert_eq!(frame.reason(), "Received invalid WebSocket frame");
        assert_eq!(
            frame.to_string(),
            "Received invalid WebSocket frame (unmasked client frame)"
        );
    }
}
