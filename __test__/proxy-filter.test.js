'use strict';
// PROXY protocol v2: a load balancer's header in front of the request names the real client,
// reported by res.getProxiedRemoteAddress(AsText); without one those return empty ArrayBuffers.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { uWS, impl, listenSync } = require('./helpers/server');

const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

function proxyV4(ip, port) {
  const body = Buffer.alloc(12);
  ip.split('.').forEach((o, i) => (body[i] = Number(o)));
  body.set([10, 0, 0, 1], 4);
  body.writeUInt16BE(port, 8);
  body.writeUInt16BE(80, 10);
  return Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0, 12]), body]);
}

function exchange(port, bytes) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let data = '';
    s.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('|end') || data.endsWith('\r\n\r\nx')) s.end();
    });
    s.on('close', () => resolve(data));
    s.setTimeout(3000, () => s.destroy());
  });
}

function server(t) {
  const app = uWS.App().get('/*', (res) => {
    const text = Buffer.from(res.getProxiedRemoteAddressAsText()).toString();
    const bin = res.getProxiedRemoteAddress().byteLength;
    res.end(`${text}|${bin}|end`);
  });
  const token = listenSync(app, '127.0.0.1', 0);
  t.after(() => uWS.us_listen_socket_close(token));
  return uWS.us_socket_local_port(token);
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

describe('PROXY protocol v2', () => {
  it('without a header the proxied address is empty', { timeout: 10000 }, async (t) => {
    const out = await exchange(server(t), GET);
    assert.match(out, /\r\n\r\n\|0\|end$/);
  });

  it('an IPv4 header names the client; the request behind it is served', { timeout: 10000 }, async (t) => {
    if (impl === 'uws') {
      t.skip('the uWebSockets.js v20.30 npm build has no PROXY protocol support');
      return;
    }
    const out = await exchange(server(t), Buffer.concat([proxyV4('203.0.113.7', 51234), Buffer.from(GET)]));
    assert.match(out, /^HTTP\/1\.1 200 OK/);
    assert.match(out, /\r\n\r\n203\.0\.113\.7\|4\|end$/);
  });

  it('a malformed header (bad version) drops the connection without a response', { timeout: 10000 }, async (t) => {
    if (impl === 'uws') {
      t.skip('no PROXY protocol support in uWebSockets.js v20.30');
      return;
    }
    const bad = proxyV4('1.2.3.4', 1);
    bad[12] = 0x11;
    assert.equal(await exchange(server(t), Buffer.concat([bad, Buffer.from(GET)])), '');
  });
});

describe('app.filter', () => {
  it('reports socket opens (+1) and closes (-1)', { timeout: 10000 }, async (t) => {
    if (impl === 'uws') {
      t.skip('app.filter arrived in uWebSockets.js after v20.30');
      return;
    }
    const events = [];
    const app = uWS.App().filter((res, count) => events.push(count)).get('/*', (res) => { res.end('x'); });
    const token = listenSync(app, '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(token));
    await exchange(uWS.us_socket_local_port(token), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const deadline = Date.now() + 3000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, [1, -1]);
  });
});
