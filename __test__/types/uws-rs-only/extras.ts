// What uws-rs declares beyond uWebSockets.js v20.30's docs/index.d.ts: later v20 additions
// and uws-rs's own (stats / resetPeakStats). Type-checked against uws-rs only.
import uWS from 'uws-rs';
import type { SendQueueStats, us_listen_socket } from 'uws-rs';

interface Player { id: number }

const app = uWS.App()
  .post('/v2', (res) => {
    const parts: Uint8Array[] = [];
    res.onAborted(() => {});
    res.onDataV2((chunk: ArrayBuffer, maxRemainingBodyLength: bigint) => {
      parts.push(new Uint8Array(chunk.slice(0)));
      if (maxRemainingBodyLength === 0n) res.end(String(parts.length));
    });
  })
  .get('/users/:id/posts/:post', (res, req) => {
    const id: string | undefined = req.getParameter('id');
    const post: string = req.getParameter(1);
    res.collect(() => res.end(`${id ?? '?'}/${post}`));
  })
  .ws<Player>('/game', {
    compression: uWS.DEDICATED_COMPRESSOR | uWS.DEDICATED_DECOMPRESSOR,
    closeOnBackpressureLimit: true,
    maxLifetime: 10,
    upgrade: (res, req, context) => {
      res.upgrade<Player>({ id: 1 }, req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    dropped: (ws, message, isBinary) => {
      console.log('dropped for', ws.getUserData().id, message.byteLength, isBinary);
    },
  })
  .filter((res, count: number) => console.log(count, Object.keys(res).length));

app.listen('0.0.0.0', 0, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, (token: us_listen_socket | false) => {
  if (token) uWS.us_listen_socket_close(token);
});
app.listen(0, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, () => {});

const s: SendQueueStats = uWS.stats();
const counters: number[] = [s.queuedBytes, s.peakQueuedBytes, s.copiedBytes, s.chunksAlive, s.sharedFramesAlive];
console.log(counters);
uWS.resetPeakStats();
app.close();

// @ts-expect-error the counters are read-only numbers, not strings
const wrong: string = uWS.stats().queuedBytes;
void wrong;
