// A busy keychain is not a lost key: many acct processes at once on one real
// Secret Service (gnome-keyring on a private D-Bus session), with the keychain
// agent and without it. A transient answer from a daemon under load is
// retried; "missing" is said only when the key really is gone, and then with
// how to check before anything else.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentSocket, startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { acct, baseEnv, tempHome, type RunResult } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';

const ACCOUNTS = 4;
/** Processes started at once in each mode (the issue asks for 60 or more). */
const PROCESSES = 64;
// 64 node processes on two shared cores: minutes, not seconds, when the machine is busy. The
// keychain deadline is as generous: a keychain that does not answer in time is exit 6 too, and
// honestly so, but this test is about a busy keychain that does answer.
const SLOW = 300_000;

describe('a busy keychain', () => {
  let session: KeyringSession;
  let api: ApiServer;
  let home: string;
  let env: Record<string, string | undefined>;
  const keys = Array.from({ length: ACCOUNTS }, () => `lk_${randomBytes(12).toString('hex')}`);

  beforeAll(async () => {
    session = await startKeyringSession();
    api = await startApiServer((req, res) => {
      const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      const i = keys.indexOf(key);
      res.writeHead(i >= 0 ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(i >= 0 ? { user: { login: `user${i}` } } : { error: 'bad key' }));
    });
    home = tempHome();
    env = baseEnv({ ...session.env, ACCT_HOME: home, ACCT_KEYCHAIN_TIMEOUT: '60' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile(api.url)], env)).exitCode).toBe(0);
    for (const [i, key] of keys.entries()) {
      const r = await acct(['connect', 'local', '--stdin', '--nickname', `k${i}`], env, { input: key, stdin: undefined });
      expect(r.exitCode, r.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await session?.stop();
  });

  /** Every kind of read a script makes, spread over the accounts; each checks its own answer. */
  const mixed = (e: Record<string, string | undefined>) =>
    Array.from({ length: PROCESSES }, (_, n) => {
      const i = n % ACCOUNTS;
      const ref = `local/k${i}`;
      const check = (r: RunResult): string | undefined => {
        if (r.exitCode !== 0) return `exit ${r.exitCode}: ${r.stderr}`;
        switch (n % 5) {
          case 0:
            return r.stdout === `${keys[i]}\n` ? undefined : 'token printed the wrong value';
          case 1:
            return JSON.parse(r.stdout).LOCAL_API_KEY === keys[i] ? undefined : 'env printed the wrong value';
          case 2:
            return JSON.parse(r.stdout).length === ACCOUNTS ? undefined : 'list lost accounts';
          case 3:
            return JSON.parse(r.stdout).fields.api_key === keys[i] ? undefined : 'show --reveal printed the wrong value';
          default:
            return r.stdout.includes(`user${i}`) ? undefined : 'test did not authenticate';
        }
      };
      const args = [['token', ref], ['env', ref, '--format', 'json'], ['list', '--json'], ['show', ref, '--reveal', '--json'], ['test', ref]][n % 5]!;
      return acct(args, e, { timeout: SLOW }).then(check);
    });

  for (const mode of ['with the agent', 'without the agent (ACCT_AGENT=0)']) {
    it(`${PROCESSES} mixed processes at once ${mode}: none exits 6, every secret is right`, async () => {
      const e = mode.startsWith('without') ? { ...env, ACCT_AGENT: '0' } : env;
      if (e === env) {
        // A read that finds no agent starts one.
        expect((await acct(['token', 'local/k0'], env)).exitCode).toBe(0);
        await agentSocket(session);
      }
      const problems = (await Promise.all(mixed(e))).filter((p) => p !== undefined);
      expect(problems).toEqual([]);
    }, SLOW);
  }

  it('a key that really is missing: exit 6 in bounded time, saying how to check before anything destructive', async () => {
    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    // Delete the item through the Secret Service, as another program (or a user in Seahorse) would.
    expect(session.deleteItems({ service: 'acct', username: `data-key:${store.id}` })).toBe(1);
    for (const agent of ['1', '0']) {
      const started = Date.now();
      const r = await acct(['token', 'local/k0'], { ...env, ACCT_AGENT: agent, ACCT_KEYCHAIN_TIMEOUT: '5' });
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/data key .* is missing from the keychain/);
      // How to check comes first; starting over comes last, with what it costs.
      const check = r.stderr.indexOf(`check first: secret-tool search service acct username data-key:${store.id}`);
      const aside = r.stderr.indexOf('moving that folder aside');
      expect(check).toBeGreaterThan(0);
      expect(aside).toBeGreaterThan(check);
      expect(r.stderr.slice(aside)).toMatch(/^moving that folder aside and reconnecting every account starts over, losing the accounts stored there/);
      expect(Date.now() - started).toBeLessThan(60_000);
    }
  }, 120_000);
});
