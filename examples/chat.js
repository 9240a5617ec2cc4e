'use strict';
// Chat room with pub/sub: every client subscribes to one topic; each message is published to all.
// Connect to ws://localhost:9001/?name=alice. PORT=0 picks a free port; prints `listening on <port>`.
const uWS = require('..'); // in your project: require('uws-rs')

const port = process.env.PORT === undefined ? 9001 : Number(process.env.PORT);
const ROOM = 'room';
const app = uWS.App();

app.ws('/*', {
  idleTimeout: 120,
  // The request is only valid inside this handler: copy what the socket needs into its user data.
  upgrade: (res, req, context) => {
    const name = req.getQuery('name') || `guest${Math.floor(Math.random() * 1000)}`;
    res.upgrade({ name },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context);
  },
  open: (ws) => {
    ws.subscribe(ROOM);
    // ws.publish reaches every subscriber except this socket.
    ws.publish(ROOM, `${ws.getUserData().name} joined`);
  },
  message: (ws, message, isBinary) => {
    if (isBinary) return;
    // app.publish reaches every subscriber, the sender included.
    app.publish(ROOM, `${ws.getUserData().name}: ${Buffer.from(message).toString()}`);
  },
  close: (ws) => {
    // The socket is already unsubscribed here and cannot be used; the app can still publish.
    app.publish(ROOM, `${ws.getUserData().name} left`);
  },
});

app.listen(port, (token) => {
  if (!token) {
    console.error(`cannot listen on port ${port}`);
    process.exit(1);
  }
  console.log(`listening on ${uWS.us_socket_local_port(token)}`);
});
