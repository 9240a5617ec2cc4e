'use strict';
// Benchmark server, run as a child process by bench/echo.js:
//   node bench/lib/echo-server.js <uws-rs|uws|ws> [module path]
// Listens on a free port on 127.0.0.1 and prints `PORT <n>` on stdout.
//   /echo       every message is sent back to its sender (same opcode)
//   /broadcast  every connection subscribes to one topic; a message is published to all the
//               others (ws.publish semantics: not to the sender)
//   /deflate    permessage-deflate (SHARED_COMPRESSOR): messages arrive compressed and are echoed
//               uncompressed (ws.send's default, compress = false)
//   /deflate-both  the same, but echoed compressed too (ws.send(message, isBinary, true))
//   /deflate-dedicated  echoed compressed by a compressor per socket that keeps its window
//               (DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR)
// The same options for both uWS-API servers: no compression but on the /deflate routes, payloads
// up to 1 MiB, a 16 MiB backpressure limit (so nothing is ever dropped), default idle timeout.

const kind = process.argv[2];
const modulePath = process.argv[3];
const MAX_PAYLOAD = 1024 * 1024;

function uwsServer(uWS) {
  const behavior = {
    compression: uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD,
    maxBackpressure: 16 * 1024 * 1024,
  };
  const app = uWS.App()
    .ws('/echo', {
      ...behavior,
      message: (ws, message, isBinary) => { ws.send(message, isBinary); },
    })
    .ws('/deflate', {
      ...behavior,
      compression: uWS.SHARED_COMPRESSOR,
      message: (ws, message, isBinary) => { ws.send(message, isBinary); },
    })
    .ws('/deflate-both', {
      ...behavior,
      compression: uWS.SHARED_COMPRESSOR,
      message: (ws, message, isBinary) => { ws.send(message, isBinary, true); },
    })
    .ws('/deflate-dedicated', {
      ...behavior,
      compression: uWS.DEDICATED_COMPRESSOR | uWS.DEDICATED_DECOMPRESSOR,
      message: (ws, message, isBinary) => { ws.send(message, isBinary, true); },
    })
    .ws('/broadcast', {
      ...behavior,
      open: (ws) => { ws.subscribe('b'); },
      message: (ws, message, isBinary) => { ws.publish('b', message, isBinary); },
    })
    .any('/*', (res) => { res.writeStatus('404 Not Found').end(); });
  app.listen('127.0.0.1', 0, (token) => {
    if (!token) { console.error('listen failed'); process.exit(1); }
    console.log(`PORT ${uWS.us_socket_local_port(token)}`);
  });
}

function wsServer(ws) {
  const http = require('http');
  const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
  const wss = new ws.WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
  // ws compresses every send by default once negotiated: /deflate passes compress: false, like
  // uWS's default send
  const deflateWss = new ws.WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: {} });
  server.on('upgrade', (req, socket, head) => {
    const target = req.url.startsWith('/deflate') ? deflateWss : wss;
    target.handleUpgrade(req, socket, head, (sock) => target.emit('connection', sock, req));
  });
  deflateWss.on('connection', (sock, req) => {
    const compress = req.url !== '/deflate';
    sock.on('message', (data, isBinary) => { sock.send(data, { binary: isBinary, compress }); });
  });
  const subscribers = new Set();
  wss.on('connection', (sock, req) => {
    if (req.url === '/broadcast') {
      subscribers.add(sock);
      sock.on('close', () => subscribers.delete(sock));
      sock.on('message', (data, isBinary) => {
        for (const s of subscribers) if (s !== sock) s.send(data, { binary: isBinary });
      });
    } else {
      sock.on('message', (data, isBinary) => { sock.send(data, { binary: isBinary }); });
    }
  });
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
}

switch (kind) {
  case 'uws-rs': uwsServer(require(modulePath || '../..')); break;
  case 'uws': uwsServer(require(modulePath || '@trufflesuite/uws-js-unofficial')); break;
  case 'ws': wsServer(require(modulePath || 'ws')); break;
  default: console.error(`unknown server kind ${kind}`); process.exit(2);
}
