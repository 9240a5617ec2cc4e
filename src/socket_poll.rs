//! A WebSocket connection's registration in libuv's own epoll: one `uv_poll_t` per socket, as
//! uSockets does, rather than a socket in mio's epoll whose fd libuv's epoll watches (HTTP
//! connections stay there: see `conn::watch_in_libuv`).
//!
//! Why: on loopback the sender's `send` runs the receiver's TCP input, wake-ups included. With
//! nested epolls every arriving segment wakes two epoll instances, paid by the *client*: the
//! load generator spent 1.5-2.5% more CPU per message against us than against
//! uWebSockets.js (echo and connection churn), which is throughput lost whenever the client is
//! the bottleneck.
//!
//! Edge-triggered where possible. libuv registers level-triggered, and level-triggered costs
//! the server: epoll re-polls every reported socket on the next wait (P=1 echo: 0.98x the
//! server throughput of mio's edge-triggered registration). libuv has no edge-triggered flag,
//! but it registers exactly the bits in the watcher's `pevents`, whose place in `uv_poll_t` is
//! part of libuv 1.x's public, ABI-stable headers. So `EPOLLET` is added there after
//! `uv_poll_start`, once the layout has been checked on the handle itself (the fd and the
//! requested bits must be found where expected); it is cleared again before `uv_close`. An
//! edge-triggered socket is watched for readable and writable all its life, as with mio.
//!
//! Otherwise (another layout, another platform, or `UWS_RS_POLL=level`) the registration stays
//! level-triggered and interest follows need (`Conn::sync_interest`): readable unless paused,
//! writable only while something waits for room, since a level-triggered writable socket would
//! be reported on every loop iteration.
//!
//! Either way the callbacks only note which sockets are ready; the loop handles them all in one
//! wakeup from a `uv_check` handle right after libuv's poll phase (`Loop::dispatch_ready`), so
//! corking and the publish batch work as before.

use crate::event_loop::Loop;
use crate::slab::Key;
use crate::uv::{self, UvHandle};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

pub struct SocketPoll {
    handle: *mut UvHandle,
    trigger: Trigger,
}

enum Trigger {
    /// Readable and writable (and the peer's hang-up) for the socket's whole life.
    Edge,
    /// The uv_poll_event bits libuv watches now (0: stopped).
    Level { events: c_int },
}

/// Where `uv_poll_t.io_watcher.pevents` and `.fd` sit on 64-bit Linux (libuv 1.x `uv.h` and
/// `unix.h`: 96 bytes of handle fields, the poll callback, then the io watcher's callback and
/// two queues before `pevents`, `events` and `fd`).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod layout {
    pub const PEVENTS: usize = 144;
    pub const FD: usize = 152;
    /// What libuv stores in `pevents` for UV_READABLE | UV_WRITABLE | UV_DISCONNECT:
    /// POLLIN | POLLOUT | EPOLLRDHUP.
    pub const ALL_EVENTS: u32 = 0x1 | 0x4 | 0x2000;
    pub const EPOLLET: u32 = 1 << 31;
}

/// Some socket of this process is level-triggered: only then does anything need to follow
/// interest (`Conn::sync_interest`) after a writable event.
static LEVEL_IN_USE: AtomicBool = AtomicBool::new(false);

pub fn level_in_use() -> bool {
    LEVEL_IN_USE.load(Relaxed)
}

/// `UWS_RS_POLL=level` keeps every socket level-triggered (the fallback, for testing it and as
/// an escape hatch).
fn level_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("UWS_RS_POLL").is_some_and(|v| v == "level"))
}

/// Packs a key into the handle's data pointer (index and generation both fit in 64 bits).
fn pack(key: Key) -> *mut c_void {
    ((u64::from(key.gen) << 32) | u64::from(key.index)) as usize as *mut c_void
}

fn unpack(data: *mut c_void) -> Key {
    let v = data as usize as u64;
    Key {
        index: v as u32,
        gen: (v >> 32) as u32,
    }
}

impl SocketPoll {
    /// Starts watching `fd` for connection `key`. None if libuv refuses the fd.
    pub fn new(lp: &Loop, fd: RawFd, key: Key) -> Option<SocketPoll> {
        let handle = uv::alloc_handle(uv::UV_POLL);
        // SAFETY: a fresh handle initialised on this loop's thread; it is unreferenced (the
        // loop's own handle keeps Node alive while connections exist) and closed in Drop.
        let ok = unsafe {
            let ok = uv::uv_poll_init(lp.uv_loop(), handle, fd) == 0;
            if ok {
                uv::uv_handle_set_data(handle, pack(key));
                uv::uv_unref(handle);
            }
            ok
        };
        if !ok {
            // SAFETY: never initialised: plain calloc'd memory.
            unsafe { libc::free(handle as *mut c_void) };
            return None;
        }
        let mut p = SocketPoll {
            handle,
            trigger: Trigger::Level { events: 0 },
        };
        if !level_forced() && p.start_edge_triggered(fd) {
            p.trigger = Trigger::Edge;
        } else {
            LEVEL_IN_USE.store(true, Relaxed);
            p.set(true, false);
        }
        Some(p)
    }

    /// Starts the poll for everything and makes libuv register it edge-triggered, if the
    /// handle's layout is the expected one. False (and nothing started) otherwise.
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    fn start_edge_triggered(&mut self, fd: RawFd) -> bool {
        use layout::*;
        let field = |offset: usize| (self.handle as *mut u8).wrapping_add(offset) as *mut u32;
        // SAFETY: the handle is an initialised uv_poll_t of uv_handle_size(UV_POLL) bytes, which
        // is checked to cover both fields before they are read; it is libuv's, on this thread,
        // and libuv reads `pevents` only in its poll phase, not during this call.
        unsafe {
            if uv::uv_handle_size(uv::UV_POLL) < FD + 4
                || *field(FD) != fd as u32
                || *field(PEVENTS) != 0
            {
                return false;
            }
            let all = uv::UV_READABLE | uv::UV_WRITABLE | uv::UV_DISCONNECT;
            uv::uv_poll_start(self.handle, all, on_socket);
            if *field(PEVENTS) != ALL_EVENTS {
                uv::uv_poll_stop(self.handle);
                return false;
            }
            *field(PEVENTS) |= EPOLLET;
        }
        true
    }

    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    fn start_edge_triggered(&mut self, _fd: RawFd) -> bool {
        false
    }

    /// Whether interest must follow need (`set`): level-triggered.
    pub fn is_level(&self) -> bool {
        matches!(self.trigger, Trigger::Level { .. })
    }

    /// Level-triggered only: watches readability (with the peer's hang-up) and/or writability.
    /// An edge-triggered socket is always watched for both.
    pub fn set(&mut self, readable: bool, writable: bool) {
        let Trigger::Level { events: now } = &mut self.trigger else {
            return;
        };
        let events =
            if readable { uv::UV_READABLE } else { 0 } | if writable { uv::UV_WRITABLE } else { 0 };
        if events == *now {
            return;
        }
        *now = events;
        // SAFETY: an initialised, open handle; libuv applies the change at its next poll.
        unsafe {
            if events == 0 {
                uv::uv_poll_stop(self.handle);
            } else {
                // The peer's hang-up only with readable: a paused socket is not read, and a
                // level-triggered hang-up would be reported on every iteration.
                let hangup = if readable { uv::UV_DISCONNECT } else { 0 };
                uv::uv_poll_start(self.handle, events | hangup, on_socket);
            }
        }
    }
}

impl Drop for SocketPoll {
    /// Closes the handle, which stops watching, before the socket is closed (libuv must not
    /// poll a closed fd), and releases it once libuv is done with it. (No `uv_poll_stop`
    /// first: closing stops it, and each stop is an `EPOLL_CTL_DEL`.)
    fn drop(&mut self) {
        unsafe extern "C" fn on_closed(handle: *mut UvHandle) {
            // SAFETY: the memory came from alloc_handle (calloc) and libuv no longer uses it.
            unsafe { libc::free(handle as *mut c_void) };
        }
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        if matches!(self.trigger, Trigger::Edge) {
            let pevents = (self.handle as *mut u8).wrapping_add(layout::PEVENTS) as *mut u32;
            // SAFETY: the field checked in `start_edge_triggered`. Without EPOLLET, which
            // libuv does not know of, closing leaves `pevents` at 0 and libuv forgets the fd.
            unsafe { *pevents &= !layout::EPOLLET };
        }
        // SAFETY: an initialised handle, closed exactly once, here.
        unsafe { uv::uv_close(self.handle, on_closed) };
    }
}

/// libuv found the socket ready: note it for this iteration's wakeup.
unsafe extern "C" fn on_socket(handle: *mut UvHandle, status: c_int, events: c_int) {
    // SAFETY: the data pointer was set in `new` and is never changed.
    let key = unpack(unsafe { uv::uv_handle_get_data(handle) });
    // An error (status < 0) is handled as readable: the read reports it.
    let events = if status < 0 {
        uv::UV_READABLE | uv::UV_DISCONNECT
    } else {
        events
    };
    if let Some(lp) = Loop::current() {
        lp.note_ready(key, events);
    }
}
