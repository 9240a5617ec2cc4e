//! uWebSockets.js v20's shared storage: string and integer collections visible to every
//! worker thread of the process (`setString(collection, key, value)`, `incInteger(...)`, ...),
//! plus `lock()`/`unlock()`, a process-wide lock for multi-step updates.

use super::args::text;
use super::napi::{Env, JsResult, Value};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

type Collections<T> = HashMap<String, HashMap<String, T>>;

#[derive(Default)]
struct Store {
    strings: Collections<String>,
    integers: Collections<f64>,
}

static STORE: Mutex<Option<Store>> = Mutex::new(None);

fn with_store<R>(f: impl FnOnce(&mut Store) -> R) -> R {
    let mut guard = STORE.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Store::default))
}

fn keys<T>(c: &Collections<T>, collection: &str) -> Vec<String> {
    c.get(collection)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn string_array(env: Env, items: Vec<String>) -> JsResult<Value> {
    let values = items
        .iter()
        .map(|s| env.string(s))
        .collect::<JsResult<Vec<_>>>()?;
    env.array(&values)
}

js_fn!(set_string(env, info) {
    let a = env.args::<3>(info)?;
    let (c, k, v) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?, text(env, a.argv[2], "value")?);
    with_store(|s| s.strings.entry(c).or_default().insert(k, v));
    Ok(env.undefined())
});

js_fn!(get_string(env, info) {
    let a = env.args::<2>(info)?;
    let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
    match with_store(|s| s.strings.get(&c).and_then(|m| m.get(&k)).cloned()) {
        Some(v) => env.string(&v),
        None => Ok(env.undefined()),
    }
});

js_fn!(delete_string(env, info) {
    let a = env.args::<2>(info)?;
    let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
    with_store(|s| s.strings.get_mut(&c).map(|m| m.remove(&k)));
    Ok(env.undefined())
});

js_fn!(get_string_keys(env, info) {
    let a = env.args::<1>(info)?;
    let c = text(env, a.argv[0], "collection")?;
    string_array(env, with_store(|s| keys(&s.strings, &c)))
});

js_fn!(delete_string_collection(env, info) {
    let a = env.args::<1>(info)?;
    let c = text(env, a.argv[0], "collection")?;
    with_store(|s| s.strings.remove(&c));
    Ok(env.undefined())
});

js_fn!(set_integer(env, info) {
    let a = env.args::<3>(info)?;
    let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
    let v = env.f64(a.argv[2], "value")?;
    with_store(|s| s.integers.entry(c).or_default().insert(k, v.trunc()));
    Ok(env.undefined())
});

js_fn!(
    /// `incInteger(collection, key, by = 1)`: atomically adds and returns the new value.
    inc_integer(env, info) {
        let a = env.args::<3>(info)?;
        let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
        let by = env.f64_or(a.argv[2], 1.0, "by")?.trunc();
        let v = with_store(|s| {
            let slot = s.integers.entry(c).or_default().entry(k).or_insert(0.0);
            *slot += by;
            *slot
        });
        Ok(env.number(v))
    }
);

js_fn!(get_integer(env, info) {
    let a = env.args::<2>(info)?;
    let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
    match with_store(|s| s.integers.get(&c).and_then(|m| m.get(&k)).copied()) {
        Some(v) => Ok(env.number(v)),
        None => Ok(env.undefined()),
    }
});

js_fn!(delete_integer(env, info) {
    let a = env.args::<2>(info)?;
    let (c, k) = (text(env, a.argv[0], "collection")?, text(env, a.argv[1], "key")?);
    with_store(|s| s.integers.get_mut(&c).map(|m| m.remove(&k)));
    Ok(env.undefined())
});

js_fn!(get_integer_keys(env, info) {
    let a = env.args::<1>(info)?;
    let c = text(env, a.argv[0], "collection")?;
    string_array(env, with_store(|s| keys(&s.integers, &c)))
});

js_fn!(delete_integer_collection(env, info) {
    let a = env.args::<1>(info)?;
    let c = text(env, a.argv[0], "collection")?;
    with_store(|s| s.integers.remove(&c));
    Ok(env.undefined())
});

/// The process-wide lock: a flag guarded by a mutex, so `lock()` on one thread and `unlock()`
/// later (another JS call) need no guard object to live across calls.
static LOCKED: Mutex<bool> = Mutex::new(false);
static UNLOCKED: Condvar = Condvar::new();

fn locked() -> MutexGuard<'static, bool> {
    LOCKED.lock().unwrap_or_else(|e| e.into_inner())
}

js_fn!(
    /// `lock()`: blocks until no other thread holds the lock.
    lock(env, _info) {
        let mut held = locked();
        while *held {
            held = UNLOCKED.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        *held = true;
        Ok(env.undefined())
    }
);

js_fn!(unlock(env, _info) {
    *locked() = false;
    UNLOCKED.notify_one();
    Ok(env.undefined())
});
