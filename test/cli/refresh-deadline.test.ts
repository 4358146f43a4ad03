// Deadlines hold for every caller: with a token endpoint that never answers,
// callers queued on one account's refresh lock all end within about one
// refresh deadline (exit 5, never 6), taking the outcome of the one attempt
// instead of each retrying in turn; and a lock whose holder was killed is
// taken over at once, not after the stale window. Against the real
// oidc-provider (test/support/oauth-server.ts), its token endpoint stalled.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { acct } from '../support/cli.js';
import { oauthHome, connectWithTtl, fingerprint, revealed, startAcct, sleep } from '../support/oauth-cli.js';

let server: AuthServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
});
afterAll(async () => {
  server?.setTokenFault('none');
  await server?.close();
});

type Env = Record<string, string | undefined>;

function connect(env: Env, ttl: number, nickname: string): Promise<string> {
  return connectWithTtl(server, env, nickname, ttl);
}

const DEADLINE = 5;
const CALLERS = 16;
const RETRY_LINE = /^acct: warning: refreshing local\/hung failed \(127\.0\.0\.1:\d+ did not answer within [\d.]+s\); retrying$/;

describe('a hung token endpoint', () => {
  it(`${CALLERS} callers queued on one refresh all end within about one deadline, exit 5, and only the one refreshing says each retry`, async () => {
    const { env: base } = await oauthHome(server, 'public');
    const env = { ...base, ACCT_REFRESH_DEADLINE: String(DEADLINE), ACCT_HTTP_TIMEOUT: '1' };
    const id = await connect(env, 1, 'hung');
    await sleep(1500);
    const count = server.tokenRequests.refresh;
    server.setTokenFault('hang');
    let results: { exitCode: number; stderr: string; stdout: string; ms: number }[];
    try {
      results = await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          const started = Date.now();
          const r = await acct(['token', 'hung'], env);
          return { ...r, ms: Date.now() - started };
        }),
      );
    } finally {
      server.setTokenFault('none');
    }
    expect(results.map((r) => r.exitCode)).toEqual(results.map(() => 5));
    for (const r of results) {
      expect(r.stdout).toBe('');
      // Each caller's stderr: the retries it made itself, one line each, then its outcome in acct's words.
      const lines = r.stderr.trimEnd().split('\n');
      const retries = lines.filter((l) => RETRY_LINE.test(l));
      const rest = lines.slice(retries.length);
      expect(lines.slice(0, retries.length)).toEqual(retries);
      expect(rest[0], r.stderr).toMatch(/^acct: could not refresh local\/hung: (127\.0\.0\.1:\d+ did not answer within [\d.]+s|another acct process has been refreshing it for \d+s( \(its last attempt: 127\.0\.0\.1:\d+ did not answer within [\d.]+s\))?)$/);
      expect(rest.slice(1)).toEqual(['  the stored credentials are unchanged; retry when the provider is reachable']);
      expect(r.stderr).not.toMatch(/lock|undici|Error|at .*\.js/);
    }
    // One caller refreshed (a few attempts within its deadline); the others took its outcome.
    const retried = results.filter((r) => RETRY_LINE.test(r.stderr.split('\n')[0]!));
    expect(retried.length).toBeLessThanOrEqual(2);
    const attempts = server.tokenRequests.refresh - count;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(2 * Math.ceil(DEADLINE / 1.5));
    // Generous (16 node processes on two shared cores start slowly), to catch
    // callers retrying one after another (16 x 5 s), not to time acct.
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(3 * DEADLINE * 1000 + 30_000);

    // The endpoint answers again: the stored refresh token still works.
    const healed = await acct(['token', 'hung'], env);
    expect(healed.exitCode, healed.stderr).toBe(0);
    expect(fingerprint(healed.stdout.trim())).toBe(fingerprint((await revealed(id, env)).oauth_access_token));
  }, 120_000);

  it('a lock holder killed with -9 is taken over at once, however fresh its lock looks', async () => {
    const { env: base, home } = await oauthHome(server, 'public');
    const env = { ...base, ACCT_REFRESH_DEADLINE: '120', ACCT_HTTP_TIMEOUT: '120' };
    const id = await connect(env, 1, 'killed');
    await sleep(1500);
    const count = server.tokenRequests.refresh;
    const lockDir = join(home, 'locks', `refresh-${id}.lock`);
    server.setTokenFault('hang');
    const holder = startAcct(['token', 'killed'], env);
    try {
      // It holds the lock and waits on the stalled endpoint.
      for (let i = 0; server.tokenRequests.refresh === count; i++) {
        if (i > 600) throw new Error('the holder never asked the token endpoint');
        await sleep(50);
      }
      expect(existsSync(lockDir)).toBe(true);
      holder.process.kill('SIGKILL');
      await holder.done();
    } finally {
      server.setTokenFault('none');
    }
    // Its lock is still there, and looks alive: stamped as if its holder had
    // just touched it, so only knowing the holder is gone can free it (the
    // stale window would keep it for 30 s, and the wait gives up before that).
    expect(existsSync(lockDir)).toBe(true);
    const soon = new Date(Date.now() + 3_600_000);
    utimesSync(lockDir, soon, soon);
    const next = await acct(['token', 'killed'], { ...env, ACCT_REFRESH_DEADLINE: '20' });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toBe('');
    expect(fingerprint(next.stdout.trim())).toBe(fingerprint((await revealed(id, env)).oauth_access_token));
    expect(server.tokenRequests.refresh - count).toBe(2);
    expect(existsSync(lockDir)).toBe(false);
  }, 120_000);
});
