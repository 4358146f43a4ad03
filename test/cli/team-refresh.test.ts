// One refresh across machines, through the built binary: five "machines"
// (ACCT_HOMEs, each a member of one team on a private PostgreSQL cluster)
// share an OAuth account connected against the real authorization server
// (oidc-provider, refresh tokens rotated on every use), and call
// `acct token acme:local/bot` at once; then the faults of a refresh in flight
// (the lock holder's connection killed, PostgreSQL restarted).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { acct, baseEnv, tempHome, type RunResult } from '../support/cli.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { BROWSER_COMMAND, fingerprint, sleep } from '../support/oauth-cli.js';

let pg: PgCluster;
let server: AuthServer;
const REF = 'acme:local/bot';
// A hundred node processes on two shared cores: generous deadlines, never a wall-time assert.
const SLOW = 300_000;

type Env = Record<string, string | undefined>;

function machine(name: string) {
  const home = tempHome();
  const env = baseEnv({
    ACCT_HOME: home,
    ACCT_STORE: 'file',
    ACCT_PASSPHRASE: `pass-${name}`,
    USER: name,
    ACCT_BROWSER: BROWSER_COMMAND,
    ACCT_REFRESH_DEADLINE: '240',
    ACCT_TEAM_TIMEOUT: '60',
  });
  return {
    name,
    home,
    env,
    run: (args: string[], opts: { input?: string; env?: Env; timeout?: number } = {}) =>
      acct(args, { ...env, ...opts.env }, { timeout: opts.timeout ?? 60_000, ...(opts.input === undefined ? {} : { input: opts.input, stdin: undefined }) }),
  };
}
type Machine = ReturnType<typeof machine>;
const machines: Machine[] = [];

/** The account's stored fields as one member's machine reads them (compared through fingerprints only). */
async function revealed(m: Machine): Promise<Record<string, string>> {
  const r = await m.run(['show', REF, '--reveal', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout).fields;
}

/** Gives the account an access token that lives `ttl` seconds (a forced refresh), then waits for it to expire. */
async function expireSoon(ttl = 1) {
  server.setAccessTokenTtl(ttl);
  const r = await machines[0]!.run(['token', REF, '--refresh']);
  expect(r.exitCode, r.stderr).toBe(0);
  server.setAccessTokenTtl(600);
  await sleep(ttl * 1000 + 1500);
}

const expectAllOk = (results: RunResult[]) => expect(results.filter((r) => r.exitCode !== 0).map((r) => `${r.exitCode}: ${r.stderr}`)).toEqual([]);

/** Across everything the server saw: no refresh token was presented twice. */
function expectNoReuse() {
  const all = server.tokenRequests.refreshTokensPresented;
  expect(all.length - new Set(all).size).toBe(0);
}

beforeAll(async () => {
  [pg, server] = await Promise.all([startPostgres(), startAuthServer({ accessTokenTtl: 600 })]);
  for (let i = 0; i < 5; i++) machines.push(machine(`m${i}`));
  const [owner, ...others] = machines;
  const c = await owner!.run(['team', 'create', 'acme', pg.url], { env: { PGPASSWORD: pg.password } });
  expect(c.exitCode, c.stderr).toBe(0);
  for (const m of others) {
    const inv = await owner!.run(['team', 'invite', 'acme', '--name', m.name]);
    expect(inv.exitCode, inv.stderr).toBe(0);
    const j = await m.run(['team', 'join', `postgres://${pg.host}:${pg.port}/acct`, '--code-stdin'], { input: inv.stdout });
    expect(j.exitCode, j.stderr).toBe(0);
  }
  const appFile = server.appFile('public');
  for (const m of machines) expect((await m.run(['apps', 'add', 'local', '--file', appFile])).exitCode).toBe(0);
  // No client for the team yet: connect says how to set the team's, not this machine's.
  const none = await owner!.run(['connect', 'local', '--team', 'acme', '--nickname', 'bot']);
  expect(none.exitCode).toBe(2);
  expect(none.stderr).toContain('acct client set local --team acme --client-id ID');
  // The team's OAuth client, set once for every member.
  const cs = await owner!.run(['client', 'set', 'local', '--team', 'acme', '--client-id', server.clients.public.clientId, '--no-secret']);
  expect(cs.exitCode, cs.stderr).toBe(0);
  expect(cs.stderr).toContain('for team acme');
  // Another member sees it as the team's; this machine's own store has none.
  const shown = await machines[3]!.run(['client', 'show', 'local', '--team', 'acme', '--json']);
  expect(shown.exitCode, shown.stderr).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({ client_id: server.clients.public.clientId, source: 'stored' });
  expect(JSON.parse((await machines[3]!.run(['client', 'show', 'local', '--json'])).stdout)).toMatchObject({ client_id: null });
  const conn = await owner!.run(['connect', 'local', '--team', 'acme', '--nickname', 'bot'], { env: { ACCT_TEST_BROWSER_LOGIN: 'shared-bot' } });
  expect(conn.exitCode, conn.stderr).toBe(0);
  const sh = await owner!.run(['share', REF, '--with', 'team']);
  expect(sh.exitCode, sh.stderr).toBe(0);
}, SLOW);
afterAll(async () => {
  pg?.destroy();
  await server?.close();
});

describe('one refresh across machines (team store, real OAuth server)', () => {
  it('5 machines x 20 concurrent acct token on an expired token: one token request, all succeed with the same new token, no refresh token presented twice', async () => {
    await expireSoon();
    const before = await revealed(machines[2]!);
    const count = server.tokenRequests.refresh;
    const presented = server.tokenRequests.refreshTokensPresented.length;
    const results = await Promise.all(machines.flatMap((m) => Array.from({ length: 20 }, () => m.run(['token', REF], { timeout: 270_000 }))));
    expectAllOk(results);
    expect(server.tokenRequests.refresh - count).toBe(1);
    expect(server.tokenRequests.refreshTokensPresented.slice(presented).map(fingerprint)).toEqual([fingerprint(before.oauth_refresh_token)]);
    const after = await revealed(machines[4]!);
    expect([...new Set(results.map((r) => fingerprint(r.stdout.trim())))]).toEqual([fingerprint(after.oauth_access_token)]);
    expect(fingerprint(after.oauth_refresh_token)).not.toBe(fingerprint(before.oauth_refresh_token));
    expect(await server.introspect(after.oauth_access_token!)).toBe(true);
    expect(await server.introspect(after.oauth_refresh_token!)).toBe(true);
    for (const r of results) for (const v of Object.values(before)) expect(r.stderr.includes(v)).toBe(false);
    expectNoReuse();
  }, SLOW);

  it('PostgreSQL restarted while the token request is in flight: the rotated refresh token is stored once it is back, and used next', async () => {
    await expireSoon();
    const before = await revealed(machines[0]!);
    const count = server.tokenRequests.refresh;
    server.setTokenDelay(3000);
    let results: RunResult[];
    try {
      const running = [machines[1]!.run(['token', REF], { timeout: 120_000 })];
      while (server.tokenRequests.refresh === count) await sleep(20);
      pg.restart();
      results = await Promise.all(running);
    } finally {
      server.setTokenDelay(0);
    }
    expectAllOk(results);
    // The restart ended the holder's session, and its lock with it: said.
    expect(results[0]!.stderr).toContain('refresh lock');
    expect(server.tokenRequests.refresh - count).toBe(1);
    const after = await revealed(machines[3]!);
    expect(fingerprint(results[0]!.stdout.trim())).toBe(fingerprint(after.oauth_access_token));
    expect(fingerprint(after.oauth_refresh_token)).not.toBe(fingerprint(before.oauth_refresh_token));
    expect(await server.introspect(after.oauth_refresh_token!)).toBe(true);
    // The next refresh, from another machine, presents the rotated one.
    const forced = await machines[2]!.run(['token', REF, '--refresh']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(fingerprint(server.tokenRequests.refreshTokensPresented.at(-1))).toBe(fingerprint(after.oauth_refresh_token));
    expectNoReuse();
  }, SLOW);

  it("the lock holder's connection killed while its token request is in flight: the rotated refresh token is not lost", async () => {
    await expireSoon();
    const before = await revealed(machines[0]!);
    const count = server.tokenRequests.refresh;
    const presented = server.tokenRequests.refreshTokensPresented.length;
    server.setTokenDelay(3000);
    let results: RunResult[];
    let killed: string;
    try {
      const running = machines.flatMap((m) => [m.run(['token', REF], { timeout: 120_000 }), m.run(['token', REF], { timeout: 120_000 })]);
      while (server.tokenRequests.refresh === count) await sleep(20);
      // The session that holds the account's refresh lock, and only it.
      killed = pg.sql("SELECT string_agg(pg_terminate_backend(pid)::text, ',') FROM pg_locks WHERE locktype = 'advisory' AND granted").trim();
      results = await Promise.all(running);
    } finally {
      server.setTokenDelay(0);
    }
    expect(killed).toBe('true');
    const after = await revealed(machines[1]!);
    const requests = server.tokenRequests.refreshTokensPresented.slice(presented);
    // What the server saw, for the report when this fails.
    const summary = { requests: requests.map(fingerprint), before: fingerprint(before.oauth_refresh_token), stored: fingerprint(after.oauth_refresh_token), exits: results.map((r) => r.exitCode) };
    expectAllOk(results);
    // The one that lost its lock says so, and the one that took it after waited for its answer instead of presenting the refresh token again.
    expect(results.some((r) => r.stderr.includes('refresh lock')), JSON.stringify(summary)).toBe(true);
    expect(results.some((r) => r.stderr.includes('waiting for its answer')), JSON.stringify(summary)).toBe(true);
    expect(summary.requests).toEqual([summary.before]);
    expect([...new Set(results.map((r) => fingerprint(r.stdout.trim())))], JSON.stringify(summary)).toHaveLength(1);
    expect(fingerprint(results[0]!.stdout.trim())).toBe(fingerprint(after.oauth_access_token));
    // The rotated refresh token was stored and still works.
    expect(await server.introspect(after.oauth_refresh_token!), JSON.stringify(summary)).toBe(true);
    expectNoReuse();
  }, SLOW);
});
