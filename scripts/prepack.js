'use strict';
// npm `prepack` (runs before `npm pack` and `npm publish`): builds the release addon with cargo and
// stages it as prebuilds/<platform>-<arch>[-<libc>]/uws_rs.node, the binary an installed package
// loads without any install script or Rust toolchain. Always a release build (UWS_RS_PROFILE is
// ignored) and the local build ./uws_rs.node is left alone. Prebuilt binaries for other platforms
// already in prebuilds/ (copied there by a multi-platform release job) are kept and shipped too.
const fs = require('fs');
const path = require('path');
const platform = require('../lib/platform');
const { cargoBuild, install } = require('./build');

const started = Date.now();
let built;
try {
  built = cargoBuild('release');
} catch (e) {
  console.error(`uws-rs: prepack: ${e.message}`);
  process.exit(1);
}
const dest = platform.prebuiltPath();
install(built, dest);
const kb = (fs.statSync(dest).size / 1024).toFixed(0);
console.error(
  `uws-rs: staged release addon (${kb} KiB) in ${((Date.now() - started) / 1000).toFixed(1)} s -> ` +
  path.relative(platform.root, dest)
);
