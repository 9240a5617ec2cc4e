'use strict';
// TypeScript declarations (index.d.ts): the sample apps in __test__/types/ must type-check
// against uws-rs's declarations AND against the real uWebSockets.js v20.30 declarations, and the
// names index.d.ts declares as values must be exactly the names index.js exports.

const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const typesDir = path.join(__dirname, 'types');
const ourDts = path.join(root, 'index.d.ts');
const theirDts = path.join(root, 'node_modules', '@trufflesuite', 'uws-js-unofficial', 'docs', 'index.d.ts');
const T = { timeout: 120_000 };

function runTsc(project) {
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '--listFiles', '-p', project], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** tsc --noEmit -p config must pass, and must have checked the samples against `dts`. */
function assertTypeChecks(config, dts) {
  const { status, out } = runTsc(path.join(typesDir, config));
  const errors = out.split('\n').filter((l) => l.includes('error TS')).join('\n');
  assert.equal(status, 0, `tsc -p __test__/types/${config} failed:\n${errors || out}`);
  const files = out.split('\n').map((l) => path.resolve(l.trim()));
  assert.ok(files.includes(dts), `${config} did not resolve 'uws-rs' to ${path.relative(root, dts)}`);
  assert.ok(files.some((f) => f.startsWith(path.join(typesDir, 'shared') + path.sep)), `${config} checked no shared sample`);
}

test('typescript is installed (devDependency)', () => {
  assert.ok(fs.existsSync(tsc), `missing ${tsc}: run npm install`);
});

test('sample apps type-check against index.d.ts (paths -> repo root)', T, () => {
  assertTypeChecks('tsconfig.json', ourDts);
});

test('sample apps type-check against index.d.ts through package.json "exports" (self-reference)', T, () => {
  assertTypeChecks('tsconfig.exports.json', ourDts);
});

test('the shared sample apps type-check against uWebSockets.js v20.30 docs/index.d.ts', T, () => {
  assertTypeChecks('tsconfig.uwsjs.json', theirDts);
});

// Names uWebSockets.js's declarations give as values that no implementation exports at run time
// (uWebSockets.js v20 does not export its ListenOptions enum either).
const DECLARED_TYPE_ONLY = ['ListenOptions'];

test('index.d.ts declares exactly the values index.js exports, with matching kinds', T, () => {
  const uWS = require('..');
  const kinds = Object.fromEntries(Object.keys(uWS).map((k) => [k, typeof uWS[k]]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-types-'));
  try {
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'node16', moduleResolution: 'node16',
        lib: ['es2022'], types: [], paths: { 'uws-rs': [root] },
      },
      files: ['check.ts'],
    }));
    fs.writeFileSync(path.join(dir, 'check.ts'), `
import * as uWS from 'uws-rs';
type Declared = Exclude<keyof typeof uWS, 'default' | ${DECLARED_TYPE_ONLY.map((n) => JSON.stringify(n)).join(' | ')}>;
const runtime = ${JSON.stringify(kinds, null, 2)} as const;
type Runtime = keyof typeof runtime;
type DeclaredButNotExported = Exclude<Declared, Runtime>;
type ExportedButNotDeclared = Exclude<Runtime, Declared>;
export const declaredButNotExported: [DeclaredButNotExported] extends [never] ? true : DeclaredButNotExported = true;
export const exportedButNotDeclared: [ExportedButNotDeclared] extends [never] ? true : ExportedButNotDeclared = true;
type Kind<T> = T extends (...args: any[]) => any ? 'function' : T extends abstract new (...args: any[]) => any ? 'function' : T extends number ? 'number' : T extends string ? 'string' : 'object';
export const kinds: { [K in Declared & Runtime]: Kind<(typeof uWS)[K]> } = runtime;
`);
    const { status, out } = runTsc(path.join(dir, 'tsconfig.json'));
    assert.equal(status, 0, `index.d.ts and index.js disagree:\n${out.split('\n').filter((l) => l.includes('error')).join('\n')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
