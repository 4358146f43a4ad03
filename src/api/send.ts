// The one way a request that carries an account's credentials goes out.
// Redirects are never left to fetch (undici drops only Authorization and
// Cookie on a cross-origin hop, so a key in X-Api-Key or in the query would
// follow the redirect anywhere). Here each hop is taken by hand: a hop within
// the first request's origin keeps the credentials; a hop to any other origin
// drops every credential the app placed (its headers, its query parameter,
// basic auth) plus Authorization, Proxy-Authorization and Cookie, and once
// dropped they are not sent again in that chain.
import type { Fetch } from '../http.js';
import type { Credentials } from './authorize.js';

export type RedirectPolicy =
  /** Return the first response, 3xx included (acct request without -L, revocation). */
  | 'none'
  /** Follow hops within the origin; stop at a hop to another origin (test requests, userinfo). */
  | 'same-origin'
  /** Follow every hop, dropping the credentials at the first one to another origin (acct request -L). */
  | 'follow';

export interface OutgoingRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  credentials: Credentials;
}

export interface SendOptions {
  redirects: RedirectPolicy;
  /** Hops to follow at most (default 10). */
  maxRedirects?: number;
  /** Told once, when a followed hop leaves the origin and the credentials stay behind. */
  onLeaveOrigin?: (to: URL) => void;
}

export interface Sent {
  response: Response;
  /** The URL that gave `response` (credentials in its query included, when they were sent). */
  url: URL;
  method: string;
  /** Whether the request that gave `response` carried the credentials. */
  credentialsSent: boolean;
  /** Hops followed. */
  redirects: number;
  /** Set when `response` is a redirect acct did not follow, and why. */
  notFollowed?: { location: URL | undefined; reason: 'policy' | 'other-origin' | 'limit' | 'credential-in-location' | 'no-location' };
}

export const DEFAULT_MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
const ALWAYS_CREDENTIALS = ['authorization', 'proxy-authorization', 'cookie'];

export function isRedirect(status: number): boolean {
  return REDIRECT.has(status);
}

export async function send(fetch: Fetch, request: OutgoingRequest, options: SendOptions): Promise<Sent> {
  const max = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const origin = request.url.origin;
  let { url, method, body } = request;
  let headers = { ...request.headers };
  let credentialed = true;
  for (let hops = 0; ; hops++) {
    const target = credentialed ? url : withoutQueryCredentials(url, request.credentials);
    const response = await fetch(target, {
      method,
      headers: credentialed ? headers : withoutHeaderCredentials(headers, request.credentials),
      body: body ? new Uint8Array(body) : undefined,
      redirect: 'manual',
    });
    const sent = (notFollowed?: Sent['notFollowed']): Sent => ({ response, url: target, method, credentialsSent: credentialed, redirects: hops, notFollowed });
    if (!isRedirect(response.status)) return sent();
    const raw = response.headers.get('location');
    let next: URL | undefined;
    try {
      next = raw === null ? undefined : new URL(raw, target);
    } catch {
      next = undefined;
    }
    if (!next || (next.protocol !== 'https:' && next.protocol !== 'http:')) return sent({ location: next, reason: 'no-location' });
    if (options.redirects === 'none') return sent({ location: next, reason: 'policy' });
    const crossing = credentialed && next.origin !== origin;
    if (crossing && options.redirects === 'same-origin') return sent({ location: next, reason: 'other-origin' });
    if (hops >= max) return sent({ location: next, reason: 'limit' });
    // A server at the API origin that puts a credential in the next address (under another name than the app's) is not followed off it.
    if ((crossing || !credentialed) && carriesCredential(withoutQueryCredentials(next, request.credentials), request.credentials))
      return sent({ location: next, reason: 'credential-in-location' });
    await response.body?.cancel();
    // As fetch and curl do: 303 turns anything but HEAD into GET; 301 and 302 turn POST into GET; the body goes with it.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = method === 'HEAD' ? method : 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-(type|length|encoding|language|location)$/i.test(k)));
    }
    if (crossing) {
      credentialed = false;
      options.onLeaveOrigin?.(withoutQueryCredentials(next, request.credentials));
    }
    url = next;
  }
}

function withoutHeaderCredentials(headers: Record<string, string>, credentials: Credentials): Record<string, string> {
  const drop = new Set([...ALWAYS_CREDENTIALS, ...credentials.headers.map((h) => h.toLowerCase())]);
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !drop.has(k.toLowerCase())));
}

function withoutQueryCredentials(url: URL, credentials: Credentials): URL {
  if (!credentials.query.length && !url.username && !url.password) return url;
  const out = new URL(url);
  for (const name of credentials.query) out.searchParams.delete(name);
  out.username = '';
  out.password = '';
  return out;
}

/** Whether any credential value (long enough to mean something) appears in a URL, as is or percent-encoded. */
function carriesCredential(url: URL, credentials: Credentials): boolean {
  const href = url.href;
  let decoded = href;
  try {
    decoded = decodeURIComponent(href.replace(/\+/g, ' '));
  } catch {
    // Malformed escapes: compare the raw address only.
  }
  return credentials.values.some((v) => v.length >= 6 && (href.includes(v) || decoded.includes(v) || href.includes(encodeURIComponent(v))));
}

/** Replaces every credential value in text (a Location, a provider's message) with "…". */
export function redact(text: string, values: string[]): string {
  let out = text;
  for (const v of [...values].sort((a, b) => b.length - a.length)) {
    if (v.length < 4) continue;
    for (const form of new Set([v, encodeURIComponent(v)])) out = out.split(form).join('…');
  }
  return out;
}
