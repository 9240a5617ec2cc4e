//! Thin, checked wrappers over raw N-API calls: the only place (with `uv.rs` and the loop glue)
//! where the addon speaks to the engine through `unsafe`.
//!
//! Raw N-API is used instead of napi-rs's typed layer on purpose: the hot entry points (send,
//! message dispatch) take loosely typed uWebSockets.js arguments (string | ArrayBuffer |
//! TypedArray | DataView) and must neither allocate nor convert more than the call needs.

use napi::sys;
use std::ffi::{c_char, c_void, CStr};
use std::ptr;

pub type Value = sys::napi_value;

/// An error to raise in JS at the boundary.
#[derive(Debug)]
pub enum JsError {
    /// `TypeError` with a message naming the argument.
    Type(String),
    /// Plain `Error`.
    Error(String),
    /// A JS exception is already pending (thrown by a callback we called): leave it in place.
    Pending,
}

pub type JsResult<T> = Result<T, JsError>;

pub fn type_error(msg: impl Into<String>) -> JsError {
    JsError::Type(msg.into())
}

pub fn error(msg: impl Into<String>) -> JsError {
    JsError::Error(msg.into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    External,
    BigInt,
}

/// The N-API environment of the current call. Copyable: it is a pointer that is valid for as
/// long as the JS environment (main thread or worker) lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Env(pub sys::napi_env);

/// Up to N arguments of a native call (missing ones are `undefined`).
pub struct Args<const N: usize> {
    pub argv: [Value; N],
}

macro_rules! check {
    ($call:expr) => {{
        // SAFETY: every N-API call here is made on the JS thread that owns `env`, with handles
        // that are alive in the current handle scope.
        let status = unsafe { $call };
        if status != sys::Status::napi_ok {
            return Err(JsError::Pending.or_status(status));
        }
    }};
}

impl JsError {
    fn or_status(self, status: sys::napi_status) -> JsError {
        if status == sys::Status::napi_pending_exception {
            JsError::Pending
        } else {
            JsError::Error(format!("N-API call failed with status {status}"))
        }
    }
}

impl Env {
    pub fn args<const N: usize>(self, info: sys::napi_callback_info) -> JsResult<Args<N>> {
        let mut argv = [ptr::null_mut(); N];
        let mut argc = N;
        check!(sys::napi_get_cb_info(
            self.0,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut()
        ));
        // N-API already fills missing arguments with `undefined`; this only guards against an
        // engine that would not (and costs no call when every argument was passed).
        if argc < N {
            let undef = self.undefined();
            for slot in argv.iter_mut().skip(argc) {
                if slot.is_null() {
                    *slot = undef;
                }
            }
        }
        Ok(Args { argv })
    }

    pub fn undefined(self) -> Value {
        let mut v = ptr::null_mut();
        // SAFETY: napi_get_undefined cannot fail on a valid env.
        unsafe { sys::napi_get_undefined(self.0, &mut v) };
        v
    }

    pub fn null(self) -> Value {
        let mut v = ptr::null_mut();
        // SAFETY: as above.
        unsafe { sys::napi_get_null(self.0, &mut v) };
        v
    }

    pub fn boolean(self, b: bool) -> Value {
        let mut v = ptr::null_mut();
        // SAFETY: as above.
        unsafe { sys::napi_get_boolean(self.0, b, &mut v) };
        v
    }

    pub fn number(self, n: f64) -> Value {
        let mut v = ptr::null_mut();
        // SAFETY: creating a number only fails if the env is gone.
        unsafe { sys::napi_create_double(self.0, n, &mut v) };
        v
    }

    pub fn bigint_u64(self, n: u64) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check!(sys::napi_create_bigint_uint64(self.0, n, &mut v));
        Ok(v)
    }

    pub fn string(self, s: &str) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check!(sys::napi_create_string_utf8(
            self.0,
            s.as_ptr() as *const c_char,
            s.len() as isize,
            &mut v
        ));
        Ok(v)
    }

    /// A JS string from bytes that should be UTF-8 (invalid sequences become U+FFFD).
    pub fn string_lossy(self, b: &[u8]) -> JsResult<Value> {
        match std::str::from_utf8(b) {
            Ok(s) => self.string(s),
            Err(_) => self.string(&String::from_utf8_lossy(b)),
        }
    }

    pub fn kind(self, v: Value) -> Kind {
        let mut t = 0;
        // SAFETY: typeof on a live handle.
        unsafe { sys::napi_typeof(self.0, v, &mut t) };
        match t {
            sys::ValueType::napi_null => Kind::Null,
            sys::ValueType::napi_boolean => Kind::Boolean,
            sys::ValueType::napi_number => Kind::Number,
            sys::ValueType::napi_string => Kind::String,
            sys::ValueType::napi_symbol => Kind::Symbol,
            sys::ValueType::napi_object => Kind::Object,
            sys::ValueType::napi_function => Kind::Function,
            sys::ValueType::napi_external => Kind::External,
            sys::ValueType::napi_bigint => Kind::BigInt,
            _ => Kind::Undefined,
        }
    }

    pub fn is_nullish(self, v: Value) -> bool {
        matches!(self.kind(v), Kind::Undefined | Kind::Null)
    }

    /// JS truthiness, as uWebSockets.js reads its boolean flags. A real boolean (the usual
    /// case) costs one N-API call; anything else is coerced.
    pub fn truthy(self, v: Value) -> bool {
        let mut out = false;
        // SAFETY: reading/coercing a live handle; a failure leaves `out` false.
        unsafe {
            if sys::napi_get_value_bool(self.0, v, &mut out) == sys::Status::napi_ok {
                return out;
            }
            let mut b = ptr::null_mut();
            if sys::napi_coerce_to_bool(self.0, v, &mut b) == sys::Status::napi_ok {
                sys::napi_get_value_bool(self.0, b, &mut out);
            }
        }
        out
    }

    pub fn f64(self, v: Value, what: &str) -> JsResult<f64> {
        let mut n = 0.0;
        // SAFETY: reading a number from a live handle.
        let status = unsafe { sys::napi_get_value_double(self.0, v, &mut n) };
        if status != sys::Status::napi_ok {
            return Err(type_error(format!("{what} must be a number")));
        }
        Ok(n)
    }

    /// Number argument with a default for `undefined`.
    pub fn f64_or(self, v: Value, default: f64, what: &str) -> JsResult<f64> {
        if self.kind(v) == Kind::Undefined {
            Ok(default)
        } else {
            self.f64(v, what)
        }
    }

    /// Runs `f` over the bytes of a string, ArrayBuffer, TypedArray (Buffer) or DataView, borrowed
    /// in place; strings are transcoded once into `scratch`.
    pub fn with_bytes<R>(
        self,
        v: Value,
        scratch: &mut Vec<u8>,
        what: &str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> JsResult<R> {
        self.bytes_then(v, scratch, false, what, f)
    }

    /// Like `with_bytes` but `undefined` counts as empty (uWebSockets.js sends an empty message).
    pub fn with_bytes_opt<R>(
        self,
        v: Value,
        scratch: &mut Vec<u8>,
        what: &str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> JsResult<R> {
        self.bytes_then(v, scratch, true, what, f)
    }

    fn bytes_then<R>(
        self,
        v: Value,
        scratch: &mut Vec<u8>,
        undefined_is_empty: bool,
        what: &str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> JsResult<R> {
        // Probe the common binary kinds first: an ArrayBuffer (what handlers receive and echo)
        // costs one N-API call, a TypedArray two; only then ask for the type.
        if let Some((data, len)) = self.buffer_parts(v) {
            if len == 0 {
                return Ok(f(&[]));
            }
            // SAFETY: N-API returned the backing store of a live ArrayBuffer view; it stays
            // valid and unmodified for this synchronous call (JS cannot run during `f`).
            let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
            return Ok(f(bytes));
        }
        match self.kind(v) {
            Kind::String => {
                self.string_into(v, scratch)?;
                Ok(f(scratch))
            }
            Kind::Undefined if undefined_is_empty => Ok(f(&[])),
            _ => Err(bytes_error(what)),
        }
    }

    /// Copies the bytes of any accepted value into a Vec.
    pub fn bytes_owned(self, v: Value, what: &str) -> JsResult<Vec<u8>> {
        let mut scratch = Vec::new();
        self.with_bytes(v, &mut scratch, what, |b| b.to_vec())
    }

    /// `v`'s UTF-8 in `out`: one N-API call when it fits `out`'s capacity (at least 1 KiB is
    /// kept), else measured first.
    pub fn string_into(self, v: Value, out: &mut Vec<u8>) -> JsResult<()> {
        if self.short_string_into(v, out) {
            return Ok(());
        }
        let mut len = 0usize;
        check!(sys::napi_get_value_string_utf8(
            self.0,
            v,
            ptr::null_mut(),
            0,
            &mut len
        ));
        out.clear();
        out.reserve(len + 1);
        let mut written = 0usize;
        check!(sys::napi_get_value_string_utf8(
            self.0,
            v,
            out.as_mut_ptr() as *mut c_char,
            len + 1,
            &mut written
        ));
        // SAFETY: N-API wrote `written` bytes of UTF-8 into the reserved capacity.
        unsafe { out.set_len(written) };
        Ok(())
    }

    /// When `v` is a string that fits `out`'s capacity (at least 1 KiB is kept), its UTF-8 in
    /// `out` after a single N-API call. False for anything else (`out` is then unspecified).
    pub fn short_string_into(self, v: Value, out: &mut Vec<u8>) -> bool {
        out.clear();
        if out.capacity() < 1024 {
            out.reserve(1024);
        }
        let cap = out.capacity();
        let mut written = 0usize;
        // SAFETY: N-API writes at most `cap` bytes (NUL included) into the reserved capacity; a
        // non-string fails with napi_string_expected and writes nothing.
        let status = unsafe {
            sys::napi_get_value_string_utf8(self.0, v, out.as_mut_ptr().cast(), cap, &mut written)
        };
        if status != sys::Status::napi_ok || written + 4 >= cap {
            // Not a string, or possibly truncated (V8 stops before a character of up to 4 bytes
            // that does not fit): the general path measures first.
            return false;
        }
        // SAFETY: N-API wrote `written` bytes of UTF-8.
        unsafe { out.set_len(written) };
        true
    }

    fn buffer_parts(self, v: Value) -> Option<(*mut c_void, usize)> {
        let mut yes = false;
        let mut data = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: info getters on a live handle; each reports a non-ok status (and writes
        // nothing we use) when the value is not of its kind.
        unsafe {
            if sys::napi_get_arraybuffer_info(self.0, v, &mut data, &mut len)
                == sys::Status::napi_ok
            {
                return Some((data, len));
            }
            sys::napi_is_typedarray(self.0, v, &mut yes);
            if yes {
                let mut kind = 0;
                let mut count = 0usize;
                let mut ab = ptr::null_mut();
                let mut offset = 0usize;
                sys::napi_get_typedarray_info(
                    self.0,
                    v,
                    &mut kind,
                    &mut count,
                    &mut data,
                    &mut ab,
                    &mut offset,
                );
                return Some((data, count * typed_array_element_size(kind)));
            }
            sys::napi_is_dataview(self.0, v, &mut yes);
            if yes {
                let mut ab = ptr::null_mut();
                let mut offset = 0usize;
                sys::napi_get_dataview_info(self.0, v, &mut len, &mut data, &mut ab, &mut offset);
                return Some((data, len));
            }
        }
        None
    }

    /// A new ArrayBuffer holding a copy of `bytes`.
    pub fn arraybuffer(self, bytes: &[u8]) -> JsResult<Value> {
        let mut data = ptr::null_mut();
        let mut v = ptr::null_mut();
        check!(sys::napi_create_arraybuffer(
            self.0,
            bytes.len(),
            &mut data,
            &mut v
        ));
        if !bytes.is_empty() {
            // SAFETY: N-API just allocated `bytes.len()` writable bytes at `data`.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data as *mut u8, bytes.len()) };
        }
        Ok(v)
    }

    /// Detaches an ArrayBuffer we created (uWebSockets.js semantics: handler arguments are only
    /// valid during the call). Failure is ignored: the buffer then simply stays readable.
    pub fn detach(self, ab: Value) {
        // SAFETY: detaching a live ArrayBuffer created by `arraybuffer`.
        unsafe { sys::napi_detach_arraybuffer(self.0, ab) };
    }

    /// Whether `ab` is detached. Used after a handler returns to see whether JS transferred a
    /// lent buffer away (then the memory must outlive the call).
    pub fn is_detached(self, ab: Value) -> bool {
        let mut detached = false;
        // SAFETY: `ab` is a live ArrayBuffer handle of this scope; `detached` is writable.
        unsafe { sys::napi_is_detached_arraybuffer(self.0, ab, &mut detached) };
        detached
    }

    /// An ArrayBuffer over `bytes` without a copy, for a synchronous call after which the caller
    /// detaches it (or, if JS detached it first by transferring it, keeps the memory alive
    /// through `owner`). The backing store holds `owner` until V8 releases it.
    pub fn arraybuffer_over<T: 'static>(self, bytes: &mut [u8], owner: T) -> JsResult<Value> {
        unsafe extern "C" fn release<T>(
            _env: sys::napi_env,
            _data: *mut c_void,
            hint: *mut c_void,
        ) {
            // SAFETY: `hint` is the Box<T> leaked below, released exactly once here.
            drop(unsafe { Box::from_raw(hint as *mut T) });
        }
        let hint = Box::into_raw(Box::new(owner)) as *mut c_void;
        let mut v = ptr::null_mut();
        // SAFETY: `bytes` is valid and writable for the call; the caller detaches the buffer
        // before the memory is reused, or keeps it alive through `owner` if JS took it.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                self.0,
                bytes.as_mut_ptr() as *mut c_void,
                bytes.len(),
                Some(release::<T>),
                hint,
                &mut v,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: N-API did not take the hint: it is still ours.
            drop(unsafe { Box::from_raw(hint as *mut T) });
            return Err(JsError::Pending.or_status(status));
        }
        Ok(v)
    }

    pub fn object(self) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check!(sys::napi_create_object(self.0, &mut v));
        Ok(v)
    }

    pub fn array(self, items: &[Value]) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check!(sys::napi_create_array_with_length(
            self.0,
            items.len(),
            &mut v
        ));
        for (i, item) in items.iter().enumerate() {
            check!(sys::napi_set_element(self.0, v, i as u32, *item));
        }
        Ok(v)
    }

    pub fn get(self, obj: Value, name: &CStr) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check!(sys::napi_get_named_property(
            self.0,
            obj,
            name.as_ptr(),
            &mut v
        ));
        Ok(v)
    }

    pub fn set(self, obj: Value, name: &CStr, value: Value) -> JsResult<()> {
        check!(sys::napi_set_named_property(
            self.0,
            obj,
            name.as_ptr(),
            value
        ));
        Ok(())
    }

    /// Calls `func` with `this` = undefined. On a JS exception returns `Err(exception)` with the
    /// exception cleared, so the caller decides where it goes.
    pub fn call(self, func: Value, args: &[Value]) -> Result<Value, Value> {
        self.call_with_this(func, self.undefined(), args)
    }

    pub fn call_with_this(self, func: Value, this: Value, args: &[Value]) -> Result<Value, Value> {
        let mut result = ptr::null_mut();
        // SAFETY: calling a live function handle with live argument handles.
        let status = unsafe {
            sys::napi_call_function(self.0, this, func, args.len(), args.as_ptr(), &mut result)
        };
        if status == sys::Status::napi_ok {
            return Ok(result);
        }
        Err(self.take_exception().unwrap_or_else(|| self.undefined()))
    }

    pub fn take_exception(self) -> Option<Value> {
        let mut pending = false;
        // SAFETY: exception queries on a valid env.
        unsafe {
            sys::napi_is_exception_pending(self.0, &mut pending);
            if !pending {
                return None;
            }
            let mut err = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(self.0, &mut err);
            Some(err)
        }
    }

    /// Hands an exception thrown by an application callback to `process.on('uncaughtException')`
    /// (what Node does for exceptions thrown from its own event callbacks).
    pub fn report_uncaught(self, err: Value) {
        // SAFETY: a live exception value; napi_fatal_exception runs the uncaught-exception path.
        unsafe { sys::napi_fatal_exception(self.0, err) };
    }

    /// Raises `e` as a JS exception unless one is already pending.
    pub fn throw(self, e: JsError) {
        let mut pending = false;
        // SAFETY: exception APIs on a valid env with NUL-terminated messages.
        unsafe {
            sys::napi_is_exception_pending(self.0, &mut pending);
            if pending {
                return;
            }
            let (msg, is_type) = match e {
                JsError::Pending => return,
                JsError::Type(m) => (m, true),
                JsError::Error(m) => (m, false),
            };
            let msg = std::ffi::CString::new(msg.replace('\0', " ")).unwrap_or_default();
            if is_type {
                sys::napi_throw_type_error(self.0, ptr::null(), msg.as_ptr());
            } else {
                sys::napi_throw_error(self.0, ptr::null(), msg.as_ptr());
            }
        }
    }

    pub fn new_function(
        self,
        name: &CStr,
        cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Value,
    ) -> JsResult<Value> {
        let mut f = ptr::null_mut();
        check!(sys::napi_create_function(
            self.0,
            name.as_ptr(),
            name.to_bytes().len() as isize,
            Some(cb),
            ptr::null_mut(),
            &mut f
        ));
        Ok(f)
    }

    pub fn reference(self, v: Value) -> JsResult<Ref> {
        let mut r = ptr::null_mut();
        check!(sys::napi_create_reference(self.0, v, 1, &mut r));
        Ok(Ref { raw: r, env: self })
    }
}

/// uWebSockets.js's wording (its tests and users match on it), naming the argument.
fn bytes_error(what: &str) -> JsError {
    type_error(format!(
        "Text and data can only be passed by String, ArrayBuffer or TypedArray. ({what})"
    ))
}

fn typed_array_element_size(kind: sys::napi_typedarray_type) -> usize {
    match kind {
        sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
        sys::TypedarrayType::int32_array
        | sys::TypedarrayType::uint32_array
        | sys::TypedarrayType::float32_array => 4,
        sys::TypedarrayType::float64_array
        | sys::TypedarrayType::bigint64_array
        | sys::TypedarrayType::biguint64_array => 8,
        _ => 1,
    }
}

/// A strong reference that keeps a JS value alive across calls; released on drop.
pub struct Ref {
    raw: sys::napi_ref,
    env: Env,
}

impl Ref {
    pub fn get(&self) -> Value {
        let mut v = ptr::null_mut();
        // SAFETY: the reference is alive until drop and belongs to `env`.
        unsafe { sys::napi_get_reference_value(self.env.0, self.raw, &mut v) };
        v
    }
}

impl Drop for Ref {
    fn drop(&mut self) {
        // SAFETY: deleting our own reference exactly once. During environment teardown N-API
        // tolerates deleting references.
        unsafe { sys::napi_delete_reference(self.env.0, self.raw) };
    }
}

impl std::fmt::Debug for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ref")
    }
}

/// Handle scope + callback scope around JS calls made from a libuv callback: without the callback
/// scope, `process.nextTick` callbacks and promise jobs queued by handlers would run late.
pub struct CallbackScope {
    env: Env,
    handle_scope: sys::napi_handle_scope,
    callback_scope: sys::napi_callback_scope,
}

impl CallbackScope {
    /// `resource` is resolved after the handle scope is open (a handle needs a scope).
    pub fn open(env: Env, resource: &Ref, context: sys::napi_async_context) -> CallbackScope {
        let mut handle_scope = ptr::null_mut();
        let mut callback_scope = ptr::null_mut();
        // SAFETY: opening scopes on the JS thread from a libuv callback, closed in Drop in reverse order.
        unsafe {
            sys::napi_open_handle_scope(env.0, &mut handle_scope);
            sys::napi_open_callback_scope(env.0, resource.get(), context, &mut callback_scope);
        }
        CallbackScope {
            env,
            handle_scope,
            callback_scope,
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        // SAFETY: closing the scopes opened in `open`, innermost first.
        unsafe {
            sys::napi_close_callback_scope(self.env.0, self.callback_scope);
            sys::napi_close_handle_scope(self.env.0, self.handle_scope);
        }
    }
}

/// Creates the async context used by `CallbackScope` (one per loop).
pub fn async_context(env: Env, resource: Value) -> JsResult<sys::napi_async_context> {
    let mut name = ptr::null_mut();
    let mut ctx = ptr::null_mut();
    let n = c"uws-rs";
    check!(sys::napi_create_string_utf8(
        env.0,
        n.as_ptr(),
        6,
        &mut name
    ));
    check!(sys::napi_async_init(env.0, resource, name, &mut ctx));
    Ok(ctx)
}

/// Releases a context made by `async_context` (environment teardown).
pub fn destroy_async_context(env: Env, ctx: sys::napi_async_context) {
    // SAFETY: `ctx` came from napi_async_init on this env and is destroyed exactly once.
    unsafe { sys::napi_async_destroy(env.0, ctx) };
}

pub fn uv_loop(env: Env) -> JsResult<*mut sys::uv_loop_s> {
    let mut lp = ptr::null_mut();
    check!(sys::napi_get_uv_event_loop(env.0, &mut lp));
    Ok(lp)
}

/// Tells Node that an asynchronous cleanup hook has finished.
pub struct CleanupDone(sys::napi_async_cleanup_hook_handle);

impl CleanupDone {
    pub fn finish(self) {
        // SAFETY: the handle came from Node for this hook and is removed exactly once.
        unsafe { sys::napi_remove_async_cleanup_hook(self.0) };
    }
}

/// Registers `cb` to run when the JS environment is torn down (worker exit, process exit);
/// Node waits for `CleanupDone::finish` before it closes the loop, so libuv handles can close.
pub fn add_async_cleanup_hook(env: Env, cb: fn(CleanupDone)) {
    unsafe extern "C" fn trampoline(handle: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
        // SAFETY: `arg` is the fn pointer registered below.
        let cb: fn(CleanupDone) = unsafe { std::mem::transmute(arg) };
        cb(CleanupDone(handle));
    }
    // SAFETY: a plain fn pointer as the argument stays valid for the program's life.
    unsafe {
        sys::napi_add_async_cleanup_hook(
            env.0,
            Some(trampoline),
            cb as *mut c_void,
            ptr::null_mut(),
        )
    };
}

/// Declares a native function callable from JS. The body returns `JsResult<Value>`; errors become
/// JS exceptions and a Rust panic is caught here, so it never unwinds into the engine.
#[macro_export]
macro_rules! js_fn {
    ($(#[$m:meta])* $name:ident($env:ident, $info:ident) $body:block) => {
        $(#[$m])*
        pub unsafe extern "C" fn $name(
            raw_env: napi::sys::napi_env,
            $info: napi::sys::napi_callback_info,
        ) -> napi::sys::napi_value {
            let $env = $crate::js::napi::Env(raw_env);
            $crate::js::napi::finish($env, std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || -> $crate::js::napi::JsResult<$crate::js::napi::Value> { $body },
            )))
        }
    };
}

#[doc(hidden)]
pub fn finish(env: Env, r: std::thread::Result<JsResult<Value>>) -> Value {
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            env.throw(e);
            ptr::null_mut()
        }
        Err(panic) => {
            env.throw(error(format!(
                "uws-rs internal error: {}",
                panic_message(&panic)
            )));
            ptr::null_mut()
        }
    }
}

pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

impl Env {
    /// Throws `exception` (a value caught from a callback) again in the current call.
    pub fn rethrow(self, exception: Value) {
        // SAFETY: throwing a live value on the JS thread.
        unsafe { sys::napi_throw(self.0, exception) };
    }
}

impl Env {
    /// An ArrayBuffer over `bytes` without copying. Once the buffer is detached or collected
    /// (wherever it went: a transferred buffer stays valid) the Vec goes to `recycle` (a pool).
    pub fn arraybuffer_from_vec_recycled(
        self,
        bytes: Vec<u8>,
        recycle: fn(Vec<u8>),
    ) -> JsResult<Value> {
        type Lent = (Vec<u8>, fn(Vec<u8>));
        unsafe extern "C" fn give_back(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
            // SAFETY: `hint` is the Box<Lent> leaked below, released exactly once here.
            let (v, recycle) = *unsafe { Box::from_raw(hint as *mut Lent) };
            recycle(v);
        }
        let mut boxed: Box<Lent> = Box::new((bytes, recycle));
        let data = boxed.0.as_mut_ptr() as *mut c_void;
        let len = boxed.0.len();
        let hint = Box::into_raw(boxed) as *mut c_void;
        let mut v = ptr::null_mut();
        // SAFETY: the Vec's heap storage does not move while the Box lives; N-API calls
        // `give_back` when the backing store goes away.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(self.0, data, len, Some(give_back), hint, &mut v)
        };
        if status != sys::Status::napi_ok {
            // SAFETY: N-API did not take the hint: it is still ours.
            drop(unsafe { Box::from_raw(hint as *mut Lent) });
            return Err(JsError::Pending.or_status(status));
        }
        Ok(v)
    }
}
