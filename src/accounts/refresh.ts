// The one refresh path, shared by token, env, exec and request.
//
// Fast path: the stored access token is valid for longer than minTtl → use it,
// no lock. Otherwise take the account's cross-process lock, re-read metadata
// and secrets (another process may have refreshed, and rotated the refresh
// token, while we waited), refresh only if still needed, store the new
// credentials (rotated refresh token included) before releasing the lock.
// Transient failures are retried within a deadline; if they persist the cached
// token is used while it is still valid. invalid_grant marks the account
// needs-reconnect. A client-credentials account (no user, no refresh token) is
// renewed the same way, under the same lock, by asking again with the client's
// credentials.
//
// The deadline (ACCT_REFRESH_DEADLINE) is each caller's, from when it starts,
// and bounds its wait for the lock too. The holder records each failed
// attempt beside the lock (`<lock>.outcome`); callers waiting on it take the
// holder's final failure as their own instead of trying again, and a wait
// that runs out while the holder still tries is the provider being slow
// (exit 5, or the cached token), never a store error.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { OAuthApp, AppDefinition } from '../catalog/schema.js';
import type { Fields } from '../store/store.js';
import { isFresh, type FreshOptions } from './credentials.js';
import { LockBusyError, LockLostError } from '../store/lock.js';
import { isWriteFailure } from '../store/files.js';
import { setStatus, noteStatus, current as currentAccount } from './service.js';
import { readSecrets } from './credentials.js';
import { storeOf } from './stores.js';
import type { RefreshLock } from '../store/account-store.js';
import type { ResolvedClient } from './clients.js';
import type { TokenSet, OAuthFailure } from '../oauth/protocol.js';
import { AcctError, ExitCode, needsReconnect, unavailable } from '../errors.js';
import { seconds } from '../context.js';
import { tokenExpiry } from '../time.js';


/** The credentials, fresh, and when their access token expires (null: it does not). */
export interface FreshTokens {
  fields: Fields;
  expiresAt: string | null;
}

export async function ensureFresh(ctx: Context, account: Account, app: AppDefinition, opts: FreshOptions): Promise<FreshTokens> {
  if (app.auth !== 'oauth2') throw new AcctError('unexpected', `${app.slug} is not an OAuth app`);
  if (!opts.force && isFresh(account.expiresAt, ctx.now(), opts.minTtlSeconds)) return storedTokens(ctx, account);
  const startedAt = ctx.now();
  // One deadline for this caller, however long it waits for the lock: a
  // refresh another process is stuck in is not waited for and then tried again.
  const deadline = startedAt.getTime() + seconds(ctx.env.ACCT_REFRESH_DEADLINE, 'ACCT_REFRESH_DEADLINE', 30) * 1000;
  const store = await storeOf(ctx, account);
  const lock = store.refreshLock(account.id);
  // The store is unlocked (keychain read, or the passphrase store's scrypt)
  // only when a caller needs the secrets: the one that refreshes, under the
  // lock; the others once it is done, outside the lock and all at once. Had
  // every caller unlocked it first, the refresh would wait for all of them:
  // 200 callers of a passphrase store on two cores put the token request at
  // 26 s, near each caller's 30 s deadline; now it comes at 11-21 s, once
  // the 200 processes have started.
  const before = once(() => readSecrets(ctx, account));
  try {
    return await refreshUnderLock(ctx, account, app, opts, startedAt, deadline, lock, before);
  } catch (err) {
    // A full disk or a read-only home cannot take the lock or store new tokens: a token still valid serves the read (SPEC "Reads never fail for bookkeeping").
    if (!isWriteFailure(err) || opts.force || account.expiresAt === null || new Date(account.expiresAt) <= ctx.now()) throw err;
    ctx.writeWarning(`could not refresh ${account.app}/${account.nickname} (${(err as Error).message}); using the cached token, valid until ${account.expiresAt}`);
    return { fields: await before(), expiresAt: account.expiresAt };
  }
}

/** The account's stored credentials, as fresh as its metadata says. */
async function storedTokens(ctx: Context, account: Account): Promise<FreshTokens> {
  return { fields: await readSecrets(ctx, account), expiresAt: account.expiresAt };
}

/** A read done at most once, when first asked for. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= read());
}

async function refreshUnderLock(
  ctx: Context,
  account: Account,
  app: OAuthApp,
  opts: FreshOptions,
  startedAt: Date,
  deadline: number,
  lock: RefreshLock,
  before: () => Promise<Fields>,
): Promise<FreshTokens> {
  // Done by another caller while we waited for the lock: its token is as fresh
  // as the provider issues them (possibly shorter-lived than minTtl);
  // refreshing again would gain nothing and cost a token request.
  const doneMeanwhile = (current: Account, now: Date) =>
    opts.force
      ? new Date(current.updatedAt) >= startedAt
      : isFresh(current.expiresAt, now, opts.minTtlSeconds) || (current.expiresAt !== account.expiresAt && isFresh(current.expiresAt, now, 0));
  // While the lock is busy, a look now and then at what its holder did: once
  // it has stored new credentials, or given up on the provider, a caller has
  // its answer without queueing behind every other caller for the lock.
  let lastLook = startedAt.getTime();
  const meanwhile = async (): Promise<FreshTokens | undefined> => {
    const now = ctx.now();
    if (now.getTime() - lastLook < lookEvery(now.getTime() - startedAt.getTime())) return undefined;
    lastLook = now.getTime();
    const current = await (await storeOf(ctx, account)).get(account.id);
    if (!current || current.status === 'needs-reconnect') return undefined; // said under the lock
    if (doneMeanwhile(current, now)) return storedTokens(ctx, current);
    const shared = sharedOutcome(await lock.readOutcome(), startedAt);
    return shared && current.updatedAt === account.updatedAt ? settleFailure(ctx, current, before, shared.problem) : undefined;
  };
  const holdOnce = () =>
    lock.hold(
      async (): Promise<FreshTokens | { done: Account }> => {
        const current = await currentAccount(ctx, account);
        if (current.status === 'needs-reconnect')
          throw needsReconnect(`${current.app}/${current.nickname} needs to be reconnected`, `run: acct reconnect ${current.id}`);
        // Its secrets are read once the lock is released, so that callers queued behind it do not unlock the store one at a time.
        if (doneMeanwhile(current, ctx.now())) return { done: current };
        // Another caller tried while we waited and the provider failed it: that is our answer too.
        const shared = sharedOutcome(await lock.readOutcome(), startedAt);
        if (shared) return settleFailure(ctx, current, () => readSecrets(ctx, current), shared.problem);
        return refreshLocked(ctx, current, app, await readSecrets(ctx, current), deadline, lock);
      },
      { waitMs: Math.max(0, deadline - ctx.now().getTime()), meanwhile },
    );
  try {
    for (;;) {
      try {
        const held = await holdOnce();
        return 'done' in held ? await storedTokens(ctx, held.done) : held;
      } catch (err) {
        // The lock went away before the token request (a team database restarted): take it again, within the deadline.
        if (!(err instanceof LockLostError) || ctx.now().getTime() >= deadline) throw err;
      }
    }
  } catch (err) {
    if (!(err instanceof LockBusyError)) throw err;
    // Our deadline came while another acct process was still refreshing: the provider is slow.
    const current = await currentAccount(ctx, account);
    if (current.expiresAt !== account.expiresAt && isFresh(current.expiresAt, ctx.now(), 0))
      return storedTokens(ctx, current); // it just succeeded
    const last = await lock.readOutcome();
    const problem = `another acct process has been refreshing it for ${Math.round((ctx.now().getTime() - startedAt.getTime()) / 1000)}s${last ? ` (its last attempt: ${last.problem})` : ''}`;
    return settleFailure(ctx, account, before, problem);
  }
}

/** The longest a Retry-After from the token endpoint is waited for before the next attempt (within the refresh deadline still). */
const MAX_RETRY_AFTER_MS = 10_000;

/** How often a caller waiting for the refresh lock looks at what its holder did (reading the metadata): less often once it has waited a second (see withLock's backoff). */
const lookEvery = (waitedMs: number) => (waitedMs < 1000 ? 200 : 800);

/** The outcome of a refresh attempt that failed for a reason that may pass (network, 5xx, timeout), as the lock holder records it for those waiting. */
export interface RefreshOutcome {
  /** When the attempt failed (ISO). */
  at: string;
  /** What went wrong, in acct's words. */
  problem: string;
  /** The holder's deadline passed and it gave up; otherwise it was still retrying. */
  final: boolean;
}

/**
 * The failure a waiter that got the lock takes as its own: the holder gave up
 * after its last attempt, and that attempt failed after the waiter began
 * waiting, within its deadline. A holder that stopped mid-way (killed while it
 * retried) left no final outcome: the waiter then tries itself.
 */
export function sharedOutcome(outcome: RefreshOutcome | undefined, waitingSince: Date): RefreshOutcome | undefined {
  return outcome?.final && new Date(outcome.at).getTime() >= waitingSince.getTime() ? outcome : undefined;
}

/** After a transient failure at `now`: the pause before the next attempt, or undefined when the deadline leaves no room for one. */
export function retryPause(now: number, deadline: number, delay: number): number | undefined {
  return now + delay < deadline ? delay : undefined;
}

/** The refresh failed for now: the cached token while it is valid, with a warning; otherwise exit 5. */
async function settleFailure(ctx: Context, account: Account, fields: Fields | (() => Promise<Fields>), problem: string, stored = 'the stored credentials are unchanged'): Promise<FreshTokens> {
  const label = `${account.app}/${account.nickname}`;
  if (account.expiresAt !== null && new Date(account.expiresAt).getTime() > ctx.now().getTime()) {
    const cached = typeof fields === 'function' ? await fields() : fields;
    ctx.warn(`could not refresh ${label} (${problem}); using the cached token, valid until ${account.expiresAt}`);
    return { fields: cached, expiresAt: account.expiresAt };
  }
  throw unavailable(`could not refresh ${label}: ${problem}`, `${stored}; retry when the provider is reachable`);
}

async function refreshLocked(ctx: Context, account: Account, app: OAuthApp, fields: Fields, deadline: number, lock: RefreshLock): Promise<FreshTokens> {
  // Loaded here, not with this module: a token that is still valid needs
  // neither the protocol code (oauth4webapi) nor the OAuth clients (whose
  // module reaches the app schema, and so zod). Measured with the keychain
  // agent, Node 20: acct token on such an account took 78 ms of CPU before
  // (2.1x node -e 0), 57 ms after, as much as on an API-key account.
  const [{ refresh: refreshGrant, clientCredentials: clientCredentialsGrant, classifyFailure }, { resolveClient, envSuffix }] = await Promise.all([
    import('../oauth/protocol.js'),
    import('./clients.js'),
  ]);
  const cached = { fields, expiresAt: account.expiresAt };
  const label = `${account.app}/${account.nickname}`;
  const stillValid = () => account.expiresAt !== null && new Date(account.expiresAt).getTime() > ctx.now().getTime();
  const refreshToken = fields.oauth_refresh_token;
  // A client-credentials account has no refresh token: its client asks for a new token again.
  const byClient = account.grant === 'client_credentials';
  if (!refreshToken && !byClient) {
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
    await setStatus(ctx, account, 'needs-reconnect');
    throw needsReconnect(`the access token of ${label} expired and ${app.name} issued no refresh token`, `run: acct reconnect ${account.id}`);
  }
  const client = await resolveClient(ctx, await storeOf(ctx, account), app);
  if (!client)
    throw new AcctError('usage', `no OAuth client is set for ${app.slug}, so ${label} cannot be refreshed`, {
      hint: `set the one it was connected with: acct client set ${app.slug} --client-id ${account.clientId ?? '…'}`,
    });

  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    let tokens: TokenSet;
    // Never spend a refresh token under a lock that is gone: another process may hold it now.
    if (lock.lost?.()) throw new LockLostError(`${account.app}/${account.nickname}`);
    try {
      const remaining = Math.max(1000, deadline - ctx.now().getTime());
      const deps = { fetch: withTimeout(await ctx.fetch(), remaining) };
      tokens = byClient ? await clientCredentialsGrant(app, client, account.scopes, deps) : await refreshGrant(app, client, refreshToken!, deps);
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind === 'unusable') {
        // The provider answered 2xx, so it may have acted on the request: a
        // rotating provider retired the refresh token presented as it
        // answered. Asking again with it would spend the grant
        // (invalid_grant, needs-reconnect), so this answer is final, for the
        // callers waiting on the lock too. A new refresh token it carried is
        // stored beside the old access token (still the one to use, while it
        // is valid), so that nothing rotated is lost; then, as for any
        // failure that may pass, the cached token while it is valid, with a
        // warning, else exit 5.
        await lock.recordOutcome({ at: ctx.now().toISOString(), problem: failure.message, final: true });
        const kept = failure.refreshToken && failure.refreshToken !== refreshToken ? await keepRefreshToken(ctx, account, fields, failure.refreshToken) : undefined;
        await markFailing(ctx, kept ?? account);
        return settleFailure(ctx, kept ?? account, kept ? { ...fields, oauth_refresh_token: failure.refreshToken! } : fields, failure.message, kept ? 'the new refresh token it sent was stored; the other credentials are unchanged' : undefined);
      }
      if (failure.kind !== 'transient' && failure.kind !== 'denied') {
        const mismatch = clientMismatch(app, account, client, failure, envSuffix);
        if (mismatch) {
          await markFailing(ctx, account);
          throw mismatch;
        }
      }
      // access_denied on a refresh: the user or an administrator withdrew the grant. As for a rejected refresh token, only a new sign-in helps.
      if (failure.kind === 'invalid_grant' || failure.kind === 'denied') {
        await setStatus(ctx, account, 'needs-reconnect');
        throw needsReconnect(`${app.name} rejected the refresh token of ${label} (${failure.message})`, `reconnect it: acct reconnect ${account.id}`);
      }
      if (failure.kind !== 'transient') {
        await markFailing(ctx, account);
        throw new AcctError('needs_reconnect', `${app.name} refused to refresh ${label}: ${failure.message}`, {
          hint: `check the OAuth client (acct client show ${app.slug}), or reconnect: acct reconnect ${account.id}`,
        });
      }
      // Recorded at every failed attempt, so a caller whose own deadline
      // comes while this one still retries can say what the provider does.
      // A Retry-After is honoured, capped so that one provider cannot hold a caller for long: past the deadline there is no retry at all.
      const now = ctx.now().getTime();
      const asked = failure.retryAfterMs ?? (failure.retryAt !== undefined ? failure.retryAt - now : 0);
      const pause = retryPause(now, deadline, Math.max(delay, Math.min(asked, MAX_RETRY_AFTER_MS)));
      await lock.recordOutcome({ at: ctx.now().toISOString(), problem: failure.message, final: pause === undefined });
      if (pause !== undefined) {
        ctx.warn(`refreshing ${label} failed (${failure.message}); retrying`);
        await ctx.sleep(pause);
        delay = Math.min(delay * 2, 4000);
        continue;
      }
      await markFailing(ctx, account);
      return settleFailure(ctx, account, fields, failure.message);
    }
    await lock.clearOutcome();
    return storeRefreshed(ctx, account, fields, tokens);
  }
}

/**
 * A refresh the provider refused because of the client: the grant was issued
 * to the client acct recorded at connect, and another one is set now. The
 * refresh token may be fine, so the account is not marked needs-reconnect.
 */
function clientMismatch(app: OAuthApp, account: Account, client: ResolvedClient, failure: OAuthFailure, envSuffix: (slug: string) => string): AcctError | undefined {
  const error = failure.kind === 'invalid_grant' ? 'invalid_grant' : 'error' in failure ? failure.error : undefined;
  const label = `${account.app}/${account.nickname}`;
  const where = client.source === 'environment' ? `ACCT_CLIENT_ID_${envSuffix(app.slug)}` : `the client set for ${app.slug}`;
  if (account.clientId && account.clientId !== client.clientId && (error === 'invalid_client' || error === 'unauthorized_client' || error === 'invalid_grant'))
    return new AcctError('needs_reconnect', `${app.name} refused to refresh ${label} (${failure.message}): it was connected with the OAuth client ${account.clientId}, and ${where} is now ${client.clientId}`, {
      hint: `set that client again: acct client set ${app.slug} --client-id ${account.clientId}${app.oauth.clientSecret === 'none' ? '' : ' --secret-stdin < secret.txt'}; or connect it with the new client: acct reconnect ${account.id}`,
    });
  if (!account.clientId && (error === 'invalid_client' || error === 'unauthorized_client'))
    return new AcctError('needs_reconnect', `${app.name} refused the OAuth client ${client.clientId} (${where}) while refreshing ${label} (${failure.message})`, {
      hint: `if the client changed since ${label} was connected, set the one it was connected with (acct client set ${app.slug} --client-id …), or reconnect: acct reconnect ${account.id}`,
    });
  return undefined;
}

/** A refresh failed for another reason than a rejected grant: said in list and status until one succeeds. */
const markFailing = (ctx: Context, account: Account) => noteStatus(ctx, account, 'failing', `refreshing ${account.app}/${account.nickname} failed`);

/**
 * A refresh token from an answer that could not be used otherwise, stored in
 * place of the one presented (which the provider may have retired), the
 * access token and its expiry unchanged; under the account lock. updatedAt is
 * kept: the access token did not change, and callers read a changed updatedAt
 * as "refreshed".
 */
async function keepRefreshToken(ctx: Context, account: Account, old: Fields, refreshToken: string): Promise<Account> {
  const fields: Fields = { ...old, oauth_refresh_token: refreshToken };
  return (await storeOf(ctx, account)).update(
    account.id,
    (a) => {
      a.fields = Object.keys(fields).sort();
      if (old.oauth_refresh_token) a.rotatesRefreshToken = true;
    },
    fields,
  );
}

/**
 * Secrets first (the rotated refresh token must never be lost), then metadata;
 * both under the account lock. Everything is worked out before the store is
 * touched, and none of it can throw (tokenExpiry never does), so the new
 * tokens are stored whatever the provider said about their lifetime.
 */
async function storeRefreshed(ctx: Context, account: Account, old: Fields, tokens: TokenSet): Promise<FreshTokens> {
  const now = ctx.now();
  const fields: Fields = { ...old, ...tokens.extras, oauth_access_token: tokens.accessToken };
  if (tokens.refreshToken) fields.oauth_refresh_token = tokens.refreshToken;
  const expiresAt = tokenExpiry(now.getTime(), tokens);
  const store = await storeOf(ctx, account);
  // The store writes the secrets (the rotated refresh token) before the metadata, still under the account's refresh lock.
  await store.update(
    account.id,
    (a) => {
      a.expiresAt = expiresAt;
      if (tokens.scope) a.scopes = tokens.scope.split(/[\s,]+/).filter(Boolean);
      a.fields = Object.keys(fields).sort();
      a.status = 'ok';
      a.updatedAt = now.toISOString();
      // A new refresh token retires the old one: from now on this account must have a single holder (see acct export).
      if (tokens.refreshToken && old.oauth_refresh_token && tokens.refreshToken !== old.oauth_refresh_token) a.rotatesRefreshToken = true;
    },
    fields,
  );
  return { fields, expiresAt };
}

function withTimeout(fetch: Awaited<ReturnType<Context['fetch']>>, ms: number): typeof fetch {
  return (url, init = {}) => fetch(url, { ...init, timeoutMs: Math.min(ms, init.timeoutMs ?? ms) });
}
