// Small things a new user notices: Node warnings on stderr, the User-Agent
// acct sends, suggestions for mistyped names.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { oauthHome, startAcct, listJson } from '../support/oauth-cli.js';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

const VERSION = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')).version as string;

describe('no Node warnings', () => {
  let server: AuthServer;
  beforeAll(async () => {
    // Polls as fast as the server allows, so a listener left behind per poll adds up within seconds.
    server = await startAuthServer({ deviceInterval: 0.05 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a device-flow connect that polls many times prints no Node warning', async () => {
    const { env } = await oauthHome(server, 'public');
    const run = startAcct(['connect', 'local', '--device'], env);
    const [, code] = await run.stderrMatch(/enter the code:\s+(\S+)/);
    // Let it poll a good many times before the user approves.
    const polls = () => server.tokenRequests.grantTypes.filter((g) => g.endsWith(':device_code')).length;
    const deadline = Date.now() + 30_000;
    while (polls() < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(polls()).toBeGreaterThanOrEqual(25);
    await server.completeDevice(code!, true, 'patient-user');
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning|\(node:\d+\)/);
    expect((await listJson(env))[0]).toMatchObject({ identity: 'patient-user' });
  });
});

describe('User-Agent: acct/<version> on every request', () => {
  let server: AuthServer;
  let api: ApiServer;
  beforeAll(async () => {
    // Access tokens that expire at once, so `acct token` refreshes.
    server = await startAuthServer({ accessTokenTtl: 2 });
    api = await startApiServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ user: { login: 'ua-user' } }));
    });
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  it('OAuth: discovery, code exchange, test request, refresh, device flow, status --check and revocation', async () => {
    const { env } = await oauthHome(server, 'public');
    const before = server.requests.length;
    expect((await acct(['apps', 'add', 'corp', '--issuer', server.issuer, '--test-path', '/me', '--identity', 'login'], env)).exitCode).toBe(0);
    expect((await acct(['client', 'set', 'corp', '--client-id', server.clients.public.clientId, '--no-secret'], env)).exitCode).toBe(0);
    const c = await acct(['connect', 'corp'], env);
    expect(c.exitCode, c.stderr).toBe(0);
    expect((await acct(['token', 'corp'], env)).exitCode).toBe(0);
    const run = startAcct(['connect', 'local', '--device'], env);
    const [, code] = await run.stderrMatch(/enter the code:\s+(\S+)/);
    await server.completeDevice(code!, true, 'device-ua');
    expect((await run.done()).exitCode).toBe(0);
    expect((await acct(['status', '--check'], env)).exitCode).toBe(0);
    const del = await acct(['delete', 'corp', '--yes'], env);
    expect(del.exitCode, del.stderr).toBe(0);

    // The requests acct made (the test browser's own, to /auth and the interaction pages, are not acct's).
    const acctPaths = ['/token', '/token/revocation', '/device/auth', '/me', '/userinfo'];
    const mine = server.requests.slice(before).filter((r) => r.path.startsWith('/.well-known/') || acctPaths.includes(r.path));
    const paths = new Set(mine.map((r) => `${r.method} ${r.path}`));
    for (const expected of ['GET /.well-known/openid-configuration', 'POST /token', 'GET /me', 'POST /device/auth', 'POST /token/revocation'])
      expect(paths, expected).toContain(expected);
    expect(server.tokenRequests.grantTypes).toContain('refresh_token');
    expect(mine.filter((r) => r.userAgent !== `acct/${VERSION}`)).toEqual([]);
  });

  it('API keys: the verifying test request at connect, acct test and acct request', async () => {
    const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'ua passphrase' });
    expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], env)).exitCode).toBe(0);
    const before = api.seen.length;
    const c = await acct(['connect', 'svc', '--stdin'], env, { input: 'lk_user_agent_key_0123456789', stdin: undefined });
    expect(c.exitCode, c.stderr).toBe(0);
    expect((await acct(['test', 'svc'], env)).exitCode).toBe(0);
    expect((await acct(['request', 'svc', '/anything'], env)).exitCode).toBe(0);
    const seen = api.seen.slice(before);
    expect(seen.map((r) => r.path)).toEqual(['/me', '/me', '/anything']);
    expect(seen.map((r) => r.headers['user-agent'])).toEqual(Array(3).fill(`acct/${VERSION}`));
    // One the user names wins.
    expect((await acct(['request', 'svc', '/mine', '-H', 'User-Agent: my-script/2'], env)).exitCode).toBe(0);
    expect(api.seen.at(-1)!.headers['user-agent']).toBe('my-script/2');
  });
});
