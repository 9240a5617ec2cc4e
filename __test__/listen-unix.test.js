'use strict';
// listen_unix(cb, path) and getRemotePort, against both implementations.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { uWS, impl, listenSync } = require('./helpers/server');

function get(options) {
  return new Promise((resolve, reject) => {
    http.get(options, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('listen_unix', () => {
  it('serves HTTP on a Unix domain socket and stops after us_listen_socket_close', { timeout: 10000 }, async () => {
    const sock = path.join(os.tmpdir(), `uws-test-${process.pid}-${impl}.sock`);
    let token;
    uWS.App().get('/*', (res, req) => { res.end('unix ' + req.getUrl()); }).listen_unix((t) => { token = t; }, sock);
    assert.ok(token, 'listen_unix calls back synchronously with a token');
    try {
      assert.equal(await get({ socketPath: sock, path: '/hello', agent: false }), 'unix /hello');
    } finally {
      uWS.us_listen_socket_close(token);
    }
    await assert.rejects(get({ socketPath: sock, path: '/', agent: false }));
  });
});

describe('getRemotePort', () => {
  it('HttpResponse.getRemotePort is the client socket port', { timeout: 10000 }, async (t) => {
    if (impl === 'uws') {
      t.skip('getRemotePort arrived in uWebSockets.js after v20.30');
      return;
    }
    const token = listenSync(uWS.App().get('/*', (res) => { res.end(String(res.getRemotePort())); }), '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(token));
    const agent = new http.Agent({ keepAlive: false });
    const got = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: uWS.us_socket_local_port(token), path: '/', agent }, (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ body, local: req.socket.localPort }));
      });
      req.on('error', reject);
    });
    assert.equal(Number(got.body), got.local);
  });
});
