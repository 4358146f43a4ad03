// One error table: every failure carries a stable code, the exit code comes
// from it, and with --json the error is one JSON object on stderr.
import { describe, it, expect, beforeAll } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { ERRORS, ExitCode } from '../../src/errors.js';

type Env = Record<string, string | undefined>;
let env: Env;

beforeAll(async () => {
  env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'errors test passphrase' });
  expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile('http://127.0.0.1:9', { test: undefined })], env)).exitCode).toBe(0);
  for (const nick of ['one', 'two'])
    expect((await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', nick], env, { input: `lk_errors_${nick}_0123456789`, stdin: undefined })).exitCode).toBe(0);
  // Without a default, the app slug is ambiguous between the two.
  expect((await acct(['default', 'svc', '--unset'], env)).exitCode).toBe(0);
});

/** stderr as the one JSON object it must be. */
function jsonError(stderr: string): { code: string; message: string; hint: string | null } {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return JSON.parse(lines[0]!);
}

describe('errors', () => {
  it.each([
    [['token', 'nosuch', '--json'], 'account_not_found'],
    [['token', 'svc', '--json'], 'reference_ambiguous'],
    [['show', 'nosuch', '--json'], 'account_not_found'],
    [['apps', 'show', 'nosuch-app', '--json'], 'app_not_found'],
    [['list', '--json'], null],
  ] as const)('acct %j: the code, and the exit code the table gives it', async (args, code) => {
    const r = await acct([...args], env);
    if (code === null) {
      expect(r.exitCode, r.stderr).toBe(0);
      return;
    }
    const err = jsonError(r.stderr);
    expect(err.code).toBe(code);
    expect(r.exitCode).toBe(ERRORS[code][0]);
    expect(err.message.length).toBeGreaterThan(0);
    expect(r.stdout).toBe('');
  });

  it('a wrong passphrase is wrong_passphrase, exit 6, and never echoes the passphrase', async () => {
    const r = await acct(['token', 'svc/one', '--json'], { ...env, ACCT_PASSPHRASE: 'not-the-passphrase' });
    expect(r.exitCode).toBe(ExitCode.store);
    expect(jsonError(r.stderr)).toMatchObject({ code: 'wrong_passphrase', hint: expect.stringMatching(/ACCT_PASSPHRASE/) });
    expect(r.stderr).not.toContain('not-the-passphrase');
  });

  it('without --json the error is words, with the hint on its own line', async () => {
    const r = await acct(['token', 'svc'], env);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^acct: "svc" matches 2 accounts/);
    expect(r.stderr.split('\n')[1]).toMatch(/^ {2}\S/);
  });

  // Commander's parse errors, and the plain forms (token, list, env) that hand such lines to it, are JSON with --json too.
  it.each([
    [['token', '--json'], /missing required argument 'ref'/, 'run acct token --help'],
    [['list', '--bogus', '--json'], /unknown option '--bogus'/, 'run acct list --help'],
    [['list', '--jsn', '--json'], /unknown option '--jsn'/, 'did you mean --json?'],
    [['token', 'svc/one', 'extra', '--json'], /too many arguments/, 'run acct token --help'],
    [['env', 'svc/one', '--format', 'yaml', '--json'], /argument 'yaml' is invalid/, 'run acct env --help'],
    [['team', 'invite', 'x', '--json'], /required option '--name <member>'/, 'run acct team invite --help'],
    [['nosuch', '--json'], /unknown command 'nosuch'/, 'run acct --help'],
    [['help', 'nope', '--json'], /unknown command "nope"/, 'see the commands with: acct help'],
  ] as const)('acct %j: a usage error, one JSON object with code, message and hint, exit 2', async (args, message, hint) => {
    const r = await acct([...args], env);
    expect(r.exitCode, r.stderr).toBe(ExitCode.usage);
    expect(r.stdout).toBe('');
    const err = jsonError(r.stderr);
    expect(err).toEqual({ code: 'usage', message: expect.stringMatching(message), hint });
    expect(err.message).not.toMatch(/^error:/);
  });

  it('a parse error without --json stays commander\'s words; --json after -- belongs to the command run', async () => {
    const r = await acct(['list', '--bogus'], env);
    expect(r.exitCode).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/^error: unknown option '--bogus'\n\(run acct --help for usage\)\n$/);
    const exec = await acct(['exec', '--bogus', 'svc/one', '--', 'true', '--json'], env);
    expect(exec.exitCode).toBe(ExitCode.usage);
    expect(exec.stderr).toMatch(/^error: unknown option '--bogus'/);
  });

  it('the table maps each code to an exit code of the spec and an HTTP status', () => {
    const spec = new Set<number>([1, 2, 3, 4, 5, 6, 126, 127, 130]);
    for (const [code, [exit, http]] of Object.entries(ERRORS)) {
      expect(spec.has(exit), code).toBe(true);
      expect(http >= 400 && http < 600, code).toBe(true);
    }
    expect(ERRORS.account_not_found[0]).toBe(3);
    expect(ERRORS.store_locked[0]).toBe(6);
    expect(ERRORS.provider_unavailable[0]).toBe(5);
    expect(ERRORS.needs_reconnect[0]).toBe(4);
  });
});
