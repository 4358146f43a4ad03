// revokeReplaced: after a reconnect, the grant that was replaced is revoked,
// unless the provider handed back the same refresh token (the grant lives on).
import { describe, it, expect } from 'vitest';
import { revokeReplaced } from '../../src/accounts/revoke.js';
import { parseApp } from '../../src/catalog/validate.js';
import type { Context } from '../../src/context.js';
import type { AccountStore } from '../../src/store/account-store.js';
import type { OAuthApp } from '../../src/catalog/schema.js';

const app = parseApp(
  {
    slug: 'corp',
    name: 'Corp',
    auth: 'oauth2',
    api: { baseUrl: 'https://api.corp.example', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
    env: { oauth_access_token: 'CORP_TOKEN' },
    oauth: {
      authorizationUrl: 'https://id.corp.example/authorize',
      tokenUrl: 'https://id.corp.example/token',
      revocationUrl: 'https://id.corp.example/revoke',
      scopes: [],
      clientAuth: 'none',
      clientSecret: 'none',
      createClientUrl: 'https://id.corp.example/apps',
    },
  },
  'the test',
) as OAuthApp;

/** A store with no client set: the client comes from the environment. */
const noClients = { clients: { get: async () => undefined, peek: async () => undefined } } as unknown as AccountStore;

/** A context with only what revocation uses: the client from the environment, a recording fetch, stderr lines. */
function fakeContext(status = 200) {
  const sent: { url: string; body: string }[] = [];
  const lines: string[] = [];
  const ctx = {
    env: { ACCT_CLIENT_ID_CORP: 'corp-cli' },
    fetch: async () => async (url: string | URL, init: RequestInit = {}) => {
      sent.push({ url: String(url), body: String(init.body) });
      return new Response(status === 200 ? '' : '{"error":"server_error"}', { status, headers: { 'content-type': 'application/json' } });
    },
    info: (m: string) => lines.push(`info: ${m}`),
    warn: (m: string) => lines.push(`warning: ${m}`),
  } as unknown as Context;
  return { ctx, sent, lines };
}

describe('revokeReplaced', () => {
  it('revokes the old refresh token, then the old access token', async () => {
    const { ctx, sent, lines } = fakeContext();
    await revokeReplaced(ctx, noClients, app, { oauth_access_token: 'old-at', oauth_refresh_token: 'old-rt' }, { oauth_access_token: 'new-at', oauth_refresh_token: 'new-rt' }, 'corp/me');
    expect(sent.map((s) => [s.url, Object.fromEntries(new URLSearchParams(s.body))])).toEqual([
      ['https://id.corp.example/revoke', { token: 'old-rt', token_type_hint: 'refresh_token', client_id: 'corp-cli' }],
      ['https://id.corp.example/revoke', { token: 'old-at', token_type_hint: 'access_token', client_id: 'corp-cli' }],
    ]);
    expect(lines).toEqual(['info: Revoked the previous grant of corp/me at Corp.']);
  });

  it('revokes nothing when the provider returned the same refresh token', async () => {
    const { ctx, sent, lines } = fakeContext();
    await revokeReplaced(ctx, noClients, app, { oauth_access_token: 'old-at', oauth_refresh_token: 'same-rt' }, { oauth_access_token: 'new-at', oauth_refresh_token: 'same-rt' }, 'corp/me');
    expect(sent).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('a failed revocation is a warning that never quotes a token', async () => {
    const { ctx, lines } = fakeContext(500);
    await revokeReplaced(ctx, noClients, app, { oauth_access_token: 'old-at', oauth_refresh_token: 'old-rt' }, { oauth_access_token: 'new-at', oauth_refresh_token: 'new-rt' }, 'corp/me');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: the new credentials of corp\/me are stored, but the previous grant could not be revoked at Corp \(.*\): revoke it in your Corp settings$/);
    expect(lines[0]).not.toMatch(/old-rt|old-at|new-/);
  });
});
