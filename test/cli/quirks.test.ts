// Every provider quirk the catalog schema expresses, played by a local
// stand-in provider (test/support/quirk-provider.ts): for each, a test app
// added with `acct apps add --file`, then connect, refresh and a request
// through the built binary, checking what reached the provider.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { quirkHome } from '../support/oauth-cli.js';
import { startQuirkProvider, quirkApp, type QuirkProvider } from '../support/quirk-provider.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';

let p: QuirkProvider;
beforeAll(async () => {
  p = await startQuirkProvider();
});
afterAll(() => p.close());

type Env = Record<string, string | undefined>;

/** A fresh home with the app added and the provider's client set. */
async function setup(slug: string, def: Record<string, unknown>, extraEnv: Env = {}): Promise<Env> {
  return quirkHome(p, slug, def, extraEnv);
}

async function ok(args: string[], env: Env) {
  const r = await acct(args, env);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

const last = (re: RegExp) => p.calls(re).at(-1)!;

describe('connection settings', () => {
  it('fill the endpoints and base URL, are stored with the account, shown by show, exported by env', async () => {
    const env = await setup('desk', quirkApp(p));
    const before = p.seen.length;
    await ok(['connect', 'desk', '--setting', 'tenant=acme'], env);
    const calls = p.seen.slice(before);
    expect(calls.map((c) => c.path)).toEqual(['/t/acme/authorize', '/t/acme/token', '/t/acme/api/me']);
    const show = JSON.parse((await ok(['show', 'desk', '--json'], env)).stdout);
    expect(show.settings).toEqual({ tenant: 'acme' });
    expect(show.identity).toBe('quinn@acme');
    expect((await ok(['show', 'desk'], env)).stdout).toMatch(/setting tenant\s+acme/);
    // Refresh at the tenant's token endpoint, then a request on the tenant's API.
    await ok(['token', 'desk', '--refresh'], env);
    expect(last(/token$/)).toMatchObject({ path: '/t/acme/token', params: { grant_type: 'refresh_token' } });
    const r = await ok(['request', 'desk', '/projects'], env);
    expect(JSON.parse(r.stdout).path).toBe('/t/acme/api/projects');
    expect((await ok(['env', 'desk'], env)).stdout).toContain("QUIRK_TENANT='acme'");
  });

  it('without a terminal, a missing setting is a usage error naming --setting, before anything is sent', async () => {
    const env = await setup('desk', quirkApp(p));
    const before = p.seen.length;
    const r = await acct(['connect', 'desk'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--setting tenant=acme');
    expect(p.seen.length).toBe(before);
  });

  it('a value that could move the token to another host is refused (exit 2), nothing sent, nothing stored', async () => {
    const env = await setup('desk', quirkApp(p, { settings: [{ name: 'tenant', label: 'Tenant' }] }));
    const before = p.seen.length;
    for (const bad of ['evil.example/x', 'a@evil.example', 'x?y=1', 'x#y', 'a b', 'evil.example:81']) {
      const r = await acct(['connect', 'desk', '--setting', `tenant=${bad}`], env);
      expect(r.exitCode, bad).toBe(2);
      expect(r.stderr).toContain('cannot be the tenant setting');
    }
    const unknown = await acct(['connect', 'desk', '--setting', 'region=eu'], env);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('its settings are: tenant');
    expect(p.seen.length).toBe(before);
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
  });

  it('a default applies when none is given; reconnect keeps the account\'s own', async () => {
    const env = await setup('desk', quirkApp(p, { settings: [{ name: 'tenant', label: 'Tenant', default: 'common' }] }));
    await ok(['connect', 'desk'], env);
    expect(last(/token$/).path).toBe('/t/common/token');
    await ok(['connect', 'desk', '--setting', 'tenant=contoso', '--nickname', 'c'], env);
    await ok(['reconnect', 'desk/c'], env);
    expect(last(/token$/).path).toBe('/t/contoso/token');
    expect(JSON.parse((await ok(['show', 'desk/c', '--json'], env)).stdout).settings).toEqual({ tenant: 'contoso' });
  });
});

describe('a setting looked up after connect (Atlassian\'s cloud id)', () => {
  const app = () =>
    quirkApp(p, {
      settings: [
        { name: 'tenant', label: 'Tenant', default: 'gw' },
        { name: 'cloudid', label: 'Site', lookup: { url: `${p.url}/resources`, value: 'id', label: 'name' } },
      ],
      api: { baseUrl: `${p.url}/t/{tenant}/api/ex/{cloudid}`, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
      test: { path: '/myself', identity: ['user.login'] },
    });

  it('one site: taken, stored, and requests go under it', async () => {
    p.resources = [{ id: 'c0ffee-1', name: 'One', url: 'https://one.example' }];
    const env = await setup('sites', app());
    await ok(['connect', 'sites'], env);
    const lookup = last(/^\/resources$/);
    expect(lookup.headers.authorization).toMatch(/^Bearer at-gw-/);
    expect(last(/myself$/).path).toBe('/t/gw/api/ex/c0ffee-1/myself');
    expect(JSON.parse((await ok(['show', 'sites', '--json'], env)).stdout).settings).toEqual({ tenant: 'gw', cloudid: 'c0ffee-1' });
    await ok(['token', 'sites', '--refresh'], env);
    const r = await ok(['request', 'sites', '/rest/api/3/project'], env);
    expect(JSON.parse(r.stdout).path).toBe('/t/gw/api/ex/c0ffee-1/rest/api/3/project');
  });

  it('several sites: a usage error listing them without --setting; --setting picks one; an unlisted one is refused', async () => {
    p.resources = [
      { id: 'site-a', name: 'Alpha' },
      { id: 'site-b', name: 'Beta' },
    ];
    const env = await setup('sites', app());
    const r = await acct(['connect', 'sites'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('cloudid=site-a (Alpha), cloudid=site-b (Beta)');
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
    const wrong = await acct(['connect', 'sites', '--setting', 'cloudid=site-z'], env);
    expect(wrong.exitCode).toBe(2);
    await ok(['connect', 'sites', '--setting', 'cloudid=site-b'], env);
    expect(JSON.parse((await ok(['show', 'sites', '--json'], env)).stdout).settings.cloudid).toBe('site-b');
  });

  it('a looked-up value that is not host-safe is refused', async () => {
    p.resources = [{ id: '../../evil', name: 'Evil' }];
    const env = await setup('sites', app());
    const r = await acct(['connect', 'sites'], env);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
  });
});

describe('a base URL from a token-response field plus a path (Pipedrive\'s api_domain)', () => {
  it('requests go to {api_domain}/api/v1; one that is not https (nor loopback) is refused', async () => {
    const env = await setup('crm', quirkApp(p, { api: { baseUrl: '{api_domain}/t/acme/api/v1', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } }, test: { path: '/users/me', identity: ['user.login'] } }));
    p.tokenExtras = { api_domain: p.url };
    try {
      await ok(['connect', 'crm', '--setting', 'tenant=acme'], env);
      expect(last(/users\/me$/).path).toBe('/t/acme/api/v1/users/me');
      await ok(['token', 'crm', '--refresh'], env);
      expect(JSON.parse((await ok(['request', 'crm', '/deals'], env)).stdout).path).toBe('/t/acme/api/v1/deals');
      p.tokenExtras = { api_domain: 'http://crm.example.com' };
      await ok(['token', 'crm', '--refresh'], env);
      const before = p.seen.length;
      const r = await acct(['request', 'crm', '/deals'], env);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('http://crm.example.com, is not an https URL');
      expect(r.stderr).toContain('api_domain');
      expect(p.seen.length).toBe(before);
    } finally {
      p.tokenExtras = {};
    }
  });
});

describe('the token endpoint', () => {
  it('a refresh endpoint of its own, with refresh-only parameters; comma-separated scopes (Figma)', async () => {
    const env = await setup(
      'fig',
      quirkApp(p, { oauth: { refreshUrl: `${p.url}/t/{tenant}/refresh`, refreshParams: { refresh_only: 'yes' }, tokenParams: { always: '1' }, scopeSeparator: ',' } }),
    );
    await ok(['connect', 'fig', '--setting', 'tenant=acme'], env);
    expect(last(/authorize$/).query.get('scope')).toBe('read,write');
    const exchange = last(/token$/);
    expect(exchange.params).toMatchObject({ grant_type: 'authorization_code', always: '1' });
    expect(exchange.params.refresh_only).toBeUndefined();
    const tokensBefore = p.calls(/token$/).length;
    await ok(['token', 'fig', '--refresh'], env);
    expect(p.calls(/token$/).length).toBe(tokensBefore);
    expect(last(/refresh$/)).toMatchObject({ path: '/t/acme/refresh', params: { grant_type: 'refresh_token', refresh_only: 'yes', always: '1' } });
    expect(JSON.parse((await ok(['request', 'fig', '/me'], env)).stdout).path).toBe('/t/acme/api/me');
  });

  it('extra headers and a JSON body on token requests; PKCE off; scope and code_challenge_method left out of the authorize URL', async () => {
    const env = await setup(
      'jsonic',
      quirkApp(p, { oauth: { tokenHeaders: { 'X-Api-Version': '2026-01' }, tokenBody: 'json', pkce: false, omitAuthorizeParams: ['scope'] } }),
    );
    await ok(['connect', 'jsonic', '--setting', 'tenant=acme'], env);
    const auth = last(/authorize$/).query;
    expect(auth.has('scope')).toBe(false);
    expect(auth.has('code_challenge')).toBe(false);
    expect(auth.has('state')).toBe(true);
    const exchange = last(/token$/);
    expect(exchange.bodyKind).toBe('json');
    expect(exchange.headers['x-api-version']).toBe('2026-01');
    expect(exchange.params.code_verifier).toBeUndefined();
    await ok(['token', 'jsonic', '--refresh'], env);
    expect(last(/token$/)).toMatchObject({ bodyKind: 'json', params: { grant_type: 'refresh_token' } });
    expect(last(/token$/).headers['x-api-version']).toBe('2026-01');
    await ok(['request', 'jsonic', '/me'], env);

    const env2 = await setup('nomethod', quirkApp(p, { oauth: { omitAuthorizeParams: ['code_challenge_method'] } }));
    await ok(['connect', 'nomethod', '--setting', 'tenant=acme'], env2);
    const q = last(/authorize$/).query;
    expect(q.has('code_challenge')).toBe(true);
    expect(q.has('code_challenge_method')).toBe(false);
  });

  const expiry = async (env: Env, slug: string) => JSON.parse((await ok(['token', slug, '--json'], env)).stdout).expires_at as string;
  const within = (iso: string, seconds: number) => {
    const delta = (new Date(iso).getTime() - Date.now()) / 1000;
    expect(delta).toBeGreaterThan(seconds - 120);
    expect(delta).toBeLessThan(seconds + 5);
  };

  it('expires_in in minutes or milliseconds, and an absolute expiry', async () => {
    const env = await setup('mins', quirkApp(p, { oauth: { tokenResponse: { expiresInUnit: 'minutes' } } }));
    p.tokenExtras = { expires_in: 90 };
    try {
      await ok(['connect', 'mins', '--setting', 'tenant=acme'], env);
      within(await expiry(env, 'mins'), 90 * 60);
      await ok(['token', 'mins', '--refresh'], env);
      within(await expiry(env, 'mins'), 90 * 60);

      const env2 = await setup('millis', quirkApp(p, { oauth: { tokenResponse: { expiresInUnit: 'milliseconds' } } }));
      p.tokenExtras = { expires_in: 7_200_000 };
      await ok(['connect', 'millis', '--setting', 'tenant=acme'], env2);
      within(await expiry(env2, 'millis'), 7200);

      const at = Math.floor(Date.now() / 1000) + 5000;
      const env3 = await setup('abs', quirkApp(p, { oauth: { tokenResponse: { expiresAt: 'data.expires_at' } } }));
      p.tokenExtras = { data: { expires_at: at } };
      await ok(['connect', 'abs', '--setting', 'tenant=acme'], env3);
      expect(await expiry(env3, 'abs')).toBe(new Date(at * 1000).toISOString());
      p.tokenExtras = { data: { expires_at: new Date((at + 100) * 1000).toISOString() } };
      await ok(['token', 'abs', '--refresh'], env3);
      expect(await expiry(env3, 'abs')).toBe(new Date((at + 100) * 1000).toISOString());
      await ok(['request', 'abs', '/me'], env3);
    } finally {
      p.tokenExtras = {};
    }
  });
});

describe('the client-credentials grant', () => {
  // A browser that fails the test if acct ever opens one.
  const noBrowser = { ACCT_BROWSER: 'false' };

  it('--client-credentials connects without a browser, is renewed by asking again, and makes requests', async () => {
    const env = await setup('m2m', quirkApp(p, { oauth: { grants: ['authorization_code', 'client_credentials'] } }), noBrowser);
    const authorizes = p.calls(/authorize$/).length;
    const c = await ok(['connect', 'm2m', '--client-credentials', '--setting', 'tenant=acme'], env);
    expect(c.stderr).toContain('Connected m2m/');
    expect(p.calls(/authorize$/).length).toBe(authorizes);
    expect(last(/token$/)).toMatchObject({ path: '/t/acme/token', params: { grant_type: 'client_credentials', scope: 'read write' } });
    const show = JSON.parse((await ok(['show', 'm2m', '--json'], env)).stdout);
    expect(show.grant).toBe('client_credentials');
    expect(Object.keys(show.fields)).not.toContain('oauth_refresh_token');
    const first = (await ok(['token', 'm2m'], env)).stdout;
    const second = (await ok(['token', 'm2m', '--refresh'], env)).stdout;
    expect(second).not.toBe(first);
    expect(last(/token$/).params.grant_type).toBe('client_credentials');
    expect(JSON.parse((await ok(['request', 'm2m', '/jobs'], env)).stdout).path).toBe('/t/acme/api/jobs');
  });

  it('an app that only takes client credentials connects that way without the flag; an app without them refuses the flag', async () => {
    const { authorizationUrl: _, ...oauth } = quirkApp(p).oauth as Record<string, unknown>;
    const env = await setup('m2m-only', { ...quirkApp(p), oauth: { ...oauth, grants: ['client_credentials'] } }, noBrowser);
    await ok(['connect', 'm2m-only', '--setting', 'tenant=acme'], env);
    expect(last(/token$/).params.grant_type).toBe('client_credentials');
    const env2 = await setup('signin', quirkApp(p), noBrowser);
    const r = await acct(['connect', 'signin', '--client-credentials', '--setting', 'tenant=acme'], env2);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('does not take the client-credentials grant');
  });
});

describe('API-key apps authorized by HTTP Basic, a query parameter, or a pair of fields', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ me: { name: 'kim' }, auth: req.headers.authorization ?? null, key: req.query.get('api_key') }));
    });
  });
  afterAll(() => api.close());

  const keyApp = (auth: Record<string, unknown>, fields: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
    name: 'Keyed',
    auth: 'keys',
    api: { baseUrl: `${api.url}/v2`, auth },
    fields,
    env: Object.fromEntries(fields.map((f) => [f.name, `KEYED_${String(f.name).toUpperCase()}`])),
    test: { path: '/me', identity: ['me.name'] },
    ...extra,
  });
  const basic = (header: string | null | undefined) => Buffer.from(/^Basic (.+)$/.exec(header ?? '')![1]!, 'base64').toString('utf8');

  it.each([
    ['the key as user, an empty password', { type: 'basic', username: '{api_key}', password: '' }, 'k-123:'],
    ['an empty user, the key as password', { type: 'basic', username: '', password: '{api_key}' }, ':k-123'],
    ['the key as user, "X" as password (Freshdesk)', { type: 'basic', username: '{api_key}', password: 'X' }, 'k-123:X'],
  ])('basic auth with %s', async (_what, auth, expected) => {
    const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pw' });
    await ok(['apps', 'add', 'keyed', '--file', p.appFile(keyApp(auth, [{ name: 'api_key', label: 'API key' }]))], env);
    const c = await acct(['connect', 'keyed', '--stdin'], env, { input: 'k-123', stdin: undefined });
    expect(c.exitCode, c.stderr).toBe(0);
    expect(basic(api.seen.at(-1)!.headers.authorization)).toBe(expected);
    const r = await ok(['request', 'keyed', '/things'], env);
    expect(basic(JSON.parse(r.stdout).auth)).toBe(expected);
  });

  it('a key in a query parameter, and a pair of fields as user and password, with a subdomain setting', async () => {
    const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pw' });
    await ok(['apps', 'add', 'q', '--file', p.appFile(keyApp({ type: 'query', name: 'api_key', value: '{api_key}' }, [{ name: 'api_key', label: 'API key' }]))], env);
    const c = await acct(['connect', 'q', '--stdin'], env, { input: 'qk-1', stdin: undefined });
    expect(c.exitCode, c.stderr).toBe(0);
    expect(api.seen.at(-1)!.query.get('api_key')).toBe('qk-1');

    const pair = keyApp(
      { type: 'basic', username: '{key_id}', password: '{key_secret}' },
      [
        { name: 'key_id', label: 'Key ID', secret: false },
        { name: 'key_secret', label: 'Key secret' },
      ],
      { api: { baseUrl: `${api.url}/{site}/v2`, auth: { type: 'basic', username: '{key_id}', password: '{key_secret}' } }, settings: [{ name: 'site', label: 'Site', pattern: '[a-z]+' }] },
    );
    await ok(['apps', 'add', 'pair', '--file', p.appFile(pair)], env);
    const c2 = await acct(['connect', 'pair', '--stdin', '--setting', 'site=acme'], env, { input: '{"key_id":"id-1","key_secret":"s-2"}', stdin: undefined });
    expect(c2.exitCode, c2.stderr).toBe(0);
    expect(api.seen.at(-1)!.path).toBe('/acme/v2/me');
    expect(basic(api.seen.at(-1)!.headers.authorization)).toBe('id-1:s-2');
    const r = await ok(['request', 'pair', '/x'], env);
    expect(api.seen.at(-1)!.path).toBe('/acme/v2/x');
    expect(basic(JSON.parse(r.stdout).auth)).toBe('id-1:s-2');
    expect(JSON.parse((await ok(['show', 'pair', '--json'], env)).stdout).settings).toEqual({ site: 'acme' });
  });
});
