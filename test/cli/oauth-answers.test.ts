// Token answers a provider may send that are legal JSON but odd or unusable:
// lifetimes beyond what a Date holds, fields of the wrong type, tokens no
// request could carry, answers too large to read. Each is played by the quirk
// provider (test/support/quirk-provider.ts) through the built binary; what
// matters is what ends up stored, and that nothing rotated is lost.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { BROWSER_COMMAND } from '../support/oauth-cli.js';
import { startQuirkProvider, quirkApp, CLIENT, type QuirkProvider } from '../support/quirk-provider.js';

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
  const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pw', ACCT_BROWSER: BROWSER_COMMAND, ...extraEnv });
  const added = await acct(['apps', 'add', 'q', '--file', p.appFile(def)], env);
  expect(added.exitCode, added.stderr).toBe(0);
  const set = await acct(['client', 'set', 'q', '--client-id', CLIENT.clientId, '--secret-stdin'], env, { input: CLIENT.clientSecret, stdin: undefined });
  expect(set.exitCode, set.stderr).toBe(0);
  return env;
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
