//! Application callbacks called through V8 directly (src/v8/call.cc).
//!
//! Every event a handler sees is one call. N-API's napi_call_function wraps V8's call in a
//! preamble (pending-exception and can-call-into-JS checks, last-error bookkeeping) that cost
//! about 190 instructions per call, 4% of a 32-byte echo (callgrind); the shim keeps only the
//! TryCatch. Used where the V8-direct path is (`v8_direct::available`); whatever it cannot call
//! goes through N-API as before.

use super::napi::Value;

/// What a direct call came to.
pub enum Called {
    Returned(Value),
    Threw(Value),
    /// Execution is being terminated: nothing ran, nothing to report.
    Terminating,
    /// Not called: use N-API.
    Unsupported,
}

#[cfg(uws_v8)]
mod shim {
    use std::ffi::{c_int, c_void};
    extern "C" {
        pub fn uws_rs_v8_call(
            func: *mut c_void,
            argc: usize,
            argv: *const *mut c_void,
            out: *mut *mut c_void,
        ) -> c_int;
    }
}

/// Calls `func(...args)` with `this` undefined. Only where `v8_direct::available` said yes, on
/// the JS thread inside a handle scope, with Node's loop running (its context entered).
pub fn call(func: Value, args: &[Value]) -> Called {
    #[cfg(uws_v8)]
    {
        let mut out = std::ptr::null_mut();
        // SAFETY: `available` checked the V8 ABI; `func` and `args` are live handles of the
        // current scope (napi_value and v8::Local share the slot representation), `out` is
        // writable.
        let status = unsafe {
            shim::uws_rs_v8_call(func.cast(), args.len(), args.as_ptr().cast(), &mut out)
        };
        match status {
            0 => Called::Returned(out as Value),
            1 => Called::Threw(out as Value),
            3 => Called::Terminating,
            _ => Called::Unsupported,
        }
    }
    #[cfg(not(uws_v8))]
    {
        let _ = (func, args);
        Called::Unsupported
    }
}
