// The token path stays small: `acct token` and `acct list` load no prompt,
// colour, table, HTTP, OAuth or schema code (the spec's start-up budgets depend
// on it). Loaded files are traced with a module hook and mapped to their
// sources through the build's output map.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { acct, baseEnv, tempHome, BIN } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

const DIST = resolve(import.meta.dirname, '../../dist');
const HOOK = resolve(import.meta.dirname, '../support/trace-loads.mjs');
const HEAVY = ['@inquirer/', 'chalk/', 'undici/', 'oauth4webapi/', 'zod/', 'open/', 'proper-lockfile/'];

/** The npm packages whose code the command's process loaded. */
async function packagesLoaded(args: string[], env: Record<string, string | undefined>, exitCode = 0): Promise<string[]> {
  const trace = join(mkdtempSync(join(tmpdir(), 'acct-trace-')), 'loads.txt');
  const r = await execa('node', ['--import', HOOK, BIN, ...args], { env: { ...env, ACCT_TRACE_LOADS: trace }, extendEnv: false, reject: false });
  expect(r.exitCode, r.stderr).toBe(exitCode);
  const outputs = JSON.parse(readFileSync(join(DIST, 'outputs.json'), 'utf8')) as Record<string, string[]>;
  const files = readFileSync(trace, 'utf8').split('\n').filter(Boolean).map((u) => relative(DIST, fileURLToPath(u)));
  expect(files).toContain('acct.js');
  const inputs = files.flatMap((f) => outputs[f] ?? []);
  return [...new Set(inputs.filter((i) => i.includes('node_modules/')).map((i) => i.split('node_modules/').at(-1)!.split('/').slice(0, i.includes('/@') ? 2 : 1).join('/')))];
}

describe('start-up', () => {
  let env: Record<string, string | undefined>;
  beforeAll(async () => {
    env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'startup-pass' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: 'lk_startup', stdin: undefined })).exitCode).toBe(0);
  });

  it('acct token loads none of the prompt, colour, HTTP, OAuth or schema libraries', async () => {
    const loaded = await packagesLoaded(['token', 'local'], env);
    expect(loaded).toContain('commander');
    for (const heavy of HEAVY) expect(loaded.filter((p) => `${p}/`.startsWith(heavy))).toEqual([]);
  });

  it('acct list loads none of them either', async () => {
    const loaded = await packagesLoaded(['list'], env);
    for (const heavy of HEAVY) expect(loaded.filter((p) => `${p}/`.startsWith(heavy))).toEqual([]);
  });

  it('the trace does see the libraries a command needs (the check can fail)', async () => {
    // The stand-in service's port is closed: the test request reports it unreachable (exit 5), through undici.
    const loaded = await packagesLoaded(['test', 'local'], env, 5);
    expect(loaded).toContain('undici');
  });
});
