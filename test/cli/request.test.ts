// acct request against local stand-ins for the APIs (user-added apps on
// 127.0.0.1): where the credentials go for every auth placement, how the URL
// is built and which hosts may receive credentials, curl-style -X/-H/-d/-G,
// byte-exact bodies, -i/--json output, exit codes, the proxy variables, and the
// 401 → refresh once → retry path against the test authorization server.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'execa';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';
import { acctRaw, closedPort, echo, startApiServer, startProxy, type ApiServer, type SeenRequest } from '../support/api-server.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, fingerprint, revealed, listJson } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const input = (text: string | Buffer): Options => ({ input: text, stdin: undefined });
const newKey = () => `lk_${randomBytes(12).toString('hex')}`;

/** No secret value appears in any of the outputs. */
function expectNoSecrets(outputs: (string | Buffer)[], secrets: string[]) {
  for (const out of outputs) for (const s of secrets) expect(String(out).includes(s), 'a secret leaked into the output').toBe(false);
}

describe('acct request with API keys', () => {
  let api: ApiServer;
  let other: ApiServer;
  let home: string;
  let env: Env;
  const keys = { bearer: newKey(), custom: newKey(), query: newKey(), sid: `AC${randomBytes(6).toString('hex')}`, token: randomBytes(16).toString('hex') };
  const ids: Record<string, string> = {};
  let downPort: number;

  /** The one request the API server got during `fn`. */
  async function only(server: ApiServer, fn: () => Promise<unknown>): Promise<SeenRequest> {
    const before = server.seen.length;
    await fn();
    expect(server.seen.length - before).toBe(1);
    return server.seen.at(-1)!;
  }

  beforeAll(async () => {
    api = await startApiServer();
    other = await startApiServer();
    downPort = await closedPort();
    home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'request tests', ACCT_HTTP_TIMEOUT: '10' });
    const apps: [string, string][] = [
      [
        'bearer',
        keyAppFile(`${api.url}/v1`, {
          api: {
            baseUrl: `${api.url}/v1`,
            auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' },
            headers: { 'X-Api-Version': '2024-06-01', Accept: 'application/vnd.local+json' },
          },
        }),
      ],
      ['custom', keyAppFile(api.url, { api: { baseUrl: api.url, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' } } })],
      ['query', keyAppFile(`${api.url}/`, { api: { baseUrl: `${api.url}/`, auth: { type: 'query', name: 'key', value: '{api_key}' } } })],
      ['duo', duoAppFile(`${api.url}/2010-04-01`)],
      ['down', keyAppFile(`http://127.0.0.1:${downPort}`)],
    ];
    for (const [slug, file] of apps) {
      const r = await acct(['apps', 'add', slug, '--file', file], env);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const connect = async (slug: string, secret: string) => {
      const r = await acct(['connect', slug, '--stdin', '--no-verify'], env, input(secret));
      expect(r.exitCode, r.stderr).toBe(0);
      ids[slug] = r.stdout.trim();
    };
    await connect('bearer', keys.bearer);
    await connect('custom', keys.custom);
    await connect('query', keys.query);
    await connect('duo', JSON.stringify({ account_sid: keys.sid, auth_token: keys.token }));
    await connect('down', newKey());
  });
  afterAll(async () => {
    await api?.close();
    await other?.close();
  });
  beforeEach(() => {
    api.handle(echo);
    other.handle(echo);
  });
  const secrets = () => [keys.bearer, keys.custom, keys.query, keys.token];

  describe('auth placement: the server sees exactly what the app declares', () => {
    it('Authorization: Bearer {api_key}, the app fixed headers and user -H headers', async () => {
      let r!: Awaited<ReturnType<typeof acct>>;
      const seen = await only(api, async () => {
        r = await acct(['request', 'bearer', '/users/42', '-H', 'X-Trace-Id: abc 123', '-H', 'X-Empty:'], env);
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(seen.method).toBe('GET');
      expect(seen.url).toBe('/v1/users/42');
      expect(seen.headers.authorization).toBe(`Bearer ${keys.bearer}`);
      expect(seen.headers['x-api-version']).toBe('2024-06-01');
      expect(seen.headers.accept).toBe('application/vnd.local+json');
      expect(seen.headers['x-trace-id']).toBe('abc 123');
      expect(seen.headers['x-empty']).toBe('');
      expect(seen.headers['content-type']).toBeUndefined();
      expect(seen.body.length).toBe(0);
      // The body comes through as the server sent it.
      expect(JSON.parse(r.stdout)).toEqual({ method: 'GET', url: '/v1/users/42', body: '' });
      expect(r.stderr).toBe('');
      expectNoSecrets([r.stdout, r.stderr], secrets());
    });

    it('a custom header (X-Api-Key: {api_key}) and no Authorization header', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'custom', 'items'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.url).toBe('/items');
      expect(seen.headers['x-api-key']).toBe(keys.custom);
      expect(seen.headers.authorization).toBeUndefined();
    });

    it('a query parameter (key={api_key}), next to the query the user gave', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'query', '/search?q=a%20b&page=2'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.path).toBe('/search');
      expect(seen.query.get('q')).toBe('a b');
      expect(seen.query.get('page')).toBe('2');
      expect(seen.query.getAll('key')).toEqual([keys.query]);
      expect(seen.headers.authorization).toBeUndefined();
    });

    it('a query parameter the user also gave is replaced, not duplicated', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'query', '/search?key=mine'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.query.getAll('key')).toEqual([keys.query]);
    });

    it('basic auth from two fields (a non-secret account SID and a secret token)', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'duo', `Accounts/${keys.sid}/Messages.json`], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.url).toBe(`/2010-04-01/Accounts/${keys.sid}/Messages.json`);
      const m = /^Basic (\S+)$/.exec(seen.headers.authorization ?? '');
      expect(m).not.toBeNull();
      expect(Buffer.from(m![1]!, 'base64').toString('utf8')).toBe(`${keys.sid}:${keys.token}`);
    });

    it('a user -H Authorization replaces the app authorization rather than sending two', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/x', '-H', 'authorization: Token other'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.headers.authorization).toBe('Token other');
      expect(seen.headers['x-api-version']).toBe('2024-06-01');
    });

    it('a malformed -H is a usage error and sends nothing', async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'bearer', '/x', '-H', 'no colon here'], env);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('has no colon, so it is not a header');
      expect(api.seen.length).toBe(before);
    });
  });

  describe('the URL: base URL join and the hosts credentials may go to', () => {
    for (const path of ['users', '/users', 'users?x=1', '/v2/../users'])
      it(`joins "${path}" to a base URL with a path prefix`, async () => {
        const seen = await only(api, async () => {
          const r = await acct(['request', 'bearer', path], env);
          expect(r.exitCode, r.stderr).toBe(0);
        });
        expect(seen.path).toBe('/v1/users');
        if (path.includes('?')) expect(seen.query.get('x')).toBe('1');
      });

    it('a base URL ending in "/" joins without a double slash', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'query', '/a/b'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.path).toBe('/a/b');
    });

    it('a full URL on the API host is taken as is, with the credentials', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', `${api.url}/elsewhere/path?z=9`], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.url).toBe('/elsewhere/path?z=9');
      expect(seen.headers.authorization).toBe(`Bearer ${keys.bearer}`);
    });

    it('a full URL on another host is refused (exit 2) and nothing is sent anywhere', async () => {
      const apiBefore = api.seen.length;
      const otherBefore = other.seen.length;
      const r = await acct(['request', 'bearer', `${other.url}/steal`], env);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`refusing to send bearer credentials to 127.0.0.1:${other.port}`);
      expect(r.stderr).toContain('--allow-host');
      expect(other.seen.length).toBe(otherBefore);
      expect(api.seen.length).toBe(apiBefore);
      expectNoSecrets([r.stderr], secrets());
    });

    it('with --allow-host the other host gets the request', async () => {
      const seen = await only(other, async () => {
        const r = await acct(['request', 'bearer', `${other.url}/trusted`, '--allow-host'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.url).toBe('/trusted');
      expect(seen.headers.authorization).toBe(`Bearer ${keys.bearer}`);
    });

    it('plain http to a non-loopback host is refused even with --allow-host', async () => {
      const r = await acct(['request', 'bearer', 'http://api.example.invalid/x', '--allow-host'], env);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('plain http');
    });

    it('a redirect to another host is not followed (the credentials stay put)', async () => {
      api.handle((_req, res) => {
        res.writeHead(302, { location: `${other.url}/landing` });
        res.end();
      });
      const otherBefore = other.seen.length;
      const r = await acct(['request', 'bearer', '/moved', '-i'], env);
      // Without -L a redirect is not a success: exit 1, the status and where it points on stderr.
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toContain(`answered 302`);
      expect(r.stderr).toContain(`Location: ${other.url}/landing`);
      expect(r.stdout).toMatch(/^HTTP 302 /);
      expect(r.stdout.toLowerCase()).toContain(`location: ${other.url}/landing`);
      expect(other.seen.length).toBe(otherBefore);
    });
  });

  describe('method and data', () => {
    it('-X sets the method', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items/7', '-X', 'delete'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('DELETE');
      expect(seen.body.length).toBe(0);
    });

    it('-d with JSON: POST, Content-Type application/json, the body as given', async () => {
      const json = '{"name": "widget", "tags": ["a", "b"]}';
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items', '-d', json], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('POST');
      expect(seen.headers['content-type']).toBe('application/json');
      expect(seen.body.toString('utf8')).toBe(json);
      expect(seen.headers.authorization).toBe(`Bearer ${keys.bearer}`);
    });

    it('-X PUT with JSON data', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items/7', '-X', 'PUT', '-d', '[1,2]'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('PUT');
      expect(seen.headers['content-type']).toBe('application/json');
      expect(seen.body.toString()).toBe('[1,2]');
    });

    it('form data: several -d joined with &, Content-Type form-urlencoded', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'duo', '/Messages.json', '-d', 'To=%2B15551234567', '-d', 'Body=hello+there', '-d', 'x=1'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('POST');
      expect(seen.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(seen.body.toString()).toBe('To=%2B15551234567&Body=hello+there&x=1');
      expect(Object.fromEntries(new URLSearchParams(seen.body.toString()))).toEqual({ To: '+15551234567', Body: 'hello there', x: '1' });
    });

    it('something that looks like JSON but is not is sent as form data', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items', '-d', '{not json'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.headers['content-type']).toBe('application/x-www-form-urlencoded');
    });

    it('a user Content-Type wins over the detected one', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items', '-H', 'Content-Type: text/plain', '-d', '{"a":1}'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.headers['content-type']).toBe('text/plain');
      expect(seen.body.toString()).toBe('{"a":1}');
    });

    it('-G puts the data in the query string of a GET, next to the auth query parameter', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'query', '/search?sort=new', '-G', '-d', 'q=cats', '-d', 'limit=5'], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('GET');
      expect(seen.body.length).toBe(0);
      expect(seen.headers['content-type']).toBeUndefined();
      expect([...seen.query.keys()].sort()).toEqual(['key', 'limit', 'q', 'sort']);
      expect(seen.query.get('q')).toBe('cats');
      expect(seen.query.get('limit')).toBe('5');
      expect(seen.query.get('sort')).toBe('new');
      expect(seen.query.get('key')).toBe(keys.query);
    });

    it('data with an explicit GET and no -G is a usage error and sends nothing', async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'bearer', '/items', '-X', 'GET', '-d', 'a=1'], env);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('-G');
      expect(api.seen.length).toBe(before);
    });

    it('-d @file sends the file byte for byte (binary included)', async () => {
      const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0x0d]), randomBytes(2048)]);
      const file = join(tempHome(), 'payload.bin');
      writeFileSync(file, bytes);
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/upload', '-H', 'Content-Type: application/octet-stream', '-d', `@${file}`], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.method).toBe('POST');
      expect(seen.body.equals(bytes)).toBe(true);
    });

    it('-d @file with a JSON file is detected as JSON', async () => {
      const file = join(tempHome(), 'body.json');
      writeFileSync(file, '{\n  "from": "file"\n}\n');
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items', '-d', `@${file}`], env);
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.headers['content-type']).toBe('application/json');
      expect(seen.body.toString()).toBe('{\n  "from": "file"\n}\n');
    });

    it('-d @file that does not exist: usage error naming the file, nothing sent', async () => {
      const before = api.seen.length;
      const missing = join(tempHome(), 'missing.json');
      const r = await acct(['request', 'bearer', '/items', '-d', `@${missing}`], env);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(missing);
      expect(api.seen.length).toBe(before);
    });

    for (const arg of ['@-', '-'])
      it(`-d ${arg} reads the body from stdin`, async () => {
        const seen = await only(api, async () => {
          const r = await acct(['request', 'bearer', '/items', '-d', arg], env, input('{"from":"stdin"}'));
          expect(r.exitCode, r.stderr).toBe(0);
        });
        expect(seen.method).toBe('POST');
        expect(seen.headers['content-type']).toBe('application/json');
        expect(seen.body.toString()).toBe('{"from":"stdin"}');
      });

    it('-d @- sends binary stdin byte for byte', async () => {
      const bytes = Buffer.concat([Buffer.from([0xc3, 0x28, 0xff, 0x00]), randomBytes(1024)]);
      const seen = await only(api, async () => {
        const r = await acctRaw(['request', 'bearer', '/upload', '-H', 'Content-Type: application/octet-stream', '-d', '@-'], env, input(bytes));
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.body.equals(bytes)).toBe(true);
    });

    it('stdin data joined with other -d values', async () => {
      const seen = await only(api, async () => {
        const r = await acct(['request', 'bearer', '/items', '-d', 'a=1', '-d', '@-'], env, input('b=2'));
        expect(r.exitCode, r.stderr).toBe(0);
      });
      expect(seen.body.toString()).toBe('a=1&b=2');
    });
  });

  describe('the response', () => {
    it('a binary body goes to stdout byte for byte', async () => {
      const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]), randomBytes(64 * 1024)]);
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(bytes);
      });
      const r = await acctRaw(['request', 'bearer', '/logo.png'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(bytes.length);
      expect(r.stdout.equals(bytes)).toBe(true);
    });

    it('a text body without a final newline gets none added', async () => {
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('no newline');
      });
      const r = await acct(['request', 'bearer', '/t'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('no newline');
    });

    it('-i prints the status line and headers, a blank line, then the body', async () => {
      api.handle((_req, res) => {
        res.writeHead(201, 'Created', { 'content-type': 'application/json', 'x-request-id': 'req-77' });
        res.end('{"id":7}');
      });
      const r = await acct(['request', 'bearer', '/items', '-i', '-d', '{}'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      const [head, body] = r.stdout.split('\r\n\r\n');
      const lines = head!.split('\r\n');
      expect(lines[0]).toBe('HTTP 201 Created');
      expect(lines).toContain('content-type: application/json');
      expect(lines).toContain('x-request-id: req-77');
      expect(body).toBe('{"id":7}');
    });

    it('--json: status, headers and a JSON body as a value', async () => {
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-rate-remaining': '41' });
        res.end('{"user":{"login":"ada"}}');
      });
      const r = await acct(['request', 'bearer', '/me', '--json'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.status).toBe(200);
      expect(out.headers['x-rate-remaining']).toBe('41');
      expect(out.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(out.body).toEqual({ user: { login: 'ada' } });
      expect(out.body_base64).toBeUndefined();
    });

    it('--json: a text body as a string, a binary body as body_base64', async () => {
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('plain text');
      });
      const text = JSON.parse((await acct(['request', 'bearer', '/t', '--json'], env)).stdout);
      expect(text.body).toBe('plain text');

      const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x01]);
      api.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(bytes);
      });
      const r = await acct(['request', 'bearer', '/b', '--json'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      const bin = JSON.parse(r.stdout);
      expect(bin.body).toBeUndefined();
      expect(Buffer.from(bin.body_base64, 'base64').equals(bytes)).toBe(true);
    });

    it('--json and -i together are a usage error', async () => {
      const r = await acct(['request', 'bearer', '/t', '--json', '-i'], env);
      expect(r.exitCode).toBe(2);
    });

    it('non-2xx: exit 1, the status on stderr, the body on stdout', async () => {
      api.handle((_req, res) => {
        res.writeHead(404, 'Not Found', { 'content-type': 'application/json' });
        res.end('{"error":"no such item"}');
      });
      const r = await acct(['request', 'bearer', '/items/999?verbose=1'], env);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toBe('{"error":"no such item"}');
      expect(r.stderr).toContain('404');
      expect(r.stderr).toContain(`GET ${api.url}/v1/items/999 answered 404 Not Found`);
      expectNoSecrets([r.stderr], secrets());
    });

    it('--fail-ok: exit 0 with the body of an error response', async () => {
      api.handle((_req, res) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('boom');
      });
      const r = await acct(['request', 'bearer', '/x', '--fail-ok'], env);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('boom');
      expect(r.stderr).toBe('');
    });

    it('--json with an error status still exits 1 and prints the status in the JSON', async () => {
      api.handle((_req, res) => {
        res.writeHead(422, { 'content-type': 'application/json' });
        res.end('{"error":"bad"}');
      });
      const r = await acct(['request', 'bearer', '/x', '--json'], env);
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 422, body: { error: 'bad' } });
      // stderr is one JSON object, as for every error under --json.
      expect(JSON.parse(r.stderr)).toEqual({ code: 'http_error', message: `GET ${api.url}/v1/x answered 422 Unprocessable Entity`, hint: null });
    });

    it('a 401 for a key account: exit 1 (no refresh for keys), pointing at acct test', async () => {
      api.handle((_req, res) => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid key"}');
      });
      const before = api.seen.length;
      const r = await acct(['request', 'bearer', '/x'], env);
      expect(r.exitCode).toBe(1);
      expect(api.seen.length - before).toBe(1);
      expect(r.stdout).toBe('{"error":"invalid key"}');
      expect(r.stderr).toContain(`acct test ${ids.bearer}`);
      expectNoSecrets([r.stderr], secrets());
    });

    it('an unreachable API: exit 5', async () => {
      const r = await acct(['request', 'down', '/x'], env);
      expect(r.exitCode).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`127.0.0.1:${downPort}`);
    });

    it('an unknown account: exit 3, nothing sent', async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'nobody', '/x'], env);
      expect(r.exitCode).toBe(3);
      expect(api.seen.length).toBe(before);
    });
  });

  describe('proxy variables', () => {
    it('HTTP_PROXY routes the request through the proxy, which forwards it', async () => {
      const proxy = await startProxy();
      try {
        const seen = await only(api, async () => {
          const r = await acct(['request', 'bearer', '/via-proxy?n=1'], { ...env, HTTP_PROXY: proxy.url });
          expect(r.exitCode, r.stderr).toBe(0);
          expect(JSON.parse(r.stdout)).toMatchObject({ url: '/v1/via-proxy?n=1' });
        });
        expect(seen.headers.authorization).toBe(`Bearer ${keys.bearer}`);
        expect(proxy.seen).toHaveLength(1);
        expect(proxy.seen[0]!.target).toBe(`127.0.0.1:${api.port}`);
        expect(proxy.seen[0]!.requestLine).toBe('GET /v1/via-proxy?n=1 HTTP/1.1');
      } finally {
        await proxy.close();
      }
    });

    it('lower-case http_proxy works too', async () => {
      const proxy = await startProxy();
      try {
        const r = await acct(['request', 'custom', '/lower'], { ...env, http_proxy: proxy.url });
        expect(r.exitCode, r.stderr).toBe(0);
        expect(proxy.seen.map((s) => s.target)).toEqual([`127.0.0.1:${api.port}`]);
      } finally {
        await proxy.close();
      }
    });

    it('NO_PROXY naming the host bypasses the proxy', async () => {
      const proxy = await startProxy();
      try {
        for (const noProxy of ['127.0.0.1', `localhost,127.0.0.1:${api.port}`, '*']) {
          const seen = await only(api, async () => {
            const r = await acct(['request', 'bearer', '/direct'], { ...env, HTTP_PROXY: proxy.url, NO_PROXY: noProxy });
            expect(r.exitCode, r.stderr).toBe(0);
          });
          expect(seen.url).toBe('/v1/direct');
        }
        expect(proxy.seen).toEqual([]);
      } finally {
        await proxy.close();
      }
    });

    it('a proxy that is down: exit 5 naming the proxy variables', async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'bearer', '/x'], { ...env, HTTP_PROXY: `http://127.0.0.1:${downPort}` });
      expect(r.exitCode).toBe(5);
      expect(r.stderr).toContain('proxy');
      expect(api.seen.length).toBe(before);
    });
  });
});

describe('acct request with OAuth: 401 → refresh once → retry', () => {
  let server: AuthServer;
  let resource: ApiServer;
  /** Access tokens the resource treats as revoked early, whatever the authorization server says. */
  const stale = new Set<string>();
  let rejectAll = false;
  /**
   * When set, requests with a stale token are held until `expected` have
   * arrived; then the first is answered (401), the others only once a request
   * with a good token was served, i.e. after the first caller has refreshed.
   */
  let gate: { expected: number; arrived: (() => void)[] } | undefined;

  beforeAll(async () => {
    server = await startAuthServer({ accessTokenTtl: 300 });
    // The API: a bearer token is good when the authorization server's /me
    // accepts it and the test has not declared it stale.
    resource = await startApiServer(async (req, res) => {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (gate && stale.has(token)) {
        const g = gate;
        await new Promise<void>((resolve) => {
          g.arrived.push(resolve);
          if (g.arrived.length === g.expected) g.arrived[0]!();
        });
      }
      if (gate && !stale.has(token)) {
        const g = gate;
        res.on('finish', () => g.arrived.forEach((release) => release()));
      }
      if (rejectAll || stale.has(token)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
        return void res.end('{"error":"invalid_token"}');
      }
      const me = await fetch(`${server.url}/me`, { headers: { authorization: req.headers.authorization ?? '' } });
      const body = me.status === 200 ? JSON.stringify({ ...(await me.json()), path: req.path }) : await me.text();
      res.writeHead(me.status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  afterAll(async () => {
    await resource?.close();
    await server?.close();
  });
  beforeEach(() => {
    rejectAll = false;
    gate = undefined;
  });

  /** One acct home for these tests: an OAuth app whose API is `resource`. */
  let env: Env;
  beforeAll(async () => {
    env = (await oauthHome(server, 'public')).env;
    const file = server.appFile('public', {
      api: { baseUrl: `${resource.url}/api`, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
      test: { path: '/me', identity: ['login'] },
    });
    const added = await acct(['apps', 'add', 'res', '--file', file], env);
    expect(added.exitCode, added.stderr).toBe(0);
    const client = await acct(['client', 'set', 'res', '--client-id', server.clients.public.clientId, '--no-secret'], env);
    expect(client.exitCode, client.stderr).toBe(0);
  });

  /** Connects an account of `res` as `login` (also its nickname) and returns its id. */
  async function connected(login: string): Promise<string> {
    const r = await acct(['connect', 'res', '--nickname', login], { ...env, ACCT_TEST_BROWSER_LOGIN: login });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.trim();
  }
  const listed = async (id: string) => (await listJson(env)).find((a) => a.id === id);

  it('a rejected (but unexpired) token is refreshed once and the request retried with the new one', async () => {
    const id = await connected('rita');
    const before = await revealed(id, env);
    stale.add(before.oauth_access_token!);
    const refreshes = server.tokenRequests.refresh;
    const seenBefore = resource.seen.length;

    const r = await acct(['request', id, '/things'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ login: 'rita', path: '/api/things' });
    expect(r.stderr).toContain('answered 401; refreshing the token and retrying');
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
    expect(fingerprint(server.tokenRequests.refreshTokensPresented.at(-1))).toBe(fingerprint(before.oauth_refresh_token));

    const after = await revealed(id, env);
    const sent = resource.seen.slice(seenBefore).map((s) => fingerprint(/^Bearer (\S+)$/.exec(s.headers.authorization ?? '')?.[1]));
    expect(sent).toEqual([fingerprint(before.oauth_access_token), fingerprint(after.oauth_access_token)]);
    expect(fingerprint(after.oauth_access_token)).not.toBe(fingerprint(before.oauth_access_token));
    expect(await listed(id)).toMatchObject({ id, status: 'ok' });
    expectNoSecrets([r.stdout, r.stderr], Object.values({ ...before, ...after }).filter((v) => v.length > 20));

    // The new token is stored: the next request needs no refresh.
    const again = await acct(['request', id, '/again'], env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
  });

  it('concurrent requests that all meet the 401 share one refresh and all succeed', async () => {
    const id = await connected('quinn');
    const before = await revealed(id, env);
    stale.add(before.oauth_access_token!);
    const refreshes = server.tokenRequests.refresh;
    const presented = server.tokenRequests.refreshTokensPresented.length;
    gate = { expected: 4, arrived: [] };
    // The stand-in holds every request with the stale token until all four
    // have arrived, answers one, and answers the other three only after the
    // first caller has refreshed and retried: they must take its new token
    // instead of refreshing again.
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => acct(['request', id, `/c${i}`], env)));
    expect(results.map((r) => [r.exitCode, r.stderr.includes('answered 401')])).toEqual(Array(4).fill([0, true]));
    for (const [i, r] of results.entries()) expect(JSON.parse(r.stdout)).toMatchObject({ login: 'quinn', path: `/api/c${i}` });
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
    expect(server.tokenRequests.refreshTokensPresented.slice(presented).map(fingerprint)).toEqual([fingerprint(before.oauth_refresh_token)]);
    expect(await listed(id)).toMatchObject({ id, status: 'ok' });
  });

  it('the retry resends the same data (stdin read once)', async () => {
    const id = await connected('sam');
    const before = await revealed(id, env);
    stale.add(before.oauth_access_token!);
    const seenBefore = resource.seen.length;
    const r = await acct(['request', id, '/things', '-d', '@-'], env, input('{"n":1}'));
    expect(r.exitCode, r.stderr).toBe(0);
    const sent = resource.seen.slice(seenBefore);
    expect(sent.map((s) => [s.method, s.body.toString()])).toEqual([
      ['POST', '{"n":1}'],
      ['POST', '{"n":1}'],
    ]);
  });

  it('a 401 again after the refresh: exit 4, the account is marked needs-reconnect', async () => {
    const id = await connected('tom');
    const before = await revealed(id, env);
    rejectAll = true;
    const refreshes = server.tokenRequests.refresh;
    const seenBefore = resource.seen.length;

    const r = await acct(['request', id, '/things'], env);
    expect(r.exitCode).toBe(4);
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
    expect(resource.seen.length - seenBefore).toBe(2);
    expect(r.stderr).toContain(`acct reconnect ${id}`);
    expect(r.stdout).toBe('{"error":"invalid_token"}');
    expect(await listed(id)).toMatchObject({ id, status: 'needs-reconnect' });
    const after = await revealed(id, env);
    expectNoSecrets([r.stdout, r.stderr], Object.values({ ...before, ...after }).filter((v) => v.length > 20));

    // Marked: the next request stops before the network.
    const again = await acct(['request', id, '/things'], env);
    expect(again.exitCode).toBe(4);
    expect(resource.seen.length - seenBefore).toBe(2);
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
  });

  it('a 401 whose refresh is refused (grant revoked): exit 4, needs-reconnect, no retry', async () => {
    const id = await connected('uma');
    expect(await server.revokeAllGrants('uma')).toBeGreaterThan(0);
    const refreshes = server.tokenRequests.refresh;
    const seenBefore = resource.seen.length;

    const r = await acct(['request', id, '/things'], env);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain('invalid_grant');
    expect(r.stderr).toContain(`acct reconnect ${id}`);
    expect(server.tokenRequests.refresh - refreshes).toBe(1);
    expect(resource.seen.length - seenBefore).toBe(1);
    expect(await listed(id)).toMatchObject({ id, status: 'needs-reconnect' });
  });

  it('a non-401 error is not a reason to refresh', async () => {
    const id = await connected('vic');
    const refreshes = server.tokenRequests.refresh;
    const r = await acct(['request', id, `${server.url}/nothing-here`, '--allow-host'], env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('404');
    expect(server.tokenRequests.refresh).toBe(refreshes);
  });
});

// Salesforce gives each org its own API host, as instance_url in the token
// response; an app whose base URL is "{instance_url}" sends every request there.
describe('acct request with an API host per account (the token response names it) and the client id', () => {
  let server: AuthServer;
  let instance: ApiServer;
  let env: Env;

  beforeAll(async () => {
    server = await startAuthServer({ accessTokenTtl: 300 });
    instance = await startApiServer();
    env = (await oauthHome(server, 'public')).env;
    const file = server.appFile('public', {
      api: {
        baseUrl: '{instance_url}',
        auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' },
        headers: { 'X-Client-Id': '{oauth_client_id}' },
      },
      test: { path: `${server.url}/me`, identity: ['login'] },
      env: { oauth_access_token: 'ORG_TOKEN', instance_url: 'ORG_INSTANCE_URL' },
    });
    expect((await acct(['apps', 'add', 'org', '--file', file], env)).exitCode).toBe(0);
    expect((await acct(['client', 'set', 'org', '--client-id', server.clients.public.clientId, '--no-secret'], env)).exitCode).toBe(0);
  });
  afterAll(async () => {
    await instance?.close();
    await server?.close();
  });

  it('connects, then sends requests to the instance the token response named, and exports it', async () => {
    server.setTokenExtras({ instance_url: instance.url });
    const c = await acct(['connect', 'org', '--nickname', 'main'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'olga' });
    expect(c.exitCode, c.stderr).toBe(0);
    // The test request (an absolute URL at the authorization server) named the identity.
    expect((await listJson(env)).find((a) => a.id === c.stdout.trim())).toMatchObject({ identity: 'olga' });

    const r = await acct(['request', 'org/main', '/services/data/v62.0/limits'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'GET', url: '/services/data/v62.0/limits' });
    expect(instance.seen.at(-1)!.headers.authorization).toMatch(/^Bearer \S+$/);

    // The app asks for the client id on every request too (as Twitch does): the one set for the app, or the variable's.
    expect(instance.seen.at(-1)!.headers['x-client-id']).toBe(server.clients.public.clientId);
    expect((await acct(['request', 'org/main', '/x'], { ...env, ACCT_CLIENT_ID_ORG: 'from-the-environment' })).exitCode).toBe(0);
    expect(instance.seen.at(-1)!.headers['x-client-id']).toBe('from-the-environment');

    const vars = JSON.parse((await acct(['env', 'org/main', '--format', 'json'], env)).stdout) as Record<string, string>;
    expect(vars.ORG_INSTANCE_URL).toBe(instance.url);
    expect(vars.ORG_TOKEN).toEqual(expect.any(String));
  });

  it('an instance URL that is not https is refused before anything is sent', async () => {
    server.setTokenExtras({ instance_url: 'http://org.example.com' });
    try {
      const c = await acct(['connect', 'org', '--nickname', 'plain'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'pat' });
      expect(c.exitCode, c.stderr).toBe(0);
      const seen = instance.seen.length;
      const r = await acct(['request', 'org/plain', '/services/data'], env);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('http://org.example.com, is not an https URL');
      expect(r.stderr).toContain('instance_url');
      expect(instance.seen.length).toBe(seen);
    } finally {
      server.setTokenExtras({});
    }
  });

  it('with no client id set, a request that must carry it is a usage error and nothing is sent', async () => {
    expect((await acct(['client', 'remove', 'org'], env)).exitCode).toBe(0);
    const seen = instance.seen.length;
    const r = await acct(['request', 'org/main', '/x'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('acct client set org --client-id');
    expect(instance.seen.length).toBe(seen);
  });
});
