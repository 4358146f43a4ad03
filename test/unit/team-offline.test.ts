// The access tokens a machine keeps for while its team's database is
// unreachable (src/team/offline.ts), on a real passphrase store in a
// temporary folder: what is kept, what a read finds, what is forgotten, and
// that the plain list beside the sealed entries decides nothing.
import { describe, it, expect, beforeEach } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretStore } from '../../src/store/store.js';
import { OfflineTokens, tokensFile } from '../../src/team/offline.js';
import type { TeamConfig } from '../../src/team/config.js';
import type { Account } from '../../src/accounts/model.js';

const TOKEN = 'at_OFFLINE_unit_token_7d1e';
const team: TeamConfig = { name: 'acme', url: 'postgres://db.internal:5433/acct', teamId: 't1', memberId: 'mb_ana', source: 'file' };
const HOST = 'db.internal:5433';

function account(over: Partial<Account> = {}): Account {
  return {
    id: 'acc_abcdefghij',
    app: 'github',
    nickname: 'ci',
    auth: 'oauth2',
    status: 'ok',
    scopes: ['repo'],
    fields: ['oauth_access_token', 'oauth_refresh_token'],
    identity: null,
    expiresAt: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    team: 'acme',
    ...over,
  };
}

let home: string;
let secrets: SecretStore;
const tokens = (t: TeamConfig = team) => new OfflineTokens({ config: home, data: home }, secrets, t);
const now = new Date();
const inAnHour = new Date(now.getTime() + 3600_000).toISOString();
const entries = () => (existsSync(join(home, 'secrets')) ? readdirSync(join(home, 'secrets')).filter((f) => f.startsWith('team-token.')) : []);

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'acct-offline-'));
  secrets = new SecretStore({ paths: { config: home, data: home }, requestedKind: 'file', keychain: async () => Promise.reject(new Error('none')), passphrase: async () => 'pass' });
});

describe('offline tokens of a team', () => {
  it('a kept token is found by id and by app/nickname, with its expiry and the account it came from; sealed, not in plain text', async () => {
    await tokens().keep(account(), TOKEN, inAnHour);
    for (const ref of ['acc_abcdefghij', 'github/ci']) {
      const found = await tokens().find(ref, 60, now, HOST);
      expect(found).toMatchObject({ token: TOKEN, expiresAt: inAnHour, host: HOST, account: { id: 'acc_abcdefghij', app: 'github', nickname: 'ci', team: 'acme', scopes: ['repo'], expiresAt: inAnHour } });
    }
    // Another name of it (a nickname alone, the app alone) needs the database's list: not guessed.
    expect(await tokens().find('github', 60, now, HOST)).toHaveProperty('problem');
    for (const f of [tokensFile({ config: home, data: home }), ...entries().map((e) => join(home, 'secrets', e))]) expect(readFileSync(f, 'utf8')).not.toContain(TOKEN);
  });

  it('written only when the token changed', async () => {
    await tokens().keep(account(), TOKEN, inAnHour);
    const entry = join(home, 'secrets', entries()[0]!);
    const before = statSync(entry).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await tokens().keep(account(), TOKEN, inAnHour);
    expect(statSync(entry).mtimeMs).toBe(before);
    const later = new Date(now.getTime() + 7200_000).toISOString();
    await tokens().keep(account(), 'at_new', later);
    expect(statSync(entry).mtimeMs).not.toBe(before);
    expect(await tokens().find('github/ci', 0, now, HOST)).toMatchObject({ token: 'at_new', expiresAt: later });
  });

  it('a copy that does not last min-ttl, or expired, is none, and says so', async () => {
    await tokens().keep(account(), TOKEN, inAnHour);
    expect(await tokens().find('github/ci', 7200, now, HOST)).toEqual({ problem: expect.stringContaining(`expires at ${inAnHour}, within 7200s`) });
    expect(await tokens().find('github/ci', 0, new Date(now.getTime() + 7200_000), HOST)).toEqual({ problem: expect.stringContaining('expired at') });
  });

  it('forgotten when the setting is off, when the account is no longer visible, one by one, or all', async () => {
    await tokens().keep(account(), TOKEN, inAnHour);
    await tokens().keep(account({ id: 'acc_bbbbbbbbbb', nickname: 'other' }), TOKEN, inAnHour);
    await tokens().sync(true, new Set(['acc_abcdefghij']));
    expect(entries()).toEqual(['team-token.acme.acc_abcdefghij.json']);
    await tokens().sync(false, new Set(['acc_abcdefghij']));
    expect(entries()).toEqual([]);
    expect(existsSync(tokensFile({ config: home, data: home }))).toBe(false);
    await tokens().keep(account(), TOKEN, inAnHour);
    await tokens().forget('acc_abcdefghij');
    expect(entries()).toEqual([]);
    await tokens().keep(account(), TOKEN, inAnHour);
    await tokens().forgetAll();
    expect(await tokens().find('github/ci', 0, now, HOST)).toHaveProperty('problem');
  });

  it('another member of a team of the same name (joined again), another team, or a list edited to name another entry: none', async () => {
    await tokens().keep(account(), TOKEN, inAnHour);
    await tokens().keep(account({ id: 'acc_bbbbbbbbbb', app: 'gitlab', nickname: 'deploy' }), 'at_other', inAnHour);
    expect(await tokens({ ...team, memberId: 'mb_new' }).find('github/ci', 0, now, HOST)).toHaveProperty('problem');
    expect(await tokens({ ...team, name: 'other' }).find('github/ci', 0, now, HOST)).toHaveProperty('problem');
    // The list is plain JSON: whoever edits it to give one account the other's entry gets nothing.
    const file = tokensFile({ config: home, data: home });
    const list = JSON.parse(readFileSync(file, 'utf8'));
    list.tokens[0].account = 'acc_bbbbbbbbbb';
    list.tokens[1].account = 'acc_abcdefghij';
    writeFileSync(file, JSON.stringify(list));
    expect(await tokens().find('github/ci', 0, now, HOST)).toHaveProperty('problem');
    expect(await tokens().find('gitlab/deploy', 0, now, HOST)).toHaveProperty('problem');
  });

  it('an account id from the database that is no id (a path) names no file', async () => {
    await tokens().keep(account({ id: '../../escape' }), TOKEN, inAnHour);
    expect(entries()).toEqual([]);
    expect(existsSync(tokensFile({ config: home, data: home }))).toBe(false);
    expect(readdirSync(home).filter((f) => f !== 'store.json' && f !== 'secrets')).toEqual([]);
  });
});
