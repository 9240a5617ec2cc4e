//! WebSocket protocol (RFC 6455): being written.
