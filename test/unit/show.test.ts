// `acct show` masks every secret value unless --reveal, with a plain-object
// context: no store, no files.
import { describe, it, expect } from 'vitest';
import { show } from '../../src/commands/show.js';
import { mask } from '../../src/output/format.js';
import { parseApp } from '../../src/catalog/validate.js';
import type { Context } from '../../src/context.js';
import { resolveReference } from '../../src/accounts/resolve.js';
import { noTeams } from '../../src/accounts/stores.js';
import type { Account, Metadata } from '../../src/accounts/model.js';
import type { AppDefinition } from '../../src/catalog/schema.js';

const keysApp = parseApp(
  {
    slug: 'duo',
    name: 'Duo',
    auth: 'keys',
    api: { baseUrl: 'https://api.example.com', auth: { type: 'basic', username: '{account_sid}', password: '{auth_token}' } },
    fields: [
      { name: 'account_sid', label: 'Account SID', secret: false },
      { name: 'auth_token', label: 'Auth token' },
    ],
    env: {},
  },
  'the test',
);
const oauthApp = parseApp(
  {
    slug: 'hub',
    name: 'Hub',
    auth: 'oauth2',
    api: { baseUrl: 'https://api.example.com', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
    env: {},
    oauth: { authorizationUrl: 'https://example.com/authorize', tokenUrl: 'https://example.com/token', createClientUrl: 'https://example.com/apps' },
  },
  'the test',
);

const account = (id: string, app: string, nickname: string, auth: Account['auth']): Account => ({
  id,
  app,
  nickname,
  auth,
  status: 'ok',
  scopes: auth === 'oauth2' ? ['read', 'write'] : [],
  fields: [],
  identity: 'someone',
  expiresAt: null,
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-02T00:00:00.000Z',
});

const SID = 'AC0123456789';
const TOKEN = 'tok_0123456789abcdefghijklmnop';
const SHORT = 'short-secret';
const ACCESS = 'gho_accesstokenvalue0123456789';
const REFRESH = 'ghr_refreshtokenvalue0123456789';

const duo = account('acc_aaaaaaaaaa', 'duo', 'prod', 'keys');
const hub = account('acc_bbbbbbbbbb', 'hub', 'me', 'oauth2');
const orphan = account('acc_cccccccccc', 'gone', 'old', 'keys');
const secrets: Record<string, Record<string, string>> = {
  [duo.id]: { account_sid: SID, auth_token: TOKEN, legacy_key: SHORT },
  [hub.id]: { oauth_access_token: ACCESS, oauth_refresh_token: REFRESH, expires_at: '2030-01-01T00:00:00Z' },
  [orphan.id]: { api_key: TOKEN },
};

function fakeContext() {
  let out = '';
  const m: Metadata = { version: 1, accounts: [duo, hub, orphan], defaults: { duo: duo.id }, retiredIds: [] };
  const apps: Record<string, AppDefinition> = { duo: keysApp, hub: oauthApp };
  const ctx = {
    env: { NO_COLOR: '1' },
    io: { stdout: { isTTY: false, write: (s: string) => ((out += s), true) } },
    now: () => new Date('2024-06-01T00:00:00Z'),
    // The store interface as show uses it, over the metadata above.
    store: {
      view: async () => m,
      resolve: async (ref: string) => resolveReference(m, ref),
      readSecrets: async (ids: string[]) => new Map(ids.map((id) => [id, { ...secrets[id] }])),
      uses: async (id: string) => (id === duo.id ? [{ at: '2024-05-31T00:00:00.000Z' }] : []),
    },
    teams: noTeams,
    catalog: { find: (slug: string) => (apps[slug] ? { app: apps[slug], source: 'user' } : undefined), all: () => [] },
    housekeeping: async (_what: string, fn: () => void | Promise<void>) => fn(),
  } as unknown as Context;
  return { ctx, output: () => out };
}

async function run(ref: string, opts: { reveal?: boolean; json?: boolean }) {
  const { ctx, output } = fakeContext();
  await show(ctx, ref, opts);
  return output();
}

describe('show', () => {
  it('masks secret key fields, shows the non-secret ones, and masks fields the app does not know', async () => {
    const text = await run('duo/prod', {});
    expect(text).toMatch(new RegExp(`^\\s+account_sid\\s+${SID}$`, 'm'));
    expect(text).toMatch(new RegExp(`^\\s+auth_token\\s+${mask(TOKEN)}$`, 'm'));
    expect(text).toMatch(new RegExp(`^\\s+legacy_key\\s+${mask(SHORT)}$`, 'm'));
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SHORT);
    expect(text).toMatch(/^nickname\s+prod$/m);
    expect(text).toMatch(/^default\s+yes \(acct duo means this account\)$/m);
    expect(text).toMatch(/^last used\s+2024-05-31T00:00:00.000Z$/m);
    expect(text).toMatch(/--reveal prints them/);
  });

  it('masks every OAuth field', async () => {
    const json = JSON.parse(await run('hub', { json: true }));
    expect(json).toMatchObject({ id: hub.id, app: 'hub', auth: 'oauth2', scopes: ['read', 'write'] });
    expect(json.fields.oauth_access_token).toBe(mask(ACCESS));
    expect(json.fields.oauth_refresh_token).toBe(mask(REFRESH));
    expect(JSON.stringify(json)).not.toContain(ACCESS);
    expect(JSON.stringify(json)).not.toContain(REFRESH);
  });

  it('masks everything when the app definition is missing', async () => {
    const text = await run('gone/old', {});
    expect(text).toMatch(/app definition missing/);
    expect(text).not.toContain(TOKEN);
    expect(text).toMatch(new RegExp(`^\\s+api_key\\s+${mask(TOKEN)}$`, 'm'));
  });

  it('--reveal prints every value', async () => {
    const text = await run(duo.id, { reveal: true });
    for (const v of [SID, TOKEN, SHORT]) expect(text).toContain(v);
    expect(text).not.toMatch(/values masked/);
    const json = JSON.parse(await run('hub', { json: true, reveal: true }));
    expect(json.fields).toEqual(secrets[hub.id]);
  });
});

describe('mask', () => {
  it('short values give nothing away, not even their length', () => {
    expect(mask('a')).toBe(mask('x'.repeat(23)));
    expect(mask('')).toBe(mask('abc'));
    expect(mask(SHORT)).not.toMatch(/[a-z]/);
  });

  it('long values show only their last four characters', () => {
    expect(mask(TOKEN)).toBe(`${'•'.repeat(8)}${TOKEN.slice(-4)}`);
    expect(mask(TOKEN)).not.toContain(TOKEN.slice(-5));
    expect(mask('y'.repeat(24)).length).toBe(mask('y'.repeat(200)).length);
  });
});
