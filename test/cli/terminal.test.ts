// acct in a real terminal: util-linux `script` runs it on a pseudo-terminal,
// and the test types the answers once each prompt shows. This is the path
// people take first (`acct connect openai`), through the bundled prompt library.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { acct, baseEnv, tempHome, BIN } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

type Env = Record<string, string | undefined>;

/** Runs acct on a pseudo-terminal; each answer is typed when `after` appears in the output. */
async function inTerminal(args: string[], env: Env, answers: { after: RegExp; type: string | Buffer }[]) {
  const command = ['node', BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = execa('script', ['-qfec', command, '/dev/null'], { env: { ...env, SHELL: '/bin/sh', TERM: 'xterm' }, extendEnv: false, reject: false, stdin: 'pipe', timeout: 30_000 });
  let out = '';
  const pending = [...answers];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    // Colour and cursor codes sit between the words of a prompt: match on the text alone.
    const text = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    while (pending.length && pending[0]!.after.test(text)) {
      child.stdin!.write(pending.shift()!.type);
      out = '';
    }
  });
  const r = await child;
  return { exitCode: r.exitCode ?? -1, transcript: String(r.stdout) };
}

describe.skipIf(!existsSync('/usr/bin/script'))('in a terminal', () => {
  let env: Env;
  beforeAll(async () => {
    env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'terminal-pass', NO_COLOR: '1' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  });

  it('connect asks for the key with hidden input and stores it', async () => {
    const secret = 'lk_typed_in_a_terminal_0123456789';
    const r = await inTerminal(['connect', 'local', '--no-verify', '--nickname', 'typed'], env, [{ after: /API key/, type: `${secret}\r` }]);
    expect(r.exitCode).toBe(0);
    expect(r.transcript).toMatch(/Connected local\/typed/);
    expect(r.transcript).not.toContain(secret);
    expect(await acct(['token', 'local/typed'], env)).toMatchObject({ exitCode: 0, stdout: `${secret}\n` });
  });

  it('a typed key no request could carry, or not UTF-8: exit 2, nothing stored (over 64 KiB: test/unit/keys)', async () => {
    for (const [type, message] of [
      [Buffer.from('lk_typed_with_a_line_separator_\u2028_0123\r'), /API key holds a character outside Latin-1[^\n]*\r?\n {2}nothing was stored; check what you pasted/],
      [Buffer.concat([Buffer.from('lk_typed_not_utf8_'), Buffer.from([0xff]), Buffer.from('_0123\r')]), /API key holds U\+FFFD[^\n]*\r?\n {2}nothing was stored; check what you pasted/],
    ] as const) {
      const r = await inTerminal(['connect', 'local', '--no-verify', '--nickname', 'refused'], env, [{ after: /API key/, type }]);
      expect(r.exitCode, r.transcript.slice(-500)).toBe(2);
      expect(r.transcript).toMatch(message);
      expect((await acct(['token', 'local/refused'], env)).exitCode).toBe(3);
    }
  });

  it('connect asks for an app setting on a terminal, then the key', async () => {
    const file = keyAppFile('http://127.0.0.1:9/{site}', { settings: [{ name: 'site', label: 'Site name', pattern: '[a-z]+', example: 'acme' }] });
    expect((await acct(['apps', 'add', 'sited', '--file', file], env)).exitCode).toBe(0);
    const r = await inTerminal(['connect', 'sited', '--no-verify', '--nickname', 'prompted'], env, [
      { after: /Site name \(for example acme\)/, type: 'acme\r' },
      { after: /API key/, type: 'lk_typed_with_a_setting_0123\r' },
    ]);
    expect(r.exitCode, r.transcript).toBe(0);
    const shown = await acct(['show', 'sited/prompted', '--json'], env);
    expect(JSON.parse(shown.stdout).settings).toEqual({ site: 'acme' });
  });

  it('delete asks first: "no" keeps the account (exit 130), "yes" deletes it', async () => {
    expect((await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', 'doomed'], env, { input: 'lk_doomed', stdin: undefined })).exitCode).toBe(0);
    const kept = await inTerminal(['delete', 'local/doomed'], env, [{ after: /Delete local\/doomed/, type: 'n\r' }]);
    expect(kept.exitCode).toBe(130);
    expect(kept.transcript).toMatch(/Nothing deleted/);
    expect((await acct(['token', 'local/doomed'], env)).exitCode).toBe(0);

    const gone = await inTerminal(['delete', 'local/doomed'], env, [{ after: /Delete local\/doomed/, type: 'y\r' }]);
    expect(gone.exitCode).toBe(0);
    expect((await acct(['token', 'local/doomed'], env)).exitCode).toBe(3);
  });

  it('a new passphrase store asks for the passphrase twice; a mismatch stores nothing', async () => {
    const home = tempHome();
    const fresh = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', NO_COLOR: '1' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], fresh)).exitCode).toBe(0);
    const mismatch = await inTerminal(['connect', 'local', '--no-verify', '--from-env', 'api_key=KEY'], { ...fresh, KEY: 'lk_from_env' }, [
      { after: /Passphrase/, type: 'first passphrase\r' },
      { after: /Repeat/, type: 'other passphrase\r' },
    ]);
    expect(mismatch.exitCode).toBe(2);
    expect(mismatch.transcript).toMatch(/do not match/);
    expect(existsSync(`${home}/store.json`)).toBe(false);

    const ok = await inTerminal(['connect', 'local', '--no-verify', '--from-env', 'api_key=KEY'], { ...fresh, KEY: 'lk_from_env' }, [
      { after: /Passphrase/, type: 'same passphrase\r' },
      { after: /Repeat/, type: 'same passphrase\r' },
    ]);
    expect(ok.exitCode).toBe(0);
    expect(await acct(['token', 'local'], { ...fresh, ACCT_PASSPHRASE: 'same passphrase' })).toMatchObject({ exitCode: 0, stdout: 'lk_from_env\n' });
  });
});
