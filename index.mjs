// ESM entry of uws-rs: `import uWS from 'uws-rs'` gives the same object as `require('uws-rs')`,
// and every property of it is also a named export (`import { App } from 'uws-rs'`).
// The list is written out so that Node can link the named imports statically;
// __test__/esm.test.mjs checks that it matches index.js's exports.
import uWS from './index.js';

export default uWS;

export const {
  App,
  SSLApp,
  us_listen_socket_close,
  us_socket_local_port,
  getParts,
  stats,
  resetPeakStats,
  DISABLED,
  SHARED_COMPRESSOR,
  SHARED_DECOMPRESSOR,
  DEDICATED_DECOMPRESSOR,
  DEDICATED_COMPRESSOR,
  DEDICATED_COMPRESSOR_3KB,
  DEDICATED_COMPRESSOR_4KB,
  DEDICATED_COMPRESSOR_8KB,
  DEDICATED_COMPRESSOR_16KB,
  DEDICATED_COMPRESSOR_32KB,
  DEDICATED_COMPRESSOR_64KB,
  DEDICATED_COMPRESSOR_128KB,
  DEDICATED_COMPRESSOR_256KB,
  DEDICATED_DECOMPRESSOR_32KB,
  DEDICATED_DECOMPRESSOR_16KB,
  DEDICATED_DECOMPRESSOR_8KB,
  DEDICATED_DECOMPRESSOR_4KB,
  DEDICATED_DECOMPRESSOR_2KB,
  DEDICATED_DECOMPRESSOR_1KB,
  DEDICATED_DECOMPRESSOR_512B,
  LIBUS_LISTEN_EXCLUSIVE_PORT,
} = uWS;
