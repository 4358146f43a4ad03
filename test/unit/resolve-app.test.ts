// The one resolver of per-account templates: settings into URLs, a token
// field as a base URL, and the checks that keep a token on its host.
import { describe, it, expect } from 'vitest';
import { appDefinition, isSecureUrl, type OAuthApp } from '../../src/catalog/schema.js';
import { resolveApp, settingValueProblem, fieldBaseUrl } from '../../src/catalog/resolve-app.js';
import { baseUrl } from '../../src/api/authorize.js';
import { AcctError } from '../../src/errors.js';

const app = appDefinition.parse({
  slug: 'desk',
  name: 'Desk',
  auth: 'oauth2',
  settings: [
    { name: 'subdomain', label: 'Subdomain', pattern: '[a-z0-9-]+' },
    { name: 'region', label: 'Region', default: 'us' },
    { name: 'site', label: 'Site', lookup: { url: 'https://desk.example/sites', value: 'id' } },
  ],
  api: { baseUrl: 'https://{subdomain}.{region}.desk.example/api/{site}', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' }, headers: { 'X-Region': '{region}' } },
  test: { path: 'https://{subdomain}.desk.example/me', identity: ['id'] },
  env: {},
  oauth: {
    authorizationUrl: 'https://{subdomain}.desk.example/authorize',
    tokenUrl: 'https://{subdomain}.desk.example/token',
    tokenParams: { audience: 'https://{subdomain}.desk.example/api/' },
    createClientUrl: 'https://desk.example/apps',
  },
});

describe('resolveApp', () => {
  it('fills every template that names a setting, defaults included, and leaves token fields and unknown lookups alone', () => {
    const r = resolveApp(app, { subdomain: 'acme' });
    if (r.auth !== 'oauth2') throw new Error('oauth');
    expect(r.oauth.authorizationUrl).toBe('https://acme.desk.example/authorize');
    expect(r.oauth.tokenUrl).toBe('https://acme.desk.example/token');
    expect(r.oauth.tokenParams).toEqual({ audience: 'https://acme.desk.example/api/' });
    expect(r.api.baseUrl).toBe('https://acme.us.desk.example/api/{site}');
    expect(r.api.headers).toEqual({ 'X-Region': 'us' });
    expect(r.api.auth).toEqual({ type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' });
    expect(r.test?.path).toBe('https://acme.desk.example/me');
    expect(resolveApp(app, { subdomain: 'acme', site: 's-1' }).api.baseUrl).toBe('https://acme.us.desk.example/api/s-1');
    // The catalog's copy is untouched.
    expect(app.api.baseUrl).toBe('https://{subdomain}.{region}.desk.example/api/{site}');
  });

  it('a missing setting with no default is a usage error naming --setting; a bad stored value is refused', () => {
    const err = (() => {
      try {
        resolveApp(app, {});
      } catch (e) {
        return e as AcctError;
      }
    })();
    expect(err).toMatchObject({ exitCode: 2, message: 'this desk account has no "subdomain" setting (Subdomain)', hint: 'reconnect it with: --setting subdomain=…' });
    expect(() => resolveApp(app, { subdomain: 'evil.example/' })).toThrow(AcctError);
    expect(() => resolveApp(app, { subdomain: 'Acme' })).toThrow(/expected form/);
  });
});

describe('settingValueProblem', () => {
  const spec = { name: 'host', label: 'Host' };
  it.each(['acme', 'acme.my.salesforce.com', 'dev-123456.okta.com', 'a_b~c', '11223344-a1b2-3b33-c444-def123456789'])('takes %s', (v) => {
    expect(settingValueProblem(spec, v)).toBeUndefined();
  });
  it.each(['evil.example/x', 'a@b', 'a:443', 'a?b', 'a#b', 'a b', 'a\tb', 'a\r\nb', 'a%2f', 'a\\b', '', '.a', 'a.', 'a..b', 'x'.repeat(254)])('refuses %j', (v) => {
    expect(settingValueProblem(spec, v)).toBeDefined();
  });
});

describe('fieldBaseUrl', () => {
  it('joins the path to an https field, dropping a trailing slash', () => {
    expect(fieldBaseUrl('{api_domain}/api/v1', { api_domain: 'https://acme.pipedrive.com/' }, isSecureUrl)).toBe('https://acme.pipedrive.com/api/v1');
    expect(fieldBaseUrl('{instance_url}', { instance_url: 'https://na1.salesforce.com' }, isSecureUrl)).toBe('https://na1.salesforce.com');
    expect(fieldBaseUrl('https://x.example/{a}', { a: 'b' }, isSecureUrl)).toBeUndefined();
  });
  it.each(['http://acme.example', 'https://user:pw@acme.example', 'https://acme.example?x=1', 'https://acme.example#f', 'javascript:alert(1)', 'not a url'])('refuses %s', (v) => {
    expect(() => fieldBaseUrl('{api_domain}/api/v1', { api_domain: v }, isSecureUrl)).toThrow(/not an https URL/);
  });
  it('a missing field says to reconnect', () => {
    expect(() => fieldBaseUrl('{api_domain}/api', {}, isSecureUrl)).toThrow(/has no field "api_domain"/);
  });
  it('is what authorize.baseUrl uses', () => {
    const pd = appDefinition.parse({ ...app, settings: [], api: { ...app.api, baseUrl: '{api_domain}/api/v1', headers: {} }, test: undefined, oauth: { ...(app as OAuthApp).oauth, authorizationUrl: 'https://x.example/a', tokenUrl: 'https://x.example/t', tokenParams: {} } });
    expect(baseUrl(pd, { api_domain: 'https://acme.pipedrive.com' })).toBe('https://acme.pipedrive.com/api/v1');
  });
});
