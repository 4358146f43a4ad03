// The one refresh path, shared by token, env, exec and request.
//
// Fast path: the stored access token is valid for longer than minTtl → use it,
// no lock. Otherwise take the account's cross-process lock, re-read metadata
// and secrets (another process may have refreshed, and rotated the refresh
// token, while we waited), refresh only if still needed, store the new
// credentials (rotated refresh token included) before releasing the lock.
// Transient failures are retried within a deadline; if they persist the cached
// token is used while it is still valid. invalid_grant marks the account
// needs-reconnect.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { OAuthApp, AppDefinition } from '../catalog/schema.js';
import type { Fields } from '../store/store.js';
import type { FreshOptions } from './credentials.js';
import { withLock } from '../store/lock.js';
import { mustFind, setStatus } from './service.js';
import type { TokenSet } from '../oauth/protocol.js';
import { AcctError, ExitCode, needsReconnect, unavailable } from '../errors.js';
import { seconds } from '../context.js';

export function isFresh(expiresAt: string | null, now: Date, minTtlSeconds: number): boolean {
  return expiresAt === null || new Date(expiresAt).getTime() - now.getTime() > minTtlSeconds * 1000;
}

/** The credentials, fresh, and when their access token expires (null: it does not). */
export interface FreshTokens {
  fields: Fields;
  expiresAt: string | null;
}

export async function ensureFresh(ctx: Context, account: Account, app: AppDefinition, opts: FreshOptions): Promise<FreshTokens> {
  if (app.auth !== 'oauth2') throw new AcctError('unexpected', `${app.slug} is not an OAuth app`);
  if (!opts.force && isFresh(account.expiresAt, ctx.now(), opts.minTtlSeconds)) return { fields: await ctx.secrets.read(account.id), expiresAt: account.expiresAt };
  const startedAt = ctx.now();
  // Unlock the store (keychain read or passphrase derivation) before queueing
  // for the account lock, so concurrent callers do not do it one at a time;
  // the secrets are read again under the lock.
  await ctx.secrets.read(account.id);
  return withLock(ctx.accounts.lockPath(`refresh-${account.id}`), async () => {
    const current = mustFind(ctx.accounts.read(), account.id);
    if (current.status === 'needs-reconnect')
      throw needsReconnect(`${current.app}/${current.nickname} needs to be reconnected`, `run: acct reconnect ${current.id}`);
    const fields = await ctx.secrets.read(current.id);
    const now = ctx.now();
    const refreshedMeanwhile = new Date(current.updatedAt) >= startedAt;
    // Another caller replaced the credentials while we waited for the lock: its
    // token is as fresh as the provider issues them (possibly shorter-lived than
    // minTtl); refreshing again would gain nothing and cost a token request.
    const replacedMeanwhile = current.expiresAt !== account.expiresAt && isFresh(current.expiresAt, now, 0);
    if (opts.force ? refreshedMeanwhile : isFresh(current.expiresAt, now, opts.minTtlSeconds) || replacedMeanwhile) return { fields, expiresAt: current.expiresAt };
    return refreshLocked(ctx, current, app, fields);
  });
}

async function refreshLocked(ctx: Context, account: Account, app: OAuthApp, fields: Fields): Promise<FreshTokens> {
  // Loaded here, not with this module: a token that is still valid needs
  // neither the protocol code (oauth4webapi) nor the OAuth clients (whose
  // module reaches the app schema, and so zod). Measured with the keychain
  // agent, Node 20: acct token on such an account took 78 ms of CPU before
  // (2.1x node -e 0), 57 ms after, as much as on an API-key account.
  const [{ refresh: refreshGrant, classifyFailure }, { resolveClient }] = await Promise.all([import('../oauth/protocol.js'), import('./clients.js')]);
  const cached = { fields, expiresAt: account.expiresAt };
  const label = `${account.app}/${account.nickname}`;
  const stillValid = () => account.expiresAt !== null && new Date(account.expiresAt).getTime() > ctx.now().getTime();
  const refreshToken = fields.oauth_refresh_token;
  if (!refreshToken) {
    if (account.accessOnly && stillValid()) {
      ctx.warn(`${label} is an --access-only copy and cannot be refreshed; using its token, valid until ${account.expiresAt}`);
      return cached;
    }
    if (stillValid()) return cached;
    if (account.accessOnly)
      throw needsReconnect(
        `the access token of ${label} expired at ${account.expiresAt}, and it came from a bundle exported with --access-only, which holds no refresh token`,
        'export a fresh bundle on the machine that holds the account (acct export --access-only …), or give CI an account of its own',
      );
    await setStatus(ctx, account.id, 'needs-reconnect');
    throw needsReconnect(`the access token of ${label} expired and ${app.name} issued no refresh token`, `run: acct reconnect ${account.id}`);
  }
  const client = await resolveClient(ctx, app);
  if (!client)
    throw new AcctError('usage', `no OAuth client is set for ${app.slug}, so ${label} cannot be refreshed`, {
      hint: `set the one it was connected with: acct client set ${app.slug} --client-id …`,
    });

  const deadline = Date.now() + seconds(ctx.env.ACCT_REFRESH_DEADLINE, 'ACCT_REFRESH_DEADLINE', 30) * 1000;
  let delay = 500;
  let lastProblem = '';
  for (let attempt = 1; ; attempt++) {
    let tokens: TokenSet;
    try {
      const remaining = Math.max(1000, deadline - Date.now());
      tokens = await refreshGrant(app, client, refreshToken, { fetch: withTimeout(await ctx.fetch(), remaining) });
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind === 'invalid_grant') {
        await setStatus(ctx, account.id, 'needs-reconnect');
        throw needsReconnect(`${app.name} rejected the refresh token of ${label} (${failure.message})`, `reconnect it: acct reconnect ${account.id}`);
      }
      if (failure.kind !== 'transient')
        throw new AcctError('needs_reconnect', `${app.name} refused to refresh ${label}: ${failure.message}`, {
          hint: `check the OAuth client (acct client show ${app.slug}), or reconnect: acct reconnect ${account.id}`,
        });
      lastProblem = failure.message;
      if (Date.now() + delay < deadline) {
        ctx.warn(`refreshing ${label} failed (${failure.message}); retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 4000);
        continue;
      }
      if (stillValid()) {
        ctx.warn(`could not refresh ${label} (${lastProblem}); using the cached token, valid until ${account.expiresAt}`);
        return cached;
      }
      throw unavailable(`could not refresh ${label}: ${lastProblem}`, 'the stored credentials are unchanged; retry when the provider is reachable');
    }
    return storeRefreshed(ctx, account, fields, tokens);
  }
}

/** Secrets first (the rotated refresh token must never be lost), then metadata; both under the account lock. */
async function storeRefreshed(ctx: Context, account: Account, old: Fields, tokens: TokenSet): Promise<FreshTokens> {
  const now = ctx.now();
  const fields: Fields = { ...old, ...tokens.extras, oauth_access_token: tokens.accessToken };
  if (tokens.refreshToken) fields.oauth_refresh_token = tokens.refreshToken;
  const expiresAt = tokens.expiresIn !== undefined ? new Date(now.getTime() + tokens.expiresIn * 1000).toISOString() : null;
  await ctx.secrets.write(account.id, fields);
  await ctx.accounts.update((m) => {
    const a = mustFind(m, account.id);
    a.expiresAt = expiresAt;
    if (tokens.scope) a.scopes = tokens.scope.split(/[\s,]+/).filter(Boolean);
    a.fields = Object.keys(fields).sort();
    a.status = 'ok';
    a.updatedAt = now.toISOString();
    // A new refresh token retires the old one: from now on this account must have a single holder (see acct export).
    if (tokens.refreshToken && old.oauth_refresh_token && tokens.refreshToken !== old.oauth_refresh_token) a.rotatesRefreshToken = true;
  });
  return { fields, expiresAt };
}

function withTimeout(fetch: Awaited<ReturnType<Context['fetch']>>, ms: number): typeof fetch {
  return (url, init = {}) => fetch(url, { ...init, timeoutMs: Math.min(ms, init.timeoutMs ?? ms) });
}
