//! Argument conversions shared by the native functions: keys of connections, apps and listen
//! sockets travel to JS as plain numbers (see `slab::Key`).

use super::napi::{type_error, Env, JsResult, Kind, Ref, Value};
use crate::slab::Key;
use std::ffi::CStr;

pub fn key(env: Env, v: Value, what: &str) -> JsResult<Key> {
    let n = env.f64(v, what)?;
    Key::from_f64(n).ok_or_else(|| type_error(format!("{what} is not a valid handle")))
}

pub fn u32_arg(env: Env, v: Value, what: &str) -> JsResult<u32> {
    let n = env.f64(v, what)?;
    if !(0.0..=u32::MAX as f64).contains(&n) {
        return Err(type_error(format!("{what} is out of range")));
    }
    Ok(n as u32)
}

/// A callback argument: a function, or None for undefined/null.
pub fn opt_function(env: Env, v: Value, what: &str) -> JsResult<Option<Ref>> {
    match env.kind(v) {
        Kind::Function => Ok(Some(env.reference(v)?)),
        Kind::Undefined | Kind::Null => Ok(None),
        _ => Err(type_error(format!("{what} must be a function"))),
    }
}

pub fn function(env: Env, v: Value, what: &str) -> JsResult<Ref> {
    opt_function(env, v, what)?.ok_or_else(|| type_error(format!("{what} must be a function")))
}

/// `obj[name]` as a number, or None when undefined.
pub fn opt_number(env: Env, obj: Value, name: &CStr) -> JsResult<Option<f64>> {
    let v = env.get(obj, name)?;
    match env.kind(v) {
        Kind::Undefined | Kind::Null => Ok(None),
        Kind::Number => Ok(Some(env.f64(v, "")?)),
        Kind::Boolean => Ok(Some(if env.truthy(v) { 1.0 } else { 0.0 })),
        _ => Err(type_error(format!(
            "{} must be a number",
            name.to_string_lossy()
        ))),
    }
}

pub fn opt_bool(env: Env, obj: Value, name: &CStr) -> JsResult<Option<bool>> {
    let v = env.get(obj, name)?;
    Ok(match env.kind(v) {
        Kind::Undefined => None,
        _ => Some(env.truthy(v)),
    })
}

pub fn text(env: Env, v: Value, what: &str) -> JsResult<String> {
    let bytes = env.bytes_owned(v, what)?;
    String::from_utf8(bytes).map_err(|_| type_error(format!("{what} must be valid UTF-8")))
}
