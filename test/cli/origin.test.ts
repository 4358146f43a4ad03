// Credentials stay with their origin. The API stand-in on 127.0.0.1 answers
// with redirects to a logging server on 127.0.0.2 (loopback, and another
// origin, as a stranger's host would be). For every place an app's auth puts a
// credential (Authorization: Bearer, a custom header, a query parameter, basic
// auth, a header templated with the OAuth client id) and every command that
// sends one (connect's verification, test, status --check, request with and
// without -L, userinfo at an OAuth connect, revocation at delete), the logging
// server must never see a credential value: not in a header, the URL or the body.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Options } from 'execa';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer, type SeenRequest } from '../support/api-server.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { BROWSER_COMMAND, revealed } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const input = (text: string): Options => ({ input: text, stdin: undefined });
const newKey = () => `lk_${randomBytes(12).toString('hex')}`;

let api: ApiServer;
let logger: ApiServer;
let auth: AuthServer;
let env: Env;
const keys = { bearer: newKey(), custom: newKey(), query: newKey(), sid: `AC${randomBytes(6).toString('hex')}`, token: randomBytes(16).toString('hex') };
/** Every credential value of every account here, in the forms it could travel in. */
const secrets: string[] = [keys.bearer, keys.custom, keys.query, keys.token, Buffer.from(`${keys.sid}:${keys.token}`).toString('base64')];
/** Not secret (the authorization URL shows it), but an app credential all the same: never for another origin. */
const clientIds: string[] = [];
const ids: Record<string, string> = {};

function redirect(res: ServerResponse, status: number, location: string) {
  res.writeHead(status, { location, 'content-type': 'text/plain' });
  res.end('moved');
}

/** Where each credential could show up in a request the server got. */
const exposed = (r: SeenRequest) => [r.url, JSON.stringify(r.headers), r.body.toString('latin1')].join('\n');

/** The logging server saw none of the secrets; returns what it saw during fn. */
async function strangerSees(fn: () => Promise<void>): Promise<SeenRequest[]> {
  const before = logger.seen.length;
  await fn();
  const seen = logger.seen.slice(before);
  for (const r of seen) for (const s of [...secrets, ...clientIds]) expect(exposed(r).includes(s), `a credential reached the other origin (${r.method} ${r.path})`).toBe(false);
  return seen;
}

function expectNoSecretsIn(...outputs: string[]) {
  for (const out of outputs) for (const s of secrets) expect(out.includes(s), 'a credential appeared in acct output').toBe(false);
}

beforeAll(async () => {
  logger = await startApiServer(
    (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ landed: req.path, method: req.method, user: { login: 'stranger' }, login: 'stranger' }));
    },
    { host: '127.0.0.2' },
  );
  expect(new URL(logger.url).hostname).toBe('127.0.0.2');
  api = await startApiServer((req, res) => {
    const p = req.path;
    // Same-origin hops: relative and absolute Locations on the API itself.
    if (p.startsWith('/same/')) return redirect(res, 302, `/final/${p.slice('/same/'.length)}${req.query.size ? `?${req.query}` : ''}`);
    if (p.startsWith('/final/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ user: { login: 'same-origin' }, login: 'same-origin', path: p }));
    }
    const loop = /^\/loop\/(\d+)$/.exec(p);
    if (loop) return redirect(res, 302, `${api.url}/loop/${Number(loop[1]) + 1}`);
    if (p === '/see-other') return redirect(res, 303, `${logger.url}/after-post`);
    if (p === '/keep-method') return redirect(res, 307, `${logger.url}/kept`);
    // A server that copies the key into the next address under another name: not followed off the origin.
    if (p === '/leak') return redirect(res, 302, `${logger.url}/leak?copy=${encodeURIComponent(String(req.headers['x-api-key'] ?? ''))}`);
    // Everything else goes to the other origin, path and query (the query credential included) copied.
    return redirect(res, 307, `${logger.url}/landing${req.url}`);
  });
  auth = await startAuthServer({ accessTokenTtl: 300 });
  env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'origin tests', ACCT_HTTP_TIMEOUT: '10', ACCT_BROWSER: BROWSER_COMMAND });

  const apps: [string, string][] = [
    ['bearer', keyAppFile(api.url)],
    ['custom', keyAppFile(api.url, { api: { baseUrl: api.url, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' } } })],
    ['query', keyAppFile(api.url, { api: { baseUrl: api.url, auth: { type: 'query', name: 'key', value: '{api_key}' } } })],
    ['duo', duoAppFile(api.url, { test: { path: '/me', identity: ['user.login'] } })],
    ['sameorigin', keyAppFile(api.url, { api: { baseUrl: api.url, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' } }, test: { path: '/same/me', identity: ['user.login'] } })],
  ];
  for (const [slug, file] of apps) {
    const r = await acct(['apps', 'add', slug, '--file', file], env);
    expect(r.exitCode, r.stderr).toBe(0);
  }

  // OAuth apps whose API, userinfo and revocation endpoints are the redirecting API.
  const oauthApp = (slug: string, change: (def: Record<string, any>) => void) => {
    const file = auth.appFile('public');
    const def = JSON.parse(readFileSync(file, 'utf8'));
    change(def);
    writeFileSync(file, JSON.stringify(def));
    return file;
  };
  const withApi = oauthApp('oa', (d) => {
    d.api = { baseUrl: api.url, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' }, headers: { 'Client-Id': '{oauth_client_id}' } };
    d.test = { path: '/me', identity: ['login'] };
    d.oauth.revocationUrl = `${api.url}/revoke`;
  });
  const withUserinfo = oauthApp('ui', (d) => {
    delete d.test;
    d.oauth.userinfoUrl = `${api.url}/userinfo`;
  });
  for (const [slug, file] of [['oa', withApi], ['ui', withUserinfo]] as const) {
    expect((await acct(['apps', 'add', slug, '--file', file], env)).exitCode).toBe(0);
    expect((await acct(['client', 'set', slug, '--client-id', auth.clients.public.clientId, '--no-secret'], env)).exitCode).toBe(0);
  }
  clientIds.push(auth.clients.public.clientId);
  // A confidential client whose token endpoint redirects: the code, the PKCE verifier and the client secret travel in that request.
  const file = auth.appFile('confidential');
  const def = JSON.parse(readFileSync(file, 'utf8'));
  def.oauth.tokenUrl = `${api.url}/token`;
  writeFileSync(file, JSON.stringify(def));
  expect((await acct(['apps', 'add', 'tok', '--file', file], env)).exitCode).toBe(0);
  const { clientId, clientSecret } = auth.clients.confidential;
  expect((await acct(['client', 'set', 'tok', '--client-id', clientId, '--secret-stdin'], env, input(clientSecret!))).exitCode).toBe(0);
  secrets.push(clientSecret!, Buffer.from(`${clientId}:${clientSecret}`).toString('base64'));
});

afterAll(async () => {
  await api?.close();
  await logger?.close();
  await auth?.close();
});

describe("connect's verification of a key", () => {
  for (const [slug, secret] of [
    ['bearer', () => keys.bearer],
    ['custom', () => keys.custom],
    ['query', () => keys.query],
    ['duo', () => JSON.stringify({ account_sid: keys.sid, auth_token: keys.token })],
  ] as const)
    it(`${slug}: a test request redirected to another origin is not followed there; the key is stored unverified`, async () => {
      const apiBefore = api.seen.length;
      let r!: Awaited<ReturnType<typeof acct>>;
      const seen = await strangerSees(async () => {
        r = await acct(['connect', slug, '--stdin', '--nickname', `${slug}-key`], env, input(secret()));
      });
      expect(r.exitCode, r.stderr).toBe(0);
      ids[slug] = r.stdout.trim();
      expect(seen).toEqual([]);
      expect(api.seen.length).toBe(apiBefore + 1);
      expect(r.stderr).toContain(`redirected to ${logger.url}, another origin`);
      expectNoSecretsIn(r.stdout, r.stderr);
    });

  it('a redirect within the origin is followed with the key, and names the identity', async () => {
    const apiBefore = api.seen.length;
    const r = await acct(['connect', 'sameorigin', '--stdin'], env, input(keys.custom));
    expect(r.exitCode, r.stderr).toBe(0);
    ids.sameorigin = r.stdout.trim();
    expect(r.stderr).toContain('Connected sameorigin/same-origin');
    const hops = api.seen.slice(apiBefore);
    expect(hops.map((h) => h.path)).toEqual(['/same/me', '/final/me']);
    expect(hops.every((h) => h.headers['x-api-key'] === keys.custom)).toBe(true);
  });
});

describe('acct test and status --check', () => {
  for (const slug of ['bearer', 'custom', 'query', 'duo'])
    it(`${slug}: acct test does not follow the redirect to another origin`, async () => {
      let r!: Awaited<ReturnType<typeof acct>>;
      const seen = await strangerSees(async () => {
        r = await acct(['test', slug, '--json'], env);
      });
      expect(seen).toEqual([]);
      expect(JSON.parse(r.stdout)).toMatchObject({ result: 'untested' });
      expect(JSON.parse(r.stdout).detail).toContain('another origin');
      expectNoSecretsIn(r.stdout, r.stderr);
    });

  it('status --check sends nothing to the other origin for any account', async () => {
    let r!: Awaited<ReturnType<typeof acct>>;
    const seen = await strangerSees(async () => {
      r = await acct(['status', '--check', '--json'], env);
    });
    expect(seen).toEqual([]);
    const rows = JSON.parse(r.stdout) as { ref: string; status: string }[];
    expect(rows.find((x) => x.ref === 'sameorigin/same-origin')?.status).toBe('ok');
    expect(rows.find((x) => x.ref === 'custom/custom-key')?.status).toBe('untested');
    expectNoSecretsIn(r.stdout, r.stderr);
  });
});

describe('acct request', () => {
  for (const slug of ['bearer', 'custom', 'query', 'duo']) {
    it(`${slug}: without -L a redirect exits 1 with the status and the Location on stderr, and nothing goes to the other origin`, async () => {
      let r!: Awaited<ReturnType<typeof acct>>;
      const seen = await strangerSees(async () => {
        r = await acct(['request', slug, '/file/1'], env);
      });
      expect(seen).toEqual([]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('answered 307');
      expect(r.stderr).toContain(`Location: ${logger.url}/landing/file/1`);
      expect(r.stderr).toContain('-L');
      expect(r.stdout).toBe('moved'); // the body, as with any status
      expectNoSecretsIn(r.stdout, r.stderr);
    });

    it(`${slug}: with -L the other origin gets the request without any credential`, async () => {
      let r!: Awaited<ReturnType<typeof acct>>;
      const seen = await strangerSees(async () => {
        r = await acct(['request', slug, '/file/2?x=1', '-L'], env);
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(seen.map((s) => s.path)).toEqual(['/landing/file/2']);
      expect(seen[0]!.query.get('x')).toBe('1');
      expect(seen[0]!.query.has('key')).toBe(false);
      expect(seen[0]!.headers.authorization).toBeUndefined();
      expect(JSON.parse(r.stdout)).toMatchObject({ landed: '/landing/file/2' });
      expect(r.stderr).toContain(`Following a redirect to ${logger.url}, without the ${slug} credentials`);
      expectNoSecretsIn(r.stdout, r.stderr);
    });
  }

  it('-L keeps the credentials on hops within the origin', async () => {
    const before = api.seen.length;
    const r = await acct(['request', 'custom', '/same/thing', '-L'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const hops = api.seen.slice(before);
    expect(hops.map((h) => h.path)).toEqual(['/same/thing', '/final/thing']);
    expect(hops.map((h) => h.headers['x-api-key'])).toEqual([keys.custom, keys.custom]);
    // The query credential too.
    const q = await acct(['request', 'query', '/same/q', '-L'], env);
    expect(q.exitCode, q.stderr).toBe(0);
    expect(api.seen.at(-1)!.path).toBe('/final/q');
    expect(api.seen.at(-1)!.query.get('key')).toBe(keys.query);
  });

  it('a 303 after a POST becomes a GET without the body; a 307 keeps the method and body, never the key', async () => {
    const seen = await strangerSees(async () => {
      const a = await acct(['request', 'custom', '/see-other', '-L', '-d', '{"a":1}'], env);
      expect(a.exitCode, a.stderr).toBe(0);
      const b = await acct(['request', 'custom', '/keep-method', '-L', '-X', 'PUT', '-d', '{"b":2}'], env);
      expect(b.exitCode, b.stderr).toBe(0);
    });
    expect(seen.map((s) => [s.method, s.path, s.body.toString()])).toEqual([
      ['GET', '/after-post', ''],
      ['PUT', '/kept', '{"b":2}'],
    ]);
    expect(seen[0]!.headers['content-type']).toBeUndefined();
  });

  it('a Location that carries the key under another name is not followed off the origin, and not printed', async () => {
    let r!: Awaited<ReturnType<typeof acct>>;
    const seen = await strangerSees(async () => {
      r = await acct(['request', 'custom', '/leak', '-L'], env);
    });
    expect(seen).toEqual([]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('carries a credential');
    expect(r.stderr).toContain(`Location: ${logger.url}/leak?copy=…`);
    expectNoSecretsIn(r.stderr);
  });

  it('--max-redirs bounds the hops (default 10); past it: exit 1 naming the limit', async () => {
    let before = api.seen.length;
    const r = await acct(['request', 'bearer', '/loop/0', '-L', '--max-redirs', '3'], env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('stopped after 3 redirects');
    expect(api.seen.length - before).toBe(4);
    before = api.seen.length;
    const d = await acct(['request', 'bearer', '/loop/0', '-L'], env);
    expect(d.exitCode).toBe(1);
    expect(d.stderr).toContain('stopped after 10 redirects');
    expect(api.seen.length - before).toBe(11);
    for (const bad of ['-1', 'many', '1.5']) expect((await acct(['request', 'bearer', '/x', '-L', '--max-redirs', bad], env)).exitCode).toBe(2);
    expect((await acct(['request', 'bearer', '/x', '--max-redirs', '3'], env)).exitCode).toBe(2);
  });
});

describe('OAuth: the test request at connect, userinfo, the Client-Id header, request -L and revocation', () => {
  let oa: string;
  it('connect: the test request and its Client-Id header stay on the API origin', async () => {
    let r!: Awaited<ReturnType<typeof acct>>;
    const seen = await strangerSees(async () => {
      r = await acct(['connect', 'oa', '--nickname', 'o'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'olive' });
    });
    expect(r.exitCode, r.stderr).toBe(0);
    oa = r.stdout.trim();
    expect(seen).toEqual([]);
    expect(api.seen.at(-1)!.headers['client-id']).toBe(auth.clients.public.clientId);
    const fields = await revealed(oa, env);
    secrets.push(fields.oauth_access_token!, fields.oauth_refresh_token!);
    expectNoSecretsIn(r.stdout, r.stderr);
  });

  it('acct test, request without and with -L: neither the token nor the client id reach the other origin', async () => {
    const seen = await strangerSees(async () => {
      const t = await acct(['test', oa, '--json'], env);
      expect(JSON.parse(t.stdout)).toMatchObject({ result: 'untested' });
      const plain = await acct(['request', oa, '/data'], env);
      expect(plain.exitCode).toBe(1);
      const follow = await acct(['request', oa, '/data', '-L'], env);
      expect(follow.exitCode, follow.stderr).toBe(0);
      expectNoSecretsIn(t.stdout, t.stderr, plain.stdout, plain.stderr, follow.stdout, follow.stderr);
    });
    expect(seen.map((s) => s.path)).toEqual(['/landing/data']);
    expect(seen[0]!.headers['client-id']).toBeUndefined();
  });

  it('userinfo redirected to another origin is not followed: the account is stored without an identity', async () => {
    let r!: Awaited<ReturnType<typeof acct>>;
    const apiBefore = api.seen.length;
    const seen = await strangerSees(async () => {
      r = await acct(['connect', 'ui', '--nickname', 'u'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'uma' });
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen).toEqual([]);
    expect(api.seen.slice(apiBefore).map((s) => s.path)).toEqual(['/userinfo']);
    expect(r.stderr).toContain('userinfo answered 307');
    const fields = await revealed(r.stdout.trim(), env);
    secrets.push(fields.oauth_access_token!, fields.oauth_refresh_token!);
  });

  it('connect: a token endpoint that redirects elsewhere is not followed; the code and the client secret stay put (exit 5)', async () => {
    const apiBefore = api.seen.length;
    let r!: Awaited<ReturnType<typeof acct>>;
    const seen = await strangerSees(async () => {
      r = await acct(['connect', 'tok'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'tess' });
    });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(seen).toEqual([]);
    const exchange = api.seen.slice(apiBefore);
    expect(exchange.map((s) => s.path)).toEqual(['/token']);
    expect(r.stderr).toContain('HTTP 307');
    expectNoSecretsIn(r.stdout, r.stderr);
  });

  it('delete: a revocation endpoint that redirects elsewhere gets the token, the other origin never does', async () => {
    const apiBefore = api.seen.length;
    let r!: Awaited<ReturnType<typeof acct>>;
    const seen = await strangerSees(async () => {
      r = await acct(['delete', oa, '--yes'], env);
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen).toEqual([]);
    expect(api.seen.slice(apiBefore).map((s) => s.path)).toEqual(['/revoke']);
    expect(r.stderr).toContain('could not revoke');
    expectNoSecretsIn(r.stdout, r.stderr);
  });
});
