// acct status: every account's health, from local data alone (no network, no
// secrets) or, with --check, by running each account's test request. One acct
// home holds a healthy key account, a key account whose API answers 401, a key
// account whose API is down, and OAuth accounts (against the test
// authorization server) that are healthy, expired, revoked, and both.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Options } from 'execa';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { closedPort, startApiServer, type ApiServer } from '../support/api-server.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, listJson, revealed, sleep } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const input = (text: string): Options => ({ input: text, stdin: undefined });
const newKey = () => `lk_${randomBytes(12).toString('hex')}`;

interface Row {
  result?: string | null;
  id: string;
  ref: string;
  status: string;
  detail: string;
  identity: string | null;
}

let server: AuthServer;
let api: ApiServer;
let resource: ApiServer;
let env: Env;
let downPort: number;
const ids: Record<string, string> = {};
const goodKey = newKey();
const badKey = newKey();
const secrets: string[] = [goodKey, badKey];
/** Access tokens the OAuth app's API turns away although they have not expired. */
const stale = new Set<string>();

/** Requests that reached any server (API stand-ins and the token endpoint). */
const traffic = () => api.seen.length + resource.seen.length + server.tokenRequests.grantTypes.length;

async function status(args: string[], e: Env = env): Promise<{ exitCode: number; rows: Row[]; stderr: string; stdout: string }> {
  const r = await acct(['status', ...args, '--json'], e);
  let rows: Row[] = [];
  try {
    rows = JSON.parse(r.stdout);
  } catch {
    throw new Error(`acct status printed no JSON (exit ${r.exitCode}): ${r.stderr}`);
  }
  for (const s of secrets) expect(r.stdout.includes(s) || r.stderr.includes(s), 'a secret leaked into acct status output').toBe(false);
  return { exitCode: r.exitCode, rows, stderr: r.stderr, stdout: r.stdout };
}

const byRef = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.ref, r]));

beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
  // The key API: knows one good key.
  api = await startApiServer((req, res) => {
    if (req.headers.authorization === `Bearer ${goodKey}`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ user: { login: 'kim' } }));
    }
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end('{"error":"invalid_token","error_description":"the key was revoked"}');
  });
  // The OAuth app's API: whatever the authorization server's /me says about the token.
  resource = await startApiServer(async (req, res) => {
    if (stale.has(/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '')) {
      res.writeHead(401, { 'content-type': 'application/json' });
      return void res.end('{"error":"invalid_token"}');
    }
    const me = await fetch(`${server.url}/me`, { headers: { authorization: req.headers.authorization ?? '' } });
    res.writeHead(me.status, { 'content-type': 'application/json' });
    res.end(await me.text());
  });
  downPort = await closedPort();

  const home = await oauthHome(server, 'public', { env: { ACCT_HTTP_TIMEOUT: '5', ACCT_REFRESH_DEADLINE: '5' } });
  env = home.env;
  const add = async (slug: string, file: string) => {
    const r = await acct(['apps', 'add', slug, '--file', file], env);
    expect(r.exitCode, r.stderr).toBe(0);
  };
  await add('svc', keyAppFile(api.url));
  await add('old', keyAppFile(api.url, { name: 'Old Service' }));
  await add('down', keyAppFile(`http://127.0.0.1:${downPort}`));
  await add(
    'res',
    server.appFile('public', {
      api: { baseUrl: resource.url, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
      test: { path: '/me', identity: ['login'] },
    }),
  );
  const client = await acct(['client', 'set', 'res', '--client-id', server.clients.public.clientId, '--no-secret'], env);
  expect(client.exitCode, client.stderr).toBe(0);

  const connectKey = async (slug: string, nickname: string, key: string) => {
    const r = await acct(['connect', slug, '--nickname', nickname, '--stdin', '--no-verify'], env, input(key));
    expect(r.exitCode, r.stderr).toBe(0);
    ids[`${slug}/${nickname}`] = r.stdout.trim();
  };
  await connectKey('svc', 'good', goodKey);
  await connectKey('old', 'bad', badKey);
  await connectKey('down', 'off', newKey());

  const connectOAuth = async (nickname: string, ttl: number) => {
    server.setAccessTokenTtl(ttl);
    try {
      const r = await acct(['connect', 'res', '--nickname', nickname], { ...env, ACCT_TEST_BROWSER_LOGIN: nickname });
      expect(r.exitCode, r.stderr).toBe(0);
      ids[`res/${nickname}`] = r.stdout.trim();
    } finally {
      server.setAccessTokenTtl(300);
    }
  };
  await connectOAuth('fresh', 300);
  await connectOAuth('early', 300); // unexpired, but the API turns the token away; refreshable
  await connectOAuth('gone', 300); // revoked at the server, token unexpired
  // Short-lived, but long enough that connect's identity request (/me) still
  // sees a live token on a loaded machine; expired by the time the tests run.
  await connectOAuth('stale', 3); // expired, refreshable
  await connectOAuth('dead', 3); // expired and revoked
  for (const id of [ids['res/fresh']!, ids['res/early']!, ids['res/gone']!, ids['res/stale']!, ids['res/dead']!]) {
    const f = await revealed(id, env);
    secrets.push(f.oauth_access_token!, f.oauth_refresh_token!);
    if (id === ids['res/early']) stale.add(f.oauth_access_token!);
  }
  expect(await server.revokeAllGrants('gone')).toBeGreaterThan(0);
  expect(await server.revokeAllGrants('dead')).toBeGreaterThan(0);
  await sleep(3500);
}, 240_000);

afterAll(async () => {
  await api?.close();
  await resource?.close();
  await server?.close();
});

describe('acct status', () => {
  it('without --check: local data only, no request reaches any server, no secret is read', async () => {
    const before = traffic();
    const { exitCode, rows } = await status([]);
    expect(traffic()).toBe(before);
    expect(exitCode).toBe(0);
    // Sorted by app, then nickname.
    expect(rows.map((r) => r.ref)).toEqual(['down/off', 'old/bad', 'res/dead', 'res/early', 'res/fresh', 'res/gone', 'res/stale', 'svc/good']);
    expect(rows.map((r) => r.id)).toEqual(rows.map((r) => ids[r.ref]));
    const s = byRef(rows);
    // Keys stored with --no-verify: unverified until a test request passes.
    for (const ref of ['down/off', 'old/bad', 'svc/good'])
      expect(s[ref]).toMatchObject({ status: 'unverified', detail: `stored without a passing test request; check it: acct test ${ids[ref]}`, result: null });
    expect(s['res/fresh']!.status).toBe('ok');
    expect(s['res/fresh']!.detail).toMatch(/^expires \d{4}-/);
    expect(s['res/fresh']!.identity).toBe('fresh');
    // The server revoked it, but nothing local says so yet.
    expect(s['res/gone']!.status).toBe('ok');
    expect(s['res/early']!.status).toBe('ok');
    expect(s['res/stale']).toMatchObject({ status: 'expired', detail: 'refreshed on next use', identity: 'stale' });
    expect(s['res/dead']).toMatchObject({ status: 'expired', detail: 'refreshed on next use' });

    // Reads no secrets: a wrong passphrase changes nothing.
    const wrong = await status([], { ...env, ACCT_PASSPHRASE: 'not the passphrase' });
    expect(wrong.exitCode, wrong.stderr).toBe(0);
    expect(wrong.rows).toEqual(rows);
    expect(traffic()).toBe(before);

    // --app filters.
    const only = await status(['--app', 'res']);
    expect(only.rows.map((r) => r.ref)).toEqual(['res/dead', 'res/early', 'res/fresh', 'res/gone', 'res/stale']);
  });

  it('the table lists each account with its id, reference and status', async () => {
    const before = traffic();
    const r = await acct(['status'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(traffic()).toBe(before);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ACCOUNT\s+STATUS\s+DETAIL$/);
    expect(lines).toHaveLength(9);
    for (const [ref, id] of Object.entries(ids)) {
      const line = lines.find((l) => l.includes(id));
      expect(line, `${ref} is listed`).toBeDefined();
      expect(line).toContain(ref);
    }
    // Piped, each cell is one word: the detail's spaces are written as _.
    expect(lines.find((l) => l.includes(ids['res/stale']!))).toMatch(/\sexpired\s+refreshed_on_next_use$/);
    expect(lines.find((l) => l.includes(ids['svc/good']!))).toMatch(/\sunverified\s+stored_without_a_passing_test_request;_check_it:_acct_test_acc_\w+$/);
    for (const l of lines) expect(l.split(/\s+/), l).toHaveLength(4);
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('--check runs every test request: ok, needs-reconnect, unreachable; exit 4', async () => {
    const refreshes = server.tokenRequests.refresh;
    const apiBefore = api.seen.length;
    const resBefore = resource.seen.length;
    const { exitCode, rows, stderr } = await status(['--check']);
    expect(exitCode, stderr).toBe(4);
    // With --json no progress text: stderr is empty or one JSON object (the run's warnings).
    expect(stderr).not.toContain('Checking');
    if (stderr) expect(Object.keys(JSON.parse(stderr))).toEqual(['warnings']);
    expect(rows.map((r) => r.ref)).toEqual(['down/off', 'old/bad', 'res/dead', 'res/early', 'res/fresh', 'res/gone', 'res/stale', 'svc/good']);
    const s = byRef(rows);

    expect(s['svc/good']).toMatchObject({ status: 'ok', identity: 'kim', detail: 'authenticated as kim' });
    // The test request's outcome, named and valued as in acct test --json.
    expect(Object.fromEntries(rows.map((r) => [r.ref, r.result]))).toEqual({
      'down/off': 'unreachable',
      'old/bad': 'rejected',
      'res/dead': 'rejected',
      'res/early': 'ok',
      'res/fresh': 'ok',
      'res/gone': 'rejected',
      'res/stale': 'ok',
      'svc/good': 'ok',
    });
    expect(s['old/bad']!.status).toBe('needs-reconnect');
    expect(s['old/bad']!.detail).toContain('401');
    expect(s['old/bad']!.detail).toContain('the key was revoked');
    expect(s['old/bad']!.detail).toContain(`acct reconnect ${ids['old/bad']}`);
    expect(s['down/off']!.status).toBe('unreachable');
    expect(s['down/off']!.detail).toContain(`127.0.0.1:${downPort}`);

    expect(s['res/fresh']).toMatchObject({ status: 'ok', identity: 'fresh', detail: 'authenticated as fresh' });
    // Turned away early by the API: refreshed once, and the retry passes.
    expect(s['res/early']).toMatchObject({ status: 'ok', identity: 'early', detail: 'authenticated as early' });
    // Revoked at the server: the unexpired token is turned away, and so is the refresh.
    expect(s['res/gone']!.status).toBe('needs-reconnect');
    expect(s['res/gone']!.detail).toContain('invalid_grant');
    expect(s['res/gone']!.detail).toContain(`acct reconnect ${ids['res/gone']}`);
    // Expired: refreshed through the shared path, then the test request passes.
    expect(s['res/stale']).toMatchObject({ status: 'ok', identity: 'stale' });
    // Expired and revoked: the refresh is refused.
    expect(s['res/dead']!.status).toBe('needs-reconnect');
    expect(s['res/dead']!.detail).toContain('invalid_grant');
    expect(s['res/dead']!.detail).toContain(`acct reconnect ${ids['res/dead']}`);

    // One refresh each for the two expired accounts and the two turned away;
    // a test request per account that got that far, and the one retry.
    expect(server.tokenRequests.refresh - refreshes).toBe(4);
    expect(api.seen.length - apiBefore).toBe(2);
    expect(resource.seen.length - resBefore).toBe(5);

    // What --check learnt is stored: the refreshed token is fresh, the refused one needs reconnecting.
    const accounts = Object.fromEntries((await listJson(env)).map((a) => [`${a.app}/${a.nickname}`, a]));
    expect(accounts['res/stale']!.status).toBe('ok');
    expect(new Date(accounts['res/stale']!.expires_at).getTime()).toBeGreaterThan(Date.now() + 200_000);
    expect(accounts['res/dead']!.status).toBe('needs-reconnect');
    expect(accounts['res/gone']!.status).toBe('needs-reconnect');
    expect(accounts['res/early']!.status).toBe('ok');
    // The key its service rejected needs reconnecting; the one it could not reach stays as it was.
    expect(accounts['old/bad']!.status).toBe('needs-reconnect');
    expect(accounts['down/off']!.status).toBe('unverified');
  });

  it('after --check, local status reflects it: exit 4 for the accounts marked needs-reconnect', async () => {
    const before = traffic();
    const { exitCode, rows } = await status([]);
    expect(traffic()).toBe(before);
    expect(exitCode).toBe(4);
    const s = byRef(rows);
    expect(s['res/dead']).toMatchObject({ status: 'needs-reconnect', detail: `run: acct reconnect ${ids['res/dead']}` });
    expect(s['res/stale']!.status).toBe('ok');
    // The check that passed cleared svc/good's unverified; the rejected key needs reconnecting; the unreachable one is unchanged.
    expect(s['svc/good']).toMatchObject({ status: 'ok', detail: 'does not expire' });
    expect(s['old/bad']).toMatchObject({ status: 'needs-reconnect', detail: `run: acct reconnect ${ids['old/bad']}` });
    expect(s['down/off']!.status).toBe('unverified');
    expect(s['res/gone']).toMatchObject({ status: 'needs-reconnect', detail: `run: acct reconnect ${ids['res/gone']}` });
    expect(rows.filter((r) => r.status === 'needs-reconnect').map((r) => r.ref)).toEqual(['old/bad', 'res/dead', 'res/gone']);
    // Marked accounts are not sent to the network again by --check.
    const refreshes = server.tokenRequests.refresh;
    const resBefore = resource.seen.length;
    const check = await status(['--check', '--app', 'res']);
    expect(check.exitCode).toBe(4);
    expect(check.rows.map((r) => [r.ref, r.status])).toEqual([
      ['res/dead', 'needs-reconnect'],
      ['res/early', 'ok'],
      ['res/fresh', 'ok'],
      ['res/gone', 'needs-reconnect'],
      ['res/stale', 'ok'],
    ]);
    expect(server.tokenRequests.refresh).toBe(refreshes);
    expect(resource.seen.length - resBefore).toBe(3);
  });

  it('exit 5 when the only problem is an unreachable API; exit 0 when all pass', async () => {
    const down = await status(['--check', '--app', 'down']);
    expect(down.exitCode).toBe(5);
    expect(down.rows.map((r) => [r.ref, r.status])).toEqual([['down/off', 'unreachable']]);

    const ok = await status(['--check', '--app', 'svc']);
    expect(ok.exitCode).toBe(0);
    expect(ok.rows.map((r) => [r.ref, r.status])).toEqual([['svc/good', 'ok']]);

    // An app of the catalog without accounts: nothing to check.
    const none = await status(['--check', '--app', 'github']);
    expect(none.exitCode).toBe(0);
    expect(none.rows).toEqual([]);
  });

  it('--app of an app that does not exist is exit 3 with the closest slugs, as list says; one without accounts says so', async () => {
    for (const args of [['status', '--app', 'nosuch'], ['status', '--check', '--app', 'nosuch'], ['list', '--app', 'nosuch']]) {
      const r = await acct(args, env);
      expect(r, args.join(' ')).toMatchObject({ exitCode: 3, stdout: '', stderr: expect.stringMatching(/^acct: unknown app "nosuch"\n/) });
      const json = await acct([...args, '--json'], env);
      expect(json.exitCode, args.join(' ')).toBe(3);
      expect(json.stdout).toBe('');
      expect(JSON.parse(json.stderr)).toMatchObject({ code: 'app_not_found', message: 'unknown app "nosuch"' });
    }
    expect(await acct(['status', '--app', 'svd'], env)).toMatchObject({ exitCode: 3, stderr: expect.stringMatching(/did you mean:? svc\b/) });
    const empty = await acct(['status', '--app', 'github'], env);
    expect(empty).toMatchObject({ exitCode: 0, stdout: '', stderr: 'No github accounts. Connect one: acct connect github\n' });
  });

  it('--check --concurrency 1 gives the same rows as the default', async () => {
    const a = await status(['--check', '--app', 'svc', '--concurrency', '1']);
    expect(a.exitCode).toBe(0);
    expect(a.rows.map((r) => [r.ref, r.status])).toEqual([['svc/good', 'ok']]);
    const bad = await acct(['status', '--check', '--concurrency', '0'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--concurrency');
  });
});

describe('acct status with no accounts', () => {
  it('prints an empty JSON array, or a hint on stderr, and exits 0', async () => {
    const e = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'empty' });
    const json = await acct(['status', '--check', '--json'], e);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
    const table = await acct(['status'], e);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toBe('');
    expect(table.stderr).toContain('No accounts yet');
  });
});
