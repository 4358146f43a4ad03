// Token answers a provider may send that are legal JSON but odd or unusable:
// lifetimes beyond what a Date holds, fields of the wrong type, tokens no
// request could carry, answers too large to read. Each is played by the quirk
// provider (test/support/quirk-provider.ts) through the built binary; what
// matters is what ends up stored, and that nothing rotated is lost.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { acct } from '../support/cli.js';
import { quirkHome, startAcct } from '../support/oauth-cli.js';
import { startQuirkProvider, quirkApp, type QuirkProvider } from '../support/quirk-provider.js';

let p: QuirkProvider;
beforeAll(async () => {
  p = await startQuirkProvider();
});
afterAll(() => p.close());
afterEach(() => {
  p.tokenExtras = {};
});

type Env = Record<string, string | undefined>;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

async function setup(def: Record<string, unknown> = quirkApp(p), extraEnv: Env = {}): Promise<Env> {
  return quirkHome(p, 'q', def, extraEnv);
}

async function ok(args: string[], env: Env) {
  const r = await acct(args, env);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

async function shown(env: Env): Promise<{ status: string; expiresAt: string | null; fields: Record<string, string> }> {
  const r = await ok(['show', 'q', '--json', '--reveal'], env);
  const j = JSON.parse(r.stdout);
  return { status: j.status, expiresAt: j.expiresAt ?? j.expires_at ?? null, fields: j.fields };
}

const refreshes = () => p.calls(/\/token$/).filter((c) => c.params.grant_type === 'refresh_token');

describe('lifetimes beyond what a Date holds', () => {
  it('expires_in 1e300 at connect, "99999999999999999" at refresh: stored as at most 10 years, the rotated refresh token kept', async () => {
    const env = await setup();
    p.tokenExtras = { expires_in: 1e300 };
    await ok(['connect', 'q', '--setting', 'tenant=big'], env);
    const first = await shown(env);
    expect(new Date(first.expiresAt!).getTime() - Date.now()).toBeGreaterThan(TEN_YEARS_MS - 60_000);
    expect(new Date(first.expiresAt!).getTime() - Date.now()).toBeLessThanOrEqual(TEN_YEARS_MS);

    p.tokenExtras = { expires_in: '99999999999999999' };
    const r = await ok(['token', 'q', '--refresh'], env);
    const after = await shown(env);
    expect(after.status).toBe('ok');
    expect(r.stdout.trim()).toBe(after.fields.oauth_access_token);
    expect(after.fields.oauth_refresh_token).not.toBe(first.fields.oauth_refresh_token);
    // The provider numbers each answer's tokens alike: the refresh token stored is the one issued with the new access token.
    expect(after.fields.oauth_refresh_token).toBe(`rt-big-${after.fields.oauth_access_token!.split('-').at(-1)}`);
  });

  it('an absolute expiry beyond a Date\'s range is capped the same way', async () => {
    const env = await setup(quirkApp(p, { oauth: { tokenResponse: { expiresAt: 'data.expires_at' } } }));
    p.tokenExtras = { data: { expires_at: 9e15 } };
    await ok(['connect', 'q', '--setting', 'tenant=abs'], env);
    await ok(['token', 'q', '--refresh'], env);
    const after = await shown(env);
    expect(after.status).toBe('ok');
    expect(new Date(after.expiresAt!).getTime() - Date.now()).toBeGreaterThan(TEN_YEARS_MS - 60_000);
  });
});

describe('a 2xx refresh answer with one unusable member is never retried, and loses nothing rotated', () => {
  const fast = { ACCT_REFRESH_DEADLINE: '3' };

  /** Connected with an access token that lives 1 s, then expired. */
  async function expired(tenant: string) {
    const env = await setup(quirkApp(p), fast);
    p.tokenExtras = { expires_in: 1 };
    await ok(['connect', 'q', '--setting', `tenant=${tenant}`], env);
    p.tokenExtras = {};
    await new Promise((r) => setTimeout(r, 1200));
    return { env, before: await shown(env) };
  }

  it('expires_in "soon" on an expired token: one request, exit 5, the new refresh token stored, the access token unchanged; the next refresh presents the new one', async () => {
    const { env, before } = await expired('soon');
    const count = refreshes().length;
    p.tokenExtras = { expires_in: 'soon' };
    const r = await acct(['token', 'q'], env);
    p.tokenExtras = {};
    expect(refreshes().length).toBe(count + 1);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/could not refresh q\/.*the provider's answer could not be used \(.*expires_in/);
    expect(r.stderr).toMatch(/the new refresh token it sent was stored/);
    expect(r.stderr).not.toContain(before.fields.oauth_refresh_token!);
    const after = await shown(env);
    expect(after.fields.oauth_access_token).toBe(before.fields.oauth_access_token);
    expect(after.expiresAt).toBe(before.expiresAt);
    const issued = refreshes().at(-1)!;
    expect(issued.params.refresh_token).toBe(before.fields.oauth_refresh_token);
    expect(after.fields.oauth_refresh_token).not.toBe(before.fields.oauth_refresh_token);
    expect(after.fields.oauth_refresh_token).toMatch(/^rt-soon-/);

    const healed = await ok(['token', 'q'], env);
    expect(refreshes().at(-1)!.params.refresh_token).toBe(after.fields.oauth_refresh_token);
    expect(healed.stdout.trim()).toBe((await shown(env)).fields.oauth_access_token);
    expect((await shown(env)).status).toBe('ok');
  });

  it('access_token 42 while the cached token is valid: one request, the cached token with a warning', async () => {
    const env = await setup(quirkApp(p), fast);
    await ok(['connect', 'q', '--setting', 'tenant=num'], env);
    const before = await shown(env);
    const count = refreshes().length;
    p.tokenExtras = { access_token: 42 };
    const r = await acct(['token', 'q', '--refresh'], env);
    expect(refreshes().length).toBe(count + 1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(before.fields.oauth_access_token);
    expect(r.stderr).toMatch(/warning: could not refresh q\/.*access_token.*using the cached token/);
  });

  it('expires_in -5 and no refresh token: one request, exit 5, the stored credentials unchanged', async () => {
    const { env, before } = await expired('neg');
    const count = refreshes().length;
    p.tokenExtras = { expires_in: -5, refresh_token: '' };
    const r = await acct(['token', 'q'], env);
    expect(refreshes().length).toBe(count + 1);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/the stored credentials are unchanged/);
    expect((await shown(env)).fields).toEqual(before.fields);
  });
});

describe('a token no request could carry is refused for every grant', () => {
  it('a refreshed access token with CR LF: exit 5, never printed nor stored, the old access token kept', async () => {
    const env = await setup(quirkApp(p), { ACCT_REFRESH_DEADLINE: '3' });
    p.tokenExtras = { expires_in: 1 };
    await ok(['connect', 'q', '--setting', 'tenant=crlf'], env);
    await new Promise((r) => setTimeout(r, 1200));
    const before = await shown(env);
    p.tokenExtras = { access_token: 'at-crlf-x\r\nX-Injected: 1' };
    const r = await acct(['token', 'q'], env);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/access token is empty or holds a line break/);
    expect(r.stderr).not.toContain('X-Injected');
    const after = await shown(env);
    expect(after.fields.oauth_access_token).toBe(before.fields.oauth_access_token);
    expect(Object.values(after.fields).some((v) => v.includes('\n'))).toBe(false);
  });

  it('at connect too: exit 5, nothing stored', async () => {
    const env = await setup();
    p.tokenExtras = { access_token: 'at-x\nbroken' };
    const r = await acct(['connect', 'q', '--setting', 'tenant=cc'], env);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/Quirk answered with tokens acct cannot use: its access token is empty or holds a line break/);
    expect(r.stderr).toMatch(/nothing was stored/);
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
  });
});

describe('429 and 408 at the token endpoint are "later", not a rejected grant', () => {
  afterEach(() => {
    p.tokenFaults = [];
  });

  it('a 429 with a JSON error and Retry-After: retried after the pause, then refreshed', async () => {
    const env = await setup(quirkApp(p), { ACCT_REFRESH_DEADLINE: '5' });
    await ok(['connect', 'q', '--setting', 'tenant=rate'], env);
    const before = await shown(env);
    const count = refreshes().length;
    p.tokenFaults = [{ status: 429, body: { error: 'rate_limited', error_description: 'slow down' }, headers: { 'retry-after': '1' } }];
    const started = Date.now();
    const r = await acct(['token', 'q', '--refresh'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(r.stderr).toMatch(/refreshing q\/.* failed \(the provider answered 429 \(rate_limited: slow down\)\); retrying/);
    expect(refreshes().length).toBe(count + 2);
    const after = await shown(env);
    expect(after.status).toBe('ok');
    expect(r.stdout.trim()).toBe(after.fields.oauth_access_token);
    expect(after.fields.oauth_access_token).not.toBe(before.fields.oauth_access_token);
  });

  it('a Retry-After that is an HTTP date: waited for until then', async () => {
    const env = await setup(quirkApp(p), { ACCT_REFRESH_DEADLINE: '8' });
    await ok(['connect', 'q', '--setting', 'tenant=dated'], env);
    const count = refreshes().length;
    // Whole seconds: 3 s ahead is at least 2 s once truncated; acct's own first pause is 0.5 s.
    p.tokenFaults = [{ status: 429, body: { error: 'rate_limited' }, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } }];
    const started = Date.now();
    const r = await acct(['token', 'q', '--refresh'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(refreshes().length).toBe(count + 2);
  });

  it('408 and 429 that last past the deadline: the cached token with a warning while it is valid; the account stays connected', async () => {
    const env = await setup(quirkApp(p), { ACCT_REFRESH_DEADLINE: '2' });
    await ok(['connect', 'q', '--setting', 'tenant=busy'], env);
    const before = await shown(env);
    p.tokenFaults = Array.from({ length: 20 }, (_, i) => ({ status: i % 2 ? 429 : 408, body: { error: 'invalid_request', error_description: 'try later' }, headers: { 'retry-after': '60' } }));
    const r = await acct(['token', 'q', '--refresh'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(before.fields.oauth_access_token);
    expect(r.stderr).toMatch(/warning: could not refresh q\/.*using the cached token/);
    expect((await shown(env)).status).not.toBe('needs-reconnect');
  });

  it('access_denied on a refresh marks the account needs-reconnect, as invalid_grant does', async () => {
    const env = await setup(quirkApp(p));
    await ok(['connect', 'q', '--setting', 'tenant=deny'], env);
    p.tokenFaults = [{ status: 400, body: { error: 'access_denied', error_description: 'the administrator removed the app' } }];
    const r = await acct(['token', 'q', '--refresh'], env);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/access_denied: the administrator removed the app/);
    expect(r.stderr).toMatch(/acct reconnect /);
    expect((await shown(env)).status).toBe('needs-reconnect');
  });
});

describe('Ctrl-C after the code exchange', () => {
  it('while the test request names the account: exit 130 at once, nothing stored', async () => {
    const env = await setup();
    const seen = p.calls(/\/api\//).length;
    p.apiDelayMs = 8000;
    try {
      const run = startAcct(['connect', 'q', '--setting', 'tenant=ctrlc'], env);
      const until = Date.now() + 15_000;
      while (p.calls(/\/api\//).length === seen && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(p.calls(/\/api\//).length).toBe(seen + 1);
      const stopped = Date.now();
      run.process.kill('SIGINT');
      const r = await run.done();
      expect(r.exitCode, r.stderr).toBe(130);
      expect(Date.now() - stopped).toBeLessThan(4000);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/Connected|warning/);
    } finally {
      p.apiDelayMs = 0;
    }
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
  });
});

describe('answers too large to read', () => {
  const huge = 'x'.repeat(2 * 1024 * 1024);
  afterEach(() => {
    p.tokenFaults = [];
  });

  it('a 2 MiB access token on refresh: one request, exit 5 naming the limit, the stored credentials unchanged', async () => {
    const env = await setup(quirkApp(p), { ACCT_REFRESH_DEADLINE: '3' });
    p.tokenExtras = { expires_in: 1 };
    await ok(['connect', 'q', '--setting', 'tenant=huge'], env);
    p.tokenExtras = {};
    await new Promise((r) => setTimeout(r, 1200));
    const before = await shown(env);
    const count = refreshes().length;
    p.tokenFaults = [{ status: 200, body: { access_token: huge, token_type: 'Bearer', refresh_token: 'rt-huge-new', expires_in: 3600 } }];
    const r = await acct(['token', 'q'], env);
    expect(refreshes().length).toBe(count + 1);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/answered with more than 1 MiB \(HTTP 200\)/);
    expect(r.stderr).toMatch(/the stored credentials are unchanged/);
    expect((await shown(env)).fields).toEqual(before.fields);
  });

  it('at connect: exit 5, nothing stored', async () => {
    const env = await setup();
    p.tokenFaults = [{ status: 200, body: { access_token: huge, token_type: 'Bearer', expires_in: 3600 } }];
    const r = await acct(['connect', 'q', '--setting', 'tenant=huge'], env);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/answered with more than 1 MiB/);
    expect(JSON.parse((await ok(['list', '--json'], env)).stdout)).toEqual([]);
  });
});
