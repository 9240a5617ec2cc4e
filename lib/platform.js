'use strict';
// Where the native addon lives, shared by the loader (lib/native.js), the build script
// (scripts/build.js) and the packer (scripts/prepack.js).
//
//   <package>/uws_rs.node                    local build: `npm install` / `npm run build` in a checkout,
//                                            or a build from source in an installed package
//   <package>/prebuilds/<key>/uws_rs.node    prebuilt binary shipped in the npm tarball
//
// <key> follows the napi-rs naming: linux-x64-gnu, linux-x64-musl, linux-arm64-gnu, darwin-arm64,
// win32-x64-msvc, ...
const path = require('path');

const root = path.join(__dirname, '..');

let libcCache;
/** 'gnu' or 'musl' on Linux (null elsewhere): glibc reports its version in the process report. */
function libc() {
  if (process.platform !== 'linux') return null;
  if (libcCache === undefined) {
    const report = process.report;
    // The network part of the report does reverse DNS lookups: leave it out, it is slow.
    const excluded = report.excludeNetwork;
    report.excludeNetwork = true;
    try {
      libcCache = report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl';
    } finally {
      report.excludeNetwork = excluded;
    }
  }
  return libcCache;
}

/** The prebuilt directory name for this process: `${platform}-${arch}[-${abi}]`. */
function platformKey() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') return `${base}-${libc()}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}

const localBuildPath = () => path.join(root, 'uws_rs.node');
const prebuildsDir = () => path.join(root, 'prebuilds');
const prebuiltPath = (key = platformKey()) => path.join(prebuildsDir(), key, 'uws_rs.node');

/** File name cargo gives the cdylib on this platform. */
function cdylibName() {
  if (process.platform === 'win32') return 'uws_rs.dll';
  if (process.platform === 'darwin') return 'libuws_rs.dylib';
  return 'libuws_rs.so';
}

/** True when this copy of the package was installed as a dependency (it sits inside node_modules). */
const installedAsDependency = () => root.split(path.sep).includes('node_modules');

module.exports = { root, libc, platformKey, localBuildPath, prebuildsDir, prebuiltPath, cdylibName, installedAsDependency };
