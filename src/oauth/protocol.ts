// OAuth 2.0 protocol steps on top of oauth4webapi: authorization URL with PKCE,
// code exchange, refresh, device grant, revocation. No prompts, no storage, no
// clock reads: callers pass what they need and get plain results back.
import * as oauth from 'oauth4webapi';
import type { OAuthApp } from '../catalog/schema.js';
import { ResponseTooLarge, type Fetch } from '../http.js';
import { isLoopbackHost, RESERVED_AUTHORIZE_PARAMS } from '../catalog/schema.js';
import { quirksFetch, EXTRA_FIELDS, EXPIRES_AT } from './quirks.js';
import { AcctError, ExitCode, providerText } from '../errors.js';
import { CONTROL_CHARACTER } from '../catalog/template.js';

export interface OAuthClient {
  clientId: string;
  clientSecret?: string;
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Seconds from issue; undefined when the provider says nothing (no expiry). */
  expiresIn?: number;
  /** An absolute expiry the provider sent instead (tokenResponse.expiresAt), in ms since 1970; wins over expiresIn. */
  expiresAtMs?: number;
  /** Granted scopes, when the provider reports them. */
  scope?: string;
  /** Other string members of the response (token_type as sent, instance_url, id_token, …). */
  extras: Record<string, string>;
}

export interface ProtocolDeps {
  fetch: Fetch;
  signal?: AbortSignal;
}

export function authorizationServer(app: OAuthApp): oauth.AuthorizationServer {
  const o = app.oauth;
  return {
    issuer: o.issuer ?? new URL(o.authorizationUrl ?? o.tokenUrl).origin,
    authorization_endpoint: o.authorizationUrl,
    token_endpoint: o.tokenUrl,
    revocation_endpoint: o.revocationUrl,
    device_authorization_endpoint: o.deviceAuthorizationUrl,
    userinfo_endpoint: o.userinfoUrl,
    authorization_response_iss_parameter_supported: o.issParameterSupported,
  };
}

function clientAuth(app: OAuthApp, client: OAuthClient): oauth.ClientAuth {
  if (!client.clientSecret) return oauth.None();
  return app.oauth.clientAuth === 'client_secret_basic' ? oauth.ClientSecretBasic(client.clientSecret)
    : app.oauth.clientAuth === 'none' ? oauth.None()
    : oauth.ClientSecretPost(client.clientSecret);
}

function options(app: OAuthApp, deps: ProtocolDeps) {
  const fetch = quirksFetch(app, deps.fetch);
  return {
    [oauth.customFetch]: fetch as unknown as typeof globalThis.fetch,
    // Plain http only ever reaches here for loopback hosts (the app schema refuses others).
    [oauth.allowInsecureRequests]: isLoopbackHost(new URL(app.oauth.tokenUrl).hostname),
    signal: deps.signal,
  };
}

const asClient = (client: OAuthClient): oauth.Client => ({ client_id: client.clientId });

export interface AuthorizationRequest {
  url: URL;
  state: string;
  codeVerifier: string;
  redirectUri: string;
}

/** Authorization URL with PKCE S256, a fresh 128-bit-plus state, default and extra scopes, the app's extra parameters. */
export async function buildAuthorizationRequest(
  app: OAuthApp,
  client: OAuthClient,
  redirectUri: string,
  extraScopes: string[],
): Promise<AuthorizationRequest> {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  if (!app.oauth.authorizationUrl) throw new AcctError('usage', `${app.name} has no browser sign-in`, { hint: `connect it with: acct connect ${app.slug} --client-credentials` });
  const url = new URL(app.oauth.authorizationUrl);
  // The app's extra parameters first, so that acct's own below always win (the schema refuses reserved names as well).
  for (const [k, v] of Object.entries(app.oauth.authorizeParams)) if (!RESERVED_AUTHORIZE_PARAMS.includes(k)) url.searchParams.set(k, v);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  const scopes = requestedScopes(app, extraScopes);
  if (scopes.length) url.searchParams.set(app.oauth.scopeParam, scopes.join(app.oauth.scopeSeparator));
  url.searchParams.set('state', state);
  if (app.oauth.pkce) {
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  for (const name of app.oauth.omitAuthorizeParams) url.searchParams.delete(name);
  return { url, state, codeVerifier, redirectUri };
}

export function requestedScopes(app: OAuthApp, extra: string[]): string[] {
  return [...new Set([...app.oauth.scopes, ...extra.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean)])];
}

/** The RFC 9207 check failed: the response names another issuer, or none where one is required. */
export function isIssuerMismatch(err: unknown): boolean {
  return err instanceof oauth.OperationProcessingError && /"iss" \(issuer\)/.test(err.message);
}

/**
 * Checks the redirect the browser came back with: state, RFC 9207 iss when the
 * server advertises it, and the provider's error. Returns the parameters to exchange.
 */
export function validateCallback(app: OAuthApp, callback: URL, expectedState: string, client: OAuthClient): URLSearchParams {
  return oauth.validateAuthResponse(authorizationServer(app), asClient(client), callback, expectedState);
}

export async function exchangeCode(
  app: OAuthApp,
  client: OAuthClient,
  params: URLSearchParams,
  request: AuthorizationRequest,
  deps: ProtocolDeps,
): Promise<TokenSet> {
  const as = authorizationServer(app);
  const res = await oauth.authorizationCodeGrantRequest(
    as,
    asClient(client),
    clientAuth(app, client),
    params,
    request.redirectUri,
    app.oauth.pkce ? request.codeVerifier : oauth.nopkce,
    { ...options(app, deps), additionalParameters: app.oauth.tokenParams },
  );
  return tokenAnswer(res, () => oauth.processAuthorizationCodeResponse(as, asClient(client), res));
}

/** A refresh_token grant, at the app's refresh endpoint when it has one apart from the token endpoint, with its refresh-only parameters. */
export async function refresh(app: OAuthApp, client: OAuthClient, refreshToken: string, deps: ProtocolDeps): Promise<TokenSet> {
  const as = { ...authorizationServer(app), token_endpoint: app.oauth.refreshUrl ?? app.oauth.tokenUrl };
  const res = await oauth.refreshTokenGrantRequest(as, asClient(client), clientAuth(app, client), refreshToken, {
    ...options(app, deps),
    additionalParameters: { ...app.oauth.tokenParams, ...app.oauth.refreshParams },
  });
  return tokenAnswer(res, () => oauth.processRefreshTokenResponse(as, asClient(client), res));
}

/** The client-credentials grant (RFC 6749 §4.4): a token for the client itself, no user and no browser. Renewed by asking again. */
export async function clientCredentials(app: OAuthApp, client: OAuthClient, scopes: string[], deps: ProtocolDeps): Promise<TokenSet> {
  const as = authorizationServer(app);
  const params: Record<string, string> = { ...app.oauth.tokenParams };
  if (scopes.length && !app.oauth.omitAuthorizeParams.includes('scope')) params.scope = scopes.join(app.oauth.scopeSeparator);
  const res = await oauth.clientCredentialsGrantRequest(as, asClient(client), clientAuth(app, client), params, options(app, deps));
  return tokenAnswer(res, () => oauth.processClientCredentialsResponse(as, asClient(client), res));
}

export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresIn: number;
  interval: number;
}

export async function startDeviceAuthorization(app: OAuthApp, client: OAuthClient, extraScopes: string[], deps: ProtocolDeps): Promise<DeviceAuthorization> {
  const as = authorizationServer(app);
  const params: Record<string, string> = {};
  const scopes = requestedScopes(app, extraScopes);
  if (scopes.length && !app.oauth.omitAuthorizeParams.includes('scope')) params.scope = scopes.join(app.oauth.scopeSeparator);
  const res = await oauth.deviceAuthorizationRequest(as, asClient(client), clientAuth(app, client), params, options(app, deps));
  const r = await oauth.processDeviceAuthorizationResponse(as, asClient(client), res);
  return {
    deviceCode: r.device_code,
    userCode: r.user_code,
    verificationUri: r.verification_uri,
    verificationUriComplete: r.verification_uri_complete,
    expiresIn: r.expires_in,
    // RFC 8628 §3.2: 5 s when the server says nothing; never under 1 s, whatever it says (0 would poll in a tight loop).
    interval: Math.max(1, r.interval ?? 5),
  };
}

/** One poll of the token endpoint for a device code. Throws oauth4webapi's ResponseBodyError for pending, slow_down, etc. */
export async function pollDeviceToken(app: OAuthApp, client: OAuthClient, deviceCode: string, deps: ProtocolDeps): Promise<TokenSet> {
  const as = authorizationServer(app);
  const res = await oauth.deviceCodeGrantRequest(as, asClient(client), clientAuth(app, client), deviceCode, options(app, deps));
  return tokenAnswer(res, () => oauth.processDeviceCodeResponse(as, asClient(client), res));
}

export interface DevicePollDeps extends ProtocolDeps {
  /** The clock and the wait between polls, injected so the loop's decisions are testable without waiting. */
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * RFC 8628 §3.4-3.5: polls the token endpoint every `interval` seconds (5
 * more after each slow_down) until the user approves, refuses (the error is
 * thrown as oauth4webapi reports it), the device code expires, or `timeoutMs`
 * runs out (both a timeout: exit 5).
 */
export async function awaitDeviceApproval(app: OAuthApp, client: OAuthClient, device: DeviceAuthorization, timeoutMs: number, deps: DevicePollDeps): Promise<TokenSet> {
  const until = deps.now() + Math.min(timeoutMs, device.expiresIn * 1000);
  const again = `run the command again: acct connect ${app.slug} --device`;
  let interval = Math.max(1, device.interval);
  for (;;) {
    await deps.sleep(interval * 1000, deps.signal);
    try {
      return await pollDeviceToken(app, client, device.deviceCode, deps);
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError) {
        if (err.error === 'authorization_pending') {
          if (deps.now() > until) throw new AcctError('timeout', 'the device code was not approved in time', { hint: again });
          continue;
        }
        if (err.error === 'slow_down') {
          interval += 5;
          continue;
        }
        // Not a refusal (that is access_denied, exit 4): time ran out, as when acct's own wait ends.
        if (err.error === 'expired_token') throw new AcctError('timeout', 'the device code expired before it was approved', { hint: again });
      }
      throw err;
    }
  }
}

export async function revoke(app: OAuthApp, client: OAuthClient, token: string, hint: 'refresh_token' | 'access_token', deps: ProtocolDeps): Promise<void> {
  const as = authorizationServer(app);
  const res = await oauth.revocationRequest(as, asClient(client), clientAuth(app, client), token, {
    ...options(app, deps),
    additionalParameters: { token_type_hint: hint },
  });
  await oauth.processRevocationResponse(res);
}

/**
 * A 2xx answer of the token endpoint that cannot be used: a member of the
 * wrong type or value (expires_in "soon" or -5, access_token 42), a body
 * that is not JSON, a token no request could carry (a line break or another
 * control character), a body too large to read. The provider may already
 * have acted on the request (a rotating provider retires the refresh token
 * presented as it answers), so such an answer is never retried; the new
 * refresh token it carried, when one is usable, is in `refreshToken` so that
 * the caller can keep it.
 */
export class UnusableTokenAnswer extends AcctError {
  constructor(
    /** What is wrong with the answer, in acct's words; it never quotes a value. */
    readonly problem: string,
    readonly refreshToken?: string,
  ) {
    super('provider_unavailable', `the provider's answer could not be used (${problem})`);
    this.name = 'UnusableTokenAnswer';
  }
}

/** A token acct may store: a non-empty string that a request header can carry. */
const usableToken = (value: unknown): value is string => typeof value === 'string' && value !== '' && !CONTROL_CHARACTER.test(value);

/**
 * The one parsing of a token answer, for every grant (code, device, refresh,
 * client credentials): oauth4webapi's checks, then acct's own. A 2xx answer
 * that fails either is an UnusableTokenAnswer; any other failure is thrown
 * as oauth4webapi reports it.
 */
async function tokenAnswer(res: Response, process: () => Promise<oauth.TokenEndpointResponse>): Promise<TokenSet> {
  // Kept for the refresh token in an answer oauth4webapi refuses: it may be the only live one.
  const copy = res.status >= 200 && res.status < 300 ? res.clone() : undefined;
  let body: oauth.TokenEndpointResponse;
  try {
    body = await process();
  } catch (err) {
    if (!copy || !(err instanceof oauth.OperationProcessingError)) throw err;
    let raw: unknown;
    try {
      raw = JSON.parse(await copy.text());
    } catch {
      raw = undefined; // not JSON: no refresh token to keep (the parser's message would quote the body)
    }
    const refreshToken = (raw as { refresh_token?: unknown } | undefined)?.refresh_token;
    throw new UnusableTokenAnswer(unusable(err), usableToken(refreshToken) ? refreshToken : undefined);
  }
  const tokens = toTokenSet(res, body);
  const refreshToken = tokens.refreshToken === undefined || usableToken(tokens.refreshToken) ? tokens.refreshToken : undefined;
  // A token no request could carry is a broken answer, not one to store (undici would quote it at every use).
  if (!usableToken(tokens.accessToken)) throw new UnusableTokenAnswer('its access token is empty or holds a line break or another control character', refreshToken);
  if (tokens.refreshToken !== undefined && refreshToken === undefined) throw new UnusableTokenAnswer('its refresh token is empty or holds a line break or another control character');
  return tokens;
}

function toTokenSet(res: Response, body: oauth.TokenEndpointResponse): TokenSet {
  const extras = ((res as unknown as Record<symbol, unknown>)[EXTRA_FIELDS] as Record<string, string> | undefined) ?? {};
  const expiresAtMs = (res as unknown as Record<symbol, unknown>)[EXPIRES_AT] as number | undefined;
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    expiresIn: typeof body.expires_in === 'number' ? body.expires_in : undefined,
    expiresAtMs,
    scope: body.scope,
    extras,
  };
}

export type OAuthFailure =
  | { kind: 'invalid_grant'; message: string }
  | { kind: 'denied'; error: string; message: string }
  | { kind: 'oauth_error'; error: string; message: string }
  /** How long the provider asked to wait (Retry-After), when it said: `retryAfterMs` for a number of seconds, `retryAt` (ms since the epoch) for an HTTP date. */
  | { kind: 'transient'; message: string; retryAfterMs?: number; retryAt?: number }
  /** A 2xx answer that cannot be used (UnusableTokenAnswer): never retried; `refreshToken` is the new one it carried, when usable. */
  | { kind: 'unusable'; message: string; refreshToken?: string };

/** Sorts a failure from the protocol functions into what the caller should do. */
export function classifyFailure(err: unknown): OAuthFailure {
  if (err instanceof UnusableTokenAnswer) return { kind: 'unusable', message: err.message, refreshToken: err.refreshToken };
  // A 2xx answer too large to read is as final as any other unusable one; a larger error answer is a fault that may pass.
  if (err instanceof ResponseTooLarge && err.status >= 200 && err.status < 300) return { kind: 'unusable', message: err.message };
  if (err instanceof oauth.ResponseBodyError || err instanceof oauth.AuthorizationResponseError) {
    const message = `${err instanceof oauth.ResponseBodyError ? `HTTP ${err.status}, ` : ''}${providerError(err)}`;
    if (err instanceof oauth.ResponseBodyError && (err.status >= 500 || err.status === 429 || err.status === 408))
      // Too many requests and a request timeout say "later", whatever error code comes with them: they say nothing of the grant.
      return { kind: 'transient', message: `the provider answered ${err.status} (${providerError(err)})`, ...retryAfter(err.response) };
    if (err.error === 'invalid_grant') return { kind: 'invalid_grant', message };
    if (err.error === 'access_denied') return { kind: 'denied', error: err.error, message };
    if (err.error === 'temporarily_unavailable' || err.error === 'server_error') return { kind: 'transient', message };
    return { kind: 'oauth_error', error: err.error, message };
  }
  if (err instanceof oauth.OperationProcessingError) return { kind: 'transient', message: `the provider's answer could not be used (${unusable(err)})` };
  if (err instanceof oauth.UnsupportedOperationError) return { kind: 'transient', message: `the provider's answer could not be used (${unusableAnswer(err)})` };
  if (err instanceof AcctError && err.exitCode === ExitCode.unavailable) return { kind: 'transient', message: err.message };
  // Anything else is a bug, not a provider failure: let it surface as one.
  throw err;
}

/**
 * Retry-After (RFC 9110 §10.2.3): a number of seconds, or an HTTP date, which
 * the caller compares with its own clock (this code reads none). Nothing when
 * absent or neither.
 */
function retryAfter(res: Response | undefined): { retryAfterMs?: number; retryAt?: number } {
  const value = res?.headers.get('retry-after')?.trim();
  if (!value) return {};
  if (/^\d{1,9}$/.test(value)) return { retryAfterMs: Number(value) * 1000 };
  // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the form senders must use; Date.parse reads it exactly.
  const at = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? {} : { retryAt: at };
}

/** A provider's error and error_description, fit for a terminal line (they are the provider's text, not acct's). */
export function providerError(err: { error: string; error_description?: string }): string {
  return `${providerText(err.error, 80)}${err.error_description ? `: ${providerText(err.error_description)}` : ''}`;
}

/**
 * Why oauth4webapi could not use an answer, in acct's words where its code is
 * known; its own message otherwise: fixed text that names fields and claims
 * but never their values (it keeps those in its cause, which acct never prints).
 */
export function unusable(err: oauth.OperationProcessingError): string {
  const status = (err.cause as { status?: number } | undefined)?.status ?? (err as { response?: Response }).response?.status;
  return `${unusableAnswer(err)}${status ? `, HTTP ${status}` : ''}`;
}

function unusableAnswer(err: oauth.OperationProcessingError | oauth.UnsupportedOperationError): string {
  const code = (err as { code?: string }).code;
  if (code === oauth.PARSE_ERROR) return 'the body is not valid JSON';
  if (code === oauth.RESPONSE_IS_NOT_CONFORM) return 'an unexpected HTTP status';
  if (code === oauth.RESPONSE_IS_NOT_JSON) return 'the body is not JSON';
  if (code === oauth.INVALID_RESPONSE) return `an invalid response: ${providerText(err.message)}`;
  return providerText(err.message);
}

export { oauth };
