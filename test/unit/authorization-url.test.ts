// The authorization request's URL: where the scopes go, and the rest of what
// acct always sends (PKCE S256, a fresh state, the redirect URI).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseApp } from '../../src/catalog/validate.js';
import { buildAuthorizationRequest } from '../../src/oauth/protocol.js';
import type { OAuthApp } from '../../src/catalog/schema.js';

const builtin = (slug: string) => {
  const raw = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/catalog/apps/oauth.json'), 'utf8')) as { slug: string }[]).find((a) => a.slug === slug)!;
  return parseApp(raw, 'test') as OAuthApp;
};
const client = { clientId: 'the-client' };

describe('authorization URL', () => {
  it('sends the scopes, default and extra, in `scope` with the app separator', async () => {
    const github = builtin('github');
    const { url, state, codeVerifier } = await buildAuthorizationRequest(github, client, 'http://127.0.0.1:5555/callback', ['workflow']);
    expect(url.searchParams.get('scope')!.split(github.oauth.scopeSeparator)).toEqual([...github.oauth.scopes, 'workflow']);
    expect(url.searchParams.get('client_id')).toBe('the-client');
    expect(url.searchParams.get('redirect_uri')).toBe('http://127.0.0.1:5555/callback');
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(codeVerifier.length).toBeGreaterThanOrEqual(43);
  });

  it("Slack: a user token's scopes, extra ones included, go in user_scope, and no bot scope is asked", async () => {
    const slack = builtin('slack');
    const { url } = await buildAuthorizationRequest(slack, client, 'https://127.0.0.1:8976/callback', ['chat:write']);
    expect(url.searchParams.has('scope')).toBe(false);
    expect(url.searchParams.get('user_scope')!.split(',')).toEqual([...slack.oauth.scopes, 'chat:write']);
    expect(slack.oauth.scopes).toContain('users:read');
  });
});

describe('authorizeParams cannot stand in for what acct sets', () => {
  const reserved = ['state', 'redirect_uri', 'code_challenge', 'code_challenge_method', 'client_id', 'response_type', 'scope'];

  it('an app definition that names one is refused, naming it', () => {
    const raw = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/catalog/apps/oauth.json'), 'utf8')) as { slug: string; oauth: Record<string, unknown> }[]).find((a) => a.slug === 'github')!;
    for (const name of reserved)
      expect(() => parseApp({ ...raw, oauth: { ...raw.oauth, authorizeParams: { prompt: 'consent', [name]: 'x' } } }, 'app.json')).toThrow(
        new RegExp(`oauth\\.authorizeParams\\.${name}: ${name} is set by acct itself`),
      );
    expect(() => parseApp({ ...raw, oauth: { ...raw.oauth, authorizeParams: { prompt: 'consent' } } }, 'app.json')).not.toThrow();
  });

  it('and one that got past validation never overrides them at runtime', async () => {
    const github = builtin('github');
    const app = { ...github, oauth: { ...github.oauth, authorizeParams: Object.fromEntries([...reserved.map((n) => [n, 'attacker']), ['prompt', 'consent']]) } } as OAuthApp;
    const { url, state } = await buildAuthorizationRequest(app, client, 'http://127.0.0.1:5555/callback', []);
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.searchParams.get('redirect_uri')).toBe('http://127.0.0.1:5555/callback');
    expect(url.searchParams.get('client_id')).toBe('the-client');
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).not.toBe('attacker');
    expect(url.searchParams.get('scope')).not.toBe('attacker');
    expect(url.searchParams.get('prompt')).toBe('consent');
    for (const name of reserved) expect(url.searchParams.getAll(name)).toHaveLength(1);
  });
});
