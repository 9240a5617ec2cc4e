//! `WebSocket.send` without N-API on the way in (src/v8/ws_send.cc).
//!
//! Sending is the one native call most applications make per message. Through N-API its
//! arguments cost four calls (callback info, two numbers, the buffer) and the result a fifth:
//! about 350 instructions of a 32-byte echo's 1900 in the addon (callgrind). uWebSockets.js
//! reads them with V8's inline accessors; the shim does the same and hands Rust the bytes.
//!
//! The facade calls this first and falls back to the N-API `wsSend` when it returns -1, which
//! it does having done nothing: for an argument it does not take (the N-API path then throws
//! the same error as before) or a socket that is not open. Exported only where the V8-direct
//! path is usable (`v8_direct::available`).

use super::napi::{Env, Value};
use crate::event_loop::Loop;
use crate::slab::Key;
use crate::ws_conn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use uws_core::ws::frame::OpCode;

/// Not sent; the caller retries through N-API.
const RETRY: i32 = -1;

#[cfg(uws_v8)]
mod shim {
    extern "C" {
        pub fn uws_rs_v8_send_function() -> *mut std::ffi::c_void;
    }
}

/// The fast `send` for the exports, or None where the V8-direct path is not usable.
pub fn function(env: Env) -> Option<Value> {
    #[cfg(uws_v8)]
    {
        if !super::v8_direct::available(env) {
            return None;
        }
        // SAFETY: `available` checked the V8 ABI; called from module init, on the JS thread
        // inside its handle scope.
        let f = unsafe { shim::uws_rs_v8_send_function() };
        (!f.is_null()).then_some(f as Value)
    }
    #[cfg(not(uws_v8))]
    {
        let _ = env;
        None
    }
}

/// Sends `payload` on the open WebSocket `key`; `flags` as for `wsSend` (1 binary, 2 compress).
fn send(lp: &Loop, key: f64, flags: i32, payload: &[u8]) -> i32 {
    let Some(k) = Key::from_f64(key) else {
        return RETRY;
    };
    let opcode = if flags & 1 != 0 {
        OpCode::Binary
    } else {
        OpCode::Text
    };
    // A closed socket is the only error ws_conn::send returns, before doing anything.
    match ws_conn::send(lp, k, opcode, payload, true, flags & 2 != 0) {
        Ok(status) => status as i32,
        Err(_) => RETRY,
    }
}

/// Runs `f` with this thread's loop, turning a panic into RETRY (the N-API path then reports it).
fn with_loop(f: impl FnOnce(&Loop) -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(|| match Loop::current() {
        Some(lp) => f(&lp),
        None => RETRY,
    }))
    .unwrap_or(RETRY)
}

#[no_mangle]
extern "C" fn uws_rs_v8_send_bytes(key: f64, flags: i32, data: *const u8, len: usize) -> i32 {
    let payload: &[u8] = if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the shim passes the live backing store of the message (or a copy of it on
        // its stack) for this synchronous call.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    with_loop(|lp| send(lp, key, flags, payload))
}

#[no_mangle]
extern "C" fn uws_rs_v8_send_string(key: f64, flags: i32, string: Value) -> i32 {
    with_loop(|lp| {
        lp.with_scratch(|scratch| match lp.env.string_into(string, scratch) {
            Ok(()) => send(lp, key, flags, scratch),
            Err(_) => RETRY,
        })
    })
}
