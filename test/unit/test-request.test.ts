// How requests are authorized and what a test request's answer means, with a
// plain fake fetch that records what it was asked.
import { describe, it, expect } from 'vitest';
import { runTestRequest, getPath } from '../../src/api/test-request.js';
import { authorize, resolveUrl, baseUrl } from '../../src/api/authorize.js';
import { renderTemplate } from '../../src/catalog/template.js';
import { parseApp } from '../../src/catalog/validate.js';
import { AcctError, ExitCode, unavailable } from '../../src/errors.js';
import type { AppDefinition } from '../../src/catalog/schema.js';
import type { Fetch } from '../../src/http.js';

const app = (def: Record<string, unknown> = {}): AppDefinition =>
  parseApp(
    {
      slug: 'svc',
      name: 'Service',
      auth: 'keys',
      api: { baseUrl: 'https://api.example.com/v1', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
      fields: [{ name: 'api_key', label: 'API key' }],
      env: {},
      test: { path: '/me', identity: ['user.login', 'user.id'] },
      ...def,
    },
    'the test',
  );

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch that answers every request with one response and records the requests. */
function fakeFetch(status: number, body: unknown, raw?: string) {
  const calls: Call[] = [];
  const fetch: Fetch = async (url, init = {}) => {
    calls.push({ url: String(url), init });
    return new Response(status === 204 ? null : (raw ?? JSON.stringify(body)), { status, headers: { 'content-type': 'application/json' } });
  };
  return { fetch, calls };
}

const KEY = 'sk_test_key_value_0123';

describe('runTestRequest', () => {
  it('sends the declared request with the declared authorization', async () => {
    const { fetch, calls } = fakeFetch(200, { user: { login: 'octo' } });
    await runTestRequest(app({ api: { baseUrl: 'https://api.example.com/v1/', auth: { type: 'header', name: 'X-Key', value: 'key {api_key}' }, headers: { 'X-Version': '7' } } }), { api_key: KEY }, fetch);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('https://api.example.com/v1/me');
    expect(calls[0]!.init.method).toBe('GET');
    expect(calls[0]!.init.headers).toEqual({ Accept: 'application/json', 'X-Version': '7', 'X-Key': `key ${KEY}` });
    expect(calls[0]!.init.body).toBeUndefined();
  });

  it('sends a POST body as JSON', async () => {
    const { fetch, calls } = fakeFetch(200, {});
    await runTestRequest(app({ test: { method: 'POST', path: 'check', body: { a: [1] } } }), { api_key: KEY }, fetch);
    expect(calls[0]!.init.method).toBe('POST');
    expect(JSON.parse(Buffer.from(calls[0]!.init.body as Uint8Array).toString('utf8'))).toEqual({ a: [1] });
    expect(calls[0]!.init.headers).toMatchObject({ 'Content-Type': 'application/json' });
    expect(calls[0]!.url).toBe('https://api.example.com/v1/check');
  });

  it('200: ok, with the identity from the first path that names one', async () => {
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(200, { user: { login: 'octo', id: 1 } }).fetch)).toEqual({ kind: 'ok', identity: 'octo', status: 200 });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(200, { user: { login: '', id: 42 } }).fetch)).toEqual({ kind: 'ok', identity: '42', status: 200 });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(200, { user: { login: { first: 'x' } } }).fetch)).toEqual({ kind: 'ok', identity: null, status: 200 });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(200, null, 'not json').fetch)).toEqual({ kind: 'ok', identity: null, status: 200 });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(204, null, '').fetch)).toEqual({ kind: 'ok', identity: null, status: 204 });
  });

  it('400, 401, 403: rejected, with the provider error text', async () => {
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(401, { error: 'invalid_token', error_description: 'revoked' }).fetch)).toEqual({
      kind: 'rejected',
      status: 401,
      detail: 'api.example.com answered 401: revoked',
    });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(403, { error: { message: 'no scope' } }).fetch)).toMatchObject({ kind: 'rejected', detail: 'api.example.com answered 403: no scope' });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(400, { message: 'bad key' }).fetch)).toMatchObject({ kind: 'rejected', detail: 'api.example.com answered 400: bad key' });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(401, null, '<html>nope</html>').fetch)).toMatchObject({ kind: 'rejected', detail: 'api.example.com answered 401' });
    const long = await runTestRequest(app(), { api_key: KEY }, fakeFetch(401, { message: 'x'.repeat(1000) }).fetch);
    expect(long.kind === 'rejected' && long.detail.length).toBeLessThan(260);
  });

  it('200 with the ok field false: rejected (Slack style)', async () => {
    const slack = app({ test: { path: '/auth.test', okField: 'ok', identity: ['user'] } });
    expect(await runTestRequest(slack, { api_key: KEY }, fakeFetch(200, { ok: false, error: 'invalid_auth' }).fetch)).toMatchObject({
      kind: 'rejected',
      detail: 'api.example.com answered ok=false: invalid_auth',
    });
    expect(await runTestRequest(slack, { api_key: KEY }, fakeFetch(200, { ok: true, user: 'U1' }).fetch)).toEqual({ kind: 'ok', identity: 'U1', status: 200 });
  });

  it('5xx and 429: unreachable; other statuses: untested', async () => {
    for (const status of [500, 502, 503, 429])
      expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(status, {}).fetch)).toEqual({ kind: 'unreachable', detail: `api.example.com answered ${status}` });
    expect(await runTestRequest(app(), { api_key: KEY }, fakeFetch(404, { message: 'no such path' }).fetch)).toEqual({
      kind: 'untested',
      detail: 'the test request answered 404: no such path',
    });
  });

  it('a network failure is unreachable; any other failure is not hidden', async () => {
    const down: Fetch = async () => {
      throw unavailable('cannot reach api.example.com: ECONNREFUSED');
    };
    expect(await runTestRequest(app(), { api_key: KEY }, down)).toEqual({ kind: 'unreachable', detail: 'cannot reach api.example.com: ECONNREFUSED' });
    const broken: Fetch = async () => {
      throw new TypeError('boom');
    };
    await expect(runTestRequest(app(), { api_key: KEY }, broken)).rejects.toThrow('boom');
  });

  it('no declared test request: untested, nothing sent', async () => {
    const { fetch, calls } = fakeFetch(200, {});
    expect(await runTestRequest(app({ test: undefined }), { api_key: KEY }, fetch)).toEqual({ kind: 'untested', detail: 'svc declares no test request' });
    expect(calls).toEqual([]);
  });

  it('the detail never carries the key', async () => {
    for (const [status, body] of [
      [401, { error: 'invalid' }],
      [500, {}],
      [404, {}],
    ] as const) {
      const outcome = await runTestRequest(app(), { api_key: KEY }, fakeFetch(status, body).fetch);
      expect(JSON.stringify(outcome)).not.toContain(KEY);
    }
  });
});

describe('authorize', () => {
  it('a header from a template', () => {
    const { url, headers } = authorize(app(), { api_key: KEY }, new URL('https://api.example.com/v1/x?y=1'));
    expect(headers).toEqual({ Authorization: `Bearer ${KEY}` });
    expect(url.href).toBe('https://api.example.com/v1/x?y=1');
  });

  it('a query parameter, added to the query the URL has, encoded', () => {
    const a = app({ api: { baseUrl: 'https://api.example.com', auth: { type: 'query', name: 'token', value: '{api_key}' } } });
    const target = new URL('https://api.example.com/x?y=1');
    const { url, headers } = authorize(a, { api_key: 'a&b=c' }, target);
    expect(headers).toEqual({});
    expect(url.searchParams.get('y')).toBe('1');
    expect(url.searchParams.get('token')).toBe('a&b=c');
    // The URL passed in is not changed.
    expect(target.href).toBe('https://api.example.com/x?y=1');
  });

  it('basic auth from two fields', () => {
    const a = app({
      api: { baseUrl: 'https://api.example.com', auth: { type: 'basic', username: '{sid}', password: '{token}' } },
      fields: [
        { name: 'sid', label: 'SID', secret: false },
        { name: 'token', label: 'Token' },
      ],
    });
    const { headers } = authorize(a, { sid: 'AC1', token: 'p:ss' }, new URL('https://api.example.com/'));
    expect(headers.Authorization).toBe(`Basic ${Buffer.from('AC1:p:ss').toString('base64')}`);
  });

  it('non-secret fields with a default fill templates when absent', () => {
    const a = app({
      api: { baseUrl: 'https://{region}.example.com/api', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
      fields: [
        { name: 'region', label: 'Region', secret: false, default: 'eu' },
        { name: 'api_key', label: 'API key' },
      ],
    });
    expect(baseUrl(a, { api_key: KEY })).toBe('https://eu.example.com/api');
    expect(baseUrl(a, { api_key: KEY, region: 'us' })).toBe('https://us.example.com/api');
    expect(resolveUrl(a, { api_key: KEY }, 'users/me').href).toBe('https://eu.example.com/api/users/me');
    expect(resolveUrl(a, { api_key: KEY }, 'https://other.example.com/x').href).toBe('https://other.example.com/x');
  });
});

describe('renderTemplate', () => {
  it('fills every placeholder and leaves other text alone', () => {
    expect(renderTemplate('{a}-{b_2}-{a} {NotAField} {}', { a: 'x', b_2: 'y' })).toBe('x-y-x {NotAField} {}');
  });

  it('a missing field is an error naming the field, not the values', () => {
    try {
      renderTemplate('Bearer {token} {other}', { other: KEY });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AcctError);
      expect((err as AcctError).message).toMatch(/no field "token"/);
      expect((err as AcctError).message).not.toContain(KEY);
      expect((err as AcctError).exitCode).not.toBe(ExitCode.ok);
    }
  });

  it('values are inserted as they are, never re-expanded', () => {
    expect(renderTemplate('{a}', { a: '{b}', b: 'no' })).toBe('{b}');
    expect(renderTemplate('{a}', { a: '$1 $& $$' })).toBe('$1 $& $$');
  });
});

describe('getPath', () => {
  it('follows dotted paths through objects and arrays', () => {
    const v = { user: { emails: [{ value: 'a@x' }], n: 0 } };
    expect(getPath(v, 'user.emails.0.value')).toBe('a@x');
    expect(getPath(v, 'user.n')).toBe(0);
    expect(getPath(v, 'user.missing.deeper')).toBeUndefined();
    expect(getPath(null, 'a')).toBeUndefined();
    expect(getPath('text', 'length')).toBeUndefined();
  });
});

describe('runTestRequest and what the provider says', () => {
  it("a provider that quotes the key in its error: the key is taken out of the detail, and so are control characters", async () => {
    const { fetch } = fakeFetch(401, { error: { message: `Incorrect API key provided: ${KEY}.\u001b[2J\r\nInjected` } });
    const outcome = await runTestRequest(app(), { api_key: KEY }, fetch);
    expect(outcome.kind).toBe('rejected');
    const detail = (outcome as { detail: string }).detail;
    expect(detail).toContain('Incorrect API key provided: ….');
    expect(detail).not.toContain(KEY);
    expect(detail).not.toMatch(/[\u0000-\u001f]/);
  });
});
