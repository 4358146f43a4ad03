// send.ts, the one way an authorized request goes out, against a plain fake
// fetch that answers from a table of redirects and records every request.
import { describe, it, expect } from 'vitest';
import { send, redact, type OutgoingRequest } from '../../src/api/send.js';
import type { Fetch } from '../../src/http.js';

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** Answers `routes[url]` = [status, location] or 200; records each request. */
function fakeFetch(routes: Record<string, [number, string]>) {
  const seen: Seen[] = [];
  const fetch: Fetch = async (url, init = {}) => {
    expect(init.redirect).toBe('manual');
    const body = init.body ? Buffer.from(init.body as Uint8Array).toString() : undefined;
    seen.push({ url: String(url), method: String(init.method), headers: { ...(init.headers as Record<string, string>) }, body });
    const route = routes[String(url)];
    return route ? new Response(null, { status: route[0], headers: { location: route[1] } }) : new Response('ok', { status: 200 });
  };
  return { fetch, seen };
}

const KEY = 'key_0123456789abcdef';
const request = (url: string, over: Partial<OutgoingRequest> = {}): OutgoingRequest => ({
  url: new URL(url),
  method: 'GET',
  headers: { 'X-Api-Key': KEY, Authorization: 'Bearer user-given', Cookie: 'c=1', Accept: 'application/json', 'Client-Id': 'cid' },
  credentials: { headers: ['X-Api-Key', 'Client-Id'], query: ['key'], values: [KEY, 'cid'] },
  ...over,
});

describe('send', () => {
  it('keeps the credentials on same-origin hops and drops them all at the first hop to another origin, for good', async () => {
    const { fetch, seen } = fakeFetch({
      [`https://api.example.com/a?key=${KEY}`]: [302, '/b'],
      'https://api.example.com/b': [307, `https://cdn.example.net/c?key=${KEY}`],
      'https://cdn.example.net/c': [302, 'https://api.example.com/back'],
    });
    const sent = await send(fetch, request(`https://api.example.com/a?key=${KEY}`), { redirects: 'follow' });
    expect(seen.map((s) => s.url)).toEqual([`https://api.example.com/a?key=${KEY}`, 'https://api.example.com/b', 'https://cdn.example.net/c', 'https://api.example.com/back']);
    expect(seen[1]!.headers['X-Api-Key']).toBe(KEY);
    for (const s of seen.slice(2)) {
      expect(Object.keys(s.headers)).toEqual(['Accept']);
      expect(s.url).not.toContain(KEY);
    }
    expect(sent).toMatchObject({ credentialsSent: false, redirects: 3 });
  });

  it('same-origin: stops at a hop to another origin without sending anything there', async () => {
    const { fetch, seen } = fakeFetch({ 'https://api.example.com/me': [301, 'https://evil.example/me'] });
    const sent = await send(fetch, request('https://api.example.com/me'), { redirects: 'same-origin' });
    expect(seen).toHaveLength(1);
    expect(sent.notFollowed).toEqual({ location: new URL('https://evil.example/me'), reason: 'other-origin' });
  });

  it('a scheme change on the same host (https to http) is another origin', async () => {
    const { fetch, seen } = fakeFetch({ 'https://api.example.com/x': [302, 'http://api.example.com/x'] });
    await send(fetch, request('https://api.example.com/x'), { redirects: 'follow' });
    expect(seen[1]!.headers['X-Api-Key']).toBeUndefined();
  });

  it('303 makes a GET without the body; 301/302 do so after a POST only; 307/308 keep both', async () => {
    for (const [status, method, expected] of [
      [303, 'PUT', 'GET'],
      [302, 'POST', 'GET'],
      [301, 'POST', 'GET'],
      [302, 'PUT', 'PUT'],
      [307, 'POST', 'POST'],
      [308, 'PATCH', 'PATCH'],
    ] as const) {
      const { fetch, seen } = fakeFetch({ 'https://api.example.com/p': [status, '/q'] });
      await send(fetch, request('https://api.example.com/p', { method, body: Buffer.from('{"a":1}'), headers: { 'Content-Type': 'application/json', 'X-Api-Key': KEY } }), { redirects: 'follow' });
      expect(seen[1]!.method, `${status} after ${method}`).toBe(expected);
      expect(seen[1]!.body).toBe(expected === 'GET' ? undefined : '{"a":1}');
      expect('Content-Type' in seen[1]!.headers).toBe(expected !== 'GET');
    }
  });

  it('stops at the hop limit, and at a Location that carries a credential under another name', async () => {
    const loop = fakeFetch({ 'https://api.example.com/l': [302, '/l'] });
    const sent = await send(loop.fetch, request('https://api.example.com/l'), { redirects: 'follow', maxRedirects: 2 });
    expect(loop.seen).toHaveLength(3);
    expect(sent.notFollowed?.reason).toBe('limit');
    const leak = fakeFetch({ 'https://api.example.com/x': [302, `https://evil.example/?copy=${encodeURIComponent(KEY)}`] });
    const s2 = await send(leak.fetch, request('https://api.example.com/x'), { redirects: 'follow' });
    expect(leak.seen).toHaveLength(1);
    expect(s2.notFollowed?.reason).toBe('credential-in-location');
  });

  it('none: the redirect itself comes back', async () => {
    const { fetch, seen } = fakeFetch({ 'https://api.example.com/x': [302, '/y'] });
    const sent = await send(fetch, request('https://api.example.com/x'), { redirects: 'none' });
    expect(seen).toHaveLength(1);
    expect(sent.response.status).toBe(302);
    expect(sent.notFollowed?.reason).toBe('policy');
  });
});

describe('redact', () => {
  it('takes out values as they are and percent-encoded', () => {
    expect(redact(`https://x/?a=${KEY}&b=${encodeURIComponent('p/q+r=s')}`, [KEY, 'p/q+r=s'])).toBe('https://x/?a=…&b=…');
  });
});
