// ESM style, default and named imports side by side (uWebSockets.js users write both).
import uWS, { App, DISABLED, us_listen_socket_close } from 'uws-rs';
import type { WebSocket, WebSocketBehavior } from 'uws-rs';

interface Session { user: string }

const echo: WebSocketBehavior<Session> = {
  compression: DISABLED,
  upgrade: (res, req, context) => {
    res.upgrade<Session>({ user: req.getQuery('user') || 'anon' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context);
  },
  message: (ws: WebSocket<Session>, message, isBinary) => {
    ws.send(message, isBinary);
  },
};

const app = App({}).ws<Session>('/*', echo);
uWS.App().get('/', (res) => { res.end('hi'); });

app.listen(0, (token) => {
  if (!token) throw new Error('listen failed');
  const port: number = uWS.us_socket_local_port(token);
  console.log(port);
  us_listen_socket_close(token);
});
