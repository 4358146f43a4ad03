// Control characters a user typed, or a file held, never reach the terminal
// as they are: a message that quotes them shows them as escapes (an escape
// sequence cannot recolour the terminal, a carriage return cannot overwrite
// the line before it), and an OAuth client id or secret must be printable
// ASCII (RFC 6749), so a paste gone wrong is refused and nothing is stored.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'execa';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer } from '../support/api-server.js';

const input = (text: string): Options => ({ input: text, stdin: undefined });
// C0 controls but the line break and the tab, DEL, and C1 controls.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let home: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  home = tempHome();
  env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'control characters' });
  expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  // The store made, so that a refusal is seen to leave it as it was.
  expect((await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', 'main'], env, input(`lk_${randomBytes(12).toString('hex')}`))).exitCode).toBe(0);
});

describe('control characters in what acct prints', () => {
  it('a nickname with an escape sequence and a carriage return is refused, and quoted with both shown as escapes', async () => {
    const before = allFiles(home);
    const r = await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', 'z\u001b[31mRED\rX'], env, input(`lk_${randomBytes(12).toString('hex')}`));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('"z\\x1b[31mRED\\x0dX"');
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(allFiles(home)).toEqual(before);
  });

  it('a reference with controls in a not-found error is shown with escapes, in text and in --json', async () => {
    const text = await acct(['token', 'no\u0007body\u009b2J'], env);
    expect(text.exitCode).toBe(3);
    expect(text.stderr).toContain('no\\x07body\\x9b2J');
    expect(text.stderr).not.toMatch(RAW_CONTROL);
    const json = await acct(['token', 'no\u0007body', '--json'], env);
    expect(json.exitCode).toBe(3);
    expect(json.stderr).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(json.stderr).message).toContain('no\u0007body'); // JSON escapes it, and a parser gets the reference back as typed
  });
});

describe('text a provider or an app definition wrote', () => {
  it('an identity with escape sequences is stored on one line without them, and list, show, test and status print no control character', async () => {
    const api = await startApiServer();
    try {
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ user: { login: 'octo\u001b]0;owned\u0007cat\r\n\u001b[2J' } }));
      });
      const h = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'control characters' });
      const app = JSON.parse(readFileSync(keyAppFile(api.url), 'utf8'));
      const file = join(home, 'evil-app.json');
      writeFileSync(file, JSON.stringify({ ...app, name: 'Evil\u001b[31m App', description: 'red\u009b2J' }));
      expect((await acct(['apps', 'add', 'evil', '--file', file], h)).exitCode).toBe(0);
      const c = await acct(['connect', 'evil', '--stdin', '--nickname', 'main'], h, input('lk_provider_identity'));
      expect(c.exitCode, c.stderr).toBe(0);
      const stored = JSON.parse((await acct(['show', 'evil', '--json'], h)).stdout);
      expect(stored.identity).toBe('octo ]0;owned cat [2J'); // control characters made spaces, one line
      const outputs = await Promise.all([['list'], ['show', 'evil'], ['show', 'evil', '--reveal'], ['test', 'evil'], ['status'], ['status', '--check'], ['apps', 'evil'], ['apps', 'show', 'evil']].map((args) => acct(args, h)));
      for (const [i, r] of outputs.entries()) {
        expect(r.exitCode, `${i}: ${r.stderr}`).toBe(0);
        expect(r.stdout + r.stderr, String(i)).not.toMatch(RAW_CONTROL);
      }
      expect(outputs[1]!.stdout).toContain('Evil\\x1b[31m App');
      expect(outputs[7]!.stdout).toContain('red\\x9b2J');
      // JSON stays exact: the definition as given.
      expect(JSON.parse((await acct(['apps', 'show', 'evil', '--json'], h)).stdout).name).toBe('Evil\u001b[31m App');
    } finally {
      await api.close();
    }
  });
});

describe('OAuth client ids and secrets are printable ASCII', () => {
  it('refuses a line break or an escape in a client id, and a control character in a secret; nothing is stored', async () => {
    const before = allFiles(home);
    for (const id of ['abc\ndef', 'abc\u001b[2Jdef', 'abc\u007fdef', 'abcdéf']) { // (a NUL cannot be in an argument)
      const r = await acct(['client', 'set', 'gitlab', '--client-id', id, '--secret-stdin'], env, input('a-client-secret'));
      expect(r.exitCode, JSON.stringify(id)).toBe(2);
      expect(r.stderr).toMatch(/client id holds a character other than printable ASCII/);
      expect(r.stderr).not.toMatch(RAW_CONTROL);
    }
    const secret = `s3cr3t${randomBytes(6).toString('hex')}`;
    const r = await acct(['client', 'set', 'gitlab', '--client-id', 'a-good-id', '--secret-stdin'], env, input(`${secret}\u0007tail`));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/client secret holds a character other than printable ASCII/);
    expect(r.stderr).not.toContain(secret);
    expect(allFiles(home)).toEqual(before);
    // A good one is taken.
    expect((await acct(['client', 'set', 'gitlab', '--client-id', 'a-good-id', '--secret-stdin'], env, input(secret))).exitCode).toBe(0);
  });
});

describe('text on stdin is UTF-8 or refused', () => {
  it('a passphrase or a template with bytes that are not UTF-8 is refused (exit 2), not read with U+FFFD in their place', async () => {
    const before = allFiles(home);
    const out = join(tempHome(), 'ci.acct');
    const exported = await acct(['export', 'local/main', '--passphrase-stdin', '-o', out], env, { input: Buffer.from([0x70, 0x61, 0x73, 0x73, 0xff, 0x77, 0x64]), stdin: undefined });
    expect(exported.exitCode).toBe(2);
    expect(exported.stderr).toMatch(/not valid UTF-8 text/);
    expect(existsSync(out)).toBe(false);
    const injected = await acct(['inject'], env, { input: Buffer.concat([Buffer.from('KEY=acct://local/main\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]), stdin: undefined });
    expect(injected.exitCode).toBe(2);
    expect(injected.stdout).toBe('');
    expect(injected.stderr).toMatch(/not valid UTF-8 text/);
    expect(allFiles(home)).toEqual(before);
    // Valid UTF-8 reads as before.
    const ok = await acct(['inject'], env, input('# café\nKEY={{ acct://local/main }}\n'));
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^# café\nKEY=lk_/);
  });

  it('so is a file named on the command line: a template (-i), a dotenv file (--env-file), an app definition, a bundle', async () => {
    const dir = tempHome();
    const latin1 = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, Buffer.concat([Buffer.from(text), Buffer.from([0xe9]), Buffer.from('\n')]));
      return path;
    };
    const before = allFiles(home);
    const template = latin1('t.tpl', 'KEY={{ acct://local/main }}\n# caf');
    const dotenv = latin1('x.env', 'KEY=acct://local/main\nNAME=caf');
    const appFile = latin1('app.json', '{"name": "caf');
    const bundle = latin1('b.acct', 'acct-bundle');
    const runs = {
      inject: await acct(['inject', '-i', template], env),
      run: await acct(['run', '--env-file', dotenv, '--', 'node', '-e', 'process.stdout.write(process.env.NAME ?? "")'], env),
      apps: await acct(['apps', 'add', 'cafe', '--file', appFile], env),
      import: await acct(['import', bundle, '--passphrase-stdin'], env, input('a passphrase')),
    };
    for (const [name, r] of Object.entries(runs)) {
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stdout, name).toBe('');
      expect(r.stderr, name).toMatch(/ is not valid UTF-8 text\n {2}save it as UTF-8 text/);
    }
    expect(allFiles(home)).toEqual(before);
  });
});
