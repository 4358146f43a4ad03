// A store written before accounts.tsv (its metadata in accounts.json, version
// 1) keeps working as it is: reads leave it alone, and the first write moves
// it to accounts.tsv under the metadata lock with nothing lost (ids, defaults,
// retired ids, when each account was last used), while readers running at
// the same time never see an empty store.
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { accountsFile, storedMetadata } from '../support/accounts.js';
import type { Account, Metadata } from '../../src/accounts/model.js';

const input = (text: string) => ({ input: text, stdin: undefined });
const SLOW = 240_000;
const KEYS = { one: `lk_${randomBytes(12).toString('hex')}`, two: `lk_${randomBytes(12).toString('hex')}`, three: `lk_${randomBytes(12).toString('hex')}` };

/** Metadata-only accounts (no secret behind them), as a store of many accounts has. */
function filler(i: number): Account {
  const id = `acc_${[...i.toString(32).padStart(10, '0')].map((c) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(c, 32)]).join('')}`;
  return { id, app: ['github', 'slack'][i % 2]!, nickname: `filler-${i}`, auth: 'keys', status: 'ok', scopes: [], fields: ['api_key'], identity: null, expiresAt: null, createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z' };
}

interface Listed {
  id: string;
  app: string;
  nickname: string;
  default: boolean;
  last_used_at: string | null;
}

describe('a store in the old layout (accounts.json)', () => {
  it('is read as it is, and moved to accounts.tsv by its first write with nothing lost', async () => {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'layout passphrase' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('https://api.local.example')], env)).exitCode).toBe(0);
    for (const [nickname, key] of Object.entries(KEYS)) expect((await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', nickname], env, input(key))).exitCode).toBe(0);
    expect((await acct(['default', 'local/two'], env)).exitCode).toBe(0);
    const three = storedMetadata(home).accounts.find((a) => a.nickname === 'three')!.id;
    expect((await acct(['delete', 'local/three', '--yes'], env)).exitCode).toBe(0);
    expect((await acct(['token', 'local/one'], env)).stdout).toBe(`${KEYS.one}\n`);

    // The store as an acct before accounts.tsv left it: the same metadata in accounts.json, with many more accounts.
    const current = storedMetadata(home);
    const old: Metadata = { ...current, accounts: [...Array.from({ length: 300 }, (_, i) => filler(i)), ...current.accounts] };
    expect(old.retiredIds).toEqual([three]);
    const legacy = join(home, 'accounts.json');
    writeFileSync(legacy, JSON.stringify(old, null, 2) + '\n', { mode: 0o600 });
    unlinkSync(accountsFile(home));
    const before = readFileSync(legacy, 'utf8');

    // Reads work unchanged, and change nothing.
    expect(await acct(['token', 'local/one'], env)).toMatchObject({ exitCode: 0, stdout: `${KEYS.one}\n` });
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEYS.two}\n` });
    expect(await acct(['env', 'A=local/one', 'B=two'], env)).toMatchObject({ exitCode: 0, stdout: `A='${KEYS.one}'\nB='${KEYS.two}'\n` });
    expect(await acct(['token', 'local/tree'], env)).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('local/two') });
    expect(readFileSync(legacy, 'utf8')).toBe(before);
    expect(existsSync(accountsFile(home))).toBe(false);
    const listBefore = JSON.parse((await acct(['list', '--json'], env)).stdout) as Listed[];
    expect(listBefore).toHaveLength(302);
    expect(listBefore.find((a) => a.nickname === 'one')?.last_used_at).toEqual(expect.any(String));
    expect(listBefore.find((a) => a.nickname === 'two')?.default).toBe(true);

    // The first write, with readers at the same time: every one of them finds its account.
    const [renamed, ...reads] = await Promise.all([
      acct(['rename', 'local/one', 'uno'], env),
      ...Array.from({ length: 6 }, () => acct(['token', 'local/two'], env)),
    ]);
    expect(renamed.exitCode, renamed.stderr).toBe(0);
    for (const r of reads) expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `${KEYS.two}\n` });

    expect(existsSync(legacy)).toBe(false);
    const moved = storedMetadata(home);
    expect(moved.defaults).toEqual(old.defaults);
    expect(moved.retiredIds).toEqual(old.retiredIds);
    expect(moved.accounts.map((a) => a.id)).toEqual(old.accounts.map((a) => a.id));
    const one = old.accounts.find((a) => a.nickname === 'one')!;
    expect(moved.accounts.filter((a) => a.id !== one.id)).toEqual(old.accounts.filter((a) => a.id !== one.id));
    expect(moved.accounts.find((a) => a.id === one.id)).toEqual({ ...one, nickname: 'uno', updatedAt: expect.any(String) });

    // What list shows is what it showed, but for the new nickname: defaults, last uses, every account.
    const byId = (xs: Listed[]) => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1));
    const listAfter = JSON.parse((await acct(['list', '--json'], env)).stdout) as Listed[];
    const two = old.accounts.find((a) => a.nickname === 'two')!;
    expect(byId(listAfter)).toEqual(
      byId(listBefore).map((a) =>
        a.id === one.id ? { ...a, nickname: 'uno', updated_at: expect.any(String) } : a.id === two.id ? { ...a, last_used_at: expect.any(String) } : a,
      ),
    );
    expect(await acct(['token', 'local/uno'], env)).toMatchObject({ exitCode: 0, stdout: `${KEYS.one}\n` });
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEYS.two}\n` });
    // A filler has no secret behind it: found, its secret file named as missing.
    expect(await acct(['token', 'filler-299'], env)).toMatchObject({ exitCode: 6, stderr: expect.stringContaining(`${filler(299).id}.json`) });

    // A retired id is still never handed out again, and a new account lands in the new file.
    expect((await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', 'four'], env, input(KEYS.three))).exitCode).toBe(0);
    const after = storedMetadata(home);
    expect(after.accounts).toHaveLength(303);
    expect(after.accounts.at(-1)).toMatchObject({ nickname: 'four' });
    expect(after.accounts.at(-1)!.id).not.toBe(three);
    expect(existsSync(legacy)).toBe(false);
  }, SLOW);

  it('a damaged accounts.json is still named in a store error, and left untouched', async () => {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'layout passphrase' });
    const legacy = join(home, 'accounts.json');
    writeFileSync(legacy, '{"version":1,"accounts":[', { mode: 0o600 });
    for (const args of [['token', 'local/one'], ['list'], ['rename', 'local/one', 'renamed']]) {
      const r = await acct(args, env);
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stderr).toContain(`${legacy} is corrupt: it is not valid JSON`);
    }
    expect(readFileSync(legacy, 'utf8')).toBe('{"version":1,"accounts":[');
    expect(existsSync(accountsFile(home))).toBe(false);
  }, SLOW);
});
