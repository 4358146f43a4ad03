// acct env: every format read back by its real consumer gives exactly the
// stored values, however many quotes, dollars, backslashes and newlines they hold.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as dotenvParse } from 'dotenv';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { githubMaskValues, readGithubEnvFile, readGitlabDotenv } from '../support/consumers.js';

/**
 * A user-added app with two secret fields handed to programs only, and no shape checks beyond
 * acct's own: its requests carry a third field, so the two may span lines (as a PEM key does).
 */
function twoFieldApp(): string {
  return keyAppFile('http://127.0.0.1:9', {
    name: 'Two Fields',
    api: { baseUrl: 'http://127.0.0.1:9', auth: { type: 'header', name: 'Authorization', value: 'Bearer {request_token}' } },
    fields: [
      { name: 'api_key', label: 'API key' },
      { name: 'api_secret', label: 'API secret' },
      { name: 'request_token', label: 'Request token', optional: true },
    ],
    env: { api_key: 'TWO_KEY', api_secret: 'TWO_SECRET' },
    test: undefined,
  });
}

const ACCOUNTS: Record<string, { api_key: string; api_secret: string }> = {
  quotes: {
    api_key: "sp ace 'single' $HOME ${PATH} $(id) #hash k=v=w back\\slash",
    api_secret: 'dq "x" `whoami` ; \\n not a newline \\\\ end',
  },
  lines: {
    api_key: "-----BEGIN KEY-----\nline 'two' \"dq\" $V\n#not a comment\n  indented = yes\n-----END KEY-----",
    api_secret: 'first\n\nthird after a blank line\\',
  },
  // dotenv reads a backslash before a closing quote as an escaped quote.
  hazard: { api_key: 'abc\\', api_secret: '#hash' },
  crlf: { api_key: 'windows\r\nline', api_secret: 'x$y%0A%25' },
  // No dotenv quote fits a value holding all three quote characters.
  allquotes: { api_key: "all 'three' \"quote\" `kinds`", api_secret: 'plain-secret' },
};
const SINGLE_LINE = ['quotes', 'hazard', 'allquotes'];
const MULTI_LINE = ['lines', 'crlf'];

/** NAME=two/nick.field specs for the given accounts, and the values they should produce. */
function specsFor(nicknames: string[]): { specs: string[]; expected: Record<string, string> } {
  const specs: string[] = [];
  const expected: Record<string, string> = {};
  for (const nick of nicknames)
    for (const [field, value] of Object.entries(ACCOUNTS[nick]!)) {
      const name = `${nick.toUpperCase()}_${field.toUpperCase()}`;
      specs.push(`${name}=two/${nick}.${field}`);
      expected[name] = value;
    }
  return { specs, expected };
}

describe('acct env', () => {
  let env: Record<string, string | undefined>;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'acct-env-'));
    env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'env-test-passphrase' });
    const added = await acct(['apps', 'add', 'two', '--file', twoFieldApp()], env);
    expect(added.stderr).toContain('Added two');
    for (const [nick, fields] of Object.entries(ACCOUNTS)) {
      const r = await acct(['connect', 'two', '--stdin', '--no-verify', '--nickname', nick], env, { input: JSON.stringify(fields), stdin: undefined });
      expect(r.stderr).toContain(`Connected two/${nick}`);
      expect(r.exitCode).toBe(0);
    }
  });

  it('names variables from the app catalog entry', async () => {
    const r = await acct(['env', 'two/quotes', '--format', 'json'], env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ TWO_KEY: ACCOUNTS.quotes!.api_key, TWO_SECRET: ACCOUNTS.quotes!.api_secret });
  });

  it('NAME=ref gives the primary field, NAME=ref.field another one', async () => {
    const r = await acct(['env', 'DEPLOY=two/hazard', 'OTHER=two/hazard.api_secret', '--json'], env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ DEPLOY: 'abc\\', OTHER: '#hash' });
  });

  it('shell: bash eval and source, and sh, read back every value exactly', async () => {
    const { specs, expected } = specsFor(Object.keys(ACCOUNTS));
    const r = await acct(['env', ...specs, '--format', 'shell'], env);
    expect(r.exitCode).toBe(0);
    const file = join(work, 'out.sh');
    writeFileSync(file, r.stdout);
    const names = Object.keys(expected);
    const print = `printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`;
    for (const [shell, load] of [
      ['bash', 'eval "$(cat "$1")"'],
      ['bash', 'source "$1"'],
      ['sh', '. "$1"'],
    ] as const) {
      // A fresh environment: nothing but what the file sets can fill the variables.
      const out = execFileSync(shell, ['-c', `${load}; ${print}`, 'x', file], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      expect(Object.fromEntries(out.split('\0').slice(0, -1).map((v, i) => [names[i], v])), `${shell}: ${load}`).toEqual(expected);
    }
    // Exported, so child processes see them too.
    const child = execFileSync('bash', ['-c', `source "$1"; node -e 'process.stdout.write(process.env.LINES_API_KEY)'`, 'x', file], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(child).toBe(ACCOUNTS.lines!.api_key);
  });

  it('json: JSON.parse reads back every value exactly', async () => {
    const { specs, expected } = specsFor(Object.keys(ACCOUNTS));
    const r = await acct(['env', ...specs, '--format', 'json'], env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expected);
  });

  it('dotenv: the dotenv package reads back every value exactly', async () => {
    const { specs, expected } = specsFor(Object.keys(ACCOUNTS).filter((n) => n !== 'allquotes'));
    const r = await acct(['env', ...specs], env);
    expect(r.exitCode).toBe(0);
    expect(dotenvParse(r.stdout)).toEqual(expected);
  });

  it('dotenv: a value ending in a backslash does not swallow the next variable', async () => {
    const r = await acct(['env', 'two/hazard', '--format', 'dotenv'], env);
    expect(r.exitCode).toBe(0);
    expect(dotenvParse(r.stdout)).toEqual({ TWO_KEY: 'abc\\', TWO_SECRET: '#hash' });
  });

  it('dotenv: a value dotenv cannot hold is refused with exit 2 and nothing printed', async () => {
    const r = await acct(['env', 'two/quotes', 'X=two/allquotes', '--format', 'dotenv'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/X.*dotenv/);
    expect(r.stderr).toMatch(/--format (shell|json)/);
    expect(r.stderr).not.toContain('three');
  });

  it('github: one ::add-mask:: per line of every value, and $GITHUB_ENV read back exactly', async () => {
    const { specs, expected } = specsFor(Object.keys(ACCOUNTS));
    const file = join(work, 'github_env');
    writeFileSync(file, 'EARLIER=kept\n');
    const r = await acct(['env', ...specs, '--format', 'github'], { ...env, GITHUB_ENV: file });
    expect(r.exitCode).toBe(0);
    expect(readGithubEnvFile(readFileSync(file, 'utf8'))).toEqual({ EARLIER: 'kept', ...expected });

    const lines = r.stdout.split('\n');
    expect(lines.pop()).toBe('');
    for (const l of lines) expect(l).toMatch(/^::add-mask::/);
    const wanted = new Set(Object.values(expected).flatMap((v) => v.split(/\r?\n/).filter((l) => l.trim())));
    expect(new Set(githubMaskValues(r.stdout))).toEqual(wanted);
    expect(lines).toHaveLength(wanted.size);
    expect(r.stderr).toContain('QUOTES_API_KEY');
  });

  it('github: refuses without $GITHUB_ENV', async () => {
    const r = await acct(['env', 'two/quotes', '--format', 'github'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('GITHUB_ENV');
  });

  it('gitlab: GitLab reads single-line values back exactly ($ survives the runner expansion)', async () => {
    const { specs, expected } = specsFor(SINGLE_LINE);
    const r = await acct(['env', ...specs, '--format', 'gitlab'], env);
    expect(r.exitCode).toBe(0);
    expect(readGitlabDotenv(r.stdout, { HOME: '/home/runner', PATH: '/usr/bin', V: 'v' })).toEqual(expected);
  });

  it('gitlab: a multi-line value is refused with exit 2 and nothing printed', async () => {
    for (const nick of MULTI_LINE) {
      const r = await acct(['env', 'two/quotes', `M=two/${nick}`, '--format', 'gitlab'], env);
      expect(r.exitCode, nick).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/M.*several lines/);
    }
  });

  it('two references that set the same variable: exit 2, nothing printed or appended', async () => {
    const file = join(work, 'github_env_dup');
    writeFileSync(file, 'EARLIER=kept\n');
    for (const [args, name, formats] of [
      [['two/quotes', 'two/hazard'], 'TWO_KEY', ['dotenv', 'shell', 'json', 'github', 'gitlab']],
      [['X=two/quotes', 'X=two/hazard.api_secret'], 'X', ['shell', 'github']],
      [['TWO_SECRET=two/crlf', 'two/quotes'], 'TWO_SECRET', ['json', 'github']],
    ] as const) {
      for (const format of formats) {
        const r = await acct(['env', ...args, '--format', format], { ...env, GITHUB_ENV: file });
        expect(r.exitCode, `${args.join(' ')} ${format}`).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain(`set ${name}`);
      }
    }
    expect(readFileSync(file, 'utf8')).toBe('EARLIER=kept\n');
  });

  it('bad references: unknown field exit 2, unknown account exit 3, bad name exit 2', async () => {
    const field = await acct(['env', 'X=two/quotes.nope'], env);
    expect(field.exitCode).toBe(2);
    expect(field.stderr).toMatch(/no field "nope"/);
    expect(field.stderr).toMatch(/api_key, api_secret/);
    const account = await acct(['env', 'two/nobody'], env);
    expect(account.exitCode).toBe(3);
    const name = await acct(['env', '1BAD=two/quotes'], env);
    expect(name.exitCode).toBe(2);
    const format = await acct(['env', 'two/quotes', '--format', 'yaml'], env);
    expect(format.exitCode).toBe(2);
    // A variable that changes how programs run holds no credential, in any case of its name.
    const risky = await Promise.all(['NODE_OPTIONS=two/quotes', 'LD_PRELOAD=two/quotes.api_secret', 'https_proxy=two/quotes'].map((s) => acct(['exec', s, '--', 'true'], env)));
    for (const r of risky) {
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/changes how programs start or what they trust, so no credential may be put in it/);
      expect(r.stderr).toMatch(/DEPLOY_TOKEN=two\/quotes/);
    }
    for (const r of [field, account, name, format, ...risky]) expect(r.stdout).toBe('');
  });
});
