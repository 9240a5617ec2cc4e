'use strict';
// DeclarativeResponse: a route answered from a compiled description, no application JS per request.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { uWS, impl, listenSync } = require('./helpers/server');

describe('DeclarativeResponse', () => {
  it('serves headers, literal text, query, request header and route parameter values', { timeout: 10000 }, async (t) => {
    if (typeof uWS.DeclarativeResponse !== 'function') {
      assert.equal(impl, 'uws');
      t.skip('DeclarativeResponse arrived in uWebSockets.js after v20.30');
      return;
    }
    const program = new uWS.DeclarativeResponse()
      .writeHeader('Content-Type', 'text/plain')
      .writeHeader('X-Kind', 'declarative')
      .writeBody()
      .write('user=')
      .writeParameterValue('0')
      .write(' q=')
      .writeQueryValue('q')
      .write(' ua=')
      .writeHeaderValue('user-agent')
      .end('!');
    assert.ok(program instanceof ArrayBuffer);
    const token = listenSync(uWS.App().get('/u/:id', program), '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(token));
    const r = await fetch(`http://127.0.0.1:${uWS.us_socket_local_port(token)}/u/42?q=a%20b`, {
      headers: { 'user-agent': 'tester' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-kind'), 'declarative');
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(await r.text(), 'user=42 q=a b ua=tester!');
  });

  it('rejects oversized values and programs without end()', (t) => {
    if (typeof uWS.DeclarativeResponse !== 'function') {
      t.skip('no DeclarativeResponse in uWebSockets.js v20.30');
      return;
    }
    assert.throws(() => new uWS.DeclarativeResponse().writeHeader('k', 'x'.repeat(300)), RangeError);
    assert.throws(() => uWS.App().get('/', new ArrayBuffer(1)), TypeError);
  });
});
