//! The host process's zlib as a compressing engine: Node exports its own zlib (Chromium's copy,
//! with SIMD hashing), which is what uWebSockets.js compresses with. Looked up at run time with
//! `dlsym`, so the addon links no zlib and still loads where the host exports none (Bun, a
//! static build): there `engine` returns `None` and compression stays on zlib-rs.
//!
//! Only compression uses it. Inflating what clients send stays in zlib-rs: untrusted input
//! goes through safe Rust, and there zlib-rs is as fast (measured: bench/echo.js `inflate`).
//!
//! Measured on 1 KiB JSON-like messages, one reset per message (SHARED_COMPRESSOR): Debian's
//! zlib 6.2 µs against zlib-rs 8.7 µs per message; 256 B: 3.8 against 5.8 µs.
//!
//! `UWS_RS_DEFLATE=zlib-rs` in the environment keeps zlib-rs even where the host has a zlib.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use std::mem::MaybeUninit;
use std::sync::OnceLock;
use uws_core::ws::deflate::{DeflateEngine, DeflateError};

/// zlib's `z_stream` (zlib.h). Its layout has been the same since zlib 1.0; `deflateInit2_`
/// checks the size we pass against its own.
#[repr(C)]
struct ZStream {
    next_in: *const u8,
    avail_in: c_uint,
    total_in: c_ulong,
    next_out: *mut u8,
    avail_out: c_uint,
    total_out: c_ulong,
    msg: *const c_char,
    state: *mut c_void,
    zalloc: *const c_void,
    zfree: *const c_void,
    opaque: *mut c_void,
    data_type: c_int,
    adler: c_ulong,
    reserved: c_ulong,
}

const Z_OK: c_int = 0;
const Z_BUF_ERROR: c_int = -5;
const Z_SYNC_FLUSH: c_int = 2;
const Z_DEFLATED: c_int = 8;
const Z_DEFAULT_STRATEGY: c_int = 0;
/// Z_DEFAULT_COMPRESSION (level 6), as uWebSockets uses.
const Z_DEFAULT_COMPRESSION: c_int = -1;

type DeflateInit2 = unsafe extern "C" fn(
    *mut ZStream,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const c_char,
    c_int,
) -> c_int;
type StreamFn = unsafe extern "C" fn(*mut ZStream) -> c_int;
type DeflateFn = unsafe extern "C" fn(*mut ZStream, c_int) -> c_int;
type VersionFn = unsafe extern "C" fn() -> *const c_char;

/// The entry points, resolved once.
struct Api {
    deflate_init2: DeflateInit2,
    deflate: DeflateFn,
    deflate_reset: StreamFn,
    deflate_end: StreamFn,
    /// The host's own version string, passed back to `deflateInit2_` (which checks its major).
    version: &'static CStr,
}

/// Where to look the symbols up.
#[derive(Clone, Copy)]
enum Source {
    /// The process's global symbols (Node's exports).
    Process,
    /// A library loaded for the tests (the test binary is not Node).
    #[cfg(test)]
    Library(&'static CStr),
}

fn resolve(source: Source) -> Option<Api> {
    // (RTLD_DEFAULT is a null pointer on glibc: only dlopen's result is checked.)
    let handle = match source {
        Source::Process => libc::RTLD_DEFAULT,
        #[cfg(test)]
        Source::Library(name) => {
            // SAFETY: dlopen with a valid C string; the handle is never closed (the Api
            // outlives it).
            let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if h.is_null() {
                return None;
            }
            h
        }
    };
    let sym = |name: &CStr| {
        // SAFETY: dlsym with a valid handle and a NUL-terminated name; a null result is handled.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    let (init, def, reset, end, version) = (
        sym(c"deflateInit2_")?,
        sym(c"deflate")?,
        sym(c"deflateReset")?,
        sym(c"deflateEnd")?,
        sym(c"zlibVersion")?,
    );
    // SAFETY: these are zlib's exported functions, whose C signatures the types above copy
    // from zlib.h (stable since zlib 1.0).
    let api = unsafe {
        Api {
            deflate_init2: std::mem::transmute::<*mut c_void, DeflateInit2>(init),
            deflate: std::mem::transmute::<*mut c_void, DeflateFn>(def),
            deflate_reset: std::mem::transmute::<*mut c_void, StreamFn>(reset),
            deflate_end: std::mem::transmute::<*mut c_void, StreamFn>(end),
            version: CStr::from_ptr(std::mem::transmute::<*mut c_void, VersionFn>(version)()),
        }
    };
    // zlib 1.x: the z_stream above. A host exporting some other "deflate" is not used.
    api.version.to_bytes().starts_with(b"1.").then_some(api)
}

fn process_api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        if std::env::var_os("UWS_RS_DEFLATE").is_some_and(|v| v == "zlib-rs") {
            return None;
        }
        resolve(Source::Process)
    })
    .as_ref()
}

/// One zlib deflate stream. Boxed: zlib's state points back at its z_stream, which must not move.
pub struct HostDeflate {
    api: &'static Api,
    z: Box<ZStream>,
}

impl HostDeflate {
    fn new(api: &'static Api, window_bits: u8, mem_level: u8) -> Option<HostDeflate> {
        // SAFETY: all-zero is z_stream's documented initial state (null zalloc/zfree/opaque
        // select zlib's own allocator).
        let mut z: Box<ZStream> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: a zeroed, heap-pinned z_stream; negative window bits select raw deflate;
        // the version and size let zlib check that its z_stream is ours.
        let rc = unsafe {
            (api.deflate_init2)(
                &mut *z,
                Z_DEFAULT_COMPRESSION,
                Z_DEFLATED,
                -c_int::from(window_bits),
                c_int::from(mem_level),
                Z_DEFAULT_STRATEGY,
                api.version.as_ptr(),
                std::mem::size_of::<ZStream>() as c_int,
            )
        };
        (rc == Z_OK).then_some(HostDeflate { api, z })
    }
}

// SAFETY: the written count is what zlib reports it wrote (room given minus room left), at the
// start of `out`.
unsafe impl DeflateEngine for HostDeflate {
    fn sync_flush(
        &mut self,
        input: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<(usize, usize), DeflateError> {
        // zlib counts in 32 bits: give it at most that per call (the caller loops).
        let in_len = input.len().min(c_uint::MAX as usize);
        let out_len = out.len().min(c_uint::MAX as usize);
        let z = &mut *self.z;
        z.next_in = input.as_ptr();
        z.avail_in = in_len as c_uint;
        z.next_out = out.as_mut_ptr().cast();
        z.avail_out = out_len as c_uint;
        // SAFETY: the stream was initialised by deflateInit2_; next_in/next_out point at
        // `in_len` readable and `out_len` writable bytes that outlive the call.
        let rc = unsafe { (self.api.deflate)(z, Z_SYNC_FLUSH) };
        let consumed = in_len - z.avail_in as usize;
        let written = out_len - z.avail_out as usize;
        // Dangling pointers are not left in the stream.
        z.next_in = std::ptr::null();
        z.next_out = std::ptr::null_mut();
        match rc {
            Z_OK | Z_BUF_ERROR => Ok((consumed, written)),
            _ => Err(DeflateError),
        }
    }

    fn reset(&mut self) {
        // SAFETY: an initialised stream.
        unsafe { (self.api.deflate_reset)(&mut *self.z) };
    }
}

impl Drop for HostDeflate {
    fn drop(&mut self) {
        // SAFETY: an initialised stream, ended once.
        unsafe { (self.api.deflate_end)(&mut *self.z) };
    }
}

/// An engine on the host's zlib, if the host exports one (`None`: use zlib-rs).
pub fn engine(window_bits: u8, mem_level: u8) -> Option<Box<dyn DeflateEngine>> {
    let api = process_api()?;
    HostDeflate::new(api, window_bits, mem_level).map(|d| Box::new(d) as Box<dyn DeflateEngine>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uws_core::ws::deflate::engine_checks::check_engine;

    /// The system's libz stands in for Node's exports (the test binary is not Node).
    fn system_api() -> Option<&'static Api> {
        static API: OnceLock<Option<Api>> = OnceLock::new();
        API.get_or_init(|| resolve(Source::Library(c"libz.so.1")))
            .as_ref()
    }

    #[test]
    fn system_zlib_passes_the_engine_checks() {
        let api =
            system_api().expect("libz.so.1 (Debian's zlib1g) is on every machine we build on");
        let made = std::cell::Cell::new(0);
        check_engine(&|w, m| {
            made.set(made.get() + 1);
            Some(Box::new(
                HostDeflate::new(api, w, m).expect("deflateInit2_"),
            ))
        });
        assert!(made.get() > 20, "the checks ran on the host engine");
    }
}
