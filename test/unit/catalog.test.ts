// The built-in catalog: every definition passes the schema user-added apps
// pass, and every app can be tested and used with `acct request`.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { appDefinition, isSecureUrl, templateFields } from '../../src/catalog/schema.js';

const dir = resolve(import.meta.dirname, '../../src/catalog/apps');
const load = (file: string) => JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Record<string, unknown>[];
const oauth = load('oauth.json');
const keys = load('keys.json');
const all = [...oauth, ...keys];

describe('built-in catalog', () => {
  it('has at least 30 OAuth apps and 30 API-key apps, with unique slugs', () => {
    expect(oauth.filter((a) => a.auth === 'oauth2').length).toBeGreaterThanOrEqual(30);
    expect(keys.filter((a) => a.auth === 'keys').length).toBeGreaterThanOrEqual(30);
    const slugs = all.map((a) => a.slug);
    expect(new Set(slugs).size).toBe(slugs.length);
  });

  it.each(all.map((a) => [a.slug as string, a]))('%s passes the app schema', (_slug, raw) => {
    const result = appDefinition.safeParse(raw);
    expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
  });

  it.each(all.map((a) => [a.slug as string, a]))('%s has an https API base URL and a test request', (_slug, raw) => {
    const app = appDefinition.parse(raw);
    expect(isSecureUrl(app.api.baseUrl)).toBe(true);
    expect(new URL(app.api.baseUrl.replace(/\{[a-z0-9_]+\}/g, 'x')).protocol).toBe('https:');
    expect(app.test, 'a test request').toBeDefined();
    expect(app.test!.path.length).toBeGreaterThan(0);
    // Every field gets an environment variable name for `acct env`.
    const fields = app.auth === 'keys' ? app.fields.map((f) => f.name) : ['oauth_access_token'];
    for (const f of fields) expect(app.env[f], `env name for ${f}`).toMatch(/^[A-Z_][A-Z0-9_]*$/);
    // Templates in fixed headers name fields the app has.
    const known = new Set(app.auth === 'keys' ? app.fields.map((f) => f.name) : ['oauth_access_token', 'oauth_refresh_token']);
    for (const value of Object.values(app.api.headers)) for (const ref of templateFields(value)) expect(known.has(ref), `{${ref}}`).toBe(true);
  });

  it.each(oauth.map((a) => [a.slug as string, a]))('%s has https OAuth endpoints and a place to register a client', (_slug, raw) => {
    const app = appDefinition.parse(raw);
    if (app.auth !== 'oauth2') throw new Error('not an OAuth app');
    for (const url of [app.oauth.authorizationUrl, app.oauth.tokenUrl, app.oauth.revocationUrl, app.oauth.deviceAuthorizationUrl].filter(Boolean))
      expect(new URL(url!).protocol).toBe('https:');
    expect(app.oauth.createClientUrl).toMatch(/^https:\/\//);
  });
});
