// Key verification: `acct connect` runs the app's test request against a local
// stand-in for the service (a user-added app pointing at 127.0.0.1).
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Options } from 'execa';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';

const input = (text: string): Options => ({ input: text, stdin: undefined });
const newKey = () => `lk_${randomBytes(12).toString('hex')}`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The service: answers the test request for the keys it knows, 401 for the others. */
function startService() {
  const seen: Seen[] = [];
  /** credential as the service receives it → response */
  const known = new Map<string, { status: number; body: unknown }>();
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    const url = new URL(req.url!, 'http://127.0.0.1');
    const credential =
      req.headers.authorization ?? (req.headers['x-service-key'] as string | undefined) ?? url.searchParams.get('token') ?? '';
    const answer = known.get(credential) ?? { status: 401, body: { error: 'invalid_token', error_description: 'the key was revoked' } };
    if (answer.status === 0) return; // a service that never answers
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  return { server, seen, known };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('key verification (test request)', () => {
  const service = startService();
  let base: string;
  let home: string;
  let env: Record<string, string | undefined>;

  const list = async () =>
    JSON.parse((await acct(['list', '--json'], env)).stdout) as { id: string; app: string; nickname: string; identity: string | null }[];

  beforeAll(async () => {
    base = `http://127.0.0.1:${await listen(service.server)}`;
    // A port nothing listens on: bind one, then close it.
    const closed = createServer();
    const closedPort = await listen(closed);
    await new Promise((r) => closed.close(r));

    home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'verify passphrase', ACCT_HTTP_TIMEOUT: '10' });
    const apps: [string, string][] = [
      ['svc', keyAppFile(base)],
      [
        'custom',
        keyAppFile(`${base}/v2`, {
          api: { baseUrl: `${base}/v2`, auth: { type: 'header', name: 'X-Service-Key', value: 'key={api_key}; v=1' }, headers: { 'X-Api-Version': '2024-01-01' } },
          test: { path: '/whoami', identity: ['data.email', 'data.id'] },
        }),
      ],
      [
        'query',
        keyAppFile(base, { api: { baseUrl: base, auth: { type: 'query', name: 'token', value: '{api_key}' } }, test: { path: '/me?fmt=json', identity: ['id'] } }),
      ],
      ['duo', duoAppFile(base, { test: { method: 'POST', path: '/accounts/check', body: { probe: true }, identity: ['friendly_name'] } })],
      ['down', keyAppFile(`http://127.0.0.1:${closedPort}`)],
    ];
    for (const [slug, file] of apps) expect((await acct(['apps', 'add', slug, '--file', file], env)).exitCode).toBe(0);
  });
  afterAll(async () => {
    service.server.closeAllConnections();
    await new Promise((r) => service.server.close(r));
  });
  beforeEach(() => {
    service.seen.length = 0;
  });

  it('an accepted key is stored, and the identity becomes the default nickname', async () => {
    const key = newKey();
    service.known.set(`Bearer ${key}`, { status: 200, body: { user: { login: 'octo-user' } } });
    const r = await acct(['connect', 'svc', '--stdin'], env, input(key));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Connected svc/octo-user');
    expect(r.stderr).not.toMatch(/warning/);
    const id = r.stdout.trim();
    expect(id).toMatch(/^acc_[a-z2-7]{10}$/);

    // Exactly one request: the test request, authorized as the app declares.
    expect(service.seen).toHaveLength(1);
    expect(service.seen[0]).toMatchObject({ method: 'GET', url: '/me' });
    expect(service.seen[0]!.headers.authorization).toBe(`Bearer ${key}`);
    expect(service.seen[0]!.headers.accept).toBe('application/json');

    expect((await list()).find((a) => a.id === id)).toMatchObject({ app: 'svc', nickname: 'octo-user', identity: 'octo-user' });
    expect(await acct(['token', 'svc/octo-user'], env)).toMatchObject({ exitCode: 0, stdout: `${key}\n` });
  });

  it('a second connect of the same identity updates its account; --nickname asks for another one', async () => {
    const first = (await list()).find((a) => a.identity === 'octo-user')!;
    const again = newKey();
    service.known.set(`Bearer ${again}`, { status: 200, body: { user: { login: 'octo-user' } } });
    const second = await acct(['connect', 'svc', '--stdin', '--json'], env, input(again));
    expect(second.exitCode).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ id: first.id, app: 'svc', nickname: 'octo-user', identity: 'octo-user' });
    expect(second.stderr).toContain(`Updated svc/octo-user (${first.id}): already connected`);
    expect(await acct(['token', first.id], env)).toMatchObject({ exitCode: 0, stdout: `${again}\n` });
    expect((await list()).filter((a) => a.identity === 'octo-user')).toHaveLength(1);
    const separate = await acct(['connect', 'svc', '--stdin', '--nickname', 'octo-ci', '--json'], env, input(again));
    expect(JSON.parse(separate.stdout)).toMatchObject({ nickname: 'octo-ci', identity: 'octo-user' });
    expect(JSON.parse(separate.stdout).id).not.toBe(first.id);
    const named = newKey();
    service.known.set(`Bearer ${named}`, { status: 200, body: { user: { login: 'Octo User <octo@example.com>' } } });
    const third = await acct(['connect', 'svc', '--stdin', '--nickname', 'ops', '--json'], env, input(named));
    expect(JSON.parse(third.stdout)).toMatchObject({ nickname: 'ops', identity: 'Octo User <octo@example.com>' });
  });

  it('a rejected key (401) is not stored and exits 4', async () => {
    const before = allFiles(home);
    const key = newKey();
    const r = await acct(['connect', 'svc', '--stdin', '--nickname', 'rejected'], env, input(key));
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/rejected the key/);
    expect(r.stderr).toMatch(/answered 401: the key was revoked/);
    expect(r.stderr).toMatch(/nothing was stored/);
    expect(r.stderr).not.toContain(key);
    expect(r.stdout).toBe('');
    expect(service.seen).toHaveLength(1);
    expect(service.seen[0]!.headers.authorization).toBe(`Bearer ${key}`);
    expect(allFiles(home)).toEqual(before);
    expect((await list()).map((a) => a.nickname)).not.toContain('rejected');

    // 403 is a rejection too.
    const forbidden = newKey();
    service.known.set(`Bearer ${forbidden}`, { status: 403, body: { message: 'key lacks the read scope' } });
    const r403 = await acct(['connect', 'svc', '--stdin'], env, input(forbidden));
    expect(r403.exitCode).toBe(4);
    expect(r403.stderr).toMatch(/answered 403: key lacks the read scope/);
    expect(allFiles(home)).toEqual(before);
  });

  it('an unreachable service: stored unverified, with a warning', async () => {
    const key = newKey();
    const r = await acct(['connect', 'down', '--stdin'], env, input(key));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/warning: could not verify the key \(cannot reach 127\.0\.0\.1:\d+/);
    expect(r.stderr).toMatch(/acct test down/);
    expect(r.stderr).not.toContain(key);
    const id = r.stdout.trim();
    // No identity: the app slug and a number; and the status says the key was never checked.
    expect((await list()).find((a) => a.id === id)).toMatchObject({ app: 'down', nickname: 'down-1', identity: null, status: 'unverified' });
    expect(await acct(['token', id], env)).toMatchObject({ exitCode: 0, stdout: `${key}\n` });

    // A service that is up but failing (5xx) is treated the same way.
    const busy = newKey();
    service.known.set(`Bearer ${busy}`, { status: 503, body: { error: 'maintenance' } });
    const r503 = await acct(['connect', 'svc', '--stdin', '--nickname', 'busy'], env, input(busy));
    expect(r503.exitCode).toBe(0);
    expect(r503.stderr).toMatch(/could not verify the key \(127\.0\.0\.1:\d+ answered 503\)/);
    expect((await list()).map((a) => `${a.app}/${a.nickname}`)).toContain('svc/busy');
  });

  it('a service that does not answer: the request times out, the key is stored with a warning', async () => {
    const key = newKey();
    service.known.set(`Bearer ${key}`, { status: 0, body: null });
    const started = Date.now();
    const r = await acct(['connect', 'svc', '--stdin', '--nickname', 'slow'], { ...env, ACCT_HTTP_TIMEOUT: '1' }, input(key));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/could not verify the key \(127\.0\.0\.1:\d+ did not answer within 1s\)/);
    expect(service.seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await list()).map((a) => `${a.app}/${a.nickname}`)).toContain('svc/slow');
  });

  it('a slow service: progress on stderr while waiting, stdout untouched', async () => {
    const key = newKey();
    service.known.set(`Bearer ${key}`, { status: 0, body: null });
    const r = await acct(['connect', 'svc', '--stdin', '--nickname', 'patient'], { ...env, ACCT_HTTP_TIMEOUT: '5' }, input(key));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/^Waiting for 127\.0\.0\.1:\d+…$/m);
    expect(r.stdout.trim()).toMatch(/^acc_[a-z2-7]{10}$/);
  });

  it('--no-verify skips the request', async () => {
    const key = newKey();
    const r = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'offline'], env, input(key));
    expect(r.exitCode).toBe(0);
    expect(service.seen).toHaveLength(0);
    expect((await list()).find((a) => a.id === r.stdout.trim())).toMatchObject({ nickname: 'offline', identity: null });
    // Shape checks still apply without verification.
    expect((await acct(['connect', 'svc', '--stdin', '--no-verify'], env, input('sk_wrong_prefix'))).exitCode).toBe(2);
    expect(service.seen).toHaveLength(0);
  });

  it('a custom header, extra headers and base-URL path, exactly as the app declares', async () => {
    const key = newKey();
    service.known.set(`key=${key}; v=1`, { status: 200, body: { data: { email: '', id: 4242 } } });
    const r = await acct(['connect', 'custom', '--stdin', '--json'], env, input(key));
    expect(r.exitCode).toBe(0);
    // The first identity path is empty, so the next one names it.
    expect(JSON.parse(r.stdout)).toMatchObject({ app: 'custom', nickname: '4242', identity: '4242' });
    expect(service.seen).toHaveLength(1);
    const [req] = service.seen;
    expect(req!.url).toBe('/v2/whoami');
    expect(req!.headers['x-service-key']).toBe(`key=${key}; v=1`);
    expect(req!.headers['x-api-version']).toBe('2024-01-01');
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('a query parameter, with the path keeping its own query', async () => {
    const key = newKey();
    service.known.set(key, { status: 200, body: { id: 'query-user' } });
    const r = await acct(['connect', 'query', '--stdin'], env, input(key));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Connected query/query-user');
    const url = new URL(service.seen[0]!.url, base);
    expect(url.pathname).toBe('/me');
    expect(url.searchParams.get('fmt')).toBe('json');
    expect(url.searchParams.get('token')).toBe(key);
    expect(service.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('basic auth from two fields, with a POST test request', async () => {
    const sid = `AC${randomBytes(6).toString('hex')}`;
    const token = randomBytes(16).toString('hex');
    const basic = `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;
    service.known.set(basic, { status: 200, body: { friendly_name: 'Duo Prod' } });
    const r = await acct(['connect', 'duo', '--stdin', '--json'], env, input(JSON.stringify({ account_sid: sid, auth_token: token })));
    expect(r.exitCode).toBe(0);
    // Spaces are not allowed in nicknames: the identity is made into one.
    expect(JSON.parse(r.stdout)).toMatchObject({ nickname: 'Duo-Prod', identity: 'Duo Prod' });
    expect(service.seen).toHaveLength(1);
    expect(service.seen[0]).toMatchObject({ method: 'POST', url: '/accounts/check' });
    expect(service.seen[0]!.headers.authorization).toBe(basic);
    expect(service.seen[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(service.seen[0]!.body)).toEqual({ probe: true });
  });
});
