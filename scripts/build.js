'use strict';
// Builds the addon from source with cargo and installs it next to index.js as uws_rs.node
// (the "local build" that lib/native.js loads first).
//
//   node scripts/build.js            `npm run build`: always builds (UWS_RS_PROFILE=debug for a debug build)
//   node scripts/build.js --install  the npm `install` script:
//     - in a checkout (the package is not inside node_modules): builds, as `npm run build`;
//     - installed as a dependency: if the tarball's prebuilt binary for this platform loads, does
//       nothing (no cargo needed); otherwise builds from source. UWS_RS_BUILD_FROM_SOURCE=1
//       (or npm_config_build_from_source=true) builds from source regardless.
//       A build that cannot run (no cargo) or fails during `npm install` only warns: failing would
//       roll the whole install back, and then `npm rebuild uws-rs` (what the loader's error advises
//       once Rust is installed) would have nothing to rebuild. Under `npm rebuild`, or when forced,
//       it fails.
//
// Copy-then-rename so a running process that has the old file mapped is never handed a half-written one.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const platform = require('../lib/platform');

const root = platform.root;

function log(msg) {
  console.error(`uws-rs: ${msg}`);
}

class BuildError extends Error {}

/** Runs cargo; returns the path of the built cdylib. Throws BuildError when cargo is missing or fails. */
function cargoBuild(profile) {
  const args = ['build', '-p', 'uws-rs'];
  if (profile === 'release') args.push('--release');
  const r = spawnSync(process.env.CARGO || 'cargo', args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.error) {
    throw new BuildError(
      `cannot build from source for ${platform.platformKey()}: could not run cargo (${r.error.message}).\n` +
      '  Install Rust from https://rustup.rs, then run `npm rebuild uws-rs` in your project\n' +
      '  (npm 11: `npm install-scripts approve uws-rs` first), or `npm run build` in a checkout.'
    );
  }
  if (r.status !== 0) {
    throw new BuildError(`cargo build failed for ${platform.platformKey()} (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
  }
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
  return path.join(targetDir, profile, platform.cdylibName());
}

/** Copies src to dest through a temporary file and a rename. */
function install(src, dest) {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  fs.copyFileSync(src, tmp);
  fs.renameSync(tmp, dest);
}

function build(profile = process.env.UWS_RS_PROFILE === 'debug' ? 'debug' : 'release') {
  const started = Date.now();
  const built = cargoBuild(profile);
  const dest = platform.localBuildPath();
  install(built, dest);
  log(`built ${profile} addon in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${path.relative(root, dest)}`);
}

/** True when the prebuilt binary for this platform exists and loads in this Node. */
function prebuiltUsable() {
  const file = platform.prebuiltPath();
  if (!fs.existsSync(file)) return false;
  try {
    require(file);
    return true;
  } catch (e) {
    log(`prebuilt ${path.relative(root, file)} does not load here (${e.message}); building from source`);
    return false;
  }
}

function installScript() {
  const forced = process.env.UWS_RS_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';
  const dependency = platform.installedAsDependency();
  if (dependency && !forced && prebuiltUsable()) {
    log(`using the prebuilt binary prebuilds/${platform.platformKey()}/uws_rs.node (no build needed)`);
    return;
  }
  try {
    build();
    // In node_modules cargo's 100 MB of intermediate files are of no further use.
    if (dependency && !process.env.CARGO_TARGET_DIR) fs.rmSync(path.join(root, 'target'), { recursive: true, force: true });
  } catch (e) {
    if (!(e instanceof BuildError) || !dependency || forced || process.env.npm_command === 'rebuild') throw e;
    log(`${e.message}\n  Installed without a native addon: require('uws-rs') will fail until it is built.`);
  }
}

if (require.main === module) {
  try {
    if (process.argv.includes('--install')) installScript();
    else build();
  } catch (e) {
    if (!(e instanceof BuildError)) throw e;
    log(e.message);
    process.exit(1);
  }
  process.exit(0); // a prebuilt addon loaded by prebuiltUsable() must not keep the process alive
}

module.exports = { BuildError, cargoBuild, install, build };
