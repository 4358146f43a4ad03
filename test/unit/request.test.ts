// The pure parts of acct request: header parsing, the target URL and which
// hosts may get credentials, and the request built from -X/-H/-d/-G.
import { describe, it, expect } from 'vitest';
import { parseApp } from '../../src/catalog/validate.js';
import { buildRequest, parseHeader, targetUrl, type DataReader, type RequestOptions } from '../../src/api/request.js';
import { authorize } from '../../src/api/authorize.js';
import { AcctError } from '../../src/errors.js';

const keysApp = (api: Record<string, unknown>, fields: unknown[] = [{ name: 'api_key', label: 'API key' }]) =>
  parseApp({ slug: 'svc', name: 'Svc', auth: 'keys', api, fields, env: {} }, 'test');

const bearer = keysApp({ baseUrl: 'https://api.example.com/v1', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' }, headers: { 'X-Version': '7' } });
const query = keysApp({ baseUrl: 'https://api.example.com/', auth: { type: 'query', name: 'key', value: '{api_key}' } });
const regional = keysApp({ baseUrl: 'https://{region}.example.com/api', auth: { type: 'header', name: 'X-Key', value: '{api_key}' } }, [
  { name: 'region', label: 'Region', secret: false, default: 'eu' },
  { name: 'api_key', label: 'API key' },
]);
const basic = keysApp({ baseUrl: 'https://api.example.com', auth: { type: 'basic', username: '{sid}', password: '{token}' } }, [
  { name: 'sid', label: 'SID', secret: false },
  { name: 'token', label: 'Token' },
]);
const fields = { api_key: 'k_secret' };

function usage(fn: () => unknown): AcctError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AcctError);
    expect((err as AcctError).exitCode).toBe(2);
    return err as AcctError;
  }
  throw new Error('expected a usage error');
}

async function usageAsync(p: Promise<unknown>): Promise<AcctError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AcctError);
  expect((err as AcctError).exitCode).toBe(2);
  return err as AcctError;
}

describe('parseHeader', () => {
  it('splits at the first colon and trims', () => {
    expect(parseHeader('X-A: b')).toEqual(['X-A', 'b']);
    expect(parseHeader('  Accept :application/json  ')).toEqual(['Accept', 'application/json']);
    expect(parseHeader('X-Time: 12:30:00')).toEqual(['X-Time', '12:30:00']);
    expect(parseHeader('X-Empty:')).toEqual(['X-Empty', '']);
  });
  it('refuses what is not a header', () => {
    for (const raw of ['no colon', ': value', 'Bad Name: v', 'X\u00e9: v', '']) expect(usage(() => parseHeader(raw)).message).toContain('is not a header');
  });
});

describe('targetUrl', () => {
  it('joins paths to a base URL with a path prefix', () => {
    expect(targetUrl(bearer, fields, 'users').href).toBe('https://api.example.com/v1/users');
    expect(targetUrl(bearer, fields, '/users?a=1').href).toBe('https://api.example.com/v1/users?a=1');
    expect(targetUrl(query, fields, '/x').href).toBe('https://api.example.com/x');
    expect(targetUrl(query, fields, 'x').href).toBe('https://api.example.com/x');
  });
  it('fills non-secret fields (and their defaults) into the base URL', () => {
    expect(targetUrl(regional, fields, '/me').href).toBe('https://eu.example.com/api/me');
    expect(targetUrl(regional, { ...fields, region: 'us' }, '/me').href).toBe('https://us.example.com/api/me');
  });
  it('takes a full URL on the API host, however spelled', () => {
    expect(targetUrl(bearer, fields, 'https://api.example.com/other').href).toBe('https://api.example.com/other');
    expect(targetUrl(bearer, fields, 'HTTPS://API.EXAMPLE.COM:443/x').href).toBe('https://api.example.com/x');
  });
  it('keeps a protocol-relative-looking path on the API host', () => {
    expect(targetUrl(bearer, fields, '//evil.example.net/x').host).toBe('api.example.com');
  });
  it('refuses another host, another port, or a subdomain unless allowed', () => {
    for (const url of ['https://evil.example.net/x', 'https://api.example.com:8443/x', 'https://eu.api.example.com/x', 'https://example.com/x']) {
      expect(usage(() => targetUrl(bearer, fields, url)).message).toContain('refusing to send svc credentials');
      expect(targetUrl(bearer, fields, url, true).href).toBe(new URL(url).href);
    }
  });
  it('refuses plain http off loopback, even when allowed', () => {
    expect(usage(() => targetUrl(bearer, fields, 'http://api.example.com/x')).message).toContain('plain http');
    expect(usage(() => targetUrl(bearer, fields, 'http://evil.example.net/x', true)).message).toContain('plain http');
    expect(targetUrl(bearer, fields, 'http://127.0.0.1:8080/x', true).href).toBe('http://127.0.0.1:8080/x');
  });
});

describe('authorize', () => {
  it('places the credential where the app declares', () => {
    const h = authorize(bearer, fields, new URL('https://api.example.com/v1/a'));
    expect(h.headers).toEqual({ 'X-Version': '7', Authorization: 'Bearer k_secret' });
    const q = authorize(query, fields, new URL('https://api.example.com/a?key=user&b=2'));
    expect(q.url.searchParams.getAll('key')).toEqual(['k_secret']);
    expect(q.url.searchParams.get('b')).toBe('2');
    expect(q.headers).toEqual({});
    const b = authorize(basic, { sid: 'AC1', token: 'tök' }, new URL('https://api.example.com/'));
    expect(b.headers.Authorization).toBe(`Basic ${Buffer.from('AC1:tök', 'utf8').toString('base64')}`);
  });
  it('does not change the URL it was given', () => {
    const url = new URL('https://api.example.com/a');
    authorize(query, fields, url);
    expect(url.href).toBe('https://api.example.com/a');
  });
});

describe('buildRequest', () => {
  const files: Record<string, Buffer> = { 'body.json': Buffer.from('{"f":1}'), 'bin': Buffer.from([0xff, 0x00, 0xfe]) };
  const stdin = Buffer.from('s=1');
  const reads: string[] = [];
  const read: DataReader = async (source) => {
    reads.push('file' in source ? source.file : '-');
    return 'file' in source ? files[source.file]! : stdin;
  };
  const opts = (o: Partial<RequestOptions>): RequestOptions => ({ headers: [], data: [], ...o });

  it('GET without data: auth and fixed headers, no body, no Content-Type', async () => {
    const r = await buildRequest(bearer, fields, '/a', opts({}), read);
    expect(r).toEqual({ url: new URL('https://api.example.com/v1/a'), method: 'GET', headers: { 'X-Version': '7', Authorization: 'Bearer k_secret' }, body: undefined, credentials: { headers: ['Authorization'], query: [], values: ['k_secret'] } });
  });
  it('-d makes a POST; JSON is detected, anything else is form data', async () => {
    const json = await buildRequest(bearer, fields, '/a', opts({ data: [' {"a": [1]} '] }), read);
    expect(json.method).toBe('POST');
    expect(json.headers['Content-Type']).toBe('application/json');
    expect(json.body!.toString()).toBe(' {"a": [1]} ');
    for (const d of ['a=1', '"just a string"', '{broken', '42', 'null'])
      expect((await buildRequest(bearer, fields, '/a', opts({ data: [d] }), read)).headers['Content-Type']).toBe('application/x-www-form-urlencoded');
  });
  it('joins several -d with &, reading @file and stdin', async () => {
    const r = await buildRequest(bearer, fields, '/a', opts({ data: ['a=1', '@-', '@body.json', 'z'] }), read);
    expect(r.body!.toString()).toBe('a=1&s=1&{"f":1}&z');
    const bin = await buildRequest(bearer, fields, '/a', opts({ data: ['@bin'] }), read);
    expect(bin.body!.equals(files.bin!)).toBe(true);
    reads.length = 0;
    await buildRequest(bearer, fields, '/a', opts({ data: ['-'] }), read);
    expect(reads).toEqual(['-']);
  });
  it('-X sets the method, upper-cased; data with GET or HEAD needs -G', async () => {
    expect((await buildRequest(bearer, fields, '/a', opts({ method: 'patch', data: ['a=1'] }), read)).method).toBe('PATCH');
    expect((await buildRequest(bearer, fields, '/a', opts({ method: 'delete' }), read)).method).toBe('DELETE');
    for (const method of ['GET', 'head']) expect((await usageAsync(buildRequest(bearer, fields, '/a', opts({ method, data: ['a=1'] }), read))).message).toContain('cannot carry data');
  });
  it('-G appends the data to the query string, before the auth parameter is set', async () => {
    const r = await buildRequest(query, fields, '/s?sort=new', opts({ get: true, data: ['q=a b', 'n=2'] }), read);
    expect(r.method).toBe('GET');
    expect(r.body).toBeUndefined();
    expect(r.headers['Content-Type']).toBeUndefined();
    expect(r.url.searchParams.get('sort')).toBe('new');
    expect(r.url.searchParams.get('q')).toBe('a b');
    expect(r.url.searchParams.get('n')).toBe('2');
    expect(r.url.searchParams.getAll('key')).toEqual(['k_secret']);
    const plain = await buildRequest(bearer, fields, '/s', opts({ get: true, data: ['q=1'] }), read);
    expect(plain.url.href).toBe('https://api.example.com/v1/s?q=1');
  });
  it('user headers replace same-named ones case-insensitively, Content-Type included', async () => {
    const r = await buildRequest(bearer, fields, '/a', opts({ headers: ['x-version: 8', 'Content-Type: text/csv', 'X-New: 1'], data: ['{"a":1}'] }), read);
    expect(r.headers).toEqual({ Authorization: 'Bearer k_secret', 'x-version': '8', 'Content-Type': 'text/csv', 'X-New': '1' });
  });
  it('a refused host reads no data', async () => {
    reads.length = 0;
    await usageAsync(buildRequest(bearer, fields, 'https://evil.example.net/', opts({ data: ['@-'] }), read));
    expect(reads).toEqual([]);
  });
});
