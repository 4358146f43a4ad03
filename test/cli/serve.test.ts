// acct serve and acct exec --serve: the local credentials API, on a unix
// socket and on a loopback port, against the real OAuth server for refreshes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createServer, type AddressInfo } from 'node:net';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, BIN } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, fingerprint, revealed, sleep } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const KEY = 'lk_serve_0123456789abcdef';
const DUO = { account_sid: 'AC0123456789', auth_token: 'duo_token_0123456789abcdef' };
const NOBODY = 65534;
const asRoot = process.getuid!() === 0;
let server: AuthServer;
let env: Env;
let work: string;
let oauthId: string;
let svcId: string;
const running: ResultPromise[] = [];

interface Answer {
  status: number;
  body: any;
}

function ask(target: { socket?: string; port?: number }, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: target.socket, host: target.socket ? undefined : '127.0.0.1', port: target.port, path, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Starts acct serve with --json and waits for the address (and token) it prints. */
async function startServe(args: string[], extraEnv: Env = {}): Promise<{ proc: ResultPromise; address: string; token: string | null; stderr: () => string }> {
  const proc = execa('node', [BIN, 'serve', '--json', ...args], { env: { ...env, ...extraEnv }, extendEnv: false, reject: false, stdin: 'ignore', buffer: false });
  running.push(proc);
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const first = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    proc.on('exit', () => reject(new Error(`acct serve exited: ${err}`)));
  });
  const { address, token } = JSON.parse(first);
  return { proc, address, token, stderr: () => err };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'acct-serve-'));
  server = await startAuthServer({ accessTokenTtl: 300 });
  ({ env } = await oauthHome(server, 'confidential'));
  expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile('http://127.0.0.1:9', { test: undefined })], env)).exitCode).toBe(0);
  const svc = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'main'], env, { input: KEY, stdin: undefined });
  expect(svc.exitCode, svc.stderr).toBe(0);
  svcId = svc.stdout.trim();
  // A second account called main: "main" names two accounts in the store.
  expect((await acct(['apps', 'add', 'duo', '--file', duoAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  expect((await acct(['connect', 'duo', '--stdin', '--no-verify', '--nickname', 'main'], env, { input: JSON.stringify(DUO), stdin: undefined })).exitCode).toBe(0);
  server.setAccessTokenTtl(2);
  const c = await acct(['connect', 'local', '--nickname', 'bot'], env);
  server.setAccessTokenTtl(300);
  expect(c.exitCode, c.stderr).toBe(0);
  oauthId = c.stdout.trim();
});
afterAll(async () => {
  for (const p of running) p.kill('SIGTERM');
  await server?.close();
});

describe('acct serve on a unix socket', () => {
  let socket: string;
  let auth: Record<string, string>;
  let stderr: () => string;
  let proc: ResultPromise;

  beforeAll(async () => {
    socket = join(work, 'api.sock');
    const s = await startServe(['--socket', socket]);
    auth = { authorization: `Bearer ${s.token}` };
    stderr = s.stderr;
    proc = s.proc;
  });

  it('listens on a 0600 socket', () => {
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('GET /v1/accounts: metadata of every account, no secrets', async () => {
    const r = await ask({ socket }, '/v1/accounts', { headers: auth });
    expect(r.status).toBe(200);
    expect(r.body.map((a: { app: string; nickname: string }) => `${a.app}/${a.nickname}`).sort()).toEqual(['duo/main', 'local/bot', 'svc/main']);
    expect(JSON.stringify(r.body)).not.toContain(KEY);
  });

  it('GET /v1/accounts/{ref}: metadata; with include_credentials=1 the fields by name and expires_at, fresh', async () => {
    const plain = await ask({ socket }, '/v1/accounts/svc%2Fmain', { headers: auth });
    expect(plain.status).toBe(200);
    expect(plain.body.credentials).toBeUndefined();
    const withCreds = await ask({ socket }, '/v1/accounts/svc/main?include_credentials=1', { headers: auth });
    expect(withCreds.status).toBe(200);
    expect(withCreds.body.credentials).toEqual({ api_key: KEY });

    // The OAuth account's token expired two seconds after connect: it comes back refreshed.
    await sleep(2500);
    const before = server.tokenRequests.refresh;
    const oauth = await ask({ socket }, `/v1/accounts/${oauthId}?include_credentials=1`, { headers: auth });
    expect(oauth.status).toBe(200);
    expect(server.tokenRequests.refresh).toBe(before + 1);
    expect(Date.parse(oauth.body.expires_at)).toBeGreaterThan(Date.now() + 60_000);
    expect(fingerprint(oauth.body.credentials.oauth_access_token)).toBe(fingerprint((await revealed('local/bot', env)).oauth_access_token));
  });

  it('POST /v1/accounts/{id}/refresh refreshes now', async () => {
    const before = server.tokenRequests.refresh;
    const old = (await revealed('local/bot', env)).oauth_access_token;
    const r = await ask({ socket }, `/v1/accounts/${oauthId}/refresh`, { method: 'POST', headers: auth });
    expect(r.status).toBe(200);
    expect(server.tokenRequests.refresh).toBe(before + 1);
    expect(fingerprint(r.body.credentials.oauth_access_token)).not.toBe(fingerprint(old));
  });

  it('never hands out the refresh token, in a read or a refresh', async () => {
    const before = await revealed('local/bot', env);
    expect(before.oauth_refresh_token).toBeDefined();
    for (const [path, method] of [
      [`/v1/accounts/${oauthId}?include_credentials=1`, 'GET'],
      [`/v1/accounts/${oauthId}/refresh`, 'POST'],
    ] as const) {
      const r = await ask({ socket }, path, { method, headers: auth });
      expect(r.status).toBe(200);
      expect(r.body.credentials.oauth_access_token).toBeDefined();
      expect(Object.keys(r.body.credentials)).not.toContain('oauth_refresh_token');
      const after = await revealed('local/bot', env); // a refresh may have rotated it
      const text = JSON.stringify(r.body);
      expect(text.includes(before.oauth_refresh_token!) || text.includes(after.oauth_refresh_token!), `${method} ${path} answered with the refresh token`).toBe(false);
    }
  });

  it('the auth scheme is case-insensitive (RFC 9110): bearer and BEARER are Bearer; the token is not', async () => {
    const token = auth.authorization!.slice('Bearer '.length);
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const r = await ask({ socket }, '/v1/accounts', { headers: { authorization: `${scheme} ${token}` } });
      expect(r.status, scheme).toBe(200);
    }
    for (const value of [`Bearer ${token.toUpperCase()}`, `Basic ${token}`, token, `Bearer  ${token}x`]) {
      const r = await ask({ socket }, '/v1/accounts', { headers: { authorization: value } });
      expect(r.status, value.split(' ')[0]).toBe(401);
    }
  });

  it('errors are JSON with the stable code and its HTTP status', async () => {
    for (const [path, opts, status, code] of [
      ['/v1/accounts', {}, 401, 'unauthorized'],
      ['/v1/accounts', { headers: { authorization: 'Bearer wrong' } }, 401, 'unauthorized'],
      ['/v1/accounts', { headers: { authorization: `${auth.authorization}x` } }, 401, 'unauthorized'],
      ['/v1/accounts/nosuch?include_credentials=1', { headers: auth }, 404, 'account_not_found'],
      ['/v1/accounts/svc/main', { method: 'DELETE', headers: auth }, 405, 'method_not_allowed'],
      ['/v1/accounts/svc/main/refresh', { method: 'POST', headers: auth }, 400, 'usage'], // a key cannot be refreshed
      ['/v2/whatever', { headers: auth }, 404, 'not_found'],
      ['/v1/accounts/%zz', { headers: auth }, 400, 'bad_input'], // a malformed percent-escape is the caller's mistake, not acct's
    ] as const) {
      const r = await ask({ socket }, path, opts);
      expect(r.status, `${path} ${JSON.stringify(opts)}`).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(typeof r.body.error.message).toBe('string');
    }
  });

  it('survives a malformed request, and logs every request without secrets', async () => {
    const raw = await new Promise<string>((resolve) => {
      const c = connect(socket, () => c.write('GARBAGE \x00\r\n\r\n'));
      let text = '';
      c.on('data', (d) => (text += d));
      c.on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await ask({ socket }, '/v1/accounts', { headers: auth })).status).toBe(200);
    const log = stderr();
    expect(log).toMatch(/GET \/v1\/accounts 200/);
    expect(log).toMatch(/GET \/v1\/accounts 401/);
    expect(log).not.toContain(KEY);
    expect(log).not.toContain(auth.authorization!.slice(7, 30));
    expect(proc.exitCode).toBeNull();
  });

  it('200 concurrent requests on an expired token cause one token request, and all get the same token', async () => {
    server.setAccessTokenTtl(2);
    await ask({ socket }, `/v1/accounts/${oauthId}/refresh`, { method: 'POST', headers: auth });
    server.setAccessTokenTtl(300);
    await sleep(2500);
    const before = server.tokenRequests.refresh;
    const answers = await Promise.all(Array.from({ length: 200 }, () => ask({ socket }, `/v1/accounts/${oauthId}?include_credentials=1`, { headers: auth })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(server.tokenRequests.refresh - before).toBe(1);
    expect(new Set(answers.map((a) => a.body.credentials.oauth_access_token)).size).toBe(1);
  });

  it('stops on SIGTERM and removes its socket', async () => {
    proc.kill('SIGTERM');
    await proc;
    expect(existsSync(socket)).toBe(false);
  });
});

describe('acct serve on a loopback port', () => {
  it('refuses a Host or Origin that is not this machine (DNS rebinding), and keeps the token in a private file', async () => {
    const tokenFile = join(work, 'token');
    const s = await startServe(['--port', '0', '--token-file', tokenFile]);
    expect(s.token).toBeNull();
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const port = Number(new URL(s.address).port);
    const auth = { authorization: `Bearer ${token}` };
    expect((await ask({ port }, '/v1/accounts', { headers: auth })).status).toBe(200);
    expect((await ask({ port }, '/v1/accounts', { headers: { ...auth, host: `localhost:${port}` } })).status).toBe(200);
    const rebound = await ask({ port }, '/v1/accounts', { headers: { ...auth, host: `attacker.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.body.error.code).toBe('forbidden');
    expect((await ask({ port }, '/v1/accounts', { headers: { ...auth, origin: 'https://attacker.example' } })).status).toBe(403);
    s.proc.kill('SIGTERM');
    await s.proc;

    // The same file again: the same token.
    const again = await startServe(['--port', '0', '--token-file', tokenFile]);
    expect((await ask({ port: Number(new URL(again.address).port) }, '/v1/accounts', { headers: auth })).status).toBe(200);
    again.proc.kill('SIGTERM');
    await again.proc;
    // A token file others can read is refused.
    chmodSync(tokenFile, 0o644);
    const loose = await acct(['serve', '--port', '0', '--token-file', tokenFile], env);
    expect(loose.exitCode).toBe(6);
    expect(loose.stderr).toMatch(/chmod 600/);
  });
});

describe('acct serve --token-file', () => {
  const TOKEN = 'acctsv_0123456789abcdefghijklmnopqrstuvwxyz';
  const refused = (file: string) => acct(['serve', '--port', '0', '--token-file', file], env, { timeout: 15_000 });

  it('refuses a symlink, even to a private file of the user own', async () => {
    const real = join(work, 'real-token');
    writeFileSync(real, `${TOKEN}\n`, { mode: 0o600 });
    const link = join(work, 'link-token');
    symlinkSync(real, link);
    const r = await refused(link);
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/link-token is a symlink to .*real-token/);
    expect(r.stderr).toMatch(/--token-file .*real-token/);
  });

  it.skipIf(!asRoot)('refuses a file owned by another user, private as it may be', async () => {
    const theirs = join(work, 'their-token');
    writeFileSync(theirs, `${TOKEN}\n`, { mode: 0o600 });
    chownSync(theirs, NOBODY, NOBODY);
    const r = await refused(theirs);
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/their-token is owned by another user \(uid 65534\)/);
  });
});

describe('acct serve: its default socket folder, $XDG_RUNTIME_DIR/acct', () => {
  const runtime = () => {
    const dir = mkdtempSync(join(work, 'run-'));
    chmodSync(dir, 0o700);
    return dir;
  };
  const serveIn = (dir: string) => acct(['serve'], { ...env, XDG_RUNTIME_DIR: dir }, { timeout: 15_000 });

  it('is made 0700 where missing, and the socket is in it', async () => {
    const dir = runtime();
    const s = await startServe([], { XDG_RUNTIME_DIR: dir });
    expect(s.address).toBe(`unix:${join(dir, 'acct', 'serve.sock')}`);
    expect(lstatSync(join(dir, 'acct')).mode & 0o777).toBe(0o700);
    s.proc.kill('SIGTERM');
    await s.proc;
  });

  it('is refused, and left as it is, when it is a symlink or open to others', async () => {
    const linked = runtime();
    const target = mkdtempSync(join(work, 'elsewhere-'));
    chmodSync(target, 0o750);
    symlinkSync(target, join(linked, 'acct'));
    const link = await serveIn(linked);
    expect(link.exitCode, link.stderr).toBe(6);
    expect(link.stderr).toMatch(/acct is a symlink/);
    expect(link.stderr).toMatch(/--socket/);
    expect(statSync(target).mode & 0o777).toBe(0o750);
    expect(existsSync(join(target, 'serve.sock'))).toBe(false);

    const open = runtime();
    mkdirSync(join(open, 'acct'), { mode: 0o755 });
    chmodSync(join(open, 'acct'), 0o755);
    const r = await serveIn(open);
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(`chmod 700 ${join(open, 'acct')}`);
    expect(statSync(join(open, 'acct')).mode & 0o777).toBe(0o755);
  });

  it.skipIf(!asRoot)('is refused, and left as it is, when another user owns it', async () => {
    const dir = runtime();
    mkdirSync(join(dir, 'acct'), { mode: 0o755 });
    chmodSync(join(dir, 'acct'), 0o755);
    chownSync(join(dir, 'acct'), NOBODY, NOBODY);
    const r = await serveIn(dir);
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/owned by another user \(uid 65534\)/);
    const st = statSync(join(dir, 'acct'));
    expect([st.uid, st.mode & 0o777]).toEqual([NOBODY, 0o755]);
  });
});

describe('acct serve cannot listen', () => {
  it('a socket in a folder that does not exist, or a port in use: a usage error with the next step, not a bug', async () => {
    const missing = await acct(['serve', '--socket', join(work, 'nonexist', 'dir', 's.sock')], env, { timeout: 15_000 });
    expect(missing.exitCode, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/nonexist\/dir does not exist/);
    expect(missing.stderr).toMatch(/mkdir -m 700 .*nonexist\/dir/);
    expect(missing.stderr).not.toMatch(/bug in acct|unexpected/);

    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', () => ok()));
    try {
      const port = (taken.address() as AddressInfo).port;
      const inUse = await acct(['serve', '--port', String(port)], env, { timeout: 15_000 });
      expect(inUse.exitCode, inUse.stderr).toBe(2);
      expect(inUse.stderr).toMatch(`port ${port} on 127.0.0.1 is in use`);
      expect(inUse.stderr).toMatch(/--port 0/);
      expect(inUse.stderr).not.toMatch(/bug in acct|unexpected/);
    } finally {
      taken.close();
    }
  });
});

describe('acct exec --serve', () => {
  let asker: string;
  beforeAll(() => {
    // Asks the child's server for each path on its command line; prints [{path, method, status, body}].
    asker = join(work, 'asker.mjs');
    writeFileSync(
      asker,
      `import { request } from 'node:http';
const ask = (spec) => new Promise((resolve, reject) => {
  const [method, path] = spec.includes(' ') ? spec.split(' ') : ['GET', spec];
  const req = request({ socketPath: process.env.ACCT_CREDENTIALS_SOCKET, path, method, headers: { authorization: 'Bearer ' + process.env.ACCT_CREDENTIALS_TOKEN } }, (res) => {
    let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => resolve({ path, method, status: res.statusCode, body: JSON.parse(t) }));
  });
  req.on('error', reject); req.end();
});
const answers = [];
for (const spec of process.argv.slice(2)) answers.push(await ask(spec));
process.stdout.write(JSON.stringify(answers));
`,
    );
  });
  const askThrough = async (specs: string[], paths: string[]) => {
    const r = await acct(['exec', '--serve', '--no-mask', ...specs, '--', 'node', asker, ...paths], env);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { path: string; method: string; status: number; body: any }[];
  };

  it('serves only the fields its command line put in the environment, never the refresh token', async () => {
    const stored = await revealed('local/bot', env);
    expect(stored.oauth_refresh_token).toBeDefined();
    const answers = await askThrough(
      ['local/bot', 'DUO=duo/main.auth_token', `SVC=${svcId}`],
      [`/v1/accounts/${oauthId}?include_credentials=1`, `POST /v1/accounts/${oauthId}/refresh`, '/v1/accounts/duo/main?include_credentials=1', '/v1/accounts/svc?include_credentials=1'],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    // A bare reference: the fields exec sets variables from (the app's env map: the access token alone).
    expect(Object.keys(answers[0]!.body.credentials)).toEqual(['oauth_access_token']);
    expect(Object.keys(answers[1]!.body.credentials)).toEqual(['oauth_access_token']);
    // NAME=ref.field: that field; NAME=ref: the primary field.
    expect(answers[2]!.body.credentials).toEqual({ auth_token: DUO.auth_token });
    expect(answers[3]!.body.credentials).toEqual({ api_key: KEY });
    const after = await revealed('local/bot', env);
    const text = JSON.stringify(answers);
    expect(text.includes(stored.oauth_refresh_token!) || text.includes(after.oauth_refresh_token!), 'the child got the refresh token').toBe(false);
  });

  it('resolves a reference only among its accounts: any other gets one not-found answer that names no other account', async () => {
    const served = ['bot', 'local', 'local/bot', oauthId];
    const others = ['svc/main', 'svc/mian', 'svc', svcId, 'main', 'duo', 'nosuch', 'acme:local/bot', 'acc_zzzzzzzzzz'];
    const answers = await askThrough(['local/bot'], [...served, ...others].map((ref) => `/v1/accounts/${encodeURIComponent(ref)}`));
    for (const a of answers.slice(0, served.length)) expect([a.path, a.status, a.body.id]).toEqual([a.path, 200, oauthId]);
    const misses = answers.slice(served.length);
    const shapes = new Set(
      misses.map((a, i) => {
        expect([a.path, a.status, a.body.error.code]).toEqual([a.path, 404, 'account_not_found']);
        return JSON.stringify(a.body).replaceAll(JSON.stringify(others[i]!).slice(1, -1), '<ref>');
      }),
    );
    expect([...shapes]).toHaveLength(1);
    const [shape] = shapes;
    for (const other of ['svc', 'duo', 'main', svcId]) expect(shape).not.toContain(other);
  });


  it('the child asks for a fresh token after the first has expired; the server serves only its accounts and stops with it', async () => {
    // Tokens that last 2 s: the one exec starts the child with has expired when the child asks again.
    server.setAccessTokenTtl(2);
    expect((await acct(['token', 'local/bot', '--refresh'], env)).exitCode).toBe(0);
    const script = join(work, 'child.mjs');
    writeFileSync(
      script,
      `import { request } from 'node:http';
const ask = (path) => new Promise((resolve, reject) => {
  const req = request({ socketPath: process.env.ACCT_CREDENTIALS_SOCKET, path, headers: { authorization: 'Bearer ' + process.env.ACCT_CREDENTIALS_TOKEN } }, (res) => {
    let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(t) }));
  });
  req.on('error', reject); req.end();
});
const first = process.env.LOCAL_TOKEN;
await new Promise((r) => setTimeout(r, 2500));
const fresh = await ask('/v1/accounts/local/bot?include_credentials=1');
const other = await ask('/v1/accounts/svc/main?include_credentials=1');
const list = await ask('/v1/accounts');
process.stdout.write(JSON.stringify({ url: process.env.ACCT_CREDENTIALS_URL, socket: process.env.ACCT_CREDENTIALS_SOCKET, changed: fresh.body.credentials.oauth_access_token !== first, status: fresh.status, other: other.status, listed: list.body.length }));
`,
    );
    const before = server.tokenRequests.refresh;
    const r = await acct(['exec', '--serve', '--no-mask', 'LOCAL_TOKEN=local/bot', '--', 'node', script], env);
    server.setAccessTokenTtl(300);
    expect(r.exitCode, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(seen).toMatchObject({ changed: true, status: 200, other: 404, listed: 1 });
    expect(seen.url).toBe(`unix://${seen.socket}`);
    // One refresh before the child started, one when it asked after its token expired.
    expect(server.tokenRequests.refresh).toBe(before + 2);
    expect(existsSync(seen.socket)).toBe(false);
  });
});
