'use strict';
// How received messages reach JS (uws-rs only): through V8 directly, an ArrayBuffer over the
// read buffer (js/v8_direct.rs), or through N-API (copied, or an external buffer when large).
// Both paths must echo every size intact, detach each message after its handler, and keep the
// bytes of a message the handler transferred away while later reads reuse the buffer.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { impl } = require('./impl');

const CHILD = path.join(__dirname, 'helpers', 'message-buffers-child.js');
const run = (env) => JSON.parse(execFileSync(process.execPath, [CHILD], {
  env: { ...process.env, ...env }, timeout: 20000, encoding: 'utf8',
}).trim());

// The build compiles the V8 shim when it finds the running Node's headers (build.rs), unless
// UWS_RS_NO_V8_SHIM was set for the build (set it for the test run too).
const headers = fs.existsSync(path.resolve(process.execPath, '../../include/node/v8.h'))
  && !process.env.UWS_RS_NO_V8_SHIM;

describe('message buffers', { skip: impl === 'uws' && 'uws-rs internals' }, () => {
  it('default path (V8-direct when built with Node headers)', { timeout: 30000 }, () => {
    const r = run({ UWS_RS_NAPI_ONLY: '' });
    assert.deepEqual(r, { path: headers ? 'v8' : 'napi', send: headers ? 'v8' : 'napi', echoOk: true, detached: true, keptOk: true, kept: 4 });
  });

  it('Electron (V8 memory sandbox) gets the N-API path', { timeout: 30000 }, () => {
    const out = execFileSync(process.execPath, ['-e', `
      Object.defineProperty(process.versions, 'electron', { value: '30.0.0', enumerable: true });
      console.log(require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'native.js'))}).messageBuffers());
    `], { env: { ...process.env, UWS_RS_NAPI_ONLY: '' }, encoding: 'utf8', timeout: 20000 });
    assert.equal(out.trim(), 'napi');
  });

  it('N-API path (UWS_RS_NAPI_ONLY=1)', { timeout: 30000 }, () => {
    const r = run({ UWS_RS_NAPI_ONLY: '1' });
    assert.deepEqual(r, { path: 'napi', send: 'napi', echoOk: true, detached: true, keptOk: true, kept: 4 });
  });
});
