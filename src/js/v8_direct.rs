//! Message ArrayBuffers over the read buffer, made through V8 directly (src/v8/shim.cc).
//!
//! N-API offers two ways to hand JS an ArrayBuffer: a fresh one (allocated, zero-filled and
//! copied into: glibc's slow path for every message of 1 KiB or more) or an "external" one,
//! which Node builds as a Buffer with a tracked finalizer and costs more than the copy below
//! 32 KiB. uWebSockets.js instead wraps its receive buffer in a V8 backing store, which
//! allocates nothing but the handle. The shim does the same for us. Measured (echo, 100
//! connections, one message in flight): 1 KiB messages 0.89x -> see the commit, 4 KiB 0.94x ->.
//!
//! The shim is compiled against the headers of the Node that built the addon and used only
//! when the running Node has the same major version (same V8 ABI); otherwise, or when the
//! build found no headers, or with `UWS_RS_NAPI_ONLY=1`, messages go through N-API as before.

use super::napi::{Env, Value};
use napi::sys;
use std::sync::{Arc, Mutex};

/// Keeps lent memory alive for the backing stores over it. Shared across threads: a store
/// that JS transferred to a worker dies there.
pub type Keeper = Arc<Mutex<Option<Vec<u8>>>>;

#[cfg(uws_v8)]
mod shim {
    use std::ffi::{c_int, c_void};

    extern "C" {
        pub fn uws_rs_v8_node_major() -> c_int;
        pub fn uws_rs_v8_arraybuffer(
            data: *mut c_void,
            len: usize,
            hint: *mut c_void,
        ) -> *mut c_void;
        pub fn uws_rs_v8_detach(value: *mut c_void) -> c_int;
    }

    /// Called by V8 (through the shim) when a backing store made by `arraybuffer_over` dies.
    #[no_mangle]
    extern "C" fn uws_rs_v8_release(hint: *mut c_void) {
        // SAFETY: `hint` is the `Arc::into_raw` of the Keeper given to the shim in
        // `arraybuffer_over`; V8 calls the deleter exactly once per backing store.
        drop(unsafe { super::Arc::from_raw(hint as *const super::Mutex<Option<Vec<u8>>>) });
    }
}

/// Whether this process can use the V8-direct path (see the module docs).
pub fn available(env: Env) -> bool {
    #[cfg(uws_v8)]
    {
        if std::env::var_os("UWS_RS_NAPI_ONLY").is_some_and(|v| !v.is_empty() && v != "0") {
            return false;
        }
        let mut version: *const sys::napi_node_version = std::ptr::null();
        // SAFETY: `env` is live; Node fills `version` with a pointer to static data.
        let status = unsafe { sys::napi_get_node_version(env.0, &mut version) };
        if status != sys::Status::napi_ok || version.is_null() {
            return false;
        }
        // SAFETY: non-null pointer to Node's static version struct.
        let running = unsafe { (*version).major };
        // SAFETY: a plain function of the shim returning a constant.
        let built = unsafe { shim::uws_rs_v8_node_major() };
        i64::from(running) == i64::from(built)
    }
    #[cfg(not(uws_v8))]
    {
        let _ = env;
        false
    }
}

/// An ArrayBuffer over `bytes` (no copy, nothing allocated for the bytes), holding `keeper`
/// until V8 frees its backing store. For a synchronous call after which the caller detaches
/// it, or, if JS detached it first (a transfer), moves the memory into `keeper`. Call only
/// where `available` said yes, inside a handle scope. If V8 refused, `keeper` comes back.
pub fn arraybuffer_over(bytes: &mut [u8], keeper: Keeper) -> Result<Value, Keeper> {
    #[cfg(uws_v8)]
    {
        let hint = Arc::into_raw(keeper) as *mut std::ffi::c_void;
        // SAFETY: `available` checked the V8 ABI; we are on the JS thread inside a handle
        // scope; `bytes` stays valid until the caller detaches the buffer or hands the memory
        // to `keeper`, which the store holds (released by `uws_rs_v8_release`).
        let v =
            unsafe { shim::uws_rs_v8_arraybuffer(bytes.as_mut_ptr().cast(), bytes.len(), hint) };
        if v.is_null() {
            // SAFETY: the shim did not make a store, so it will not release the hint: it is
            // ours again.
            return Err(unsafe { Arc::from_raw(hint as *const Mutex<Option<Vec<u8>>>) });
        }
        Ok(v as Value)
    }
    #[cfg(not(uws_v8))]
    {
        let _ = bytes;
        Err(keeper)
    }
}

/// Detaches `ab`, an ArrayBuffer a handler just received, unless JS already detached it
/// (transferred it away): returns true then. Call only where `available` said yes, inside the
/// handle scope that holds `ab`.
pub fn detach(ab: Value) -> bool {
    #[cfg(uws_v8)]
    {
        // SAFETY: `available` checked the V8 ABI; `ab` is a live ArrayBuffer handle of the
        // current scope (napi_value and v8::Local share the slot representation).
        unsafe { shim::uws_rs_v8_detach(ab.cast()) != 0 }
    }
    #[cfg(not(uws_v8))]
    {
        let _ = ab;
        false
    }
}
