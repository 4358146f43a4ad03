// acct connect against a real authorization server (oidc-provider in this
// process): loopback with a public and a confidential client, denial, a stray
// callback, timeout, --manual, --device, and discovery.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { startAuthServer, HTTPS_REDIRECT_ID, type AuthServer } from '../support/oauth-server.js';
import { authorize } from '../support/browser-lib.mjs';
import { acct, allFiles } from '../support/cli.js';
import { oauthHome, fingerprint, startAcct, revealed, listJson } from '../support/oauth-cli.js';

let server: AuthServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
});
afterAll(async () => {
  await server?.close();
});

function secretFiles(home: string): string[] {
  const dir = join(home, 'secrets');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('acc_')) : [];
}

describe('loopback connect', () => {
  for (const kind of ['public', 'confidential'] as const) {
    it(`connects with the ${kind} client, stores the identity from /me, and token prints the access token`, async () => {
      const { env, home } = await oauthHome(server, kind);
      const refreshBefore = server.tokenRequests.refresh;
      const r = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: `${kind}-user` });
      expect(r.stderr).toContain(`Connected local/${kind}-user (`);
      expect(r.exitCode).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(/^acc_[a-z2-7]{10}$/);
      // The authorization URL went to stderr, never stdout.
      expect(r.stderr).toMatch(new RegExp(`${server.issuer}/auth\\?`));

      const [account] = await listJson(env);
      expect(account).toMatchObject({ id, app: 'local', nickname: `${kind}-user`, identity: `${kind}-user`, auth: 'oauth2', status: 'ok' });
      expect(account!.scopes).toContain('api');
      const ttl = new Date(account!.expires_at).getTime() - Date.now();
      expect(ttl).toBeGreaterThan(250_000);
      expect(ttl).toBeLessThanOrEqual(301_000);

      const fields = await revealed(id, env);
      expect(Object.keys(fields).sort()).toEqual(expect.arrayContaining(['oauth_access_token', 'oauth_refresh_token']));
      expect(await server.introspect(fields.oauth_access_token!)).toBe(true);
      expect(await server.introspect(fields.oauth_refresh_token!)).toBe(true);
      // No secret sits on disk in plain text.
      for (const f of allFiles(home)) {
        expect(f.content.includes(fields.oauth_access_token!), f.path).toBe(false);
        expect(f.content.includes(fields.oauth_refresh_token!), f.path).toBe(false);
      }

      const token = await acct(['token', 'local'], env);
      expect(token.exitCode, token.stderr).toBe(0);
      expect(fingerprint(token.stdout.trim())).toBe(fingerprint(fields.oauth_access_token));
      expect(token.stdout.endsWith('\n')).toBe(true);
      // Valid for minutes: no refresh happened.
      expect(server.tokenRequests.refresh).toBe(refreshBefore);

      const json = JSON.parse((await acct(['token', id, '--json'], env)).stdout);
      expect(json).toMatchObject({ id, field: 'oauth_access_token', expires_at: account!.expires_at });
      expect(fingerprint(json.token)).toBe(fingerprint(fields.oauth_access_token));
    });
  }

  it('denied consent exits 4, names the provider error, and stores nothing', async () => {
    const { env, home } = await oauthHome(server, 'public');
    const r = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_MODE: 'deny' });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain('access_denied');
    expect(r.stderr).toMatch(/nothing was stored/);
    expect(r.stdout).toBe('');
    expect(await listJson(env)).toEqual([]);
    expect(secretFiles(home)).toEqual([]);
  });

  it('ignores a callback with the wrong state and still completes with the right one', async () => {
    const { env } = await oauthHome(server, 'public');
    const log = join(tmpdir(), `acct-browser-${randomBytes(4).toString('hex')}.log`);
    const r = await acct(['connect', 'local', '--nickname', 'work'], { ...env, ACCT_TEST_BROWSER_MODE: 'wrong-state-first', ACCT_TEST_BROWSER_LOG: log });
    expect(r.exitCode, r.stderr).toBe(0);
    const visits = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(visits).toEqual([
      { kind: 'wrong-state', status: 400, title: 'Unexpected request' },
      { kind: 'callback', status: 200, title: 'Authorization received' },
    ]);
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id: r.stdout.trim(), nickname: 'work', identity: 'alice', status: 'ok' });
  });

  it('--timeout: gives up with a clear message and exit 5 when no authorization arrives, storing nothing', async () => {
    const { env, home } = await oauthHome(server, 'public');
    const started = Date.now();
    const r = await acct(['connect', 'local', '--timeout', '2'], { ...env, ACCT_TEST_BROWSER_MODE: 'never' });
    const elapsed = Date.now() - started;
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toContain('no authorization arrived within 2s');
    expect(r.stderr).toMatch(/--manual or --device/);
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(elapsed).toBeLessThan(15_000);
    expect(r.stdout).toBe('');
    expect(await listJson(env)).toEqual([]);
    expect(secretFiles(home)).toEqual([]);
  });

  it('--timeout above what a timer holds (2^31-1 ms) is refused, exit 2 naming the limit, before any sign-in', async () => {
    const { env } = await oauthHome(server, 'public');
    const requests = server.requests.length;
    for (const value of ['2147484', '1e300']) {
      const r = await acct(['connect', 'local', '--timeout', value], { ...env, ACCT_TEST_BROWSER_MODE: 'never' });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain('--timeout is at most 2147483 seconds');
      expect(r.stderr).not.toContain('TimeoutOverflowWarning');
    }
    expect(server.requests.length).toBe(requests);
    expect(await listJson(env)).toEqual([]);
  });

  it('--manual: the user pastes the URL the browser ended on', async () => {
    const { env } = await oauthHome(server, 'confidential');
    const run = startAcct(['connect', 'local', '--manual'], { ...env, ACCT_BROWSER: '/bin/false' });
    const [, url] = await run.stderrMatch(/^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
    const callback = await authorize(url!, { login: 'manual-user' });
    // The listener-less redirect: nothing answers on that port, the user copies the address bar.
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
    run.process.stdin!.end(`${callback}\n`);
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id: r.stdout.trim(), identity: 'manual-user', nickname: 'manual-user' });
    const fields = await revealed(account!.id, env);
    expect(await server.introspect(fields.oauth_access_token!)).toBe(true);
  });

  it('a provider that redirects only to https (Slack): the browser ends on an error page, whose address the user pastes', async () => {
    const { env } = await oauthHome(server, 'public');
    const file = server.appFile('public');
    const definition = JSON.parse(readFileSync(file, 'utf8'));
    definition.oauth.redirect = { scheme: 'https', port: 8976 };
    writeFileSync(file, JSON.stringify(definition));
    expect((await acct(['apps', 'add', 'tls', '--file', file], env)).exitCode).toBe(0);
    expect((await acct(['client', 'set', 'tls', '--client-id', HTTPS_REDIRECT_ID, '--no-secret'], env)).exitCode).toBe(0);
    const shown = await acct(['client', 'show', 'tls', '--json'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ redirect_uri: 'https://127.0.0.1:8976/callback' });

    const run = startAcct(['connect', 'tls'], { ...env, ACCT_BROWSER: '/bin/true' });
    const [, url] = await run.stderrMatch(/^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
    expect(run.stderr()).toContain('redirects only to https addresses');
    expect(new URL(url!).searchParams.get('redirect_uri')).toBe('https://127.0.0.1:8976/callback');
    const callback = await authorize(url!, { login: 'tls-user' });
    expect(callback.startsWith('https://127.0.0.1:8976/callback?')).toBe(true);
    run.process.stdin!.end(`${callback}\n`);
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await listJson(env)).find((a) => a.id === r.stdout.trim())).toMatchObject({ identity: 'tls-user' });
  });

  it('--manual refuses a URL from another sign-in (wrong state) and stores nothing', async () => {
    const { env, home } = await oauthHome(server, 'public');
    const run = startAcct(['connect', 'local', '--manual'], env);
    const [, url] = await run.stderrMatch(/^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
    const callback = new URL(await authorize(url!));
    callback.searchParams.set('state', 'someone-elses-state');
    run.process.stdin!.end(`${callback.href}\n`);
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/does not belong to this sign-in/);
    expect(secretFiles(home)).toEqual([]);
  });
});

describe('device flow', () => {
  it('connects once the user approves the code', async () => {
    const { env } = await oauthHome(server, 'public');
    const run = startAcct(['connect', 'local', '--device'], env);
    const [, code] = await run.stderrMatch(/enter the code:\s+(\S+)/);
    expect(run.stderr()).toContain(`${server.issuer}/device`);
    await server.completeDevice(code!, true, 'device-user');
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id: r.stdout.trim(), identity: 'device-user', status: 'ok' });
    expect(server.tokenRequests.grantTypes).toContain('urn:ietf:params:oauth:grant-type:device_code');
    const fields = await revealed(account!.id, env);
    expect(fields.oauth_refresh_token).toBeTruthy();
  });

  it('exits 4 when the user aborts, storing nothing', async () => {
    const { env, home } = await oauthHome(server, 'confidential');
    const run = startAcct(['connect', 'local', '--device'], env);
    const [, code] = await run.stderrMatch(/enter the code:\s+(\S+)/);
    await server.completeDevice(code!, false);
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain('access_denied');
    expect(r.stdout).toBe('');
    expect(secretFiles(home)).toEqual([]);
  });

  it('gives up when the device code expires unapproved', async () => {
    const { env, home } = await oauthHome(server, 'public');
    server.setDeviceCodeTtl(2);
    try {
      const r = await acct(['connect', 'local', '--device'], env);
      // Time ran out, as with the loopback listener's --timeout: exit 5, not the refusal's 4.
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/device code expired before it was approved/);
      expect(r.stderr).toContain('acct connect local --device');
      expect(secretFiles(home)).toEqual([]);
    } finally {
      server.setDeviceCodeTtl(600);
    }
  });
});

describe('discovery', () => {
  it('acct apps add --issuer stores the endpoints the server advertises', async () => {
    const { env, home } = await oauthHome(server, 'public');
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, any>;
    const r = await acct(['apps', 'add', 'corp', '--issuer', server.issuer, '--test-path', '/me', '--identity', 'login'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    // The stored definition (apps.json in the config folder, which is ACCT_HOME here).
    const stored = JSON.parse(readFileSync(join(home, 'apps.json'), 'utf8'));
    const app = stored.apps.find((a: { slug: string }) => a.slug === 'corp');
    expect(app).toMatchObject({ slug: 'corp', auth: 'oauth2' });
    expect(app.oauth).toMatchObject({
      issuer: meta.issuer,
      authorizationUrl: meta.authorization_endpoint,
      tokenUrl: meta.token_endpoint,
      revocationUrl: meta.revocation_endpoint,
      deviceAuthorizationUrl: meta.device_authorization_endpoint,
      userinfoUrl: meta.userinfo_endpoint,
      issParameterSupported: meta.authorization_response_iss_parameter_supported,
      pkce: true,
    });
    expect(app.oauth.scopes).toEqual(['openid', 'offline_access']);
    expect(meta.token_endpoint_auth_methods_supported).toContain(app.oauth.clientAuth);
    // And acct shows them.
    const shown = await acct(['apps', 'show', 'corp'], env);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`authorize   ${meta.authorization_endpoint}\n`);
    expect(shown.stdout).toContain(`token       ${meta.token_endpoint}\n`);
    expect(shown.stdout).toContain(`revoke      ${meta.revocation_endpoint}\n`);
    expect(shown.stdout).toContain(`device      ${meta.device_authorization_endpoint}\n`);

    // The discovered app connects like a hand-written one.
    expect((await acct(['client', 'set', 'corp', '--client-id', server.clients.public.clientId, '--no-secret'], env)).exitCode).toBe(0);
    const c = await acct(['connect', 'corp', '--nickname', 'carol-sso'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'carol' });
    expect(c.exitCode, c.stderr).toBe(0);
    expect((await listJson(env)).find((a) => a.app === 'corp')).toMatchObject({ identity: 'carol', nickname: 'carol-sso' });
  });
});
