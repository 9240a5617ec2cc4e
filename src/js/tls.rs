//! Native functions of `SSLApp` and the server-name methods (see `crate::tls`).

use super::args::{self, key, opt_function};
use super::napi::{error, type_error, Env, JsResult, Kind, Value};
use crate::app::App;
use crate::event_loop::Loop;
use crate::tls::{Options, TlsApp};
use std::ffi::CStr;
use std::rc::Rc;

fn opt_text(env: Env, obj: Value, name: &CStr) -> JsResult<Option<String>> {
    let v = env.get(obj, name)?;
    match env.kind(v) {
        Kind::Undefined | Kind::Null => Ok(None),
        _ => args::text(env, v, &name.to_string_lossy()).map(Some),
    }
}

fn options(env: Env, o: Value) -> JsResult<Options> {
    match env.kind(o) {
        Kind::Undefined | Kind::Null => return Ok(Options::default()),
        Kind::Object => {}
        _ => return Err(type_error("options must be an object")),
    }
    Ok(Options {
        key_file_name: opt_text(env, o, c"key_file_name")?,
        cert_file_name: opt_text(env, o, c"cert_file_name")?,
        passphrase: opt_text(env, o, c"passphrase")?,
        ca_file_name: opt_text(env, o, c"ca_file_name")?,
        ssl_ciphers: opt_text(env, o, c"ssl_ciphers")?,
        dh_params_file_name: opt_text(env, o, c"dh_params_file_name")?,
    })
}

/// The app, if it is an SSLApp (server-name methods are no-ops on App, as upstream).
fn ssl_app(env: Env, v: Value) -> JsResult<Option<Rc<App>>> {
    let lp = Loop::get(env)?;
    let k = key(env, v, "app")?;
    let app = lp
        .apps
        .borrow()
        .get(k)
        .cloned()
        .ok_or_else(|| error("this App was closed"))?;
    Ok(app.tls.is_some().then_some(app))
}

js_fn!(
    /// `appCreateSsl(options) -> app key`; throws when the certificate or key cannot be loaded.
    app_create_ssl(env, info) {
        let a = env.args::<1>(info)?;
        let lp = Loop::get(env)?;
        let o = options(env, a.argv[0])?;
        let tls = TlsApp::new(&o).map_err(|e| error(format!("App construction failed: {e}")))?;
        let app = App { tls: Some(tls), ..App::default() };
        let k = lp.apps.borrow_mut().insert(Rc::new(app));
        Ok(env.number(k.to_f64()))
    }
);

js_fn!(
    /// `appAddServerName(app, hostname, options)`.
    app_add_server_name(env, info) {
        let a = env.args::<3>(info)?;
        let Some(app) = ssl_app(env, a.argv[0])? else { return Ok(env.undefined()) };
        let host = args::text(env, a.argv[1], "hostname")?;
        let o = options(env, a.argv[2])?;
        let tls = app.tls.as_ref().expect("checked");
        tls.add_server_name(&host, &o)
            .map_err(|e| error(format!("addServerName: {e}")))?;
        Ok(env.undefined())
    }
);

js_fn!(
    /// `appRemoveServerName(app, hostname)`.
    app_remove_server_name(env, info) {
        let a = env.args::<2>(info)?;
        let Some(app) = ssl_app(env, a.argv[0])? else { return Ok(env.undefined()) };
        let host = args::text(env, a.argv[1], "hostname")?;
        app.tls.as_ref().expect("checked").remove_server_name(&host);
        Ok(env.undefined())
    }
);

js_fn!(
    /// `appMissingServerName(app, cb)`.
    app_missing_server_name(env, info) {
        let a = env.args::<2>(info)?;
        let Some(app) = ssl_app(env, a.argv[0])? else { return Ok(env.undefined()) };
        let cb = opt_function(env, a.argv[1], "missingServerName handler")?;
        app.tls.as_ref().expect("checked").set_missing_server_name(cb);
        Ok(env.undefined())
    }
);

js_fn!(
    /// `appDomain(app, name)`: routes added next serve that server name ('' = the app's own).
    app_domain(env, info) {
        let a = env.args::<2>(info)?;
        let Some(app) = ssl_app(env, a.argv[0])? else { return Ok(env.undefined()) };
        let name = args::text(env, a.argv[1], "domain")?;
        app.tls.as_ref().expect("checked").set_domain(&name);
        Ok(env.undefined())
    }
);
