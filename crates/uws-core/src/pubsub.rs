//! Topic registry for pub/sub: being written.
