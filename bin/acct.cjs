#!/usr/bin/env -S node --
// Runs a bundle built from src/ by `npm run build`. CommonJS on purpose:
// Node starts it faster than an ES module.
//
// Two bundles: dist/plain.cjs runs the plain forms of the commands scripts
// call most (`acct token <ref>`, `acct list`, `acct env`; see src/plain.ts), without the
// command tree, and dist/acct.cjs runs everything else. PLAIN only saves
// loading plain.cjs for other commands; a command missing from it still runs,
// through acct.cjs (a test keeps the two lists equal).
//
// Compiling a bundle is the largest part of acct's own start-up, so compiled
// code is cached. Node 22+ has that built in (module.enableCompileCache). On
// Node 20 acct keeps V8's code cache itself, per bundle and command, in a
// private folder of the user's cache directory: V8 checks each cache against
// the source and the Node version and ignores one that does not match, in
// which case a fresh one is written. The cache is only an optimization;
// trouble reading or writing it changes nothing else. ACCT_CODE_CACHE=0
// turns it off.
//
// The shebang ends Node's own options with `--`: Node 20 reads --env-file
// anywhere on its command line, after the script too, so without it
// `acct run --env-file missing.env` would exit 9 ("node: missing.env: not
// found") before acct runs, and an existing file would be loaded into acct's
// own environment. (`env -S` splits the line into words.)
'use strict';
const path = require('node:path');

const PLAIN = ['token', 'list', 'env'];
const argv = process.argv.slice(2);
const command = (argv.find((a) => !a.startsWith('-')) || 'none').replace(/[^a-z_]/g, '');

// The CommonJS Module class, for wrap() and createRequire(). Taken from this
// module rather than require('node:module'), which loads the ES module
// loader too (0.8 ms); Node 22+ needs that module for its compile cache.
const Module = module.constructor;
const enableCompileCache = Number(process.versions.node.split('.')[0]) >= 22 ? require('node:module').enableCompileCache : undefined;
const useCodeCache = process.env.ACCT_CODE_CACHE !== '0' && !enableCompileCache;
if (process.env.ACCT_CODE_CACHE !== '0' && enableCompileCache) enableCompileCache();

if (!(PLAIN.includes(argv[0]) && load('plain').start(argv))) load('acct').run();

/** The exports of dist/<name>.cjs. */
function load(name) {
  const bundle = path.join(__dirname, '..', 'dist', `${name}.cjs`);
  return useCodeCache ? loadWithCodeCache(name, bundle) : require(bundle);
}

function loadWithCodeCache(name, bundle) {
  const fs = require('node:fs');
  const vm = require('node:vm');
  let base;
  try {
    base =
      process.platform === 'win32'
        ? process.env.LOCALAPPDATA || path.join(homedir(), 'AppData', 'Local')
        : process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  } catch {
    return require(bundle); // no home directory to keep a cache in
  }
  const source = fs.readFileSync(bundle, 'utf8');
  const stat = fs.statSync(bundle);
  const dir = path.join(base, 'acct', 'code-cache');
  const build = `${name}-${process.version}-${stat.size}-${Math.floor(stat.mtimeMs)}-`;
  const file = path.join(dir, `${build}${command}.bin`);
  // A code cache is code that acct runs: one planted by another user would run as this one.
  const trusted = cacheFolder(fs, dir);
  if (trusted === false) return require(bundle);
  let cachedData;
  if (trusted === true) cachedData = readOwnFile(fs, file); // undefined: no cache yet, compile, then write one
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    // Written at exit, so it holds the functions this command compiled too.
    process.once('exit', () => {
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (cacheFolder(fs, dir) !== true) return;
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        fs.renameSync(tmp, file);
        // Caches of this bundle's other builds, or of other Node versions, will not match again.
        for (const old of fs.readdirSync(dir)) if (old.startsWith(`${name}-`) && !old.startsWith(build)) fs.rmSync(path.join(dir, old), { force: true });
      } catch {
        // A read-only or full cache directory: acct runs as well without it.
      }
    });
  }
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
  return mod.exports;
}

/**
 * Whether the cache folder (and acct's folder above it) can be trusted: the
 * user's own, no symlink, not writable by group or others. 'missing' when it
 * is not there yet. An untrusted cache is not used (acct only starts slower).
 */
function cacheFolder(fs, dir) {
  if (typeof process.geteuid !== 'function') return true; // Windows
  for (const d of [path.dirname(dir), dir]) {
    let st;
    try {
      st = fs.lstatSync(d);
    } catch (err) {
      return err.code === 'ENOENT' ? 'missing' : false;
    }
    if (!st.isDirectory() || st.uid !== process.geteuid() || st.mode & 0o022) return false;
  }
  return true;
}

/** A file of the user's own that nobody else can write, not through a symlink; undefined otherwise. */
function readOwnFile(fs, file) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    return st.isFile() && st.uid === process.geteuid() && !(st.mode & 0o022) ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** HOME when set; node:os (a module to load) only without it. */
function homedir() {
  return process.env.HOME || require('node:os').homedir();
}
