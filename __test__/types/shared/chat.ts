// Pub/sub chat server written the way uWebSockets.js apps are: typed per-socket UserData,
// an async upgrade handler, rooms as topics. Type-checked against uws-rs AND uWebSockets.js.
import uWS from 'uws-rs';
import type { HttpRequest, HttpResponse, WebSocket, WebSocketBehavior, us_listen_socket, us_socket_context_t } from 'uws-rs';

interface UserData {
  id: number;
  name: string;
  room: string;
  joinedAt: number;
}

type ChatMessage =
  | { type: 'say'; text: string }
  | { type: 'join'; room: string };

const decoder = new TextDecoder();
let nextId = 1;
let listenSocket: us_listen_socket | null = null;

async function authenticate(token: string): Promise<string | null> {
  return token.length > 0 ? `user-${token}` : null;
}

const behavior: WebSocketBehavior<UserData> = {
  compression: uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR,
  maxPayloadLength: 16 * 1024,
  maxBackpressure: 64 * 1024,
  idleTimeout: 60,
  sendPingsAutomatically: true,

  upgrade: async (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    // Read everything from req before the first await: it is only valid synchronously.
    const secWebSocketKey = req.getHeader('sec-websocket-key');
    const secWebSocketProtocol = req.getHeader('sec-websocket-protocol');
    const secWebSocketExtensions = req.getHeader('sec-websocket-extensions');
    const token = req.getQuery('token');
    const room = req.getParameter(0);

    let aborted = false;
    res.onAborted(() => { aborted = true; });

    const name = await authenticate(token);
    if (aborted) return;

    res.cork(() => {
      if (name === null) {
        res.writeStatus('401 Unauthorized').end();
        return;
      }
      res.upgrade<UserData>(
        { id: nextId++, name, room, joinedAt: Date.now() },
        secWebSocketKey,
        secWebSocketProtocol,
        secWebSocketExtensions,
        context,
      );
    });
  },

  open: (ws) => {
    const user: UserData = ws.getUserData();
    ws.subscribe(`room/${user.room}`);
    ws.subscribe('broadcast');
    ws.publish(`room/${user.room}`, JSON.stringify({ joined: user.name }));
    const status: number = ws.send(`welcome ${user.name}, you are #${user.id}`);
    if (status === 0) console.log('backpressure already', ws.getBufferedAmount());
  },

  message: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => {
    const user = ws.getUserData();
    if (isBinary) {
      ws.send(message, true, true);
      return;
    }
    const msg = JSON.parse(decoder.decode(message)) as ChatMessage;
    switch (msg.type) {
      case 'say':
        ws.cork(() => {
          ws.publish(`room/${user.room}`, JSON.stringify({ from: user.name, text: msg.text }), false, true);
          ws.send('ok');
        });
        break;
      case 'join':
        ws.unsubscribe(`room/${user.room}`);
        user.room = msg.room;
        if (!ws.isSubscribed(`room/${msg.room}`)) ws.subscribe(`room/${msg.room}`);
        ws.send(JSON.stringify({ topics: ws.getTopics() }));
        break;
    }
  },

  drain: (ws) => {
    console.log('drained to', ws.getBufferedAmount());
  },

  ping: (ws, message) => { console.log('ping', message.byteLength, ws.getUserData().id); },
  pong: (_ws, message) => { console.log('pong', message.byteLength); },

  subscription: (ws, topic, newCount, oldCount) => {
    console.log(ws.getUserData().name, decoder.decode(topic), oldCount, '->', newCount);
  },

  close: (ws, code, message) => {
    // The socket is closed here: only its user data may be used.
    const user = ws.getUserData();
    console.log(`${user.name} left (${code} ${decoder.decode(message)})`);
  },
};

const app = uWS.App()
  .ws<UserData>('/chat/:room', behavior)
  .ws<{ admin: true }>('/admin', {
    compression: uWS.DEDICATED_COMPRESSOR_4KB | uWS.DEDICATED_DECOMPRESSOR_4KB,
    message: (ws, message) => {
      const admin: true = ws.getUserData().admin;
      if (admin) app.publish('broadcast', message, false);
      ws.end(1000, 'bye');
    },
  })
  .get('/rooms/:room/count', (res, req) => {
    res.end(String(app.numSubscribers(`room/${req.getParameter(0)}`)));
  })
  .get('/shutdown', (res) => {
    if (listenSocket) {
      uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
    }
    res.end('bye');
  })
  .listen(9001, (token) => {
    if (token) {
      listenSocket = token;
      console.log('listening on', uWS.us_socket_local_port(token));
    } else {
      console.log('failed to listen');
    }
  });

// Misuse that both uws-rs and uWebSockets.js must reject.
function mistakes(ws: WebSocket<UserData>, res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
  // @ts-expect-error UserData has no such field
  ws.getUserData().email;
  // @ts-expect-error user data must match the type argument
  res.upgrade<UserData>({ id: 'one' }, '', '', '', context);
  // @ts-expect-error a number is not a RecognizedString
  ws.send(42);
  // @ts-expect-error header names are strings
  req.getHeader(1);
  // @ts-expect-error onData chunks are ArrayBuffers
  res.onData((chunk: string, isLast: boolean) => console.log(chunk, isLast));
  // @ts-expect-error listen with a host needs a port too
  app.listen('127.0.0.1', (token) => console.log(token));
  // @ts-expect-error behaviors are checked against their UserData
  app.ws<UserData>('/bad', { open: (ws) => ws.getUserData().missing });
}
void mistakes;
