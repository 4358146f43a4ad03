// Bad input at the edges is exit 2 and never echoes a secret: a key with a
// line break, a NUL or another control character is refused at connect however
// it comes in (stdin bare or JSON, --from-env; the prompt in test/unit/keys) and nothing is
// stored; a value like that already in the store (written by an older acct)
// fails a request with acct's words, not undici's (which quote the value);
// -H with CR/LF, a malformed -H, a bad method and a URL that does not parse
// are usage errors; library error text never reaches stderr as is.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Options } from 'execa';
import { execa } from 'execa';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { BROWSER_COMMAND } from '../support/oauth-cli.js';
import { createContext, type IO } from '../../src/context.js';

type Env = Record<string, string | undefined>;
const input = (text: string): Options => ({ input: text, stdin: undefined });
/** A secret in two halves around the bad character: neither half may show up anywhere. */
const newKey = () => `lk_${randomBytes(10).toString('hex')}`;
const halves = () => [`lk_${randomBytes(8).toString('hex')}`, `tail${randomBytes(8).toString('hex')}`] as const;

function expectNoSecrets(outputs: string[], secrets: readonly string[]) {
  for (const out of outputs) for (const s of secrets) expect(out.includes(s), 'a secret leaked into the output').toBe(false);
}

let api: ApiServer;
let home: string;
let env: Env;

const accounts = async () => JSON.parse((await acct(['list', '--json'], env)).stdout) as { id: string; app: string }[];
const sealedFiles = () => (existsSync(join(home, 'secrets')) ? readdirSync(join(home, 'secrets')) : []);

beforeAll(async () => {
  api = await startApiServer();
  home = tempHome();
  env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'edge input', ACCT_HTTP_TIMEOUT: '10' });
  const custom = keyAppFile(api.url, { api: { baseUrl: api.url, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' } } });
  expect((await acct(['apps', 'add', 'svc', '--file', custom], env)).exitCode).toBe(0);
});
afterAll(async () => {
  await api?.close();
});

describe('connect refuses a value with a control character, stores nothing and never prints it', () => {
  const cases: [string, (a: string, b: string) => { args: string[]; options?: Options; extraEnv?: Env }][] = [
    ['stdin, LF inside a bare value', (a, b) => ({ args: ['--stdin'], options: input(`${a}\n${b}`) })],
    ['stdin, CR LF and a header after it', (a, b) => ({ args: ['--stdin'], options: input(`${a}\r\nX-Injected: ${b}`) })],
    ['stdin, a NUL', (a, b) => ({ args: ['--stdin', '--no-check'], options: input(`${a}\u0000${b}`) })],
    ['stdin JSON, \\r\\n in the string', (a, b) => ({ args: ['--stdin'], options: input(JSON.stringify({ api_key: `${a}\r\n${b}` })) })],
    ['stdin JSON, \\u0000 in the string', (a, b) => ({ args: ['--stdin', '--no-check'], options: input(JSON.stringify({ api_key: `${a}\u0000${b}` })) })],
    ['stdin JSON, an escape character', (a, b) => ({ args: ['--stdin'], options: input(JSON.stringify({ api_key: `${a}\u001b[2J${b}` })) })],
    ['--from-env, CR', (a, b) => ({ args: ['--from-env', 'api_key=BAD_KEY'], extraEnv: { BAD_KEY: `${a}\r${b}` } })],
    ['--from-env, LF', (a, b) => ({ args: ['--from-env', 'api_key=BAD_KEY'], extraEnv: { BAD_KEY: `${a}\n${b}` } })],
  ];
  for (const [name, make] of cases)
    it(name, async () => {
      const [a, b] = halves();
      const { args, options, extraEnv } = make(a, b);
      const before = api.seen.length;
      const r = await acct(['connect', 'svc', ...args], { ...env, ...extraEnv }, options);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain('API key holds a line break, a NUL or another control character');
      expect(r.stderr).toContain('nothing was stored');
      expect(r.stdout).toBe('');
      expectNoSecrets([r.stdout, r.stderr], [a, b]);
      expect(api.seen.length).toBe(before);
      expect(await accounts()).toEqual([]);
      expect(sealedFiles()).toEqual([]);
    });
});

describe('connect refuses a value no request or command could use: not UTF-8, not for a header, too large', () => {
  const LS = '\u2028';
  const BOM = '\ufeff';
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const notUtf8 = /what came on stdin \(--stdin\) is not valid UTF-8 text\n {2}nothing was stored/;
  const outsideLatin1 = /API key holds a character outside Latin-1 .*\n {2}nothing was stored; check (what you piped in|the environment variable BAD_KEY).*request header/;
  const tooLarge = /API key is too large: \d+ bytes, where a value holds at most 64 KiB \(65536 bytes\)\n {2}nothing was stored/;
  const cases: [string, (a: string, b: string) => { args: string[]; options?: Options; extraEnv?: Env }, RegExp][] = [
    ['stdin, a byte that is not UTF-8', (a, b) => ({ args: ['--stdin'], options: { input: bytes(a, [0xff], b), stdin: undefined } }), notUtf8],
    ['stdin, a UTF-8 sequence cut short', (a, b) => ({ args: ['--stdin', '--no-check'], options: { input: bytes(a, [0xe2, 0x80], b), stdin: undefined } }), notUtf8],
    ['stdin JSON, a byte that is not UTF-8 in the string', (a, b) => ({ args: ['--stdin'], options: { input: bytes('{"api_key":"', a, [0xc3], b, '"}'), stdin: undefined } }), notUtf8],
    ['stdin, a Unicode line separator (U+2028)', (a, b) => ({ args: ['--stdin'], options: input(`${a}${LS}${b}`) }), outsideLatin1],
    ['stdin with --no-check, a byte order mark in front', (a, b) => ({ args: ['--stdin', '--no-check'], options: input(`${BOM}${a}${b}`) }), outsideLatin1],
    ['stdin JSON, \\u2028 in the string', (a, b) => ({ args: ['--stdin'], options: input(JSON.stringify({ api_key: `${a}${LS}${b}` })) }), outsideLatin1],
    ['--from-env, U+2028', (a, b) => ({ args: ['--from-env', 'api_key=BAD_KEY'], extraEnv: { BAD_KEY: `${a}${LS}${b}` } }), outsideLatin1],
    ['--from-env with --no-check, a typographic quote', (a, b) => ({ args: ['--from-env', 'api_key=BAD_KEY', '--no-check'], extraEnv: { BAD_KEY: `${a}\u201d${b}` } }), outsideLatin1],
    ['stdin, a bare value over 64 KiB', (a, b) => ({ args: ['--stdin'], options: input(`${a}${'x'.repeat(70_000)}${b}`) }), tooLarge],
    ['stdin JSON, a value over 64 KiB', (a, b) => ({ args: ['--stdin'], options: input(JSON.stringify({ api_key: `${a}${'x'.repeat(70_000)}${b}` })) }), tooLarge],
    ['--from-env, a value over 64 KiB', (a, b) => ({ args: ['--from-env', 'api_key=BAD_KEY'], extraEnv: { BAD_KEY: `${a}${'x'.repeat(70_000)}${b}` } }), tooLarge],
  ];
  for (const [name, make, message] of cases)
    it(name, async () => {
      const [a, b] = halves();
      const { args, options, extraEnv } = make(a, b);
      const before = api.seen.length;
      const r = await acct(['connect', 'svc', ...args], { ...env, ...extraEnv }, options);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expectNoSecrets([r.stdout, r.stderr], [a, b]);
      expect(api.seen.length).toBe(before);
      expect(await accounts()).toEqual([]);
      expect(sealedFiles()).toEqual([]);
    });

  it('--from-env, a variable holding bytes that are not UTF-8 (Node reads them as U+FFFD)', async () => {
    const [a, b] = halves();
    const r = await execa('sh', ['-c', `BAD_KEY="$(printf '${a}\\377${b}')" exec node "$0" connect svc --from-env api_key=BAD_KEY`, BIN], { env, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/API key holds U\+FFFD, the replacement character that bytes which are not valid UTF-8 turn into\n {2}nothing was stored; check the environment variable BAD_KEY/);
    expectNoSecrets([r.stdout, r.stderr], [a, b]);
    expect(await accounts()).toEqual([]);
  });

  it('64 MB on stdin: refused once past the limit, without reading the rest', async () => {
    // The writer counts what the pipe took before acct stopped reading (EPIPE).
    const writer = `let n = 0; const b = Buffer.alloc(1 << 16, 107); const end = () => { require('fs').writeSync(2, 'wrote ' + n); process.exit(0); };
      process.stdout.on('error', end); (function w() { while (n < 64 << 20) { n += b.length; if (!process.stdout.write(b)) return process.stdout.once('drain', w); } end(); })();`;
    const r = await execa('sh', ['-c', `{ node -e "$1" 2>"$2"; } | node "$0" connect svc --stdin`, BIN, writer, join(home, 'wrote.txt')], { env, extendEnv: false, reject: false, timeout: 30_000 });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/more than \d+ bytes came on stdin \(--stdin\)\n {2}nothing was stored; a field value is at most 64 KiB \(65536 bytes\)/);
    const wrote = Number(/wrote (\d+)/.exec(readFileSync(join(home, 'wrote.txt'), 'utf8'))?.[1]);
    expect(wrote).toBeLessThan(8 << 20);
    expect(await accounts()).toEqual([]);
    expect(sealedFiles()).toEqual([]);
  });

  it('a value of exactly 64 KiB is stored, and acct token gives it back byte for byte', async () => {
    const key = `lk_${'y'.repeat(65536 - 3)}`;
    const c = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'full'], env, input(`${key}\n`));
    expect(c.exitCode, c.stderr).toBe(0);
    const t = await acct(['token', 'svc/full'], env);
    expect(t.stdout).toBe(`${key}\n`);
    expect((await acct(['delete', 'svc/full', '--yes'], env)).exitCode).toBe(0);
  });

  it('reconnect: the same checks, and the account keeps its key', async () => {
    const key = newKey();
    const c = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'kept'], env, input(key));
    expect(c.exitCode, c.stderr).toBe(0);
    for (const [options, message] of [
      [{ input: bytes('lk_', [0xff, 0xfe], 'rest'), stdin: undefined }, /is not valid UTF-8 text/],
      [input(`lk_${LS}rest`), /outside Latin-1/],
      [input(`lk_${'z'.repeat(70_000)}`), /is too large/],
    ] as const) {
      const r = await acct(['reconnect', 'svc/kept', '--stdin', '--no-verify'], env, options);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect((await acct(['token', 'svc/kept'], env)).stdout).toBe(`${key}\n`);
    }
    expect((await acct(['delete', 'svc/kept', '--yes'], env)).exitCode).toBe(0);
    expect(await accounts()).toEqual([]);
  });

  it('acct client set --secret-stdin: bytes that are not UTF-8 or a secret over 64 KiB, nothing saved', async () => {
    const [a, b] = halves();
    for (const [stdin, message] of [
      [bytes(a, [0xff], b, '\n'), /what came on stdin \(--secret-stdin\) is not valid UTF-8 text\n {2}nothing was stored/],
      [bytes(a, 'x'.repeat(70_000), b, '\n'), /more than 65538 bytes came on stdin \(--secret-stdin\)\n {2}nothing was stored; a client secret is at most 64 KiB/],
    ] as const) {
      const r = await acct(['client', 'set', 'github', '--client-id', 'Iv1.edge', '--secret-stdin'], env, { input: stdin, stdin: undefined });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expectNoSecrets([r.stdout, r.stderr], [a, b]);
      const show = await acct(['client', 'show', 'github', '--json'], env);
      expect(JSON.parse(show.stdout)).toMatchObject({ client_id: null, has_secret: false });
    }
  });
});

describe('a value with a control character already in the store (an older acct stored it)', () => {
  const [a, b] = halves();
  let id: string;
  beforeAll(async () => {
    const c = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'old'], env, input(newKey()));
    expect(c.exitCode, c.stderr).toBe(0);
    id = c.stdout.trim();
    // Write the bad value the way the store seals any value, as acct before this check did.
    const ctx = createContext(env as NodeJS.ProcessEnv, { stderr: process.stderr } as unknown as IO);
    await ctx.store.update(id, () => undefined, { api_key: `${a}\r\nX-Injected: ${b}` });
  });
  for (const args of [['request', 'svc/old', '/x'], ['test', 'svc/old']])
    it(`acct ${args[0]}: exit 2 naming the field, nothing sent, the value never printed`, async () => {
      const before = api.seen.length;
      const r = await acct(args, env);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain('the "api_key" field of this svc account holds a line break or another control character');
      expect(r.stderr).not.toMatch(/unexpected error|this is a bug|invalid header/i);
      expectNoSecrets([r.stdout, r.stderr], [a, b]);
      expect(api.seen.length).toBe(before);
    });

  it('status --check reports it as an error for that account, without the value', async () => {
    const r = await acct(['status', '--check', '--json'], env);
    const row = (JSON.parse(r.stdout) as { ref: string; status: string; detail: string }[]).find((x) => x.ref === 'svc/old');
    expect(row?.status).toBe('error');
    expect(row?.detail).toContain('control character');
    expectNoSecrets([r.stdout, r.stderr], [a, b]);
  });

  it('with ACCT_DEBUG the trace names the error, not the value', async () => {
    const r = await acct(['request', 'svc/old', '/x'], { ...env, ACCT_DEBUG: '1' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('debug: AcctError');
    expectNoSecrets([r.stdout, r.stderr], [a, b]);
  });

  afterAll(async () => {
    expect((await acct(['delete', id, '--yes'], env)).exitCode).toBe(0);
  });
});

describe('acct request: bad -H, -X and URLs are usage errors that send nothing', () => {
  const key = `lk_${randomBytes(10).toString('hex')}`;
  beforeAll(async () => {
    const c = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'good'], env, input(key));
    expect(c.exitCode, c.stderr).toBe(0);
  });

  const secret = `sec${randomBytes(10).toString('hex')}`;
  const bad: [string, string[], RegExp][] = [
    ['-H with CR LF and a second header', ['-H', `X-A: 1\r\nX-Injected: ${secret}`], /-H X-A value holds a line break/],
    ['-H with a LF', ['-H', `X-A: ${secret}\nmore`], /-H X-A value holds a line break/],
    // (No NUL: no argument can carry one.)
    ['-H with an escape character', ['-H', `X-A: ${secret}\u001b[2J`], /-H X-A value holds a line break or another control character/],
    ['-H with a character outside Latin-1', ['-H', `X-A: ${secret}\u20ac`], /the X-A header holds .* a character outside Latin-1/],
    ['-H without a colon (a token where the header should be)', ['-H', `Bearer ${secret}`], /has no colon/],
    ['-H whose name is not a name', ['-H', `Bearer ${secret}: x`], /not a header name/],
    ['-X that is not a method', ['-X', `GET /x HTTP/1.1\r\nX: ${secret}`], /-X takes an HTTP method/],
  ];
  for (const [name, args, message] of bad)
    it(name, async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'svc/good', '/x', ...args], env);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/unexpected error|this is a bug/);
      expectNoSecrets([r.stdout, r.stderr], [secret, key]);
      expect(api.seen.length).toBe(before);
    });

  for (const target of ['http://[oops/x', `${'http'}://exa mple.com/`, 'https://', '/x\r\nX-Injected: 1', '/a\tb', `${api?.url ?? 'http://127.0.0.1:1'}/x?token=${key}\n`, `http://user:${key}@127.0.0.1/x`])
    it(`a path or URL that does not parse or holds control characters: ${JSON.stringify(target)}`, async () => {
      const before = api.seen.length;
      const r = await acct(['request', 'svc/good', target], env);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).not.toMatch(/unexpected error|this is a bug/);
      expectNoSecrets([r.stdout, r.stderr], [key]);
      expect(api.seen.length).toBe(before);
    });
});

describe('library error text never reaches stderr as is', () => {
  let broken: Server;
  let brokenUrl: string;
  beforeAll(async () => {
    // Answers with something that is not HTTP: undici fails with its own words.
    broken = createServer();
    broken.on('connection', (socket) => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
    brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    const file = keyAppFile(brokenUrl, { api: { baseUrl: brokenUrl, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' } } });
    expect((await acct(['apps', 'add', 'broken', '--file', file], env)).exitCode).toBe(0);
  });
  afterAll(() => new Promise<void>((r) => broken.close(() => r())));

  it('a server that does not speak HTTP: exit 5 with a code, not the parser message', async () => {
    const key = `lk_${randomBytes(10).toString('hex')}`;
    const c = await acct(['connect', 'broken', '--stdin', '--no-verify'], env, input(key));
    expect(c.exitCode, c.stderr).toBe(0);
    const r = await acct(['request', 'broken', '/x'], { ...env, ACCT_DEBUG: '1' });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/cannot reach 127\.0\.0\.1:\d+: the answer is not valid HTTP\n/);
    // The debug trace names undici's error, its message scrubbed of anything quoted.
    expect(r.stderr).toContain('caused by: HTTPParserError');
    expectNoSecrets([r.stdout, r.stderr], [key]);
  });
});

describe("provider errors in acct's words: the HTTP status, error and error_description, nothing else of the body", () => {
  let authServer: AuthServer;
  let tokenEndpoint: ApiServer;
  let oauthEnv: Env;
  const echoed = `code_${randomBytes(8).toString('hex')}`;
  beforeAll(async () => {
    authServer = await startAuthServer();
    // A token endpoint that refuses every code, with terminal escapes and a line break in its description.
    tokenEndpoint = await startApiServer();
    oauthEnv = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'provider errors', ACCT_BROWSER: BROWSER_COMMAND });
    const file = authServer.appFile('public');
    const def = JSON.parse(readFileSync(file, 'utf8'));
    def.oauth.tokenUrl = `${tokenEndpoint.url}/token`;
    writeFileSync(file, JSON.stringify(def));
    expect((await acct(['apps', 'add', 'prov', '--file', file], oauthEnv)).exitCode).toBe(0);
    expect((await acct(['client', 'set', 'prov', '--client-id', authServer.clients.public.clientId, '--no-secret'], oauthEnv)).exitCode).toBe(0);
  });
  afterAll(async () => {
    await tokenEndpoint?.close();
    await authServer?.close();
  });

  it('an OAuth error answer: exit 4 with HTTP 400, error and a one-line error_description', async () => {
    tokenEndpoint.handle((req, res) => {
      const code = new URLSearchParams(req.body.toString()).get('code') ?? '';
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_client', error_description: 'client \u001b[31mauthentication\u001b[0m failed\r\nInjected: line', debug: { echoed, code } }));
    });
    const r = await acct(['connect', 'prov'], { ...oauthEnv, ACCT_DEBUG: '1' });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain('invalid_client: client');
    expect(r.stderr).toContain('(HTTP 400)');
    expect(r.stderr).not.toContain('\u001b');
    expect(r.stderr).not.toMatch(/^Injected: line/m);
    expect(r.stderr).not.toContain(echoed);
    const code = new URLSearchParams(tokenEndpoint.seen.at(-1)!.body.toString()).get('code')!;
    expect(code.length).toBeGreaterThan(8);
    expect(r.stderr).not.toContain(code);
  });

  it('an answer that is not OAuth at all (HTML, 502): exit 5, the status, none of the body', async () => {
    tokenEndpoint.handle((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(`<html><body>Bad gateway ${echoed}</body></html>`);
    });
    const r = await acct(['connect', 'prov'], { ...oauthEnv, ACCT_DEBUG: '1' });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toContain('HTTP 502');
    expect(r.stderr).not.toContain(echoed);
    expect(r.stderr).not.toContain('<html>');
  });
});
