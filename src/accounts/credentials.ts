// The one way commands get an account's credentials: key fields as stored, or
// OAuth fields made fresh through the shared refresh path.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { Fields } from '../store/store.js';
import type { AppDefinition } from '../catalog/schema.js';
import { primaryField } from './keys.js';
import { needsReconnect, usageError } from '../errors.js';
import { storeOf } from './stores.js';

export interface FreshOptions {
  /** Refresh when the access token expires within this many seconds. */
  minTtlSeconds: number;
  /** Refresh even if the token is still valid. */
  force?: boolean;
  /** A test request (acct test, status --check): a key marked needs-reconnect is read anyway, since a passing test is what clears it. */
  retest?: boolean;
}

/** An account marked needs-reconnect, as every command that wants its credentials says it. */
function markedNeedsReconnect(account: Account) {
  return needsReconnect(
    `${account.app}/${account.nickname} needs to be reconnected`,
    account.auth === 'keys'
      ? `its service rejected the key; run: acct reconnect ${account.id} (or, if the key works again, check it: acct test ${account.id})`
      : `run: acct reconnect ${account.id}`,
  );
}

/** Whether an access token expiring at `expiresAt` (null: never) is valid for more than minTtl seconds from now. */
export function isFresh(expiresAt: string | null, now: Date, minTtlSeconds: number): boolean {
  return expiresAt === null || new Date(expiresAt).getTime() - now.getTime() > minTtlSeconds * 1000;
}

export async function freshCredentials(ctx: Context, account: Account, app: AppDefinition, options: FreshOptions): Promise<Fields> {
  if (account.status === 'needs-reconnect' && !(options.retest && account.auth === 'keys')) throw markedNeedsReconnect(account);
  if (account.auth === 'oauth2') {
    const { ensureFresh } = await import('./refresh.js');
    const fresh = await ensureFresh(ctx, account, app, options);
    return handOver(ctx, account, fresh.fields, fresh.expiresAt);
  }
  if (options.force) throw usageError('--refresh is for OAuth accounts; API keys do not expire');
  return handOver(ctx, account, await readSecrets(ctx, account), null);
}

/** One account's stored secrets, from its store. */
export async function readSecrets(ctx: Context, account: Account): Promise<Fields> {
  const store = await storeOf(ctx, account);
  const fields = (await store.readSecrets([account.id])).get(account.id);
  if (!fields) throw new Error(`the store returned no secrets for ${account.id}`);
  return fields;
}

/** Stored credentials as a command gets them, the use recorded. */
async function handOver(ctx: Context, account: Account, stored: Fields, expiresAt: string | null): Promise<Fields> {
  // OAuth credentials expose `expires_at` beside the tokens (the spec's field list); absent: the token does not expire.
  const fields = expiresAt ? { ...stored, expires_at: expiresAt } : stored;
  const store = await storeOf(ctx, account);
  await ctx.housekeeping('record the use of the account', () => store.recordUse(account.id, { at: ctx.now(), command: ctx.command }));
  // A team's access token, kept on this machine for while its database is unreachable, when the team allows it (team/offline.ts).
  if (store.keepOffline && account.auth === 'oauth2') await ctx.housekeeping('keep a copy of the token on this machine', () => store.keepOffline!(account, stored, expiresAt));
  // Connection settings read like fields (acct env exports them where the app names a variable); stored fields win.
  return account.settings ? { ...account.settings, ...fields } : fields;
}

/**
 * freshCredentials for several accounts at once (acct env, exec, run,
 * inject): the secrets of every account that needs no refresh (keys, and
 * OAuth tokens valid beyond minTtl) are read together, with the data key
 * fetched once (SecretStore.readMany); an account that needs a refresh takes
 * the one refresh path, as alone.
 */
export async function freshCredentialsMany(ctx: Context, wanted: { account: Account; app: AppDefinition }[], options: FreshOptions): Promise<Map<string, Fields>> {
  const unique = [...new Map(wanted.map((w) => [w.account.id, w])).values()];
  for (const { account } of unique) if (account.status === 'needs-reconnect') throw markedNeedsReconnect(account);
  const now = ctx.now();
  const direct = unique.filter(({ account }) => !options.force && (account.auth !== 'oauth2' || isFresh(account.expiresAt, now, options.minTtlSeconds)));
  // Read together, per store (the accounts may come from this machine and from teams).
  const read = new Map<string, Fields>();
  if (direct.length > 1) {
    const byStore = new Map<string, typeof direct>();
    for (const d of direct) byStore.set(d.account.team ?? '', [...(byStore.get(d.account.team ?? '') ?? []), d]);
    for (const group of byStore.values()) {
      const store = await storeOf(ctx, group[0]!.account);
      for (const [id, f] of await store.readSecrets(group.map((d) => d.account.id))) read.set(id, f);
    }
  }
  const out = new Map<string, Fields>();
  for (const { account, app } of unique) {
    const stored = read.get(account.id);
    if (!stored) {
      out.set(account.id, await freshCredentials(ctx, account, app, options));
      continue;
    }
    out.set(account.id, await handOver(ctx, account, stored, account.auth === 'oauth2' ? account.expiresAt : null));
  }
  return out;
}

export function primaryFieldName(app: AppDefinition): string {
  return app.auth === 'oauth2' ? 'oauth_access_token' : primaryField(app).name;
}
