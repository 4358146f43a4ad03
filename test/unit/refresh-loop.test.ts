// The refresh loop (src/accounts/refresh.ts) in this process, on a fake
// clock: a provider that keeps failing is retried until the caller's deadline
// and no longer, one warning per retry, then the cached token or exit 5. The
// store is a real passphrase store in a temporary folder; the token endpoint
// is a fetch that fails as a hung provider does.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createContext, type IO } from '../../src/context.js';
import { createAccount } from '../../src/accounts/service.js';
import { ensureFresh } from '../../src/accounts/refresh.js';
import { readSecrets } from '../../src/accounts/credentials.js';
import { AcctError, unavailable } from '../../src/errors.js';
import type { Fetch } from '../../src/http.js';

async function setup(expiresInS: number) {
  let t = Date.UTC(2026, 11, 1, 9, 0, 0);
  const stderr: string[] = [];
  const io = { stderr: { write: (s: string) => stderr.push(s) }, stdout: new PassThrough(), stdin: new PassThrough() } as unknown as IO;
  const asked: number[] = [];
  // What a hung provider costs each attempt: the HTTP timeout (5 s here), then a failure.
  const fetch: Fetch = async (url) => {
    asked.push(t);
    t += 5_000;
    throw unavailable(`${new URL(url).host} did not answer within 5s`, 'check your network');
  };
  const env = {
    ACCT_HOME: mkdtempSync(join(tmpdir(), 'acct-refresh-')),
    ACCT_STORE: 'file',
    ACCT_PASSPHRASE: 'refresh loop',
    ACCT_CLIENT_ID_GITHUB: 'Iv1.test',
    ACCT_CLIENT_SECRET_GITHUB: 'test-secret',
    ACCT_REFRESH_DEADLINE: '30',
  };
  const ctx = createContext(env, io, {
    fetch,
    now: () => new Date(t),
    sleep: async (ms) => {
      t += ms;
    },
  });
  const app = ctx.catalog.get('github');
  const account = await createAccount(
    ctx,
    ctx.store,
    app,
    { fields: { oauth_access_token: 'gho_cached', oauth_refresh_token: 'ghr_refresh' }, scopes: [], expiresAt: new Date(t + expiresInS * 1000).toISOString(), identity: 'octocat' },
    'octo',
  );
  const started = t;
  return { ctx, app, account, stderr, asked: () => asked.map((a) => a - started), elapsed: () => t - started };
}

describe('the refresh loop on a failing provider', () => {
  it('retries until the deadline, says each retry once, and then exits 5 with the stored credentials unchanged', async () => {
    const { ctx, app, account, stderr, asked, elapsed } = await setup(-10);
    const err = await ensureFresh(ctx, account, app, { minTtlSeconds: 60 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AcctError);
    expect((err as AcctError).exitCode).toBe(5);
    expect((err as AcctError).message).toBe('could not refresh github/octo: github.com did not answer within 5s');
    // Attempts at 0, 5.5, 11.5, 18.5 and 27.5 s (pauses of 0.5, 1, 2, 4 s); the next would start after the 30 s deadline.
    expect(asked()).toEqual([0, 5_500, 11_500, 18_500, 27_500]);
    expect(elapsed()).toBeLessThanOrEqual(30_000 + 5_000);
    expect(stderr).toEqual(Array.from({ length: 4 }, () => 'acct: warning: refreshing github/octo failed (github.com did not answer within 5s); retrying\n'));
    expect((await readSecrets(ctx, account)).oauth_refresh_token).toBe('ghr_refresh');
  });

  it('hands out the cached token with one warning when it is still valid', async () => {
    const { ctx, app, account, stderr } = await setup(45);
    const got = await ensureFresh(ctx, account, app, { minTtlSeconds: 60 });
    expect(got.fields.oauth_access_token).toBe('gho_cached');
    // Still valid at the deadline: four retries, then the cached token with a warning saying until when.
    expect(stderr.slice(-1)[0]).toMatch(/^acct: warning: could not refresh github\/octo \(github\.com did not answer within 5s\); using the cached token, valid until /);
    expect(stderr.filter((l) => l.includes('retrying'))).toHaveLength(4);
  });
});

describe('callers queued behind a refresh', () => {
  it('unlock the store only once the refresh is done, so the refresh does not wait for their unlocking', async () => {
    // Two callers ("processes": two contexts on one passphrase store), real clock and real lock.
    const home = mkdtempSync(join(tmpdir(), 'acct-refresh-'));
    const env = { ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'queued', ACCT_CLIENT_ID_GITHUB: 'Iv1.test', ACCT_CLIENT_SECRET_GITHUB: 'test-secret' };
    const io = () => ({ stderr: { write: () => true }, stdout: new PassThrough(), stdin: new PassThrough() }) as unknown as IO;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let asked = 0;
    let answering!: () => void;
    const holding = new Promise<void>((r) => (answering = r));
    const fetch: Fetch = async () => {
      asked++;
      answering();
      await released;
      const body = { access_token: 'gho_new', token_type: 'bearer', expires_in: 3600, refresh_token: 'ghr_rotated', scope: '' };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const holder = createContext(env, io(), { fetch });
    const app = holder.catalog.get('github');
    const account = await createAccount(
      holder,
      holder.store,
      app,
      { fields: { oauth_access_token: 'gho_old', oauth_refresh_token: 'ghr_refresh' }, scopes: [], expiresAt: new Date(Date.now() - 10_000).toISOString(), identity: 'octocat' },
      'octo',
    );
    const first = ensureFresh(holder, account, app, { minTtlSeconds: 60 });
    await holding;
    const waiter = createContext(env, io(), { fetch });
    const reads: boolean[] = [];
    let done = false;
    const read = waiter.store.readSecrets.bind(waiter.store);
    waiter.store.readSecrets = (ids) => (reads.push(done), read(ids));
    const second = ensureFresh(waiter, account, app, { minTtlSeconds: 60 });
    await new Promise((r) => setTimeout(r, 700));
    expect(reads).toEqual([]); // waiting for the lock, the store still locked
    done = true;
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.fields.oauth_access_token).toBe('gho_new');
    expect(b.fields.oauth_access_token).toBe('gho_new');
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every(Boolean)).toBe(true);
    expect(asked).toBe(1);
  });
});
