// Provider quirks are data (the app's oauth.tokenResponse, tokenBody and
// revocationBody); this adapter applies them at the HTTP boundary so that
// oauth4webapi sees a standard RFC 6749 exchange: a JSON request body where
// the provider wants one, tokens lifted out of nested members (Slack's
// authed_user), errors sent with status 200 (GitHub) turned into proper 400s,
// a missing token_type.
import type { Fetch } from '../http.js';
import type { OAuthApp } from '../catalog/schema.js';
import { getPath } from '../api/test-request.js';

/** Members of a token response that acct stores as credential fields besides the standard ones. */
export const EXTRA_FIELDS = Symbol('extra token response fields');

export function quirksFetch(app: OAuthApp, base: Fetch): Fetch {
  const spec = app.oauth.tokenResponse;
  const tokenUrl = app.oauth.tokenUrl;
  return async (url, init = {}) => {
    if (String(url) === app.oauth.revocationUrl && app.oauth.revocationBody === 'json' && init.body instanceof URLSearchParams) {
      // The token alone (no token_type_hint or client_id, which such an endpoint may refuse), with the headers the API pins (Notion-Version).
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(app.api.headers)) if (!value.includes('{')) headers.set(name, value); // no account fields here
      headers.set('content-type', 'application/json');
      return base(url, { ...init, headers, body: JSON.stringify({ token: init.body.get('token') }) });
    }
    if (String(url) !== tokenUrl) return base(url, init);
    let request = init;
    if (app.oauth.tokenBody === 'json' && init.body instanceof URLSearchParams) {
      const headers = new Headers(init.headers);
      headers.set('content-type', 'application/json');
      request = { ...init, headers, body: JSON.stringify(Object.fromEntries(init.body)) };
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
    if (expires !== undefined && expires !== null && expires !== '') normalized.expires_in = expires;
    else if (spec.defaultExpiresIn) normalized.expires_in = spec.defaultExpiresIn;
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
    return out;
  };
}

function json(value: unknown, status: number): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
}
