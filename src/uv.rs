//! The few libuv functions the addon needs, resolved at load time from the `node` executable.
//!
//! Linking a libuv crate would bring a second libuv with its own loop; what we want is Node's own
//! loop, so the symbols are declared here and left for the dynamic loader (node exports them).

use std::ffi::{c_int, c_void};

pub use ::napi::sys::uv_loop_s as UvLoop;

/// Opaque libuv handle: allocated with the size libuv reports, never inspected from Rust.
#[repr(C)]
pub struct UvHandle {
    _opaque: [u8; 0],
}

pub type PollCb = unsafe extern "C" fn(handle: *mut UvHandle, status: c_int, events: c_int);
pub type TimerCb = unsafe extern "C" fn(handle: *mut UvHandle);
pub type CloseCb = unsafe extern "C" fn(handle: *mut UvHandle);
pub type CheckCb = unsafe extern "C" fn(handle: *mut UvHandle);

/// `uv_handle_type` values (stable across libuv 1.x).
pub const UV_CHECK: c_int = 2;
pub const UV_POLL: c_int = 8;
pub const UV_TIMER: c_int = 13;
/// `uv_poll_event` bits.
pub const UV_READABLE: c_int = 1;
pub const UV_WRITABLE: c_int = 2;
pub const UV_DISCONNECT: c_int = 4;

extern "C" {
    pub fn uv_handle_size(kind: c_int) -> usize;
    pub fn uv_poll_init(lp: *mut UvLoop, handle: *mut UvHandle, fd: c_int) -> c_int;
    pub fn uv_poll_start(handle: *mut UvHandle, events: c_int, cb: PollCb) -> c_int;
    pub fn uv_poll_stop(handle: *mut UvHandle) -> c_int;
    pub fn uv_check_init(lp: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    pub fn uv_check_start(handle: *mut UvHandle, cb: CheckCb) -> c_int;
    pub fn uv_check_stop(handle: *mut UvHandle) -> c_int;
    pub fn uv_timer_init(lp: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    pub fn uv_timer_start(handle: *mut UvHandle, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
    pub fn uv_timer_stop(handle: *mut UvHandle) -> c_int;
    pub fn uv_close(handle: *mut UvHandle, cb: CloseCb);
    pub fn uv_ref(handle: *mut UvHandle);
    pub fn uv_unref(handle: *mut UvHandle);
    pub fn uv_handle_set_data(handle: *mut UvHandle, data: *mut c_void);
    pub fn uv_handle_get_data(handle: *const UvHandle) -> *mut c_void;
}

/// Storage for a libuv handle of `kind` (libuv needs a stable address); the caller initialises
/// it with `uv_*_init` and releases it with `close_all`.
pub fn alloc_handle(kind: c_int) -> *mut UvHandle {
    // SAFETY: uv_handle_size only reads its argument; calloc'd memory is what libuv expects, and
    // it is released with libc::free in `close_all`'s callback.
    let raw = unsafe { libc::calloc(1, uv_handle_size(kind)) } as *mut UvHandle;
    assert!(!raw.is_null(), "out of memory allocating a libuv handle");
    raw
}

/// Closes `handles` and calls `done` once libuv has released all of them.
pub fn close_all<D: FnOnce() + 'static>(handles: &[*mut UvHandle], done: D) {
    struct Pending {
        left: usize,
        done: Option<Box<dyn FnOnce()>>,
    }
    unsafe extern "C" fn on_closed(handle: *mut UvHandle) {
        // SAFETY: the data pointer was set below to a leaked `Pending` shared by the handles and
        // freed by the last one; the handle memory came from `alloc_handle` (calloc).
        unsafe {
            let pending = uv_handle_get_data(handle) as *mut Pending;
            libc::free(handle as *mut c_void);
            (*pending).left -= 1;
            if (*pending).left == 0 {
                let p = Box::from_raw(pending);
                if let Some(d) = p.done {
                    d();
                }
            }
        }
    }
    let pending = Box::into_raw(Box::new(Pending {
        left: handles.len(),
        done: Some(Box::new(done)),
    }));
    for &h in handles {
        // SAFETY: each handle is initialised and closed exactly once, here.
        unsafe {
            uv_handle_set_data(h, pending as *mut c_void);
            uv_close(h, on_closed);
        }
    }
}
