'use strict';
// Selects the implementation under test.
//   UWS_IMPL=uws  -> the real uWebSockets.js v20.30 (@trufflesuite/uws-js-unofficial)
//   anything else -> our addon (repo root index.js)
const impl = process.env.UWS_IMPL === 'uws' ? 'uws' : 'rs';
const uWS = impl === 'uws' ? require('@trufflesuite/uws-js-unofficial') : require('..');
module.exports = { uWS, impl };
