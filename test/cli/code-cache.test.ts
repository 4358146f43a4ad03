// bin/acct.cjs keeps V8's code cache on Node 20 (Node 22+ has its own):
// written on the first run of a command, used later, and never a reason to
// fail: a damaged cache is ignored and replaced.
import { describe, it, expect } from 'vitest';
import { chmodSync, chownSync, lstatSync, rmSync, symlinkSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodeModule from 'node:module';
import { acct, baseEnv, tempHome } from '../support/cli.js';

const hasBuiltinCache = typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe.skipIf(hasBuiltinCache)('code cache (Node 20)', () => {
  const cacheDir = (base: string) => join(base, 'acct', 'code-cache');

  it('is written per command on first use, in a private folder, and reused', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'acct-xdg-cache-'));
    const env = baseEnv({ ACCT_HOME: tempHome(), XDG_CACHE_HOME: cache });
    expect(await acct(['--version'], env)).toMatchObject({ exitCode: 0 });
    expect(await acct(['list', '--json'], env)).toMatchObject({ exitCode: 0, stdout: '[]\n' });
    const files = readdirSync(cacheDir(cache)).sort();
    // One cache per bundle and command: --version runs dist/acct.cjs, list dist/plain.cjs.
    expect(files.map((f) => `${f.split('-')[0]}:${f.replace(/^.*-/, '')}`)).toEqual(['acct:none.bin', 'plain:list.bin']);
    expect(statSync(cacheDir(cache)).mode & 0o777).toBe(0o700);
    expect(statSync(join(cacheDir(cache), files[0]!)).mode & 0o777).toBe(0o600);
    const before = readFileSync(join(cacheDir(cache), files[0]!));
    expect(await acct(['list', '--json'], env)).toMatchObject({ exitCode: 0, stdout: '[]\n' });
    // Accepted, so not rewritten.
    expect(readFileSync(join(cacheDir(cache), files[0]!)).equals(before)).toBe(true);
  });

  it('a damaged cache is ignored and replaced; acct runs as usual', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'acct-xdg-cache-'));
    const env = baseEnv({ ACCT_HOME: tempHome(), XDG_CACHE_HOME: cache });
    expect((await acct(['list', '--json'], env)).exitCode).toBe(0);
    const [file] = readdirSync(cacheDir(cache));
    writeFileSync(join(cacheDir(cache), file!), Buffer.from('not a V8 code cache at all'));
    const r = await acct(['list', '--json'], env);
    expect(r).toMatchObject({ exitCode: 0, stdout: '[]\n', stderr: '' });
    expect(readFileSync(join(cacheDir(cache), file!)).length).toBeGreaterThan(1000);
  });

  it('ACCT_CODE_CACHE=0 turns it off', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'acct-xdg-cache-'));
    const r = await acct(['list', '--json'], baseEnv({ ACCT_HOME: tempHome(), XDG_CACHE_HOME: cache, ACCT_CODE_CACHE: '0' }));
    expect(r).toMatchObject({ exitCode: 0, stdout: '[]\n' });
    expect(readdirSync(cache)).toEqual([]);
  });
});

describe.skipIf(hasBuiltinCache || typeof process.geteuid !== 'function')('code cache acct does not trust (Node 20)', () => {
  const cacheDir = (base: string) => join(base, 'acct', 'code-cache');

  it('is neither read nor written in a folder others may write, or owned by another user, or through a symlink', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'acct-xdg-cache-'));
    const env = baseEnv({ ACCT_HOME: tempHome(), XDG_CACHE_HOME: cache });
    expect((await acct(['list', '--json'], env)).exitCode).toBe(0);
    const [file] = readdirSync(cacheDir(cache));
    const path = join(cacheDir(cache), file!);
    // A cache planted by someone else: acct must not hand it to V8. A damaged one proves it was not
    // read: a read cache that is rejected is rewritten, an unread one stays as it is.
    const planted = Buffer.from('planted by someone else');
    for (const [what, make, undo] of [
      ['a folder others may write', () => chmodSync(cacheDir(cache), 0o777), () => chmodSync(cacheDir(cache), 0o700)],
      ["acct's folder owned by another user", () => chownSync(join(cache, 'acct'), 65534, 65534), () => chownSync(join(cache, 'acct'), 0, 0)],
    ] as const) {
      writeFileSync(path, planted);
      make();
      const r = await acct(['list', '--json'], env);
      expect(r, what).toMatchObject({ exitCode: 0, stdout: '[]\n', stderr: '' });
      expect(readFileSync(path).equals(planted), what).toBe(true);
      undo();
    }
    // Trusted again: the damaged cache is read, rejected and replaced.
    expect((await acct(['list', '--json'], env)).exitCode).toBe(0);
    const valid = readFileSync(path);
    expect(valid.length).toBeGreaterThan(1000);
    // A valid cache that others may write, or reached through a symlink, is not used: acct compiles and
    // writes a file of its own in its place (a cache it had read and accepted would have stayed as it was).
    chmodSync(path, 0o666);
    expect((await acct(['list', '--json'], env)).exitCode).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const elsewhere = join(mkdtempSync(join(tmpdir(), 'acct-elsewhere-')), 'cache.bin');
    writeFileSync(elsewhere, valid, { mode: 0o600 });
    rmSync(path);
    symlinkSync(elsewhere, path);
    expect((await acct(['list', '--json'], env)).exitCode).toBe(0);
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
  });
});
