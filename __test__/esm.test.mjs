// The ESM entry (index.mjs): default export is the CommonJS module, named exports are its keys,
// and an app started through it works.
import { test } from 'node:test';
import assert from 'node:assert';
import { createRequire } from 'node:module';
import http from 'node:http';

import uWS from '../index.mjs';
import * as ns from '../index.mjs';
import { App, us_listen_socket_close, us_socket_local_port, SHARED_COMPRESSOR } from '../index.mjs';

const require = createRequire(import.meta.url);
const cjs = require('..');

test('default export is the same object as require()', () => {
  assert.equal(uWS, cjs);
});

test('named exports are exactly the CommonJS exports, same values', () => {
  const named = Object.keys(ns).filter((k) => k !== 'default').sort();
  assert.deepEqual(named, Object.keys(cjs).sort());
  for (const k of named) assert.equal(ns[k], cjs[k], k);
  assert.equal(App, cjs.App);
  assert.equal(SHARED_COMPRESSOR, cjs.SHARED_COMPRESSOR);
});

test("'uws-rs' self-import resolves to the same module for import and require", async () => {
  const self = await import('uws-rs');
  assert.equal(self.default, cjs);
  assert.equal(self.App, cjs.App);
  assert.equal(require('uws-rs'), cjs);
});

test('an App started through the ESM entry listens on port 0, serves, and closes', { timeout: 10_000 }, async () => {
  const app = App().get('/*', (res) => { res.end('esm ok'); });
  let token;
  app.listen(0, (t) => { token = t; });
  assert.ok(token, 'listen(0) failed');
  const port = us_socket_local_port(token);
  assert.ok(port > 0);
  const body = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/hello', agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve(data));
    }).on('error', reject);
  });
  assert.equal(body, 'esm ok');
  us_listen_socket_close(token);
  app.close();
});
