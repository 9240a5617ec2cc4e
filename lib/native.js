'use strict';
// Loads the native addon. The first of these that exists is loaded, and only that one: a file that
// exists but fails to load is an error, never a silent fall back to another binary.
//   1. $UWS_RS_NATIVE, if set: the path of a .node file (relative to the working directory);
//      nothing else is tried.
//   2. <package>/uws_rs.node: a local build. In a git checkout `npm install` / `npm run build`
//      make it; in an installed package it exists only if it was built from source (no prebuilt
//      binary for the platform, or UWS_RS_BUILD_FROM_SOURCE=1), so it wins when present.
//   3. <package>/prebuilds/<platform>-<arch>[-<libc>]/uws_rs.node: the binary shipped in the
//      npm tarball (scripts/prepack.js stages it). Needs no install script and no Rust toolchain.
const fs = require('fs');
const path = require('path');
const platform = require('./platform');

function load(file, why) {
  try {
    return require(file);
  } catch (e) {
    const err = new Error(`uws-rs: could not load the native addon ${file} (${why}): ${e.message}`);
    err.code = 'UWS_RS_NATIVE_LOAD_FAILED';
    err.cause = e;
    throw err;
  }
}

function shipped() {
  try {
    return fs.readdirSync(platform.prebuildsDir())
      .filter((d) => fs.existsSync(path.join(platform.prebuildsDir(), d, 'uws_rs.node')));
  } catch {
    return [];
  }
}

// Electron runs V8 with its memory sandbox, where a backing store over the addon's own memory
// (the V8-direct message path, src/js/v8_direct.rs) is not allowed; its Node major version can
// match the one the addon was built for, so the addon's own check would not catch it.
if (process.versions.electron && !process.env.UWS_RS_NAPI_ONLY) process.env.UWS_RS_NAPI_ONLY = '1';

function resolveAndLoad() {
  const override = process.env.UWS_RS_NATIVE;
  if (override) return load(path.resolve(override), 'from UWS_RS_NATIVE');

  const local = platform.localBuildPath();
  if (fs.existsSync(local)) return load(local, 'local build');

  const key = platform.platformKey();
  const prebuilt = platform.prebuiltPath(key);
  if (fs.existsSync(prebuilt)) return load(prebuilt, `prebuilt for ${key}`);

  const available = shipped();
  const err = new Error(
    `uws-rs: no native addon for ${key} (Node ${process.version}).\n` +
    `  Prebuilt binaries in this package: ${available.length ? available.join(', ') : 'none'}.\n` +
    `  Looked for: ${prebuilt}\n` +
    `         and: ${local}\n` +
    '  To build it from source, install Rust (https://rustup.rs), then in your project run\n' +
    '    npm install-scripts approve uws-rs && npm rebuild uws-rs\n' +
    '  (an npm without `install-scripts`: just `npm rebuild uws-rs`), or `node node_modules/uws-rs/scripts/build.js`.\n' +
    '  UWS_RS_NATIVE=/path/to/uws_rs.node loads a binary from elsewhere.'
  );
  err.code = 'UWS_RS_NATIVE_NOT_FOUND';
  throw err;
}

// A plain copy of the addon's exports: the object N-API fills has slow (dictionary) properties
// (72 of them), so every `native.fn(...)` in the facades paid a generic LoadIC; the copy is a
// fast-properties object whose loads the JIT inlines.
module.exports = { ...resolveAndLoad() };
