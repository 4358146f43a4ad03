// The one refresh path against a real authorization server (oidc-provider in
// this process, refresh tokens rotated on every use): refresh after expiry,
// one refresh for 50 concurrent callers, invalid_grant → needs-reconnect →
// reconnect, provider failures that must not lose credentials, and
// revocation on delete.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer, type AuthServer, type TokenFault } from '../support/oauth-server.js';
import { acct } from '../support/cli.js';
import { startApiServer } from '../support/api-server.js';
import { oauthHome, connectWithTtl, fingerprint, revealed, listJson, sleep } from '../support/oauth-cli.js';
import { accountsFile } from '../support/accounts.js';
import { AccountFile } from '../../src/store/account-file.js';

let server: AuthServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
});
afterAll(async () => {
  await server?.close();
});

type Env = Record<string, string | undefined>;

/** Connects an account and returns its id; the access token lives `ttl` seconds. */
function connect(env: Env, ttl: number, nickname: string, login = nickname): Promise<string> {
  return connectWithTtl(server, env, nickname, ttl, { login });
}

/** No secret value appears in any of the outputs. */
function expectNoSecrets(outputs: string[], fields: Record<string, string>) {
  for (const [name, value] of Object.entries(fields))
    if (name.startsWith('oauth_')) for (const out of outputs) expect(out.includes(value), `${name} leaked into output`).toBe(false);
}

/** The account metadata and every sealed secret file, byte for byte. */
function storeSnapshot(home: string): Record<string, string> {
  const out: Record<string, string> = { 'accounts.tsv': readFileSync(accountsFile(home), 'utf8') };
  for (const f of readdirSync(join(home, 'secrets'))) out[`secrets/${f}`] = readFileSync(join(home, 'secrets', f), 'utf8');
  return out;
}

describe('refresh', () => {
  it('refreshes an expired access token, stores the rotated refresh token, and then uses it without refreshing', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = await connect(env, 1, 'expiring');
    const before = await revealed(id, env);
    await sleep(1500);
    expect(await server.introspect(before.oauth_access_token!)).toBe(false);

    const count = server.tokenRequests.refresh;
    const r = await acct(['token', 'local'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(server.tokenRequests.refresh).toBe(count + 1);
    expect(fingerprint(server.tokenRequests.refreshTokensPresented.at(-1))).toBe(fingerprint(before.oauth_refresh_token));

    const after = await revealed(id, env);
    expect(fingerprint(r.stdout.trim())).toBe(fingerprint(after.oauth_access_token));
    expect(fingerprint(after.oauth_access_token)).not.toBe(fingerprint(before.oauth_access_token));
    // Rotation: a new refresh token was issued and stored; the old one is dead at the server.
    expect(fingerprint(after.oauth_refresh_token)).not.toBe(fingerprint(before.oauth_refresh_token));
    expect(await server.introspect(after.oauth_access_token!)).toBe(true);
    expect(await server.introspect(after.oauth_refresh_token!)).toBe(true);
    expect(await server.introspect(before.oauth_refresh_token!)).toBe(false);

    const [account] = await listJson(env);
    expect(account).toMatchObject({ id, status: 'ok' });
    expect(new Date(account!.expires_at).getTime() - Date.now()).toBeGreaterThan(250_000);

    // Fresh now: the next call reads the store and leaves the server alone.
    const again = await acct(['token', id], env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(fingerprint(again.stdout.trim())).toBe(fingerprint(after.oauth_access_token));
    expect(server.tokenRequests.refresh).toBe(count + 1);
    expectNoSecrets([r.stderr, again.stderr], { ...before, ...after });
  });

  it('50 concurrent acct token calls on an expired token make one refresh request and print the same token', async () => {
    const { env } = await oauthHome(server, 'confidential');
    const id = await connect(env, 1, 'busy');
    const before = await revealed(id, env);
    await sleep(1500);
    const count = server.tokenRequests.refresh;
    const presentedBefore = server.tokenRequests.refreshTokensPresented.length;
    const results = await Promise.all(Array.from({ length: 50 }, () => acct(['token', 'busy'], env)));
    const failures = results.filter((r) => r.exitCode !== 0);
    expect(failures.map((r) => r.stderr)).toEqual([]);
    expect(server.tokenRequests.refresh - count).toBe(1);
    const presented = server.tokenRequests.refreshTokensPresented.slice(presentedBefore);
    expect(presented.map(fingerprint)).toEqual([fingerprint(before.oauth_refresh_token)]);

    const after = await revealed(id, env);
    const printed = new Set(results.map((r) => fingerprint(r.stdout.trim())));
    expect([...printed]).toEqual([fingerprint(after.oauth_access_token)]);
    expect(await server.introspect(after.oauth_refresh_token!)).toBe(true);
    expectNoSecrets(results.map((r) => r.stderr), { ...before, ...after });

    // A later refresh presents the rotated refresh token, never the rotated-out one.
    const forced = await acct(['token', 'busy', '--refresh'], env);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(fingerprint(server.tokenRequests.refreshTokensPresented.at(-1))).toBe(fingerprint(after.oauth_refresh_token));
    // Across everything this server saw: no refresh token was ever presented twice.
    const all = server.tokenRequests.refreshTokensPresented;
    expect(new Set(all).size).toBe(all.length);
  }, 120_000);

  it('callers that waited for the lock take the token another caller just got, even when it lives less than --min-ttl', async () => {
    const { env, home } = await oauthHome(server, 'public');
    const id = await connect(env, 1, 'queued');
    await sleep(1500);
    // New tokens live 30 s, less than the default --min-ttl of 60. Hold the
    // account's refresh lock (white-box: the path acct locks) so every caller
    // reads the expired token and queues; then let them go.
    server.setAccessTokenTtl(30);
    const { default: lockfile } = await import('proper-lockfile');
    const lockPath = join(home, 'locks', `refresh-${id}`);
    const release = await lockfile.lock(lockPath, { realpath: false, lockfilePath: `${lockPath}.lock`, stale: 10_000 });
    const count = server.tokenRequests.refresh;
    let results;
    try {
      const running = Array.from({ length: 5 }, () => acct(['token', 'queued'], env));
      await sleep(6000);
      expect(server.tokenRequests.refresh).toBe(count);
      await release();
      results = await Promise.all(running);
    } finally {
      server.setAccessTokenTtl(300);
    }
    expect(results.filter((r) => r.exitCode !== 0).map((r) => r.stderr)).toEqual([]);
    expect(server.tokenRequests.refresh - count).toBe(1);
    const fields = await revealed(id, env);
    expect([...new Set(results.map((r) => fingerprint(r.stdout.trim())))]).toEqual([fingerprint(fields.oauth_access_token)]);
  });
});

describe('a rejected refresh token', () => {
  it('exits 4, marks the account needs-reconnect, names acct reconnect; reconnect fixes it with the same id', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = await connect(env, 1, 'revoked', 'erin');
    const old = await revealed(id, env);
    await sleep(1500);
    expect(await server.revokeAllGrants('erin')).toBeGreaterThan(0);

    const count = server.tokenRequests.refresh;
    const r = await acct(['token', 'revoked'], env);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid_grant');
    expect(r.stderr).toContain(`acct reconnect ${id}`);
    expect(server.tokenRequests.refresh).toBe(count + 1);
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id, status: 'needs-reconnect' });
    // The old credentials are kept (nothing deleted), and no further request is made.
    expect(fingerprint((await revealed(id, env)).oauth_refresh_token)).toBe(fingerprint(old.oauth_refresh_token));
    const again = await acct(['token', 'revoked'], env);
    expect(again.exitCode).toBe(4);
    expect(again.stderr).toContain(`acct reconnect ${id}`);
    expect(server.tokenRequests.refresh).toBe(count + 1);

    const re = await acct(['reconnect', id], { ...env, ACCT_TEST_BROWSER_LOGIN: 'erin' });
    expect(re.exitCode, re.stderr).toBe(0);
    expect(re.stdout.trim()).toBe(id);
    expect(re.stderr).toContain(`Reconnected local/revoked (${id})`);
    const accounts = await listJson(env);
    expect(accounts).toHaveLength(1);
    expect(accounts[0]).toMatchObject({ id, nickname: 'revoked', identity: 'erin', status: 'ok' });
    const fresh = await revealed(id, env);
    expect(fingerprint(fresh.oauth_refresh_token)).not.toBe(fingerprint(old.oauth_refresh_token));
    const t = await acct(['token', 'revoked'], env);
    expect(t.exitCode, t.stderr).toBe(0);
    expect(fingerprint(t.stdout.trim())).toBe(fingerprint(fresh.oauth_access_token));
    expectNoSecrets([r.stderr, again.stderr, re.stderr, t.stderr], { ...old, ...fresh });
  });
});

describe('reconnect as another user', () => {
  it('is refused (exit 2, both identities named): nothing stored, the old grant alive, the new one revoked; --allow-identity-change takes it', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = await connect(env, 300, 'work', 'alice');
    const old = await revealed(id, env);
    const revocations = server.revocations.length;

    const r = await acct(['reconnect', id], { ...env, ACCT_TEST_BROWSER_LOGIN: 'mallory' });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/local\/work is alice, but the new sign-in is mallory/);
    expect(r.stderr).toContain('--allow-identity-change');
    expect(await listJson(env)).toMatchObject([{ id, identity: 'alice', status: 'ok' }]);
    expect(await revealed(id, env)).toEqual(old);
    expect(await server.introspect(old.oauth_refresh_token!)).toBe(true);
    const revoked = server.revocations.slice(revocations);
    expect(revoked.map((x) => x.hint)).toEqual(['refresh_token', 'access_token']);
    for (const x of revoked) expect(Object.values(old)).not.toContain(x.token);
    expectNoSecrets([r.stderr], old);

    const allowed = await acct(['reconnect', id, '--allow-identity-change'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'mallory' });
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect(await listJson(env)).toMatchObject([{ id, identity: 'mallory', status: 'ok' }]);
    expect(await server.introspect(old.oauth_refresh_token!)).toBe(false);
  });
});

describe('token endpoint failures lose nothing', () => {
  for (const fault of ['500', 'hang', 'malformed'] as TokenFault[]) {
    it(`${fault}: the cached token is used while valid (with a warning), exit 5 once expired, and refresh works once the fault clears`, async () => {
      const { env: base, home } = await oauthHome(server, 'public');
      const env = { ...base, ACCT_HTTP_TIMEOUT: '1', ACCT_REFRESH_DEADLINE: '2' };
      const stale = await connect(env, 1, 'stale');
      const valid = await connect(env, 300, 'valid');
      const staleFields = await revealed(stale, env);
      const validFields = await revealed(valid, env);
      await sleep(1200);
      const snapshot = storeSnapshot(home);

      server.setTokenFault(fault);
      let cached, expired;
      const count = server.tokenRequests.refresh;
      try {
        // Valid for 300 s but asked for 600: a refresh is due, fails, and the cached token is handed out.
        cached = await acct(['token', 'valid', '--min-ttl', '600'], env);
        expired = await acct(['token', 'stale'], env);
      } finally {
        server.setTokenFault('none');
      }
      expect(server.tokenRequests.refresh).toBeGreaterThan(count + 1);

      expect(cached.exitCode, cached.stderr).toBe(0);
      expect(fingerprint(cached.stdout.trim())).toBe(fingerprint(validFields.oauth_access_token));
      expect(cached.stderr).toMatch(/warning: could not refresh local\/valid .*using the cached token, valid until/);

      expect(expired.exitCode, expired.stderr).toBe(5);
      expect(expired.stdout).toBe('');
      expect(expired.stderr).toMatch(/could not refresh local\/stale/);
      expect(expired.stderr).toMatch(/stored credentials are unchanged/);
      expectNoSecrets([cached.stderr, expired.stderr], { ...staleFields, ...validFields });

      // Nothing was written but the status: the same sealed files (both still decrypt), and in the
      // metadata both accounts are failing, nothing else changed (updatedAt included).
      const after = storeSnapshot(home);
      const metadata = (snap: Record<string, string>) => AccountFile.parse('accounts.tsv', Buffer.from(snap['accounts.tsv']!)).metadata();
      expect({ ...after, 'accounts.tsv': '' }).toEqual({ ...snapshot, 'accounts.tsv': '' });
      expect(metadata(after).accounts).toEqual(metadata(snapshot).accounts.map((a) => ({ ...a, status: 'failing' })));
      expect((await listJson(env)).map((a) => a.status)).toEqual(['failing', 'failing']);
      expect(fingerprint((await revealed(stale, env)).oauth_refresh_token)).toBe(fingerprint(staleFields.oauth_refresh_token));

      // The fault is gone: the same refresh tokens still work.
      const healed = await acct(['token', 'stale'], env);
      expect(healed.exitCode, healed.stderr).toBe(0);
      const now = await revealed(stale, env);
      expect(fingerprint(healed.stdout.trim())).toBe(fingerprint(now.oauth_access_token));
      expect(fingerprint(now.oauth_access_token)).not.toBe(fingerprint(staleFields.oauth_access_token));
      const refreshed = await acct(['token', 'valid', '--min-ttl', '600'], env);
      expect(refreshed.exitCode, refreshed.stderr).toBe(0);
      expect(refreshed.stderr).toBe('');
      expect(fingerprint(refreshed.stdout.trim())).not.toBe(fingerprint(validFields.oauth_access_token));
      // A successful refresh clears failing.
      expect((await listJson(env)).map((a) => a.status)).toEqual(['ok', 'ok']);
    });
  }
});

describe('--json and warnings', () => {
  /** stderr as one JSON object, and nothing else (no warning text before it). */
  const oneObject = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    return JSON.parse(lines[0]!);
  };

  it('a refresh that fails writes no warning text: the warnings are in the error object, or in one {"warnings"} object when the command succeeds', async () => {
    const { env: base } = await oauthHome(server, 'public');
    const env = { ...base, ACCT_HTTP_TIMEOUT: '1', ACCT_REFRESH_DEADLINE: '2' };
    await connect(env, 1, 'stale');
    await connect(env, 300, 'valid');
    await sleep(1200);
    server.setTokenFault('500');
    let failed, cached;
    try {
      failed = await acct(['token', 'stale', '--json'], env);
      cached = await acct(['token', 'valid', '--min-ttl', '600', '--json'], env);
    } finally {
      server.setTokenFault('none');
    }
    expect(failed.exitCode, failed.stderr).toBe(5);
    expect(failed.stdout).toBe('');
    expect(oneObject(failed.stderr)).toEqual({
      code: 'provider_unavailable',
      message: expect.stringMatching(/^could not refresh local\/stale/),
      hint: expect.any(String),
      warnings: expect.arrayContaining([expect.stringMatching(/^refreshing local\/stale failed .*; retrying$/)]),
    });

    expect(cached.exitCode, cached.stderr).toBe(0);
    expect(JSON.parse(cached.stdout)).toMatchObject({ token: expect.any(String) });
    expect(oneObject(cached.stderr)).toEqual({ warnings: expect.arrayContaining([expect.stringMatching(/^could not refresh local\/valid .*using the cached token, valid until/)]) });

    // Without warnings, stderr stays empty.
    const fine = await acct(['token', 'valid', '--json'], env);
    expect(fine.exitCode, fine.stderr).toBe(0);
    expect(fine.stderr).toBe('');
  });
});

describe('delete', () => {
  it('--yes revokes the refresh and access tokens at the provider, then deletes locally', async () => {
    const { env, home } = await oauthHome(server, 'confidential');
    const id = await connect(env, 300, 'gone');
    const fields = await revealed(id, env);
    expect(await server.introspect(fields.oauth_access_token!)).toBe(true);
    const revocations = server.revocations.length;

    const r = await acct(['delete', 'gone', '--yes'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('Revoked local/gone');
    expect(server.revocations.slice(revocations).map((x) => [fingerprint(x.token), x.hint])).toEqual([
      [fingerprint(fields.oauth_refresh_token), 'refresh_token'],
      [fingerprint(fields.oauth_access_token), 'access_token'],
    ]);
    expect(await server.introspect(fields.oauth_refresh_token!)).toBe(false);
    expect(await server.introspect(fields.oauth_access_token!)).toBe(false);
    expect(await listJson(env)).toEqual([]);
    expect(existsSync(join(home, 'secrets', `${id}.json`))).toBe(false);
    expectNoSecrets([r.stderr, r.stdout], fields);
  });

  it('an app that revokes with a JSON body (Notion) gets {"token"}, its client authentication and the API headers', async () => {
    const revocation = await startApiServer();
    try {
      const { env } = await oauthHome(server, 'confidential');
      const file = server.appFile('confidential', {
        api: { baseUrl: server.url, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' }, headers: { 'X-Api-Version': '7' } },
      });
      const definition = JSON.parse(readFileSync(file, 'utf8'));
      definition.oauth = { ...definition.oauth, revocationUrl: `${revocation.url}/revoke`, revocationBody: 'json' };
      writeFileSync(file, JSON.stringify(definition));
      expect((await acct(['apps', 'add', 'jsonrev', '--file', file], env)).exitCode).toBe(0);
      const { clientId, clientSecret } = server.clients.confidential;
      expect((await acct(['client', 'set', 'jsonrev', '--client-id', clientId, '--secret-stdin'], env, { input: clientSecret!, stdin: undefined })).exitCode).toBe(0);
      const c = await acct(['connect', 'jsonrev', '--nickname', 'j'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'jo' });
      expect(c.exitCode, c.stderr).toBe(0);
      const fields = await revealed(c.stdout.trim(), env);

      const r = await acct(['delete', 'jsonrev/j', '--yes'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('Revoked jsonrev/j');
      const calls = revocation.seen.filter((s) => s.url === '/revoke');
      expect(calls.map((s) => fingerprint((JSON.parse(s.body.toString('utf8')) as { token: string }).token))).toEqual([
        fingerprint(fields.oauth_refresh_token),
        fingerprint(fields.oauth_access_token),
      ]);
      for (const call of calls) {
        expect(Object.keys(JSON.parse(call.body.toString('utf8')))).toEqual(['token']);
        expect(call.method).toBe('POST');
        expect(call.headers['content-type']).toBe('application/json');
        expect(call.headers['x-api-version']).toBe('7');
        expect(call.headers.authorization).toMatch(/^Basic /);
      }
      expectNoSecrets([r.stderr, r.stdout], fields);
    } finally {
      await revocation.close();
    }
  });

  it('--keep-remote leaves the grant alive at the provider', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = await connect(env, 300, 'kept');
    const fields = await revealed(id, env);
    const revocations = server.revocations.length;

    const r = await acct(['delete', id, '--yes', '--keep-remote'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Revoked');
    expect(server.revocations.length).toBe(revocations);
    expect(await server.introspect(fields.oauth_refresh_token!)).toBe(true);
    expect(await server.introspect(fields.oauth_access_token!)).toBe(true);
    expect(await listJson(env)).toEqual([]);
  });
});
