'use strict';
// How uws-rs watches its connections (src/socket_poll.rs): each socket sits in libuv's own epoll,
// edge-triggered, or level-triggered with UWS_RS_POLL=level (npm test runs the suite both ways).
// Either way an idle server, even one holding a socket blocked on a peer that does not read,
// must not spin. The registrations are read from /proc/self/fdinfo (Linux).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { uWS, impl, serve, client, rawClient, until, sleep, listenSync } = require('./helpers/server');

const EPOLLET = 0x80000000;
const EPOLLOUT = 0x4;
const level = process.env.UWS_RS_POLL === 'level';
const skip = impl === 'uws' ? 'how uws-rs registers its sockets' : process.platform !== 'linux' && 'reads /proc';

/** Every epoll registration of this process: [{ epfd, fd, events }]. */
function registrations() {
  const out = [];
  for (const name of fs.readdirSync('/proc/self/fdinfo')) {
    let text;
    try {
      text = fs.readFileSync(`/proc/self/fdinfo/${name}`, 'latin1');
    } catch {
      continue; // closed meanwhile
    }
    for (const m of text.matchAll(/^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+)/gm)) {
      out.push({ epfd: Number(name), fd: Number(m[1]), events: parseInt(m[2], 16) });
    }
  }
  return out;
}

/** The epoll fd that watches the most sockets: libuv's (ours and the test's clients). */
function libuvEpoll(regs) {
  const counts = new Map();
  for (const r of regs) counts.set(r.epfd, (counts.get(r.epfd) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0][0];
}

const echo = { message: (ws, m, isBinary) => ws.send(m, isBinary) };

test('connections are registered in libuv\'s epoll, edge-triggered unless UWS_RS_POLL=level', { skip }, async (t) => {
  const srv = serve(t, echo);
  const clients = [];
  for (let i = 0; i < 5; i++) clients.push(await client(t, srv.port));
  for (const c of clients) {
    c.send('hi');
    assert.equal(String((await c.nextMessage()).data), 'hi');
  }
  const regs = registrations();
  const uvEpoll = libuvEpoll(regs);
  // (mio's epoll, nested in libuv's, keeps the listening socket, edge-triggered.)
  const edge = regs.filter((r) => r.epfd === uvEpoll && r.events & EPOLLET);
  if (level) {
    assert.equal(edge.length, 0, 'no edge-triggered registration');
    // Level-triggered: readable interest only while nothing waits to be written, or every
    // loop iteration would report the writable sockets.
    const ours = regs.filter((r) => r.epfd === uvEpoll && (r.events & 0x2000)); // EPOLLRDHUP: not libuv's streams
    assert.ok(ours.length >= 5, `5 server sockets in libuv's epoll: ${JSON.stringify(regs)}`);
    assert.ok(ours.every((r) => !(r.events & EPOLLOUT)), 'not watched for writable while idle');
  } else {
    assert.equal(edge.length, 5, `one edge-triggered registration per server socket: ${JSON.stringify(regs)}`);
  }
  // Closing a connection removes its registration (and frees the handle: no fd is left behind).
  clients[0].close();
  await clients[0].closed;
  await until(() => registrations().filter((r) => r.epfd === uvEpoll && (r.events & (level ? 0x2000 : EPOLLET))).length === 4, 3000, '4 registrations left');
});

test('an idle server with a socket blocked on a peer that does not read uses no CPU', { skip, timeout: 20000 }, async (t) => {
  let blocked = null;
  const srv = serve(t, {
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    open: (ws) => { blocked = ws; },
    message: (ws, m, isBinary) => ws.send(m, isBinary),
  });
  const idle = [];
  for (let i = 0; i < 20; i++) idle.push(await client(t, srv.port));
  // A peer that stops reading: the server fills the socket and queues the rest.
  const raw = rawClient(t, srv.port);
  await raw.handshake('/');
  raw.socket.pause();
  await until(() => blocked, 3000, 'open');
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 16; i++) blocked.send(chunk, true);
  assert.ok(blocked.getBufferedAmount() > 0, 'the socket is backpressured');
  await sleep(200);
  const before = process.cpuUsage();
  await sleep(1000);
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  assert.ok(ms < 150, `idle second used ${ms.toFixed(1)} ms of CPU`);
  // And the blocked socket still drains once its peer reads again.
  let got = 0;
  raw.socket.removeAllListeners('data');
  raw.socket.on('data', (c) => { got += c.length; });
  raw.socket.resume();
  await until(() => got >= 16 * 1024 * 1024, 10000, 'drained');
  // The idle clients still echo.
  idle[0].send('still here');
  assert.equal(String((await idle[0].nextMessage()).data), 'still here');
});

test('an HTTP connection moves to libuv\'s epoll at its second request, not before', { skip }, async (t) => {
  const app = uWS.App().get('/*', (res) => res.end('ok'));
  const token = listenSync(app, '127.0.0.1', 0);
  t.after(() => uWS.us_listen_socket_close(token));
  const port = uWS.us_socket_local_port(token);
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  let got = '';
  sock.on('data', (c) => { got += c.toString('latin1'); });
  const responses = () => (got.match(/HTTP\/1\.1 200/g) || []).length;
  const ours = () => {
    const regs = registrations();
    const uvEpoll = libuvEpoll(regs);
    return regs.filter((r) => r.epfd === uvEpoll && (r.events & (level ? 0x2000 : EPOLLET))).length;
  };
  sock.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => responses() === 1, 3000, 'first response');
  assert.equal(ours(), 0, 'one request so far: still in the nested epoll');
  sock.write('GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => responses() === 2, 3000, 'second response');
  await until(() => ours() === 1, 3000, 'registered in libuv\'s epoll');
  // It keeps working from there.
  sock.write('GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => responses() === 3, 3000, 'third response');
});
