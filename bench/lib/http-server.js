'use strict';
// HTTP benchmark server, run as a child process by bench/http.js:
//   node bench/lib/http-server.js <uws-rs|uws|node> [module path]
// Listens on a free port on 127.0.0.1 and prints `PORT <n>` on stdout. The same routes for all:
//   GET /                      'Hello World!'
//   GET /user/:id/posts/:post  reads both parameters, the query value x and the User-Agent
//                              header; answers 200 with a JSON body and a Content-Type header
//   GET /64k                   a 64 KiB body (one preallocated buffer)
//   anything else              404

const kind = process.argv[2];
const modulePath = process.argv[3];
const BIG = Buffer.alloc(64 * 1024, 'x');

function uwsServer(uWS) {
  const app = uWS.App()
    .get('/', (res) => { res.end('Hello World!'); })
    .get('/user/:id/posts/:post', (res, req) => {
      const body = JSON.stringify({
        id: req.getParameter(0),
        post: req.getParameter(1),
        x: req.getQuery('x'),
        ua: req.getHeader('user-agent'),
      });
      res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end(body);
    })
    .get('/64k', (res) => { res.end(BIG); })
    .any('/*', (res) => { res.writeStatus('404 Not Found').end(); });
  app.listen('127.0.0.1', 0, (token) => {
    if (!token) { console.error('listen failed'); process.exit(1); }
    console.log(`PORT ${uWS.us_socket_local_port(token)}`);
  });
}

function nodeServer() {
  const http = require('http');
  const userRoute = /^\/user\/([^/?]+)\/posts\/([^/?]+)(?:\?(.*))?$/;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      if (req.url === '/') { res.end('Hello World!'); return; }
      if (req.url === '/64k') { res.end(BIG); return; }
      const m = userRoute.exec(req.url);
      if (m) {
        const body = JSON.stringify({
          id: m[1],
          post: m[2],
          x: m[3] === undefined ? undefined : new URLSearchParams(m[3]).get('x') ?? undefined,
          ua: req.headers['user-agent'] ?? '',
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
        return;
      }
    }
    res.writeHead(404);
    res.end();
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
}

switch (kind) {
  case 'uws-rs': uwsServer(require(modulePath || '../..')); break;
  case 'uws': uwsServer(require(modulePath || '@trufflesuite/uws-js-unofficial')); break;
  case 'node': nodeServer(); break;
  default: console.error(`unknown server kind ${kind}`); process.exit(2);
}
