// acct run --env-file and acct inject: acct:// references in dotenv files and
// templates, resolved before anything runs, masked in the command's output.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, fingerprint, revealed, sleep } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const KEY_ONE = 'lk_run_one_0123456789abcdef';
const KEY_TWO = 'lk_run_two_fedcba9876543210';
const SECRET = 'run-secret-ABCDEFGHIJKL';
let env: Env;
let work: string;
let server: AuthServer;

/** acct through its shebang, as a user's shell runs it (Node 20 would read --env-file itself otherwise). */
async function user(args: string[], e: Env, options: { input?: string; cwd?: string } = {}) {
  const r = await execa(BIN, args, { env: e, extendEnv: false, reject: false, stripFinalNewline: false, timeout: 60_000, ...options, stdin: options.input === undefined ? 'ignore' : undefined });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const printEnv = (names: string[]) => ['--', 'node', '-e', `process.stdout.write(JSON.stringify({${names.map((n) => `${n}: process.env.${n}`).join(',')}}))`];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'acct-run-'));
  server = await startAuthServer({ accessTokenTtl: 300 });
  ({ env } = await oauthHome(server, 'confidential'));
  const app = keyAppFile('http://127.0.0.1:9', {
    fields: [
      { name: 'api_key', label: 'API key', prefix: 'lk_' },
      { name: 'api_secret', label: 'API secret', optional: true },
      { name: 'region', label: 'Region', secret: false, optional: true },
    ],
    env: { api_key: 'SVC_KEY' },
    test: undefined,
  });
  expect((await acct(['apps', 'add', 'svc', '--file', app], env)).exitCode).toBe(0);
  for (const [nick, fields] of [
    ['one', { api_key: KEY_ONE, api_secret: SECRET, region: 'eu-west-1' }],
    ['two', { api_key: KEY_TWO }],
  ] as const) {
    const r = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', nick], env, { input: JSON.stringify(fields), stdin: undefined });
    expect(r.exitCode, r.stderr).toBe(0);
  }
  // Without a default, acct://svc is ambiguous between the two.
  expect((await acct(['default', 'svc', '--unset'], env)).exitCode).toBe(0);
});
afterAll(async () => {
  await server?.close();
});

describe('acct run --env-file', () => {
  it('plain values larger than the system starts a command with (E2BIG): exit 126 naming the cause, not a bug', async () => {
    const file = join(work, 'large.env');
    // Each line is under Linux's 128 KiB for one variable; together they are over what a command may start with.
    writeFileSync(file, ['KEY=acct://svc/one', ...Array.from({ length: 60 }, (_, i) => `LARGE_${i}=${'v'.repeat(100_000)}`), ''].join('\n'));
    const r = await user(['run', '--env-file', file, '--', 'true'], env);
    expect(r.exitCode, r.stderr).toBe(126);
    expect(r.stderr).toMatch(/^acct: cannot run true: its environment and arguments are larger than the system allows a command to start with \(E2BIG\)\n {2}nothing was run; the largest variables are LARGE_\d+/);
    expect(r.stderr).not.toMatch(/unexpected|bug/);
  });

  it('resolves references, passes plain values through (quotes, comments, multi-line), and masks secrets in the output', async () => {
    const file = join(work, 'app.env');
    writeFileSync(
      file,
      [
        '# a committed .env: no secrets in it',
        'ONE=acct://svc/one',
        "TWO='acct://svc/two/api_key'",
        'SECRET="acct://svc/one/api_secret"   # a comment after the value',
        'REGION=acct://svc/one/region',
        'PLAIN=hello world',
        'QUOTED="keep # this"',
        'MULTI="line one',
        'line two"',
        'export EXPORTED=acct://svc/two',
        '',
      ].join('\n'),
    );
    const r = await user(['run', '--env-file', file, '--no-mask', ...printEnv(['ONE', 'TWO', 'SECRET', 'REGION', 'PLAIN', 'QUOTED', 'MULTI', 'EXPORTED'])], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ONE: KEY_ONE, TWO: KEY_TWO, SECRET, REGION: 'eu-west-1', PLAIN: 'hello world', QUOTED: 'keep # this', MULTI: 'line one\nline two', EXPORTED: KEY_TWO });

    // Masked by default: secrets become <acct:NAME>; a non-secret field (the region) and plain values do not.
    const masked = await user(['run', '--env-file', file, ...printEnv(['ONE', 'SECRET', 'REGION', 'PLAIN'])], env);
    expect(masked.exitCode, masked.stderr).toBe(0);
    expect(masked.stdout).not.toContain(KEY_ONE);
    expect(masked.stdout).not.toContain(SECRET);
    expect(JSON.parse(masked.stdout)).toEqual({ ONE: '<acct:ONE>', SECRET: '<acct:SECRET>', REGION: 'eu-west-1', PLAIN: 'hello world' });
  });

  it('a later file overrides an earlier one; the exit code is the command\'s', async () => {
    const a = join(work, 'a.env');
    const b = join(work, 'b.env');
    writeFileSync(a, 'TOKEN=acct://svc/one\nKEEP=a\n');
    writeFileSync(b, 'TOKEN=acct://svc/two\n');
    const r = await user(['run', '--env-file', a, '--env-file', b, '--no-mask', ...printEnv(['TOKEN', 'KEEP'])], env);
    expect(JSON.parse(r.stdout)).toEqual({ TOKEN: KEY_TWO, KEEP: 'a' });
    const code = await user(['run', '--env-file', a, '--', 'sh', '-c', 'exit 7'], env);
    expect(code.exitCode).toBe(7);
  });

  it('a bad reference fails with the file and line before the command runs', async () => {
    const marker = join(work, 'ran');
    for (const [text, exit, what] of [
      ['OK=acct://svc/one\nBAD=acct://svc/nosuch\n', 3, /bad\.env:2: no svc account is called "nosuch"/],
      ['OK=acct://svc/one\n\nBAD=acct://svc/one/nofield\n', 3, /bad\.env:3: svc\/one has no field "nofield"/],
      ['BAD=acct://svc//x\n', 2, /bad\.env:1: "acct:\/\/svc\/\/x" is not an acct reference/],
      ['BAD=acct://svc\n', 3, /bad\.env:1: "svc" matches 2 accounts/],
      // A NUL no environment variable can carry: refused with the line, the value not echoed.
      ['OK=acct://svc/one\nD=x\0secretpart\n', 2, /bad\.env:2: the value of D holds a NUL character/],
    ] as const) {
      const file = join(work, 'bad.env');
      writeFileSync(file, text);
      const r = await user(['run', '--env-file', file, '--', 'touch', marker], env);
      expect(r.exitCode, r.stderr).toBe(exit);
      expect(r.stderr).toMatch(what);
      expect(r.stderr).not.toMatch(/secretpart|\0/);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('a missing env file is acct\'s error (exit 2), not Node\'s (exit 9), through the shebang as a user runs it', async () => {
    const r = await user(['run', '--env-file', 'missing.env', '--', 'true'], env, { cwd: work });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^acct: cannot read missing\.env: ENOENT/);
    expect(r.stderr).not.toMatch(/^node:/m);
    // And an existing one is not loaded into acct's own environment by Node.
    const file = join(work, 'node.env');
    writeFileSync(file, 'ACCT_HOME=/nonexistent\nX=acct://svc/one\n');
    const ok = await user(['run', '--env-file', file, '--no-mask', ...printEnv(['X'])], env);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ X: KEY_ONE });
  });

  it('hands the command a fresh OAuth token, refreshing an expired one first', async () => {
    server.setAccessTokenTtl(2);
    const c = await acct(['connect', 'local', '--nickname', 'bot'], env);
    server.setAccessTokenTtl(300);
    expect(c.exitCode, c.stderr).toBe(0);
    const before = (await revealed('local/bot', env)).oauth_access_token;
    await sleep(2500);
    const file = join(work, 'oauth.env');
    writeFileSync(file, 'GH=acct://local/bot\n');
    const refreshes = server.tokenRequests.refresh;
    const r = await user(['run', '--env-file', file, '--no-mask', ...printEnv(['GH'])], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(server.tokenRequests.refresh).toBe(refreshes + 1);
    const token = JSON.parse(r.stdout).GH as string;
    expect(fingerprint(token)).not.toBe(fingerprint(before));
    expect(fingerprint(token)).toBe(fingerprint((await revealed('local/bot', env)).oauth_access_token));
  });
});

describe('acct inject', () => {
  it('fills references in a template to stdout, or to a 0600 file it may then rewrite', async () => {
    const tpl = join(work, 'config.tpl.yaml');
    writeFileSync(tpl, 'service:\n  key: {{ acct://svc/one/api_key }}\n  other: "{{acct://svc/two}}"\n  region: {{ acct://svc/one/region }}\n  literal: "{{ not a reference }}"\n');
    const r = await acct(['inject', '-i', tpl], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`service:\n  key: ${KEY_ONE}\n  other: "${KEY_TWO}"\n  region: eu-west-1\n  literal: "{{ not a reference }}"\n`);

    const out = join(work, 'config.yaml');
    const w = await acct(['inject', '-i', tpl, '-o', out], env);
    expect(w.exitCode, w.stderr).toBe(0);
    expect(w.stdout).toBe('');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(work).mode & 0o777).toBe(0o700 & statSync(work).mode); // the folder's mode is left alone
    expect(readFileSync(out, 'utf8')).toBe(r.stdout);
    // acct wrote it, so acct may write it again.
    expect((await acct(['inject', '-i', tpl, '-o', out], env)).exitCode).toBe(0);
    // From stdin too.
    const piped = await acct(['inject'], env, { input: 'k={{ acct://svc/two }}\n', stdin: undefined });
    expect(piped.stdout).toBe(`k=${KEY_TWO}\n`);
  });

  it('refuses to overwrite a file it did not write (or that changed since) unless --force', async () => {
    const tpl = join(work, 'small.tpl');
    writeFileSync(tpl, 'k={{ acct://svc/one }}\n');
    const mine = join(work, 'mine.conf');
    writeFileSync(mine, 'precious\n');
    const r = await acct(['inject', '-i', tpl, '-o', mine], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/acct did not write it/);
    expect(readFileSync(mine, 'utf8')).toBe('precious\n');
    expect((await acct(['inject', '-i', tpl, '-o', mine, '--force'], env)).exitCode).toBe(0);
    expect(readFileSync(mine, 'utf8')).toBe(`k=${KEY_ONE}\n`);
    // Edited by the user after acct wrote it: theirs again.
    writeFileSync(mine, 'edited by hand, longer than before\n');
    expect((await acct(['inject', '-i', tpl, '-o', mine], env)).exitCode).toBe(2);
    expect(readFileSync(mine, 'utf8')).toBe('edited by hand, longer than before\n');
  });

  it('a bad reference is exit 3 with the template and line, and writes nothing', async () => {
    const tpl = join(work, 'bad.tpl');
    writeFileSync(tpl, 'a={{ acct://svc/one }}\nb={{ acct://nosuch }}\n');
    const out = join(work, 'never.conf');
    const r = await acct(['inject', '-i', tpl, '-o', out], env);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/bad\.tpl:2: no account matches "nosuch"/);
    expect(existsSync(out)).toBe(false);
    expect(r.stderr).not.toContain(KEY_ONE);
  });
});
