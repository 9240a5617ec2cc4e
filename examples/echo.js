'use strict';
// WebSocket echo server plus a plain-text GET /. `npm start` runs it.
//   PORT=9001 (default); PORT=0 picks a free port. Prints `listening on <port>`.
const uWS = require('..'); // in your project: require('uws-rs')

const port = process.env.PORT === undefined ? 9001 : Number(process.env.PORT);

uWS.App()
  .ws('/*', {
    maxPayloadLength: 1024 * 1024,
    idleTimeout: 60,
    open: (ws) => console.log('open', Buffer.from(ws.getRemoteAddressAsText()).toString()),
    message: (ws, message, isBinary) => ws.send(message, isBinary),
    close: (ws, code) => console.log('close', code),
  })
  .get('/', (res) => {
    res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end('uws-rs echo server: connect a WebSocket to this URL\n');
  })
  .listen(port, (token) => {
    if (!token) {
      console.error(`cannot listen on port ${port}`);
      process.exit(1);
    }
    const actual = uWS.us_socket_local_port(token);
    console.log(`listening on ${actual}: ws://localhost:${actual}/ (echo), http://localhost:${actual}/`);
  });
