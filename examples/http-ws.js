'use strict';
// HTTP routes and a WebSocket endpoint on one App. PORT=0 picks a free port; prints `listening on <port>`.
//   GET  /              text
//   GET  /hello/:name   route parameter and query (?greeting=Hi)
//   POST /echo          reads the request body (onData) and sends it back
//   WS   /ws            echo
//   anything else       404
const uWS = require('..'); // in your project: require('uws-rs')

const port = process.env.PORT === undefined ? 9001 : Number(process.env.PORT);

/** Collects a request body; calls cb(Buffer) at the end, or never if the client aborts. */
function readBody(res, cb) {
  const chunks = [];
  res.onData((chunk, isLast) => {
    // `chunk` is detached after this call returns: keep a copy.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) cb(Buffer.concat(chunks));
  });
}

uWS.App()
  .get('/', (res) => {
    res.end('uws-rs: try /hello/you, POST /echo or a WebSocket on /ws\n');
  })
  .get('/hello/:name', (res, req) => {
    const greeting = req.getQuery('greeting') || 'Hello';
    res.writeHeader('Content-Type', 'application/json')
      .end(JSON.stringify({ message: `${greeting}, ${req.getParameter(0)}!` }));
  })
  .post('/echo', (res, req) => {
    const type = req.getHeader('content-type') || 'application/octet-stream';
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    readBody(res, (body) => {
      if (aborted) return;
      res.cork(() => res.writeHeader('Content-Type', type).end(body));
    });
  })
  .ws('/ws', {
    message: (ws, message, isBinary) => ws.send(message, isBinary),
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end('not found\n');
  })
  .listen(port, (token) => {
    if (!token) {
      console.error(`cannot listen on port ${port}`);
      process.exit(1);
    }
    console.log(`listening on ${uWS.us_socket_local_port(token)}`);
  });
