// The token path stays small: `acct token` and `acct list` load no prompt,
// colour, HTTP, OAuth, schema or locking code (the spec's start-up budgets
// depend on it). The libraries live in dist/vendor/, one file each; a preload
// records which files a run required.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, relative } from 'node:path';
import { execa } from 'execa';
import { acct, baseEnv, tempHome, BIN } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome } from '../support/oauth-cli.js';

const DIST = resolve(import.meta.dirname, '../../dist');
const HOOK = resolve(import.meta.dirname, '../support/trace-loads.cjs');
const HEAVY = ['@inquirer/', 'chalk', 'undici', 'oauth4webapi', 'zod', 'open', 'proper-lockfile'];

/** The npm packages whose code the command's process loaded. */
async function packagesLoaded(args: string[], env: Record<string, string | undefined>, exitCode = 0): Promise<string[]> {
  const trace = join(mkdtempSync(join(tmpdir(), 'acct-trace-')), 'loads.txt');
  // Without the code cache bin/acct.cjs require()s its bundle, so the trace shows which bundle ran.
  const r = await execa('node', ['--require', HOOK, BIN, ...args], { env: { ...env, ACCT_TRACE_LOADS: trace, ACCT_CODE_CACHE: '0' }, extendEnv: false, reject: false });
  expect(r.exitCode, r.stderr).toBe(exitCode);
  const outputs = JSON.parse(readFileSync(join(DIST, 'outputs.json'), 'utf8')) as { vendor: Record<string, string> } & Record<string, string[]>;
  const files = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
  expect(files.some((f) => f.endsWith('bin/acct.cjs'))).toBe(true);
  // A bundle holds acct's own code and the packages built into it (commander in acct.cjs); every other package comes from its vendor file or node_modules.
  const packages = new Set<string>();
  for (const f of files) {
    const rel = relative(DIST, f);
    if (outputs.vendor[rel]) packages.add(outputs.vendor[rel]);
    else if (rel.endsWith('.cjs') && outputs[rel]) {
      for (const i of outputs[rel]) if (i.includes('node_modules/')) packages.add(packageOf(i));
    } else if (f.includes('/node_modules/')) packages.add(packageOf(f));
  }
  return [...packages];
}

function packageOf(path: string): string {
  const rest = path.split('node_modules/').at(-1)!.split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

describe('start-up', () => {
  let env: Record<string, string | undefined>;
  beforeAll(async () => {
    env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'startup-pass' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: 'lk_startup', stdin: undefined })).exitCode).toBe(0);
  });

  it('acct token loads none of the prompt, colour, HTTP, OAuth or schema libraries, nor commander', async () => {
    const loaded = await packagesLoaded(['token', 'local'], env);
    expect(loaded).not.toContain('commander');
    for (const heavy of HEAVY) expect(loaded.filter((p) => p === heavy || p.startsWith(heavy))).toEqual([]);
  });

  describe('an OAuth account', () => {
    let server: AuthServer;
    let oauthEnv: Record<string, string | undefined>;
    beforeAll(async () => {
      server = await startAuthServer({ accessTokenTtl: 600 });
      oauthEnv = (await oauthHome(server, 'public')).env;
      const r = await acct(['connect', 'local'], oauthEnv);
      expect(r.exitCode, r.stderr).toBe(0);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('acct token with a valid access token loads neither the OAuth protocol library nor the schema library', async () => {
      const before = server.tokenRequests.refresh;
      const loaded = await packagesLoaded(['token', 'local'], oauthEnv);
      expect(server.tokenRequests.refresh).toBe(before); // no refresh was needed
      for (const heavy of HEAVY) expect(loaded.filter((p) => p === heavy || p.startsWith(heavy))).toEqual([]);
    });

    it('a forced refresh does load them (the check can fail)', async () => {
      const loaded = await packagesLoaded(['token', 'local', '--refresh'], oauthEnv);
      expect(loaded).toEqual(expect.arrayContaining(['oauth4webapi', 'zod']));
    });
  });

  it('acct list loads none of them either', async () => {
    const loaded = await packagesLoaded(['list'], env);
    for (const heavy of HEAVY) expect(loaded.filter((p) => p === heavy || p.startsWith(heavy))).toEqual([]);
  });

  it('acct token --help goes through the command tree (commander)', async () => {
    expect(await packagesLoaded(['token', '--help'], env)).toContain('commander');
  });

  it('the locking library is built without graceful-fs, which acct never uses (it passes its own fs) and which patches node:fs when loaded', async () => {
    const patched = (lib: string) =>
      execa('node', ['-e', `require(${JSON.stringify(lib)}); process.stdout.write(String(require('node:fs')[Symbol.for('graceful-fs.queue')] !== undefined))`], { extendEnv: false, env: baseEnv() });
    expect((await patched(join(DIST, 'vendor/proper-lockfile.cjs'))).stdout).toBe('false');
    expect((await patched(resolve(import.meta.dirname, '../../node_modules/proper-lockfile'))).stdout).toBe('true'); // the check can fail
  });

  it('the trace does see the libraries a command needs (the check can fail)', async () => {
    // The stand-in service's port is closed: the test request reports it unreachable (exit 5), through undici.
    const loaded = await packagesLoaded(['test', 'local'], env, 5);
    expect(loaded).toContain('undici');
  });
});
