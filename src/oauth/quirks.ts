// Provider quirks are data (the app's oauth.tokenResponse, tokenBody,
// tokenHeaders and revocationBody); this adapter applies them at the HTTP
// boundary so that oauth4webapi sees a standard RFC 6749 exchange: a JSON
// request body and extra headers where the provider wants them, at the token
// endpoint and at a refresh endpoint of its own, tokens lifted out of nested
// members (Slack's authed_user), expiry in other units or as an absolute time,
// errors sent with status 200 (GitHub) turned into proper 400s, a missing
// token_type. Settings were filled into the app's URLs before it gets here
// (catalog/resolve-app.ts).
import { capBodies, type Fetch } from '../http.js';
import type { OAuthApp } from '../catalog/schema.js';
import { getPath } from '../api/test-request.js';

/** Members of a token response that acct stores as credential fields besides the standard ones. */
export const EXTRA_FIELDS = Symbol('extra token response fields');
/** An absolute expiry (ms since 1970, a finite number) read from tokenResponse.expiresAt. */
export const EXPIRES_AT = Symbol('token expiry time');

const UNIT_SECONDS = { seconds: 1, milliseconds: 0.001, minutes: 60, hours: 3600 } as const;

export function quirksFetch(app: OAuthApp, unbounded: Fetch): Fetch {
  // Every answer of the authorization server is read whole (here, or by oauth4webapi): at most MAX_OAUTH_BODY of it.
  const base = capBodies(unbounded);
  const spec = app.oauth.tokenResponse;
  const tokenUrls = new Set([app.oauth.tokenUrl, app.oauth.refreshUrl ?? app.oauth.tokenUrl]);
  return async (url, init = {}) => {
    if (String(url) === app.oauth.revocationUrl && app.oauth.revocationBody === 'json' && init.body instanceof URLSearchParams) {
      // The token alone (no token_type_hint or client_id, which such an endpoint may refuse), with the headers the API pins (Notion-Version).
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(app.api.headers)) if (!value.includes('{')) headers.set(name, value); // no account fields here
      headers.set('content-type', 'application/json');
      return base(url, { ...init, headers, body: JSON.stringify({ token: init.body.get('token') }) });
    }
    if (!tokenUrls.has(String(url))) return base(url, init);
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(app.oauth.tokenHeaders)) headers.set(name, value);
    let request: RequestInit = { ...init, headers };
    if (app.oauth.tokenBody === 'json' && init.body instanceof URLSearchParams) {
      headers.set('content-type', 'application/json');
      request = { ...request, body: JSON.stringify(Object.fromEntries(init.body)) };
    }
    const res = await base(url, request);
    const type = res.headers.get('content-type') ?? '';
    if (!type.includes('json')) return res;
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return new Response(text, { status: res.status, headers: res.headers });
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return new Response(text, { status: res.status, headers: res.headers });
    const raw = body as Record<string, unknown>;
    const isError = typeof raw.error === 'string' || (raw.ok === false && typeof raw.error === 'string');
    if (res.status === 200 && isError && (spec.errorsWith200 || raw.ok === false))
      return json({ error: raw.error, error_description: raw.error_description ?? raw.error }, 400);
    if (res.status !== 200) return new Response(text, { status: res.status, headers: res.headers });
    const pick = (path: string) => getPath(raw, path);
    const normalized: Record<string, unknown> = {
      access_token: pick(spec.accessToken),
      token_type: 'bearer',
    };
    const refresh = pick(spec.refreshToken);
    if (refresh !== undefined && refresh !== null && refresh !== '') normalized.refresh_token = refresh;
    const expires = pick(spec.expiresIn);
    if (expires !== undefined && expires !== null && expires !== '') {
      const n = typeof expires === 'number' ? expires : typeof expires === 'string' && /^\d+(\.\d+)?$/.test(expires) ? Number(expires) : NaN;
      normalized.expires_in = Number.isFinite(n) ? Math.floor(n * UNIT_SECONDS[spec.expiresInUnit]) : expires;
    } else if (spec.defaultExpiresIn) normalized.expires_in = spec.defaultExpiresIn;
    const expiresAt = spec.expiresAt ? absoluteTime(pick(spec.expiresAt)) : undefined;
    const scope = pick(spec.scope);
    if (typeof scope === 'string') normalized.scope = scope;
    else if (Array.isArray(scope)) normalized.scope = scope.join(' ');
    // Everything else the provider returned (token_type as sent, instance_url,
    // team ids, id_token) is kept for the account's extra fields; the ID token
    // is not validated here because acct does not use it to authenticate anyone.
    const extras: Record<string, string> = {};
    const tokenType = pick(spec.tokenType);
    if (typeof tokenType === 'string') extras.token_type = tokenType;
    for (const [k, v] of Object.entries(raw)) {
      if (['access_token', 'refresh_token', 'expires_in', 'scope', 'token_type', 'ok'].includes(k)) continue;
      if (typeof v === 'string' || typeof v === 'number') extras[k] = String(v);
    }
    const out = json(normalized, 200);
    (out as unknown as Record<symbol, unknown>)[EXTRA_FIELDS] = extras;
    if (expiresAt !== undefined) (out as unknown as Record<symbol, unknown>)[EXPIRES_AT] = expiresAt;
    return out;
  };
}

/**
 * Seconds since 1970 (a number or a string of digits), or an ISO 8601 time,
 * as ms since 1970; undefined when it is neither. Not made a Date here: a
 * time beyond a Date's range is capped where the expiry is computed
 * (tokenExpiry in src/time.ts).
 */
function absoluteTime(value: unknown): number | undefined {
  const ms =
    typeof value === 'number' ? value * 1000
    : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) * 1000
    : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value)
    : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function json(value: unknown, status: number): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
}
