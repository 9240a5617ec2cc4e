'use strict';
// Builds the release addon with cargo and installs it next to index.js as uws_rs.node.
// Copy-then-rename so a running process that has the old file mapped is never handed a half-written one.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const profile = process.env.UWS_RS_PROFILE === 'debug' ? 'debug' : 'release';
const args = ['build', '-p', 'uws-rs'];
if (profile === 'release') args.push('--release');

const started = Date.now();
const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`uws-rs: could not run cargo (${r.error.message}). Install Rust from https://rustup.rs and run \`npm rebuild uws-rs\`.`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status || 1);

const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const built = path.join(targetDir, profile, 'libuws_rs.so');
const dest = path.join(root, 'uws_rs.node');
const tmp = `${dest}.${process.pid}.tmp`;
fs.copyFileSync(built, tmp);
fs.renameSync(tmp, dest);
console.log(`uws-rs: built ${profile} addon in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${path.relative(root, dest)}`);
