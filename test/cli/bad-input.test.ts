// Bad input gets a clear error, the exit code the spec gives it, nothing on
// stdout, and leaves every file under ACCT_HOME byte for byte as it was.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Options } from 'execa';
import { acct, allFiles, baseEnv, tempHome, type RunResult } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';
import { accountsFile } from '../support/accounts.js';

const PASSPHRASE = 'bad-input passphrase';
const input = (text: string): Options => ({ input: text, stdin: undefined });

interface Expected {
  code: number;
  /** The meaningful part of the message. */
  message: RegExp;
  /** The next step the hint names. */
  next?: RegExp;
  env?: Record<string, string | undefined>;
  options?: Options;
  /** Values that must not appear in the output (secrets the user typed). */
  secrets?: string[];
}

describe('bad input', () => {
  let home: string;
  let env: Record<string, string | undefined>;
  const KEY_ONE = `lk_${randomBytes(12).toString('hex')}`;
  const KEY_TWO = `lk_${randomBytes(12).toString('hex')}`;
  const DUO_TOKEN = randomBytes(20).toString('hex');
  const ids: Record<string, string> = {};

  /** Runs acct in `dir` and checks the error, the exit code, the empty stdout and the unchanged files. */
  async function fails(dir: string, args: string[], e: Expected): Promise<RunResult> {
    const before = allFiles(dir);
    const r = await acct(args, e.env ?? { ...env, ACCT_HOME: dir }, e.options);
    expect(r.stderr, args.join(' ')).toMatch(e.message);
    if (e.next) expect(r.stderr).toMatch(e.next);
    expect(r.stderr).not.toMatch(/unexpected error|this is a bug/);
    expect(r.exitCode).toBe(e.code);
    expect(r.stdout).toBe('');
    for (const s of [KEY_ONE, KEY_TWO, DUO_TOKEN, ...(e.secrets ?? [])]) expect(r.stderr).not.toContain(s);
    expect(allFiles(dir)).toEqual(before);
    return r;
  }
  const failsHere = (args: string[], e: Expected) => fails(home, args, e);

  /** A copy of the shared home to damage. */
  const copyHome = () => {
    const dir = tempHome();
    cpSync(home, dir, { recursive: true });
    return dir;
  };

  beforeAll(async () => {
    home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['apps', 'add', 'duo', '--file', duoAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    for (const [app, nickname, secret] of [
      ['local', 'one', KEY_ONE],
      ['local', 'two', KEY_TWO],
      ['duo', 'one', JSON.stringify({ account_sid: 'AC123', auth_token: DUO_TOKEN })],
    ] as const) {
      const r = await acct(['connect', app, '--stdin', '--nickname', nickname, '--no-verify'], env, input(secret));
      expect(r.exitCode).toBe(0);
      ids[`${app}/${nickname}`] = r.stdout.trim();
    }
    // local/one became the default (an app's first account is): without one, "local" names two accounts.
    expect((await acct(['default', 'local', '--unset'], env)).exitCode).toBe(0);
  });

  describe('references and apps', () => {
    it('unknown app', async () => {
      await failsHere(['connect', 'nosuchapp', '--stdin'], { code: 3, message: /unknown app "nosuchapp"/, next: /acct apps/, options: input(KEY_ONE) });
      await failsHere(['apps', 'show', 'nosuchapp'], { code: 3, message: /unknown app "nosuchapp"/ });
      // A near miss is suggested.
      await failsHere(['connect', 'loc', '--stdin'], { code: 3, message: /unknown app "loc"/, next: /did you mean: .*\blocal\b/, options: input(KEY_ONE) });
    });

    it('unknown reference', async () => {
      await failsHere(['token', 'nobody'], { code: 3, message: /no account matches "nobody"/, next: /acct list/ });
      await failsHere(['show', 'acc_aaaaaaaaaa'], { code: 3, message: /no account matches "acc_aaaaaaaaaa"/ });
      const r = await failsHere(['token', 'local/nobody'], { code: 3, message: /no local account is called "nobody"/ });
      // The hint names the accounts that do exist.
      expect(r.stderr).toContain(`local/one (${ids['local/one']})`);
      expect(r.stderr).toContain(`local/two (${ids['local/two']})`);
      await failsHere(['rename', 'nobody', 'renamed'], { code: 3, message: /no account matches "nobody"/ });
      await failsHere(['delete', 'nobody', '--yes'], { code: 3, message: /no account matches "nobody"/ });
      await failsHere(['default', 'nobody'], { code: 3, message: /no account matches "nobody"/ });
    });

    it('ambiguous reference lists the candidates', async () => {
      // An app slug with two accounts and no default.
      const app = await failsHere(['token', 'local'], { code: 3, message: /"local" matches 2 accounts/, next: /acct default local\/one$/m });
      expect(app.stderr).toContain(`local/one (${ids['local/one']})`);
      expect(app.stderr).toContain(`local/two (${ids['local/two']})`);
      // A nickname two apps use.
      const nick = await failsHere(['show', 'one'], { code: 3, message: /"one" matches 2 accounts/, next: /app\/nickname or by id/ });
      expect(nick.stderr).toContain(`local/one (${ids['local/one']})`);
      expect(nick.stderr).toContain(`duo/one (${ids['duo/one']})`);
      expect(nick.stderr).not.toContain(ids['local/two']!);
    });
  });

  describe('keys', () => {
    it('empty key', async () => {
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], { code: 2, message: /API key is empty/, options: input('') });
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], { code: 2, message: /API key is empty/, options: input('\n') });
      // --no-check skips shape checks, never the emptiness check.
      await failsHere(['connect', 'local', '--stdin', '--no-verify', '--no-check'], { code: 2, message: /API key is empty/, options: input('') });
      await failsHere(['connect', 'duo', '--stdin', '--no-verify'], {
        code: 2,
        message: /Auth token is empty/,
        options: input(JSON.stringify({ account_sid: 'AC1', auth_token: '' })),
      });
      await failsHere(['connect', 'local', '--from-env', 'api_key=EMPTY', '--no-verify'], { code: 2, message: /API key is empty/, env: { ...env, EMPTY: '' } });
    });

    it('key failing the shape check', async () => {
      const wrong = `sk_${randomBytes(12).toString('hex')}`;
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], {
        code: 2,
        message: /should start with "lk_"/,
        next: /--no-check/,
        options: input(wrong),
        secrets: [wrong],
      });
      const short = randomBytes(4).toString('hex');
      await failsHere(['connect', 'duo', '--stdin', '--no-verify'], {
        code: 2,
        message: /Auth token .* at least 16 characters/,
        options: input(JSON.stringify({ account_sid: 'AC1', auth_token: short })),
        secrets: [short],
      });
      const padded = ` ${KEY_ONE.slice(0, -1)}x `;
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], { code: 2, message: /leading or trailing whitespace/, options: input(padded), secrets: [padded.trim()] });
    });

    it('malformed --stdin JSON names the problem without echoing the secret', async () => {
      const secret = `lk_${randomBytes(12).toString('hex')}`;
      for (const text of [`{"api_key": ${secret}}`, `{"api_key": "${secret}"`, `{"api_key": "${secret}",}`]) {
        await failsHere(['connect', 'local', '--stdin', '--no-verify'], {
          code: 2,
          message: /stdin is not valid JSON/,
          next: /JSON object of fields/,
          options: input(text),
          secrets: [secret.slice(0, 8), secret.slice(3, 11)],
        });
      }
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], { code: 2, message: /local has no field "apikey"/, next: /api_key/, options: input(JSON.stringify({ apikey: secret })), secrets: [secret] });
      await failsHere(['connect', 'local', '--stdin', '--no-verify'], { code: 2, message: /field "api_key" in the stdin JSON must be a string/, options: input('{"api_key": 12345}') });
      // A bare value cannot fill two required fields.
      await failsHere(['connect', 'duo', '--stdin', '--no-verify'], { code: 2, message: /duo needs account_sid and auth_token/, next: /JSON object/, options: input(DUO_TOKEN) });
    });

    it('bad --from-env, nickname and duplicate nickname', async () => {
      await failsHere(['connect', 'local', '--from-env', 'api_key=NOT_SET_ANYWHERE', '--no-verify'], { code: 2, message: /NOT_SET_ANYWHERE is not set/ });
      await failsHere(['connect', 'local', '--from-env', 'api_key', '--no-verify'], { code: 2, message: /--from-env takes field=VAR/ });
      await failsHere(['connect', 'local', '--stdin', '--nickname', 'a/b', '--no-verify'], { code: 2, message: /"a\/b" is not a valid nickname/, options: input(KEY_ONE) });
      // Caught under the metadata lock, after the secret was written: that file must be gone again.
      await failsHere(['connect', 'local', '--stdin', '--nickname', 'two', '--no-verify'], {
        code: 2,
        message: /local already has an account called "two"/,
        next: /acct reconnect local\/two/,
        options: input(`lk_${randomBytes(8).toString('hex')}`),
      });
      await failsHere(['rename', 'local/one', 'acc_bad'], { code: 2, message: /not a valid nickname/ });
    });

    it('no terminal for a prompt: an error naming --stdin, no hang', async () => {
      const started = Date.now();
      // stdin is an open pipe that never ends: a prompt or a read would hang until the timeout.
      const r = await failsHere(['connect', 'local', '--no-verify'], { code: 2, message: /cannot prompt without a terminal/, next: /--stdin/, options: { stdin: 'pipe', timeout: 20_000 } });
      expect(r.stderr).toMatch(/--from-env api_key=VAR/);
      await failsHere(['delete', 'local/one'], { code: 2, message: /needs confirmation/, next: /--yes/, options: { stdin: 'pipe', timeout: 20_000 } });
      // The passphrase prompt names ACCT_PASSPHRASE.
      await failsHere(['token', 'local/one'], { code: 2, message: /cannot prompt without a terminal/, next: /ACCT_PASSPHRASE/, env: { ...env, ACCT_PASSPHRASE: undefined }, options: { stdin: 'pipe', timeout: 20_000 } });
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  });

  describe('app definitions', () => {
    const file = (text: string) => {
      const path = join(tmpdir(), `acct-bad-app-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(path, text);
      return path;
    };

    it('an app file that is not JSON', async () => {
      const path = file('{"name": "Broken", "auth": ');
      await failsHere(['apps', 'add', 'broken', '--file', path], { code: 2, message: new RegExp(`${path.replace(/[.]/g, '\\.')} is not valid JSON`) });
      await failsHere(['apps', 'add', 'broken', '--file', join(tmpdir(), 'acct-no-such-file.json')], { code: 2, message: /cannot read .*ENOENT/ });
    });

    it('an app file with schema errors names each problem', async () => {
      const valid = JSON.parse(readFileSync(keyAppFile('https://api.example.com'), 'utf8'));
      const path = file(
        JSON.stringify({
          ...valid,
          api: { baseUrl: 'http://example.com', auth: { type: 'header', name: 'Authorization', value: 'Bearer {apikey}' } },
          fields: [{ name: 'api_key', label: 'API key', prefix: 'lk_', colour: 'red' }],
          env: { api_key: 'lower_case' },
        }),
      );
      const r = await failsHere(['apps', 'add', 'broken', '--file', path], { code: 2, message: /the app definition in .* is invalid/, next: /fix it and try again/ });
      expect(r.stderr).toMatch(/api\.baseUrl: must be an https URL/);
      expect(r.stderr).toMatch(/api\.auth: unknown field \{apikey\}/);
      expect(r.stderr).toMatch(/fields\.0: Unrecognized key.*colour/);
      expect(r.stderr).toMatch(/env\.api_key: .*UPPER_SNAKE_CASE/);
      // Nothing was added.
      await failsHere(['apps', 'show', 'broken'], { code: 3, message: /unknown app "broken"/ });
    });

    it('an app that would put a credential in a variable that changes how programs run is refused, naming it', async () => {
      const valid = JSON.parse(readFileSync(keyAppFile('https://api.example.com'), 'utf8'));
      for (const name of ['NODE_OPTIONS', 'LD_PRELOAD', 'DYLD_INSERT_LIBRARIES', 'PATH', 'BASH_ENV', 'PYTHONSTARTUP', 'PERL5OPT', 'RUBYOPT', 'GIT_SSH_COMMAND', 'GIT_CONFIG_COUNT', 'HTTPS_PROXY', 'SSL_CERT_FILE', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'ACCT_HOME']) {
        const path = file(JSON.stringify({ ...valid, fields: [...valid.fields, { name: 'region', label: 'Region', secret: false }], env: { api_key: 'EXAMPLE_API_KEY', region: name } }));
        const r = await failsHere(['apps', 'add', 'hostile', '--file', path], { code: 2, message: /the app definition in .* is invalid/, next: /fix it and try again/ });
        expect(r.stderr, name).toContain(`env.region: ${name} changes how programs start or what they trust`);
      }
      await failsHere(['apps', 'show', 'hostile'], { code: 3, message: /unknown app "hostile"/ });
      // A name that only starts like one is the service's own.
      const fine = file(JSON.stringify({ ...valid, env: { api_key: 'GITHUB_PATH_KEY' } }));
      expect((await acct(['apps', 'add', 'fine', '--file', fine], env)).exitCode).toBe(0);
    });

    it('bad slugs, built-in names and explicit bad URLs', async () => {
      const path = keyAppFile('https://api.example.com');
      await failsHere(['apps', 'add', 'Not_A_Slug', '--file', path], { code: 2, message: /slug/ });
      await failsHere(['apps', 'add', 'other', '--file', keyAppFile('https://api.example.com', { slug: 'mismatch' })], { code: 2, message: /defines "mismatch", not "other"/ });
      await failsHere(['apps', 'add', 'local', '--file', path], { code: 2, message: /"local" exists already/, next: /--force/ });
      const builtin = (JSON.parse((await acct(['apps', '--json'], env)).stdout) as { slug: string; source: string }[]).find((a) => a.source === 'built-in');
      if (builtin) await failsHere(['apps', 'add', builtin.slug, '--file', path], { code: 2, message: new RegExp(`"${builtin.slug}" is a built-in app`) });
      await failsHere(['apps', 'add', 'ftp-app', '--base-url', 'ftp://example.com'], { code: 2, message: /must be an https URL/ });
      await failsHere(['apps', 'add', 'ftp-app', '--base-url', 'not a url'], { code: 2, message: /must be an https URL/ });
    });
  });

  describe('damaged store files', () => {
    it('corrupt metadata file: named in the error, left untouched', async () => {
      const dir = copyHome();
      const meta = accountsFile(dir);
      const whole = readFileSync(meta, 'utf8');
      const cases: [string, RegExp][] = [
        ['garbage{ not json', /is corrupt: its first line \(the header\) is incomplete/],
        // Valid JSON of the wrong shape is refused the same way.
        [`${JSON.stringify({ version: 1, accounts: 'none' })}\n`, /is corrupt: its first line \(the header\) does not have the expected shape/],
        // Cut short (a disk that filled up under another tool, a partial copy): refused before any account is looked at.
        [whole.slice(0, -20), /is corrupt: it is truncated/],
      ];
      for (const [content, why] of cases) {
        writeFileSync(meta, content, { mode: 0o600 });
        const named = new RegExp(`${meta.replace(/[.]/g, '\\.')} ${why.source}`);
        for (const [args, options] of [
          [['list'], {}],
          [['token', 'local/one'], {}],
          [['rename', 'local/one', 'renamed'], {}],
          [['delete', 'local/one', '--yes'], {}],
          [['connect', 'local', '--stdin', '--no-verify', '--nickname', 'three'], input(`lk_${randomBytes(8).toString('hex')}`)],
        ] as const)
          await fails(dir, [...args], { code: 6, message: named, next: /left it untouched/, options });
        expect(readFileSync(meta, 'utf8')).toBe(content);
      }
    });

    it('tampered secret file: exit 6, named, left untouched', async () => {
      const dir = copyHome();
      const id = ids['local/one']!;
      const path = join(dir, 'secrets', `${id}.json`);
      const sealed = JSON.parse(readFileSync(path, 'utf8'));
      const ct = Buffer.from(sealed.ct, 'base64');
      ct[0] = ct[0]! ^ 0x01;
      writeFileSync(path, JSON.stringify({ ...sealed, ct: ct.toString('base64') }));
      const named = new RegExp(`${path.replace(/[.]/g, '\\.')} is corrupt: it fails authentication`);
      await fails(dir, ['token', id], { code: 6, message: named, next: /left it untouched/ });
      await fails(dir, ['show', 'local/one', '--reveal'], { code: 6, message: named });
      // Other accounts still work.
      expect(await acct(['token', 'local/two'], { ...env, ACCT_HOME: dir })).toMatchObject({ exitCode: 0, stdout: `${KEY_TWO}\n` });

      // A byte flipped in the file as stored.
      const raw = readFileSync(join(home, 'secrets', `${id}.json`));
      const at = raw.indexOf('"tag"') + 9;
      raw[at] = raw[at] === 0x41 ? 0x42 : 0x41;
      writeFileSync(path, raw);
      await fails(dir, ['token', id], { code: 6, message: new RegExp(`${id}\\.json is corrupt`) });
    });

    it("another account's secret file copied over is refused (the id is bound in)", async () => {
      const dir = copyHome();
      const one = ids['local/one']!;
      const two = ids['local/two']!;
      cpSync(join(dir, 'secrets', `${two}.json`), join(dir, 'secrets', `${one}.json`));
      await fails(dir, ['token', one], { code: 6, message: new RegExp(`${one}\\.json is corrupt: it fails authentication`) });
    });

    it('a secret file that is missing or not a sealed blob', async () => {
      const dir = copyHome();
      const id = ids['local/one']!;
      writeFileSync(join(dir, 'secrets', `${id}.json`), '{}');
      await fails(dir, ['token', id], { code: 6, message: /is corrupt: its contents do not have the expected shape/ });
      const gone = copyHome();
      rmSync(join(gone, 'secrets', `${id}.json`));
      await fails(gone, ['token', id], { code: 6, message: new RegExp(`the secrets of account ${id} are missing`), next: new RegExp(`acct reconnect ${id}`) });
    });

    it('corrupt store.json or apps.json', async () => {
      const dir = copyHome();
      writeFileSync(join(dir, 'store.json'), 'not json');
      await fails(dir, ['token', 'local/one'], { code: 6, message: /store\.json is corrupt/ });
      await fails(dir, ['connect', 'local', '--stdin', '--no-verify', '--nickname', 'three'], { code: 6, message: /store\.json is corrupt/, options: input(`lk_${randomBytes(8).toString('hex')}`) });

      const apps = copyHome();
      writeFileSync(join(apps, 'apps.json'), '[');
      await fails(apps, ['apps', 'add', 'other', '--file', keyAppFile('https://api.example.com')], { code: 6, message: /apps\.json is corrupt/ });
      await fails(apps, ['token', 'local/one'], { code: 6, message: /apps\.json is corrupt/ });
    });
  });

  describe('the store', () => {
    it('wrong passphrase', async () => {
      const wrong = { ...env, ACCT_PASSPHRASE: 'wrong passphrase' };
      await failsHere(['token', 'local/one'], { code: 6, message: /wrong passphrase/, next: /ACCT_PASSPHRASE/, env: wrong });
      await failsHere(['connect', 'local', '--stdin', '--no-verify', '--nickname', 'three'], { code: 6, message: /wrong passphrase/, env: wrong, options: input(`lk_${randomBytes(8).toString('hex')}`) });
      await failsHere(['token', 'local/one'], { code: 2, message: /ACCT_PASSPHRASE is empty/, env: { ...env, ACCT_PASSPHRASE: '' } });
    });

    it('an unknown ACCT_STORE', async () => {
      await failsHere(['list'], { code: 2, message: /ACCT_STORE must be "keychain" or "file", not "vault"/, env: { ...env, ACCT_STORE: 'vault' } });
    });
  });
});
