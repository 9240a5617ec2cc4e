'use strict';
// Loads the compiled addon: the one `npm install` built next to the package (uws_rs.node).
const path = require('path');

const candidates = [path.join(__dirname, '..', 'uws_rs.node')];

let lastError;
for (const file of candidates) {
  try {
    module.exports = require(file);
    return;
  } catch (e) {
    lastError = e;
    if (e.code !== 'MODULE_NOT_FOUND') break;
  }
}
throw new Error(
  `uws-rs: no native addon for ${process.platform}-${process.arch} (node ${process.version}). ` +
  `Build it with \`npm rebuild uws-rs\` (needs Rust's cargo). Cause: ${lastError && lastError.message}`
);
