// Small things a new user notices: Node warnings on stderr, the User-Agent
// acct sends, suggestions for mistyped names.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

describe('mistyped names', () => {
  const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'typo passphrase' });
  beforeAll(async () => {
    expect((await acct(['apps', 'add', 'mine', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    for (const nickname of ['work', 'home'])
      expect((await acct(['connect', 'mine', '--stdin', '--no-verify', '--nickname', nickname], env, { input: `lk_typo_key_${nickname}_0123456789`, stdin: undefined })).exitCode).toBe(0);
  });

  it('a command: exit 2 with the closest command', async () => {
    const r = await acct(['conect', 'openai'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'conect'/);
    expect(r.stderr).toMatch(/Did you mean connect\?/);
  });

  it('acct help with an unknown command: exit 2, not the general help', async () => {
    const nope = await acct(['help', 'nope'], env);
    expect(nope).toMatchObject({ exitCode: 2, stdout: '', stderr: 'acct: unknown command "nope"\n  see the commands with: acct help\n' });
    const typo = await acct(['help', 'conect'], env);
    expect(typo).toMatchObject({ exitCode: 2, stderr: 'acct: unknown command "conect"\n  did you mean connect?\n' });
    const good = await acct(['help', 'ls'], env);
    expect(good.exitCode).toBe(0);
    expect(good.stdout).toMatch(/^Usage: acct list\|ls/);
  });

  it('an app: exit 3 with the closest slugs', async () => {
    const r = await acct(['connect', 'gihub'], env);
    expect(r).toMatchObject({ exitCode: 3, stderr: 'acct: unknown app "gihub"\n  did you mean github?\n' });
    expect(await acct(['apps', 'show', 'stirpe'], env)).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('did you mean stripe?') });
  });

  it('an account reference: exit 3 with the references a typo away', async () => {
    expect(await acct(['token', 'mien'], env)).toMatchObject({ exitCode: 3, stdout: '', stderr: expect.stringContaining('did you mean mine?') });
    expect(await acct(['token', 'mine/wrok'], env)).toMatchObject({ exitCode: 3, stdout: '', stderr: expect.stringContaining('did you mean mine/work?') });
    expect(await acct(['show', 'hoem'], env)).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('did you mean home?') });
    // Nothing of the user's is close, an app of the catalog is.
    expect(await acct(['token', 'githb'], env)).toMatchObject({ exitCode: 3, stdout: '', stderr: expect.stringMatching(/^acct: no account matches "githb"\n {2}did you mean: github, [a-z, -]+\? \(no account of them yet: acct connect <app>\)\n$/) });
    expect(await acct(['token', 'stirpe'], env)).toMatchObject({ exitCode: 3, stderr: 'acct: no account matches "stirpe"\n  did you mean stripe? (no account of it yet: acct connect stripe)\n' });
  });

  it('list --app: an app that does not exist is exit 3; a known app without accounts lists nothing; a removed app with accounts still lists', async () => {
    for (const args of [['list', '--app', 'nosuch'], ['list', '--app', 'nosuch', '--json']]) {
      const r = await acct(args, env);
      expect(r, args.join(' ')).toMatchObject({ exitCode: 3, stdout: '' });
      // With --json the error is one JSON object: its code, its message.
      if (args.includes('--json')) expect(JSON.parse(r.stderr)).toMatchObject({ code: 'app_not_found', message: 'unknown app "nosuch"' });
      else expect(r.stderr).toContain('unknown app "nosuch"');
    }
    expect(await acct(['list', '--app', 'opnai'], env)).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('did you mean openai?') });
    expect(await acct(['list', '--app', 'github', '--json'], env)).toMatchObject({ exitCode: 0, stdout: '[]\n' });

    const gone = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'gone passphrase' });
    expect((await acct(['apps', 'add', 'gone', '--file', keyAppFile('http://127.0.0.1:9')], gone)).exitCode).toBe(0);
    expect((await acct(['connect', 'gone', '--stdin', '--no-verify'], gone, { input: 'lk_gone_key_0123456789', stdin: undefined })).exitCode).toBe(0);
    // acct apps remove refuses while accounts use the app; an edited apps.json (or another machine's) can still drop it.
    expect((await acct(['apps', 'remove', 'gone'], gone)).exitCode).toBe(2);
    writeFileSync(join(gone.ACCT_HOME!, 'apps.json'), JSON.stringify({ version: 1, apps: [] }));
    expect((await acct(['apps', 'show', 'gone'], gone)).exitCode).toBe(3);
    const listed = await acct(['list', '--app', 'gone', '--json'], gone);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ app: 'gone' }]);
    expect(await acct(['list', '--app', 'gone'], gone)).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/\bgone\b/) });
  });
});
