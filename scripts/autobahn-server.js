'use strict';
// WebSocket echo server for the Autobahn|Testsuite fuzzingclient (scripts/conformance.sh).
// Echoes every message with the same binary flag. Listens on 127.0.0.1:$PORT (0 = any free port)
// and prints `listening on <port>`.
//   AUTOBAHN_DEFLATE=0  disable permessage-deflate (cases 12.* and 13.* then report UNIMPLEMENTED)
const uWS = require('..');

const MiB = 1024 * 1024;
const deflate = process.env.AUTOBAHN_DEFLATE !== '0';

uWS.App()
  .ws('/*', {
    compression: deflate ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
    maxPayloadLength: 16 * MiB, // Autobahn sends messages of up to 16 MiB (9.*)
    maxBackpressure: 512 * MiB, // an echo server must never drop a message
    idleTimeout: 60,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary, deflate);
    },
    dropped: (ws, message) => {
      console.error(`autobahn-server: dropped a ${message.byteLength}-byte message (backpressure)`);
    },
  })
  .listen('127.0.0.1', Number(process.env.PORT || 0), (token) => {
    if (!token) {
      console.error(`autobahn-server: cannot listen on 127.0.0.1:${process.env.PORT || 0}`);
      process.exit(1);
    }
    console.log(`listening on ${uWS.us_socket_local_port(token)}`);
  });
