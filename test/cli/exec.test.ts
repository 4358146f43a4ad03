// acct exec: credentials in the child's environment, secrets masked in its
// output however it writes them, stdin and signals passed through, its exit
// code returned.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { storedMetadata } from '../support/accounts.js';
import { encodeTeamKey } from '../../src/team/config.js';

const KEY = 'lk_exec_secret_0123456789';
const SECRET = 'second-secret-ABCDEFGH';
const ML_LINE_2 = 'second-line-of-a-pem-secret';
const MULTILINE = `first-line-of-a-pem-secret\n${ML_LINE_2}`;

/** Runs a Node script as the child: acct exec [opts] refs -- node -e script. */
const node = (script: string) => ['--', 'node', '-e', script];

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('acct exec', () => {
  let env: Record<string, string | undefined>;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acct-exec-'));
    env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'exec-test-passphrase' });
    const app = keyAppFile('http://127.0.0.1:9', {
      fields: [
        { name: 'api_key', label: 'API key', prefix: 'lk_' },
        { name: 'api_secret', label: 'API secret' },
      ],
      env: { api_key: 'TWO_KEY', api_secret: 'TWO_SECRET' },
      test: undefined,
    });
    expect((await acct(['apps', 'add', 'two', '--file', app], env)).exitCode).toBe(0);
    for (const [nick, fields] of [
      ['main', { api_key: KEY, api_secret: SECRET }],
      ['pem', { api_key: 'lk_other_key_value', api_secret: MULTILINE }],
    ] as const) {
      const r = await acct(['connect', 'two', '--stdin', '--no-verify', '--nickname', nick], env, { input: JSON.stringify(fields), stdin: undefined });
      expect(r.exitCode, r.stderr).toBe(0);
    }
  });

  it('injects the variables (catalog names and NAME=ref.field), leaving the rest of the environment', async () => {
    const script = `process.stdout.write(JSON.stringify({ k: process.env.TWO_KEY, s: process.env.TWO_SECRET, d: process.env.DEPLOY, keep: process.env.KEEP_ME }))`;
    const r = await acct(['exec', '--no-mask', 'two/main', 'DEPLOY=two/pem.api_secret', ...node(script)], { ...env, KEEP_ME: 'yes' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ k: KEY, s: SECRET, d: MULTILINE, keep: 'yes' });
  });

  it('masks secrets in stdout and stderr even when the child splits them across writes', async () => {
    const script = `
      const half = (s) => [s.slice(0, Math.floor(s.length / 2)), s.slice(Math.floor(s.length / 2))];
      const [k1, k2] = half(process.env.TWO_KEY);
      const [s1, s2] = half(process.env.TWO_SECRET);
      process.stdout.write('key=' + k1);
      process.stderr.write('secret=' + s1);
      setTimeout(() => {
        process.stdout.write(k2 + ' done\\n');
        process.stderr.write(s2 + ' done\\n');
      }, 50);`;
    const r = await acct(['exec', 'two/main', ...node(script)], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('key=<acct:TWO_KEY> done\n');
    expect(r.stderr).toBe('secret=<acct:TWO_SECRET> done\n');
  });

  it('masks each line of a multi-line secret on its own', async () => {
    const r = await acct(['exec', 'two/pem', ...node(`console.log(process.env.TWO_SECRET.split('\\n')[1]); console.log(process.env.TWO_SECRET)`)], env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('<acct:TWO_SECRET>\n<acct:TWO_SECRET>\n');
  });

  it('shows a prompt at once but holds a partial secret until it is decided', async () => {
    // The child writes a prompt and half the key, then waits for a line on stdin.
    const script = `
      const k = process.env.TWO_KEY;
      process.stdout.write('token? ' + k.slice(0, 10));
      process.stdin.once('data', () => { process.stdout.write(k.slice(10) + '\\n'); process.exit(0); });`;
    const sub = execa('node', [BIN, 'exec', 'two/main', ...node(script)], { env, extendEnv: false, reject: false, stdin: 'pipe', stripFinalNewline: false, timeout: 60_000 });
    let seen = '';
    sub.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await until(() => seen.includes('token? '), 'the prompt');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toBe('token? ');
    sub.stdin!.end('go\n');
    const r = await sub;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('token? <acct:TWO_KEY>\n');
  });

  it('--no-mask passes the output through untouched', async () => {
    const script = `process.stdout.write(process.env.TWO_KEY.slice(0, 5)); setTimeout(() => { process.stdout.write(process.env.TWO_KEY.slice(5) + '\\n'); process.stderr.write(process.env.TWO_SECRET); }, 50)`;
    const r = await acct(['exec', '--no-mask', 'two/main', ...node(script)], env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${KEY}\n`);
    expect(r.stderr).toBe(SECRET);
  });

  it("returns the child's exit code", async () => {
    const r = await acct(['exec', 'two/main', ...node('process.exit(17)')], env);
    expect(r.exitCode).toBe(17);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('writes out a held partial secret when the child ends without completing it', async () => {
    const r = await acct(['exec', 'two/main', ...node(`process.stdout.write('tail ' + process.env.TWO_KEY.slice(0, 8)); process.stderr.write('err lk_'); process.exitCode = 3`)], env);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(`tail ${KEY.slice(0, 8)}`);
    expect(r.stderr).toBe('err lk_');
  });

  it('a command that does not exist: exit 127 and a clear message', async () => {
    const r = await acct(['exec', 'two/main', '--', 'acct-no-such-command-here', '--flag'], env);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/acct-no-such-command-here.*command not found/);
    expect(r.stdout).toBe('');
  });

  it('a file that is not executable: exit 126, as a shell gives, and a clear message', async () => {
    const script = join(work, 'not-executable.sh');
    writeFileSync(script, '#!/bin/sh\necho ran\n', { mode: 0o644 });
    const r = await acct(['exec', 'two/main', '--', script], env);
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toContain(`cannot run ${script}: permission denied`);
    expect(r.stderr).toContain('chmod +x');
    expect(r.stdout).toBe('');
  });

  it('an environment larger than the system starts a command with (E2BIG): exit 126 naming the cause, not a bug', async () => {
    // A field at the 64 KiB limit goes in as one variable; a hundred copies of it are more than any command can start with.
    const big = `lk_${'b'.repeat(64 * 1024 - 3)}`;
    const c = await acct(['connect', 'two', '--stdin', '--no-verify', '--nickname', 'big'], env, { input: JSON.stringify({ api_key: big, api_secret: SECRET }), stdin: undefined });
    expect(c.exitCode, c.stderr).toBe(0);
    const one = await acct(['exec', '--no-mask', 'two/big', ...node('process.stdout.write(String(process.env.TWO_KEY.length))')], env);
    expect(one.exitCode, one.stderr).toBe(0);
    expect(one.stdout).toBe(String(64 * 1024));
    const copies = Array.from({ length: 100 }, (_, i) => `BIG_${i}=two/big.api_key`);
    const marker = join(work, 'too-large-ran');
    const r = await acct(['exec', ...copies, '--', 'touch', marker], env);
    expect(r.exitCode, r.stderr).toBe(126);
    expect(r.stderr).toMatch(/^acct: cannot run touch: its environment and arguments are larger than the system allows a command to start with \(E2BIG\)\n {2}nothing was run; the largest variables are BIG_\d+, BIG_\d+, BIG_\d+: unset large variables/);
    expect(r.stderr).not.toMatch(/unexpected|bug/);
    expect(r.stderr).not.toContain(big.slice(0, 40));
    expect(existsSync(marker)).toBe(false);
    expect((await acct(['delete', 'two/big', '--yes'], env)).exitCode).toBe(0);
  });

  it('no command, or an unknown account: usage error 2 / not found 3, and nothing run', async () => {
    const none = await acct(['exec', 'two/main'], env);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/--/);
    const empty = await acct(['exec', 'two/main', '--'], env);
    expect(empty.exitCode).toBe(2);
    const marker = join(work, 'should-not-exist');
    const unknown = await acct(['exec', 'two/nobody', ...node(`require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`)], env);
    expect(unknown.exitCode).toBe(3);
    expect(existsSync(marker)).toBe(false);
  });

  it('a reader that goes away (| head -1): the child meets the closed pipe as without acct, acct exits as a shell would, and --serve leaves no folder', async () => {
    const runtime = mkdtempSync(join(work, 'runtime-'));
    // The child prints its socket folder, then writes until the closed pipe stops it (yes would run for ever otherwise).
    const child = 'echo "$ACCT_CREDENTIALS_SOCKET"; echo "$TWO_KEY"; exec yes';
    for (const serve of [[], ['--serve']]) {
      const r = await execa('bash', ['-c', `node "$0" exec ${serve.join(' ')} two/main -- sh -c '${child}' | head -2; echo "acct=\${PIPESTATUS[0]}" >&2`, BIN], {
        env: { ...env, XDG_RUNTIME_DIR: runtime },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 30_000,
      });
      const what = serve.join(' ') || 'no --serve';
      expect(r.stderr, what).toMatch(/^acct=141$/m); // 128 + SIGPIPE: what bash gives for sh -c 'exec yes' | head
      expect(r.stderr, what).not.toMatch(/EPIPE|Error|at .*\.cjs|bug in acct/);
      const [socket, key] = r.stdout.split('\n');
      expect(key, what).toBe('<acct:TWO_KEY>');
      if (serve.length) {
        expect(socket).toMatch(new RegExp(`^${runtime}/acct-exec-`));
        expect(existsSync(join(socket!, '..')), 'the private folder is removed').toBe(false);
      }
    }
  });

  it('passes stdin through to the child', async () => {
    const input = 'line one\nline two with $ and "quotes"\n';
    const r = await acct(['exec', 'two/main', ...node('process.stdin.pipe(process.stdout)')], env, { input, stdin: undefined });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(input);
  });

  it("forwards SIGTERM to the child and returns the child's exit code", async () => {
    const marker = join(work, 'sigterm-marker');
    const script = `
      process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(marker)}, 'got SIGTERM'); process.exit(42); });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);`;
    const sub = execa('node', [BIN, 'exec', 'two/main', ...node(script)], { env, extendEnv: false, reject: false, timeout: 60_000 });
    let seen = '';
    sub.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await until(() => seen.includes('ready'), 'the child to start');
    sub.kill('SIGTERM');
    const r = await sub;
    expect(readFileSync(marker, 'utf8')).toBe('got SIGTERM');
    expect(r.exitCode).toBe(42);
    expect(r.signal).toBeUndefined();
  });

  // util-linux `script` gives acct a real terminal; Ctrl-C typed into it goes
  // to the whole foreground job, as it does for a person at a keyboard.
  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal, one Ctrl-C reaches the command once', async () => {
    // The child counts SIGINTs for 700 ms after the first (a forwarded copy follows within milliseconds), then reports.
    const child = `let n = 0; const done = () => { process.stdout.write('sigints=' + n + '\\n'); process.exit(0); }; process.on('SIGINT', () => { if (++n === 1) setTimeout(done, 700); }); process.stdout.write('ready\\n'); setTimeout(done, 20000)`;
    // exec: no shell between script and acct, whose exit code is then script's.
    const command = `exec ${['node', BIN, 'exec', 'two/main', ...node(child)].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
    const sub = execa('script', ['-qfec', command, '/dev/null'], { env: { ...env, SHELL: '/bin/sh', TERM: 'xterm' }, extendEnv: false, reject: false, stdin: 'pipe', timeout: 30_000 });
    let seen = '';
    sub.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await until(() => seen.includes('ready'), 'the child to start');
    sub.stdin!.write('\x03'); // Ctrl-C
    const r = await sub;
    expect(String(r.stdout)).toContain('sigints=1');
    expect(r.exitCode).toBe(0);
  });

  it('a child killed by the forwarded signal makes acct exit 128 + signal number', async () => {
    const sub = execa('node', [BIN, 'exec', 'two/main', ...node(`process.stdout.write('ready\\n'); setInterval(() => {}, 1000)`)], {
      env,
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    let seen = '';
    sub.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await until(() => seen.includes('ready'), 'the child to start');
    sub.kill('SIGTERM');
    const r = await sub;
    expect(r.exitCode).toBe(128 + 15);
  });

  it("never hands the child acct's own store secrets, unless --pass-env names one", async () => {
    const script = `process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('ACCT_')))))`;
    // A CI member's key, well-formed, for a team database that is not there: the account is named by its id, which needs no team.
    const teamKey = encodeTeamKey({ team: 'acme', teamId: 'tm_x', memberId: 'mb_x', role: 'acct_x', password: 'team-db-password', privateKey: 'team-private-key', publicKey: 'team-public-key' });
    const extra = {
      ACCT_BUNDLE_KEY: 'acctk1_not-a-real-key',
      ACCT_BUNDLE_CACHE: '/tmp/nowhere',
      ACCT_TEAM: 'postgres://127.0.0.1:1/acct',
      ACCT_TEAM_KEY: teamKey,
      ACCT_CLIENT_SECRET_GITHUB: 'client-secret-value',
      ACCT_CLIENT_ID_GITHUB: 'public-client-id',
    };
    const id = storedMetadata(env.ACCT_HOME!).accounts.find((a) => a.app === 'two' && a.nickname === 'main')!.id;
    const r = await acct(['exec', '--no-mask', id, ...node(script)], { ...env, ...extra });
    expect(r.exitCode, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as Record<string, string>;
    for (const name of ['ACCT_PASSPHRASE', 'ACCT_BUNDLE_KEY', 'ACCT_BUNDLE_CACHE', 'ACCT_TEAM_KEY', 'ACCT_CLIENT_SECRET_GITHUB']) expect(seen[name], name).toBeUndefined();
    // What is not a store secret passes as before.
    expect(seen.ACCT_HOME).toBe(env.ACCT_HOME);
    expect(seen.ACCT_CLIENT_ID_GITHUB).toBe('public-client-id');

    // A child that is itself acct, given the passphrase on purpose, can read the store.
    const nested = await acct(['exec', '--pass-env', 'ACCT_PASSPHRASE', 'two/main', '--', 'node', BIN, 'token', 'two/pem'], env);
    expect(nested.exitCode, nested.stderr).toBe(0);
    expect(nested.stdout.trim()).toBe('lk_other_key_value');
    // Without it, the nested acct has no passphrase and no terminal to ask on.
    const denied = await acct(['exec', 'two/main', '--', 'node', BIN, 'token', 'two/pem'], env);
    expect(denied.exitCode).toBe(2);
    expect(denied.stderr).toContain('ACCT_PASSPHRASE');
  });

  it('--pass-env names only store secrets', async () => {
    const r = await acct(['exec', '--pass-env', 'PATH', 'two/main', '--', 'true'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--pass-env PATH');
  });
});
