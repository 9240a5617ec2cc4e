//! Per-socket send queue: being written.
