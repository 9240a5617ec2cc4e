//! uws-rs: a Node.js addon that is a drop-in replacement for uWebSockets.js.
//!
//! Protocol logic lives in the sans-IO `uws-core` crate; this crate owns the I/O (mio inside
//! Node's libuv loop) and the N-API boundary. See DESIGN in the README.

#[macro_use]
mod js;
mod acceptor;
mod app;
mod conn;
mod event_loop;
mod host_zlib;
mod http_conn;
mod listen;
mod publish_batch;
mod pubsub_glue;
mod slab;
mod socket_poll;
mod timeouts;
mod tls;
mod transport;
mod upgrade;
mod uv;
mod ws_conn;
mod ws_deflate;

use napi_derive::napi;

#[napi(module_exports)]
pub fn module_exports(exports: napi::bindgen_prelude::Object, env: napi::Env) -> napi::Result<()> {
    use napi::JsValue;
    pin_mmap_threshold();
    js::register(js::napi::Env(env.raw()), exports.raw())
        .map_err(|e| napi::Error::from_reason(format!("uws-rs: could not register exports: {e:?}")))
}

/// glibc raises its mmap threshold after large blocks are freed, after which freed send-queue
/// chunks stay in the heap and RSS never falls (the very symptom of uWebSockets.js issue 1150).
/// Pinning the threshold keeps blocks of 128 KiB and more mmapped, so they return to the OS on
/// free. Measured in uws-core's send_queue docs: 765 MB retained after a full drain without it,
/// 3 MB with it.
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called once at module load.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
