// The OAuth half of connect/reconnect: find the client, run the loopback,
// manual or device flow, exchange the code, name the identity.
import type { Context } from '../context.js';
import type { OAuthApp } from '../catalog/schema.js';
import { identityText, type Account } from '../accounts/model.js';
import type { NewCredentials } from '../accounts/service.js';
import type { ConnectOptions } from './connect.js';
import { resolveClient, saveClient, redirectUriToRegister, manualRedirectUri, envSuffix, addClientId, type ResolvedClient } from '../accounts/clients.js';
import type { AccountStore } from '../store/account-store.js';
import type { Fetch } from '../http.js';
import {
  buildAuthorizationRequest,
  validateCallback,
  exchangeCode,
  startDeviceAuthorization,
  clientCredentials,
  awaitDeviceApproval,
  classifyFailure,
  isIssuerMismatch,
  providerError,
  unusable,
  requestedScopes,
  oauth,
  UnusableTokenAnswer,
  type TokenSet,
  type OAuthClient,
} from '../oauth/protocol.js';
import { startLoopbackReceiver } from '../oauth/loopback.js';
import { browserOpener } from '../ui/browser.js';
import { runTestRequest, getPath } from '../api/test-request.js';
import { send } from '../api/send.js';
import { authorize } from '../api/authorize.js';
import { resolveApp, checkSetting, type Settings } from '../catalog/resolve-app.js';
import { AcctError, ExitCode, usageError, cancelled, unavailable } from '../errors.js';
import { readStdin } from '../ui/stdin.js';
import { tokenExpiry } from '../time.js';

/** The longest wait a Node timer can hold, 2^31-1 ms, in whole seconds. */
const MAX_TIMEOUT_SECONDS = Math.floor(0x7fffffff / 1000);

/** `app` has the asked settings filled in already; `settings` are their values, to which looked-up ones are added. */
export async function oauthCredentials(ctx: Context, store: AccountStore, app: OAuthApp, opts: ConnectOptions, settings: Settings, existing?: Account): Promise<NewCredentials> {
  if (opts.stdin || opts.fromEnv.length) throw usageError(`${app.slug} connects with OAuth; --stdin and --from-env are for API-key apps`);
  if ([opts.manual, opts.device, opts.clientCredentials].filter(Boolean).length > 1) throw usageError('pick one of --manual, --device and --client-credentials');
  const grants = app.oauth.grants;
  if (opts.clientCredentials && !grants.includes('client_credentials'))
    throw usageError(`${app.name} does not take the client-credentials grant`, `connect with a sign-in instead: acct connect ${app.slug}`);
  // An app with no sign-in at all connects with its client's credentials, flag or not.
  const byClient = opts.clientCredentials === true || !grants.includes('authorization_code');
  if (byClient && (opts.manual || opts.device)) throw usageError(`${app.name} connects with its client's credentials, without a sign-in`, `drop --manual and --device: acct connect ${app.slug}`);
  const timeoutSeconds = Number(opts.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw usageError(`--timeout takes a number of seconds, not "${opts.timeout}"`);
  // A timer longer than 2^31-1 ms fires at once (Node's TimeoutOverflowWarning): refused rather than a wait that ends immediately.
  if (timeoutSeconds > MAX_TIMEOUT_SECONDS) throw usageError(`--timeout is at most ${MAX_TIMEOUT_SECONDS} seconds (about 24 days), not "${opts.timeout}"`);
  await store.ready();
  const client = (await resolveClient(ctx, store, app)) ?? (await askForClient(ctx, store, app));
  const scopes = [...(existing ? existing.scopes.filter((s) => !app.oauth.scopes.includes(s)) : []), ...opts.scope];

  const abort = new AbortController();
  const onSigint = () => abort.abort(cancelled());
  process.once('SIGINT', onSigint);
  try {
    if (byClient) {
      const tokens = await clientCredentials(app, client, requestedScopes(app, scopes), { fetch: await ctx.fetch(), signal: abort.signal });
      const creds = await toCredentials(ctx, app, client.clientId, tokens, requestedScopes(app, scopes), settings, opts.setting ?? [], abort.signal, existing);
      abort.signal.throwIfAborted();
      // The token is the client's own: without a test request naming someone, the client id names the account.
      return { ...creds, identity: creds.identity ?? client.clientId, grant: 'client_credentials', clientId: client.clientId };
    }
    const tokens = opts.device
      ? await deviceFlow(ctx, app, client, scopes, timeoutSeconds * 1000, abort.signal)
      : await browserFlow(ctx, app, client, scopes, opts, timeoutSeconds * 1000, abort.signal);
    const creds = await toCredentials(ctx, app, client.clientId, tokens, requestedScopes(app, scopes), settings, opts.setting ?? [], abort.signal, existing);
    // Ctrl-C during the lookups after the exchange: nothing is stored (a step that swallowed the abort as a warning does not count).
    abort.signal.throwIfAborted();
    return { ...creds, clientId: client.clientId };
  } catch (err) {
    // Cancelled: exit 130, whatever the step that was cut short made of it.
    if (abort.signal.aborted) throw abort.signal.reason;
    throw explain(app, err);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function askForClient(ctx: Context, store: AccountStore, app: OAuthApp): Promise<ResolvedClient> {
  const where = [
    `${app.name} needs an OAuth client, and none is set.`,
    `  1. Create one at ${app.oauth.createClientUrl}`,
    // A machine-to-machine client is never redirected anywhere.
    ...(app.oauth.grants.includes('authorization_code')
      ? [`  2. Register this redirect URI: ${redirectUriToRegister(app)}${app.oauth.redirect.port || app.oauth.redirect.scheme === 'https' ? '' : ' (any port on 127.0.0.1 is used; register it as shown if the provider allows loopback ports, RFC 8252)'}`]
      : []),
    ...(app.oauth.notes ? [`  Note: ${app.oauth.notes}`] : []),
  ].join('\n');
  if (!ctx.prompter.interactive)
    throw new AcctError('usage', where, {
      hint: `then: acct client set ${app.slug}${store.kind === 'team' ? ` --team ${store.name}` : ''} --client-id ID${app.oauth.clientSecret === 'none' ? '' : ' --secret-stdin < secret.txt'} (or set ACCT_CLIENT_ID_${envSuffix(app.slug)})`,
    });
  ctx.info(where);
  const clientId = (await ctx.prompter.input('Client ID', '--client-id')).trim();
  let clientSecret: string | undefined;
  if (app.oauth.clientSecret !== 'none') {
    const s = await ctx.prompter.secret(`Client secret${app.oauth.clientSecret === 'optional' ? ' (Enter for a public client)' : ''}`, '--secret-stdin');
    clientSecret = s || undefined;
  }
  await saveClient(store, app, clientId, clientSecret);
  return { clientId, clientSecret, source: 'stored' };
}

async function browserFlow(
  ctx: Context,
  app: OAuthApp,
  client: OAuthClient,
  scopes: string[],
  opts: ConnectOptions,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<TokenSet> {
  const fetch = await ctx.fetch();
  const redirect = app.oauth.redirect;
  // The loopback listener speaks plain http; a provider that redirects only to https is signed in without it.
  if (opts.manual || redirect.scheme === 'https') {
    // No listener: the user pastes the URL the browser ended on (it may fail to load; that is expected).
    const redirectUri = manualRedirectUri(app);
    const request = await buildAuthorizationRequest(app, client, redirectUri, scopes);
    if (opts.manual) ctx.info(`Open this URL in a browser, approve, then paste the address the browser ends on (it may show an error page):\n\n  ${request.url.href}\n`);
    else {
      ctx.info(
        `${app.name} redirects only to https addresses, which acct cannot listen on. After you approve, the browser shows an error page for ${redirectUri}: copy the whole address from its address bar and paste it here.\n\n  ${request.url.href}\n`,
      );
      if (opts.browser) await browserOpener(ctx.env, ctx.warn)(request.url.href);
    }
    const pasted = await readPastedUrl(ctx);
    let callback: URL;
    try {
      callback = new URL(pasted.trim());
    } catch {
      throw usageError('that is not a URL', `paste the whole address, starting with ${redirectUri}`);
    }
    if (callback.searchParams.get('state') !== request.state)
      throw usageError('the pasted URL does not belong to this sign-in (its state does not match)', 'run the command again and paste the URL from that attempt');
    const params = validateCallback(app, callback, request.state, client);
    return exchangeCode(app, client, params, request, { fetch, signal });
  }

  const receiver = await startLoopbackReceiver({ host: redirect.host, port: redirect.port, path: redirect.path });
  try {
    const request = await buildAuthorizationRequest(app, client, receiver.redirectUri, scopes);
    if (opts.browser) {
      ctx.info(`Opening ${app.name} in your browser. If it does not open, visit:\n\n  ${request.url.href}\n`);
      await browserOpener(ctx.env, ctx.warn)(request.url.href);
    } else ctx.info(`Open this URL in a browser on this machine:\n\n  ${request.url.href}\n`);
    ctx.info(`Waiting for approval (times out in ${Math.round(timeoutMs / 1000)}s; Ctrl-C to cancel)…`);
    const callback = await receiver.wait(request.state, timeoutMs, signal);
    const params = validateCallback(app, callback, request.state, client);
    return await exchangeCode(app, client, params, request, { fetch, signal });
  } finally {
    await receiver.close();
  }
}

async function readPastedUrl(ctx: Context): Promise<string> {
  if (ctx.prompter.interactive) return ctx.prompter.input('Redirect URL', '--manual with the URL on stdin');
  const text = await readStdin(ctx.io.stdin, '--manual');
  const line = text.split(/\r?\n/).find((l) => l.trim());
  if (!line) throw usageError('this sign-in needs the address the browser ended on: paste it at the prompt, or pipe it on stdin');
  return line;
}

async function deviceFlow(ctx: Context, app: OAuthApp, client: OAuthClient, scopes: string[], timeoutMs: number, signal: AbortSignal): Promise<TokenSet> {
  if (!app.oauth.deviceAuthorizationUrl)
    throw usageError(`${app.name} has no device authorization endpoint`, `connect in a browser instead: acct connect ${app.slug} (or --manual on a remote shell)`);
  const fetch = await ctx.fetch();
  const device = await startDeviceAuthorization(app, client, scopes, { fetch, signal });
  ctx.info(`To connect ${app.name}, visit ${device.verificationUri} and enter the code:\n\n  ${device.userCode}\n`);
  if (device.verificationUriComplete) ctx.info(`(or open ${device.verificationUriComplete})`);
  ctx.info('Waiting for approval…');
  return awaitDeviceApproval(app, client, device, timeoutMs, { fetch, signal, now: () => ctx.now().getTime(), sleep });
}

/** Waits between device polls. The abort listener goes when the wait ends: one left per poll added up to a MaxListenersExceededWarning. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function toCredentials(
  ctx: Context,
  app: OAuthApp,
  clientId: string,
  tokens: TokenSet,
  requested: string[],
  settings: Settings,
  pairs: string[],
  signal: AbortSignal,
  existing?: Account,
): Promise<NewCredentials> {
  // Every request of the connect stops at Ctrl-C.
  const base = await ctx.fetch();
  const fetch: Fetch = (url, init = {}) => base(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, signal]) : signal });
  const fields: Record<string, string> = { ...tokens.extras, oauth_access_token: tokens.accessToken };
  if (tokens.refreshToken) fields.oauth_refresh_token = tokens.refreshToken;
  const expiresAt = tokenExpiry(ctx.now().getTime(), tokens);
  const scopes = tokens.scope ? tokens.scope.split(/[\s,]+/).filter(Boolean) : requested;
  const given = Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
  const all = { ...settings, ...(await lookupSettings(ctx, fetch, app, clientId, fields, given, existing?.settings)) };
  const resolved = resolveApp(app, all);
  return { fields, scopes, expiresAt, identity: await identify(ctx, fetch, resolved, clientId, fields), settings: all };
}

/**
 * Settings the provider names only once there is a token (Atlassian's cloud
 * id): a GET to the setting's lookup URL with the new credentials. One
 * answer is taken; of several, the one given with --setting (or the
 * account's own on reconnect), else a choice on a terminal, else a usage
 * error listing them. Nothing is stored until this succeeds.
 */
async function lookupSettings(ctx: Context, fetch: Fetch, app: OAuthApp, clientId: string, fields: Record<string, string>, given: Settings, previous: Settings | undefined): Promise<Settings> {
  const out: Settings = {};
  for (const spec of app.settings) {
    if (!spec.lookup) continue;
    const { url, headers } = authorize(app, addClientId(app, fields, clientId), new URL(spec.lookup.url));
    const res = await fetch(url, { headers: { Accept: 'application/json', ...headers } });
    const text = await res.text();
    if (!res.ok) throw unavailable(`could not look up the ${spec.label} of the new ${app.name} account: ${url.host} answered ${res.status}`, 'nothing was stored; retry later');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw unavailable(`could not look up the ${spec.label} of the new ${app.name} account: the answer is not JSON`, 'nothing was stored; retry later');
    }
    const list = spec.lookup.list ? getPath(body, spec.lookup.list) : body;
    const entries = (Array.isArray(list) ? list : [])
      .map((e) => ({ value: getPath(e, spec.lookup!.value), label: spec.lookup!.label ? getPath(e, spec.lookup!.label) : undefined }))
      .filter((e): e is { value: string | number; label: unknown } => (typeof e.value === 'string' && e.value !== '') || typeof e.value === 'number')
      .map((e) => ({ value: String(e.value), label: typeof e.label === 'string' && e.label ? e.label : String(e.value) }));
    const choices = entries.map((e) => `${spec.name}=${e.value} (${e.label})`).join(', ');
    let value: string | undefined;
    const wanted = given[spec.name];
    if (wanted !== undefined) {
      if (!entries.some((e) => e.value === wanted)) throw usageError(`this ${app.name} account has no ${spec.label} "${wanted}"`, `it has: ${choices || 'none'}; nothing was stored`);
      value = wanted;
    } else if (previous?.[spec.name] && entries.some((e) => e.value === previous[spec.name])) value = previous[spec.name];
    else if (entries.length === 1) value = entries[0]!.value;
    else if (!entries.length)
      throw new AcctError('needs_reconnect', `the new ${app.name} account has no ${spec.label} (${url.host} listed none)`, {
        hint: 'nothing was stored; grant access to a site when you approve, then connect again',
      });
    else if (ctx.prompter.interactive) {
      ctx.info(`${app.name} names several: ${entries.map((e, i) => `\n  ${i + 1}. ${e.label} (${e.value})`).join('')}`);
      const answer = (await ctx.prompter.input(`${spec.label} (number or value)`, `--setting ${spec.name}=…`)).trim();
      value = entries[Number(answer) - 1]?.value ?? entries.find((e) => e.value === answer)?.value;
      if (!value) throw usageError(`"${answer}" is none of them`, 'nothing was stored; run the command again');
    } else throw usageError(`the new ${app.name} account has several: pick one with --setting`, `${choices}; nothing was stored`);
    out[spec.name] = checkSetting(spec, value!);
  }
  return out;
}

/** The identity behind the new token, from the app's test request or the userinfo endpoint. */
async function identify(ctx: Context, fetch: Fetch, app: OAuthApp, clientId: string, fields: Record<string, string>): Promise<string | null> {
  if (app.test) {
    const outcome = await runTestRequest(app, addClientId(app, fields, clientId), fetch);
    if (outcome.kind === 'ok') return outcome.identity;
    ctx.warn(`connected, but the test request did not name the account (${outcome.detail})`);
    return null;
  }
  if (app.oauth.userinfoUrl) {
    try {
      const token = fields.oauth_access_token!;
      // The bearer token goes to the userinfo origin alone: a redirect elsewhere is not followed.
      const { response: res, notFollowed } = await send(
        fetch,
        { url: new URL(app.oauth.userinfoUrl), method: 'GET', headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' }, credentials: { headers: ['Authorization'], query: [], values: [token] } },
        { redirects: 'same-origin' },
      );
      if (notFollowed || !res.ok) {
        await res.body?.cancel();
        ctx.warn(`connected, but userinfo answered ${res.status}${notFollowed ? ' (a redirect acct did not follow)' : ''}`);
      } else {
        let info: Record<string, unknown> | undefined;
        try {
          info = JSON.parse(await res.text()) as Record<string, unknown>;
        } catch {
          // Not JSON: nothing names the account (the parser's message would quote the body).
        }
        if (info && typeof info === 'object') for (const k of ['preferred_username', 'email', 'name', 'sub']) if (typeof info[k] === 'string' && identityText(info[k] as string)) return identityText(info[k] as string);
        ctx.warn('connected, but userinfo did not name the account');
      }
    } catch (err) {
      if (!(err instanceof AcctError) || err.code === 'cancelled') throw err;
      ctx.warn(`connected, but userinfo failed: ${err.message}`);
    }
  }
  return null;
}

/** Provider errors with their error and error_description; denial is exit 4. */
function explain(app: OAuthApp, err: unknown): unknown {
  // Checked in the token parsing shared by every grant (src/oauth/protocol.ts).
  if (err instanceof UnusableTokenAnswer) return unavailable(`${app.name} answered with tokens acct cannot use: ${err.problem}`, 'nothing was stored; this is a fault at the provider, retry later');
  if (err instanceof AcctError) return err;
  if (err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError) {
    const f = classifyFailure(err);
    const what = `${providerError(err)}${err instanceof oauth.ResponseBodyError ? ` (HTTP ${err.status})` : ''}`;
    if (f.kind === 'denied') return new AcctError('access_denied', `${app.name} did not grant access: ${what}`, { hint: 'nothing was stored; run the command again to retry' });
    if (f.kind === 'transient') return unavailable(`${app.name} failed: ${what}`, 'nothing was stored; retry later');
    return new AcctError('needs_reconnect', `${app.name} refused the authorization: ${what}`, {
      hint: `nothing was stored; check the OAuth client (acct client show ${app.slug}) and the redirect URI registered with it`,
    });
  }
  if (isIssuerMismatch(err))
    return new AcctError('needs_reconnect', `the authorization response did not come from ${app.oauth.issuer ?? app.name} (its "iss" does not match)`, {
      hint: 'nothing was stored; this can be a mix-up attack by another site in the same browser: run the command again',
    });
  if (err instanceof oauth.OperationProcessingError)
    return unavailable(`${app.name} answered in an unexpected way (${unusable(err)})`, 'nothing was stored; retry later');
  return err;
}
