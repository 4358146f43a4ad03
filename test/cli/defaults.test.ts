// The paths a user takes without the switches the other tests set.
//
// Every test elsewhere sets some ACCT_* variable to make acct testable (a
// scripted browser, a temporary home, short timeouts). Each switch below has a
// test of what acct does without it; most are in this file.
//
//   ACCT_BROWSER           → "the default browser opener": no ACCT_BROWSER nor
//                            BROWSER, acct runs xdg-open from PATH (a recording
//                            one here) and the flow completes; and BROWSER alone.
//   ACCT_HOME              → "default folders": XDG_CONFIG_HOME/XDG_DATA_HOME,
//                            and HOME alone (~/.config/acct, ~/.local/share/acct),
//                            folders 0700 and files 0600.
//   ACCT_STORE             → "default folders" with HOME alone connects on the
//                            OS keychain (test/cli/keychain.test.ts covers the
//                            keychain store in depth).
//   ACCT_PASSPHRASE        → test/cli/terminal.test.ts types the passphrase at a
//                            real terminal prompt (twice for a new store).
//   ACCT_AGENT             → test/cli/agent.test.ts: without it the agent starts
//                            and answers (ACCT_AGENT=0 is only the contrast there).
//   ACCT_AGENT_IDLE        → test/cli/agent.test.ts "acct agent status and stop":
//                            the agent acct started reports the default 600 s.
//   ACCT_CODE_CACHE        → test/cli/code-cache.test.ts: without it the cache is
//                            written and reused (Node 20; Node 22+ uses its own).
//   ACCT_KEYCHAIN_TIMEOUT  → set to 5 by test/support/cli.ts baseEnv; "default
//                            folders" below runs without it (10 s). Not asserted:
//                            the value itself, which needs a Secret Service that
//                            hangs for 10 s (a stand-in that never answers on a
//                            bare bus gets AccessDenied from zbus at once).
//   ACCT_HTTP_TIMEOUT      → unset in most CLI tests (oauth-connect, status,
//                            request against the local servers run on the 30 s
//                            default); the short values only test the timeout,
//                            and no test waits out the 30 s.
//   ACCT_REFRESH_DEADLINE  → unset in test/cli/oauth-refresh.test.ts except its
//                            hung-provider case.
//   connect --timeout      → "the default browser opener" runs without
//                            --timeout and checks the 300 s announced.
//   ACCT_BUNDLE_CACHE      → test/cli/bundle.test.ts runs bundles without it.
//   ACCT_CLIENT_ID_<APP>   → test/support/oauth-cli.ts stores the client with
//                            `acct client set`, the default path.
//   ACCT_DEBUG             → never set by a test: every error test runs without it.
//   ACCT_TEST_BROWSER_*, ACCT_TRACE_LOADS, ACCT_BENCH_* → switches of the test
//                            helpers (test/support/), not of acct.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { keyAppFile } from '../support/apps.js';
import { agentSocket, startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { acct } from '../support/cli.js';
import { oauthHome, listJson, BROWSER_SCRIPT } from '../support/oauth-cli.js';

const hasBuiltinCache = typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

let server: AuthServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
});
afterAll(async () => {
  await server?.close();
});

/** A folder holding an executable `name` that logs its arguments (one JSON line per run) and then plays the user in the browser. */
function recordingOpener(name: string): { dir: string; log: string; runs: () => string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'acct-opener-'));
  const log = join(dir, 'opened.log');
  const script = join(dir, name);
  writeFileSync(
    script,
    `#!/bin/sh\necho "\${ACCT_PASSPHRASE:+the store passphrase reached the browser}" >> ${JSON.stringify(`${log}.env`)}\n${JSON.stringify(process.execPath)} -e 'require("node:fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n")' ${JSON.stringify(log)} "$@"\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BROWSER_SCRIPT)} "$@"\n`,
  );
  chmodSync(script, 0o755);
  const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]) : []);
  return { dir, log, runs };
}

/** The authorization URL acct built, checked against what the spec requires of it. */
function expectAuthorizationUrl(href: string) {
  const url = new URL(href);
  expect(`${url.origin}${url.pathname}`).toBe(`${server.issuer}/auth`);
  const p = url.searchParams;
  expect(p.get('response_type')).toBe('code');
  expect(p.get('client_id')).toBe(server.clients.public.clientId);
  expect(p.get('state')).toMatch(/^[\w-]{20,}$/);
  expect(p.get('code_challenge')).toMatch(/^[\w-]{43}$/);
  expect(p.get('code_challenge_method')).toBe('S256');
  expect(p.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
}

describe('the default browser opener', () => {
  it('with neither ACCT_BROWSER nor BROWSER, runs xdg-open from PATH with the authorization URL, and the connect completes', async () => {
    const opener = recordingOpener('xdg-open');
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined, PATH: `${opener.dir}:${process.env.PATH}` } });
    expect(env.ACCT_BROWSER).toBeUndefined();
    expect(env.BROWSER).toBeUndefined();
    const r = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'desktop-user' });
    expect(r.stderr).not.toMatch(/this is a bug|could not open/);
    expect(r.exitCode, r.stderr).toBe(0);
    // The default wait of the loopback listener (no --timeout).
    expect(r.stderr).toContain('times out in 300s');
    const runs = opener.runs();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toHaveLength(1);
    expectAuthorizationUrl(runs[0]![0]!);
    // The URL opened is the one acct printed for the user.
    expect(r.stderr).toContain(`\n  ${runs[0]![0]}\n`);
    // The store passphrase stays with acct: the browser outlives it.
    expect(env.ACCT_PASSPHRASE).toBeTruthy();
    expect(readFileSync(`${opener.log}.env`, 'utf8').trim()).toBe('');
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id: r.stdout.trim(), identity: 'desktop-user', status: 'ok' });
  });

  it('without any opener on PATH, warns, keeps the URL on screen, and waits (no crash)', async () => {
    // A PATH that holds node and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'acct-no-opener-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const r = await acct(['connect', 'local', '--timeout', '1'], { ...env, PATH: bin });
    expect(r.stderr).not.toMatch(/this is a bug/);
    expect(r.stderr).toContain('could not open a browser: xdg-open is not on PATH; open the URL above yourself, or set BROWSER');
    expect(r.stderr).toMatch(/\n {2}http:\/\/127\.0\.0\.1:\d+\/auth\?\S+\n/);
    expect(r.stderr).toContain('no authorization arrived within 1s');
    expect(r.exitCode).toBe(5);
  });

  it('BROWSER (without ACCT_BROWSER) is the command that opens the URL', async () => {
    const opener = recordingOpener('my-browser');
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined, BROWSER: join(opener.dir, 'my-browser') } });
    const r = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'browser-var-user' });
    expect(r.exitCode, r.stderr).toBe(0);
    const runs = opener.runs();
    expect(runs).toHaveLength(1);
    expectAuthorizationUrl(runs[0]!.at(-1)!);
    expect((await listJson(env))[0]).toMatchObject({ identity: 'browser-var-user' });
    // acct's own secrets stay with acct: the browser outlives it.
    expect(env.ACCT_PASSPHRASE).toBeTruthy();
    expect(readFileSync(`${opener.log}.env`, 'utf8').trim()).toBe('');
  });
});

/** Every file and folder under `dir` with its permission bits, relative to `dir`. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = join(rel, name);
      const st = lstatSync(join(dir, path));
      out[path] = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

const KEY = 'lk_default_paths_key_0123456789';

describe('default folders (no ACCT_HOME)', () => {
  it('XDG_CONFIG_HOME holds settings and apps, XDG_DATA_HOME the accounts and secrets', async () => {
    const root = mkdtempSync(join(tmpdir(), 'acct-xdg-'));
    const env = { PATH: process.env.PATH, HOME: join(root, 'home'), XDG_CONFIG_HOME: join(root, 'cfg'), XDG_DATA_HOME: join(root, 'data'), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'xdg passphrase' };
    expect(await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).toMatchObject({ exitCode: 0 });
    const c = await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: KEY, stdin: undefined });
    expect(c.exitCode, c.stderr).toBe(0);
    const id = c.stdout.trim();
    expect(existsSync(join(root, 'cfg', 'acct', 'apps.json'))).toBe(true);
    expect(existsSync(join(root, 'data', 'acct', 'accounts.tsv'))).toBe(true);
    expect(existsSync(join(root, 'data', 'acct', 'secrets', `${id}.json`))).toBe(true);
    // Nothing under HOME but the code cache.
    expect(existsSync(join(root, 'home', '.config'))).toBe(false);
    expect(existsSync(join(root, 'home', '.local'))).toBe(false);
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
  });

  describe('HOME alone, on the OS keychain', () => {
    let session: KeyringSession;
    beforeAll(async () => {
      session = await startKeyringSession();
    });
    afterAll(async () => {
      await session?.stop();
    });

    it('uses ~/.config/acct and ~/.local/share/acct (folders 0700, files 0600), the keychain store, the agent and the code cache, with the default timeouts', async () => {
      const home = mkdtempSync(join(tmpdir(), 'acct-plain-home-'));
      // What a desktop session gives a user: HOME, PATH, the session bus and runtime folder. No ACCT_* at all.
      const env = { PATH: process.env.PATH, HOME: home, DBUS_SESSION_BUS_ADDRESS: session.env.DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR: session.env.XDG_RUNTIME_DIR };
      expect(Object.keys(env).filter((k) => k.startsWith('ACCT_'))).toEqual([]);
      expect(await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).toMatchObject({ exitCode: 0 });
      const c = await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: KEY, stdin: undefined });
      expect(c.exitCode, c.stderr).toBe(0);
      const id = c.stdout.trim();
      expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n`, stderr: '' });

      const config = join(home, '.config', 'acct');
      const data = join(home, '.local', 'share', 'acct');
      expect(JSON.parse(readFileSync(join(data, 'store.json'), 'utf8'))).toMatchObject({ kind: 'keychain' });
      const found = modes(home);
      for (const [path, mode] of Object.entries(found)) {
        if (!path.startsWith('.config') && !path.startsWith('.local') && !path.startsWith('.cache')) continue;
        expect(mode, path).toBe(lstatSync(join(home, path)).isDirectory() ? '700' : '600');
      }
      expect(found).toMatchObject({ '.config/acct/apps.json': '600', '.local/share/acct/accounts.tsv': '600', [`.local/share/acct/secrets/${id}.json`]: '600' });
      expect(existsSync(join(config, 'apps.json'))).toBe(true);
      // No ACCT_CODE_CACHE: on Node 20 acct keeps V8's code cache in ~/.cache/acct.
      if (!hasBuiltinCache) expect(readdirSync(join(home, '.cache', 'acct', 'code-cache')).length).toBeGreaterThan(0);
      // No ACCT_AGENT: the agent started and serves this session.
      expect(existsSync(await agentSocket(session))).toBe(true);
    });
  });
});

// The README's opening commands, exactly as written, for a new user: a fresh
// HOME and no ACCT_* variable. `npm ci && npm run build` is what CI itself
// runs before the tests (.ci/run), and rerunning it here would reinstall
// node_modules under the running tests (minutes, and racing the other test
// files), so the test takes the line from the README and runs what follows
// the install and build. The second line (`bash .ci/run`) runs the whole
// suite, this file included: it is what CI runs.
describe('the README opening commands', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  const first = block.split('\n')[0]!.replace(/\s+#.*$/, '');

  it('starts with installing and building', () => {
    expect(first).toMatch(/^npm ci\b.*&& npm run build && \S/);
    expect(block.split('\n')[1]).toMatch(/^bash \.ci\/run\b/);
  });

  const run = async (env: Record<string, string | undefined>) => {
    const command = first.replace(/^.*&& npm run build && /, '');
    expect(command).toBe('./bin/acct.cjs connect openai');
    return execa('sh', ['-c', command], { cwd: resolve(import.meta.dirname, '../..'), env, extendEnv: false, stdin: 'ignore', reject: false, timeout: 30_000 });
  };

  it('connect openai, on a desktop session with no terminal, is a usage error naming --stdin and --from-env, and stores no account', async () => {
    const session = await startKeyringSession();
    try {
      const home = session.env.HOME!;
      // A desktop session as a user's shell has it: its D-Bus and runtime folder, HOME, nothing of acct's.
      const r = await run({ PATH: process.env.PATH, HOME: home, DBUS_SESSION_BUS_ADDRESS: session.env.DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR: session.env.XDG_RUNTIME_DIR });
      expect(r.stderr).not.toMatch(/this is a bug|Warning/);
      expect(r.stderr).toMatch(/without a terminal/);
      expect(r.stderr).toMatch(/--stdin/);
      expect(r.stderr).toMatch(/--from-env api_key=/);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(existsSync(join(home, '.local', 'share', 'acct', 'accounts.tsv'))).toBe(false);
    } finally {
      await session.stop();
    }
  });

  it('connect openai, on a machine with no keychain (a server, this CI), says so and how to choose the passphrase store, before asking for the key', async () => {
    const home = mkdtempSync(join(tmpdir(), 'acct-readme-home-'));
    const r = await run({ PATH: process.env.PATH, HOME: home });
    expect(r.stderr).not.toMatch(/this is a bug|Warning/);
    expect(r.stderr).toMatch(/D-Bus|Secret Service|keychain/);
    expect(r.stderr).toMatch(/ACCT_STORE=file/);
    expect(r.exitCode).toBe(6);
    expect(r.stdout).toBe('');
    expect(existsSync(join(home, '.local', 'share', 'acct', 'accounts.tsv'))).toBe(false);
  });
});
