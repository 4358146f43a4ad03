// The built-in catalog: every definition passes the schema user-added apps
// pass, and every app can be tested and used with `acct request`.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { appRotatesRefreshToken } from '../../src/catalog/catalog.js';
import { appDefinition, isSecureUrl, templateFields, FIELD_URL_TEMPLATE, CATEGORIES } from '../../src/catalog/schema.js';

const dir = resolve(import.meta.dirname, '../../src/catalog/apps');
const load = (file: string) => JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Record<string, unknown>[];
// Every file there is part of the catalog (the build reads them all).
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const all = files.flatMap(load);
const oauth = all.filter((a) => a.auth === 'oauth2');
const keys = all.filter((a) => a.auth === 'keys');

describe('built-in catalog', () => {
  it("has the issue's 300 apps (at least 120 OAuth and 150 API-key apps), with unique slugs", () => {
    expect(files).toContain('oauth.json');
    expect(all.length).toBeGreaterThanOrEqual(300);
    expect(oauth.length).toBeGreaterThanOrEqual(120);
    expect(keys.length).toBeGreaterThanOrEqual(150);
    expect(all.length).toBe(oauth.length + keys.length);
    const slugs = all.map((a) => a.slug);
    expect(new Set(slugs).size).toBe(slugs.length);
  });

  it.each(all.map((a) => [a.slug as string, a]))('%s passes the app schema', (_slug, raw) => {
    const result = appDefinition.safeParse(raw);
    expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
  });

  it.each(all.map((a) => [a.slug as string, a]))('%s has docs, a category, an https API base URL and a test request', (_slug, raw) => {
    const app = appDefinition.parse(raw);
    // Optional for apps people add themselves; every built-in app has them.
    expect(app.docs, 'docs').toMatch(/^https:\/\//);
    expect(app.category, 'category').toBeDefined();
    expect(CATEGORIES).toContain(app.category);
    if (app.auth === 'oauth2') expect(app.test?.identity.length, 'an identity path in the test answer').toBeGreaterThan(0);
    if (FIELD_URL_TEMPLATE.test(app.api.baseUrl)) {
      // Each account's own API host: from the token response (Salesforce's instance_url), or a key
      // app's non-secret field (a self-hosted server's URL); either is checked to be https when used.
      const field = /^\{([a-z][a-z0-9_]*)\}/.exec(app.api.baseUrl)![1]!;
      if (app.auth === 'keys') expect(app.fields.find((f) => f.name === field)?.secret, `${field} is not secret`).toBe(false);
    } else {
      expect(isSecureUrl(app.api.baseUrl)).toBe(true);
      expect(new URL(app.api.baseUrl.replace(/\{[a-z0-9_]+\}/g, 'x')).protocol).toBe('https:');
    }
    expect(app.test, 'a test request').toBeDefined();
    expect(app.test!.path.length).toBeGreaterThan(0);
    // Every field gets an environment variable name for `acct env`.
    const fields = app.auth === 'keys' ? app.fields.map((f) => f.name) : ['oauth_access_token'];
    for (const f of fields) expect(app.env[f], `env name for ${f}`).toMatch(/^[A-Z_][A-Z0-9_]*$/);
    // Templates in fixed headers name fields the app has.
    const known = new Set(app.auth === 'keys' ? app.fields.map((f) => f.name) : ['oauth_access_token', 'oauth_refresh_token', 'oauth_client_id']);
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

describe('API base URLs', () => {
  const auth = { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' };
  const oauthApp = (baseUrl: string) => ({
    slug: 'org',
    name: 'Org',
    auth: 'oauth2',
    api: { baseUrl, auth },
    env: {},
    oauth: { authorizationUrl: 'https://login.example.com/auth', tokenUrl: 'https://login.example.com/token', scopes: [], createClientUrl: 'https://example.com/apps' },
  });
  const keysApp = (baseUrl: string) => ({
    slug: 'svc',
    name: 'Svc',
    auth: 'keys',
    api: { baseUrl, auth: { type: 'header', name: 'X-Key', value: '{api_key}' } },
    env: {},
    fields: [
      { name: 'host', label: 'Host', secret: false },
      { name: 'api_key', label: 'API key' },
    ],
  });
  const issues = (raw: unknown) => {
    const r = appDefinition.safeParse(raw);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('may be one non-secret field as a whole: an OAuth extra like instance_url, or a key app field', () => {
    expect(issues(oauthApp('{instance_url}'))).toEqual([]);
    expect(issues(keysApp('{host}'))).toEqual([]);
    expect(issues(keysApp('https://{host}/v1'))).toEqual([]);
  });

  it('never takes a secret into the URL, and is otherwise an https URL', () => {
    expect(issues(oauthApp('{oauth_access_token}'))).toEqual(['api.baseUrl: {oauth_access_token} must name a non-secret field']);
    expect(issues(oauthApp('https://{client_secret}.example.com'))).toEqual(['api.baseUrl: {client_secret} must name a non-secret field']);
    expect(issues(keysApp('{api_key}'))).toEqual(['api.baseUrl: {api_key} must name a non-secret field']);
    expect(issues(keysApp('http://{host}/v1'))[0]).toMatch(/^api.baseUrl: must be an https URL/);
    expect(issues(keysApp('{host}.example.com/v1'))[0]).toMatch(/^api.baseUrl: must be an https URL/);
  });

  it('may start with a field and go on with a path: Pipedrive\'s {api_domain}/api/v1', () => {
    expect(issues(oauthApp('{api_domain}/api/v1'))).toEqual([]);
    expect(issues(keysApp('{host}/v1'))).toEqual([]);
    expect(issues(oauthApp('{api_domain}/api/{oauth_access_token}'))).toContain('api.baseUrl: {oauth_access_token} must name a non-secret field');
  });
});

describe('connection settings and quirk fields', () => {
  const base = {
    slug: 'desk',
    name: 'Desk',
    auth: 'oauth2',
    api: { baseUrl: 'https://{subdomain}.desk.example/api', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
    env: {},
    settings: [{ name: 'subdomain', label: 'Desk subdomain', pattern: '[a-z0-9-]+', example: 'acme' }],
    oauth: {
      authorizationUrl: 'https://{subdomain}.desk.example/oauth/authorize',
      tokenUrl: 'https://{subdomain}.desk.example/oauth/token',
      createClientUrl: 'https://desk.example/apps',
    },
  };
  const issues = (raw: unknown) => {
    const r = appDefinition.safeParse(raw);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('a setting fills endpoint and base URL templates; an unknown one in an endpoint is refused', () => {
    expect(issues(base)).toEqual([]);
    expect(issues({ ...base, oauth: { ...base.oauth, tokenUrl: 'https://{region}.desk.example/token' } })).toEqual(['oauth.tokenUrl: {region} is not a setting asked at connect time']);
  });

  it('a setting looked up after connect cannot be in an OAuth endpoint, and has no default', () => {
    const lookup = { url: 'https://desk.example/sites', value: 'id' };
    const app = { ...base, settings: [...base.settings, { name: 'site', label: 'Site', lookup }], api: { ...base.api, baseUrl: 'https://api.desk.example/site/{site}' } };
    expect(issues(app)).toEqual([]);
    expect(issues({ ...app, oauth: { ...app.oauth, tokenUrl: 'https://{site}.desk.example/token' } })).toEqual(['oauth.tokenUrl: {site} is not a setting asked at connect time']);
    expect(issues({ ...app, settings: [base.settings[0], { name: 'site', label: 'Site', lookup, default: 'x' }] })).toEqual(['settings.1.default: a looked-up setting has no default']);
  });

  it('a default that could move a request to another host is refused', () => {
    for (const bad of ['evil.example/', 'a@evil.example', 'a b', 'x?y', 'x#y', 'evil.example:8443', '..'])
      expect(issues({ ...base, settings: [{ name: 'subdomain', label: 'Desk subdomain', default: bad }] })[0], bad).toMatch(/^settings.0.default:/);
  });

  it('a client-credentials-only app needs no authorization URL; a sign-in app does', () => {
    const { authorizationUrl: _, ...noAuthorize } = base.oauth;
    expect(issues({ ...base, oauth: { ...noAuthorize, grants: ['client_credentials'] } })).toEqual([]);
    expect(issues({ ...base, oauth: noAuthorize })).toEqual(['oauth.authorizationUrl: the authorization_code grant needs an authorizationUrl']);
  });

  it('token headers are HTTP tokens without CR/LF; omitted authorize parameters never include state', () => {
    expect(issues({ ...base, oauth: { ...base.oauth, tokenHeaders: { 'X-Api-Version': '2' } } })).toEqual([]);
    expect(issues({ ...base, oauth: { ...base.oauth, tokenHeaders: { 'X-A': 'v\r\nEvil: 1' } } })[0]).toMatch(/CR, LF or NUL/);
    expect(issues({ ...base, oauth: { ...base.oauth, omitAuthorizeParams: ['scope', 'code_challenge_method'] } })).toEqual([]);
    expect(issues({ ...base, oauth: { ...base.oauth, omitAuthorizeParams: ['state'] } })[0]).toMatch(/^oauth.omitAuthorizeParams.0/);
  });

  it('appRotatesRefreshToken reads the declared fact', () => {
    expect(appRotatesRefreshToken(appDefinition.parse(base))).toBe(false);
    expect(appRotatesRefreshToken(appDefinition.parse({ ...base, oauth: { ...base.oauth, rotatesRefreshToken: true } }))).toBe(true);
  });
});
