#!/usr/bin/env node
// Runs the bundle built from src/ by `npm run build`. CommonJS on purpose:
// Node starts it faster than an ES module.
//
// Compiling the bundle is the largest part of acct's own start-up (about
// 12 ms), so compiled code is cached. Node 22+ has that built in
// (module.enableCompileCache). On Node 20 acct keeps V8's code cache itself,
// per command, in a private folder of the user's cache directory: V8 checks
// each cache against the source and the Node version and ignores one that
// does not match, in which case a fresh one is written. The cache is only
// an optimization; trouble reading or writing it changes nothing else.
// ACCT_CODE_CACHE=0 turns it off.
'use strict';
const nodeModule = require('node:module');
const path = require('node:path');

const bundle = path.join(__dirname, '..', 'dist', 'acct.cjs');

if (process.env.ACCT_CODE_CACHE === '0') require(bundle).run();
else if (nodeModule.enableCompileCache) {
  nodeModule.enableCompileCache();
  require(bundle).run();
} else runWithCodeCache();

function runWithCodeCache() {
  const fs = require('node:fs');
  const vm = require('node:vm');
  const source = fs.readFileSync(bundle, 'utf8');
  const stat = fs.statSync(bundle);
  let base;
  try {
    base =
      process.platform === 'win32'
        ? process.env.LOCALAPPDATA || path.join(homedir(), 'AppData', 'Local')
        : process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  } catch {
    return require(bundle).run(); // no home directory to keep a cache in
  }
  const dir = path.join(base, 'acct', 'code-cache');
  const command = (process.argv.slice(2).find((a) => !a.startsWith('-')) || 'none').replace(/[^a-z_]/g, '');
  const build = `${process.version}-${stat.size}-${Math.floor(stat.mtimeMs)}-`;
  const file = path.join(dir, `${build}${command}.bin`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(file);
  } catch {
    cachedData = undefined; // no cache yet: compile, then write one
  }
  const script = new vm.Script(nodeModule.wrap(source), { filename: bundle, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    // Written at exit, so it holds the functions this command compiled too.
    process.once('exit', () => {
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        fs.renameSync(tmp, file);
        // Caches of other builds or Node versions will not match again.
        for (const name of fs.readdirSync(dir)) if (!name.startsWith(build)) fs.rmSync(path.join(dir, name), { force: true });
      } catch {
        // A read-only or full cache directory: acct runs as well without it.
      }
    });
  }
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, nodeModule.createRequire(bundle), mod, bundle, path.dirname(bundle));
  mod.exports.run();
}

/** HOME when set; node:os (a module to load) only without it. */
function homedir() {
  return process.env.HOME || require('node:os').homedir();
}
