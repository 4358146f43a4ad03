// Account lifecycle, on whichever store holds the account (store/account-store.ts;
// accounts/stores.ts decides which). Every store writes an account's secrets
// before the metadata that points at them, and removes them after, so a
// reader never finds an account without its credentials.
import type { Context } from '../context.js';
import type { AccountStore, AccountView } from '../store/account-store.js';
import { NICKNAME_RE, type Account } from './model.js';
import { usageError, AcctError } from '../errors.js';
import type { Fields } from '../store/store.js';
import type { AppDefinition } from '../catalog/schema.js';
import { findAccount, storeOf } from './stores.js';
import { gone } from '../store/local-store.js';
import { label } from './resolve.js';

export { findAccount, storeOf };

/** What nickname checks ask of the catalog: whether a slug names an app (built-in or added). */
export interface AppNames {
  find(slug: string): unknown;
}

/**
 * The one check of a nickname someone picks (connect --nickname, connect
 * --team, rename): its shape, and that it is no app's slug. A bare app slug
 * is a reference to that app's account, so an account called "stripe" would
 * make `acct token stripe` ambiguous however the defaults are set.
 */
export function validateNickname(nickname: string, apps: AppNames): string {
  if (!NICKNAME_RE.test(nickname) || nickname.startsWith('acc_'))
    throw usageError(
      `"${nickname}" is not a valid nickname`,
      'use letters, digits and . _ @ + - (at most 64, no slash, not starting with acc_)',
    );
  if (apps.find(nickname) !== undefined)
    throw usageError(
      `"${nickname}" is the name of an app, so it cannot be a nickname`,
      `a bare app name is a reference to that app's account (acct token ${nickname}); pick another nickname, such as what the account is for (live, ci, work)`,
    );
  return nickname;
}

/**
 * The automatic nickname: the identity ("octocat", "me@example.com"), made
 * unique within the app (the same person at another app may have it too:
 * connect then says the bare nickname names both). Without a usable identity
 * it is the app slug and a number ("openai-1"), free across every app's
 * accounts, so the bare nickname is a reference that names one account and
 * says which app it belongs to. Never an app's slug.
 */
export function deriveNickname(app: string, ofApp: readonly Account[], identity: string | null, others: { nicknames: ReadonlySet<string>; apps: AppNames }): string {
  const base = identityNickname(identity);
  const inApp = new Set(ofApp.map((a) => a.nickname));
  const free = (n: string) => !inApp.has(n) && others.apps.find(n) === undefined;
  if (base) {
    if (free(base)) return base;
    for (let i = 2; ; i++) if (free(`${base}-${i}`)) return `${base}-${i}`;
  }
  for (let i = 1; ; i++) if (free(`${app}-${i}`) && !others.nicknames.has(`${app}-${i}`)) return `${app}-${i}`;
}

/** The identity as a nickname, or undefined when nothing usable is left of it. */
function identityNickname(identity: string | null): string | undefined {
  const base = (identity ?? '')
    .replace(/[^A-Za-z0-9._@+-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    // acc_ starts account ids, never nicknames.
    .replace(/^acc_/, 'acc-')
    .slice(0, 60);
  return base || undefined;
}

/** A --nickname given to connect: valid and free, checked before anything is asked or fetched (and again under the lock). */
export async function checkNewNickname(ctx: Context, store: AccountStore, app: string, nickname: string): Promise<void> {
  validateNickname(nickname, ctx.catalog);
  if ((await store.view()).accounts.some((a) => a.app === app && a.nickname === nickname)) throw nicknameTaken(app, nickname);
}

const nicknameTaken = (app: string, nickname: string) =>
  usageError(`${app} already has an account called "${nickname}"`, `pick another --nickname, or replace its credentials: acct reconnect ${app}/${nickname}`);

/**
 * A nickname another app's account has too is allowed (people call an
 * account "work" at every app), but the bare nickname then names all of
 * them, and so is ambiguous: said on stderr, after the command's own line
 * (connect and rename call it), with the reference that still names the account.
 */
export async function noteShared(ctx: Context, account: Account): Promise<void> {
  let view: AccountView;
  try {
    view = await (await storeOf(ctx, account)).view();
  } catch (err) {
    // The change is made; a store that cannot be read now only costs the note.
    if (err instanceof AcctError) return;
    throw err;
  }
  const same = view.accounts.filter((a) => a.nickname === account.nickname && a.id !== account.id);
  if (!same.length) return;
  const all = [account, ...same];
  ctx.info(
    `Note: "${account.nickname}" now names ${all.length} accounts (${all.map(label).join(', ')}), so it is ambiguous alone; name one as app/nickname: ${account.app}/${account.nickname}`,
  );
}

/**
 * The account a new connect of this identity updates instead of adding one:
 * same app, same identity, and no --nickname asking for a separate account
 * (a dedicated CI account of the same user is connected with --nickname ci).
 * Several candidates: the one with the automatic nickname, else the default, else the oldest.
 */
export async function sameIdentity(store: AccountStore, app: string, identity: string | null, nickname: string | undefined): Promise<Account | undefined> {
  if (!identity || nickname !== undefined) return undefined;
  const view = await store.view();
  const candidates = view.accounts.filter((a) => a.app === app && a.identity === identity);
  const auto = identityNickname(identity);
  return candidates.find((a) => a.nickname === auto) ?? candidates.find((a) => view.defaults[app] === a.id) ?? candidates[0];
}

export interface NewCredentials {
  fields: Fields;
  scopes: string[];
  expiresAt: string | null;
  identity: string | null;
  /** OAuth: the client id the grant was issued to. */
  clientId?: string;
  /** Keys stored without a passing test request (--no-verify, or the service was unreachable). */
  unverified?: boolean;
  /** The app's connection settings, kept in the account's metadata. */
  settings?: Record<string, string>;
  grant?: 'client_credentials';
}

export async function createAccount(ctx: Context, store: AccountStore, app: AppDefinition, creds: NewCredentials, nickname: string | undefined): Promise<Account> {
  if (nickname !== undefined) validateNickname(nickname, ctx.catalog);
  // Every app's nicknames, for an automatic one (read before the lock, which is about one app's accounts).
  const nicknames = new Set(nickname === undefined ? (await store.view()).accounts.map((a) => a.nickname) : []);
  return store.create(app.slug, creds.fields, (id, ofApp) => {
    if (nickname && ofApp.accounts.some((a) => a.nickname === nickname)) throw nicknameTaken(app.slug, nickname);
    const now = ctx.now().toISOString();
    const account: Account = {
      id,
      app: app.slug,
      nickname: nickname ?? deriveNickname(app.slug, ofApp.accounts, creds.identity, { nicknames, apps: ctx.catalog }),
      auth: app.auth,
      status: creds.unverified ? 'unverified' : 'ok',
      scopes: creds.scopes,
      fields: Object.keys(creds.fields).sort(),
      identity: creds.identity,
      ...(creds.clientId ? { clientId: creds.clientId } : {}),
      expiresAt: creds.expiresAt,
      ...(creds.settings && Object.keys(creds.settings).length ? { settings: creds.settings } : {}),
      ...(creds.grant ? { grant: creds.grant } : {}),
      createdAt: now,
      updatedAt: now,
    };
    // An app's first account is its default. Later ones are not, even when the default was deleted or unset meanwhile.
    return { account, makeDefault: ofApp.accounts.length === 0 };
  });
}

/** New credentials for an existing account: same id and nickname. */
export async function replaceCredentials(ctx: Context, account: Account, creds: NewCredentials): Promise<Account> {
  const store = await storeOf(ctx, account);
  return store.update(
    account.id,
    (a) => {
      a.fields = Object.keys(creds.fields).sort();
      a.scopes = creds.scopes;
      a.expiresAt = creds.expiresAt;
      a.identity = creds.identity ?? a.identity;
      if (creds.clientId) a.clientId = creds.clientId;
      if (creds.settings && Object.keys(creds.settings).length) a.settings = creds.settings;
      else delete a.settings;
      if (creds.grant) a.grant = creds.grant;
      else delete a.grant;
      a.status = creds.unverified ? 'unverified' : 'ok';
      a.updatedAt = ctx.now().toISOString();
    },
    creds.fields,
  );
}

export async function renameAccount(ctx: Context, ref: string, nickname: string): Promise<Account> {
  validateNickname(nickname, ctx.catalog);
  const account = await findAccount(ctx, ref);
  const store = await storeOf(ctx, account);
  store.assertWritable();
  return store.update(account.id, (a, ofApp) => {
    if (ofApp.accounts.some((o) => o.nickname === nickname && o.id !== a.id))
      throw usageError(`${a.app} already has an account called "${nickname}"`, 'pick another nickname');
    a.nickname = nickname;
    a.updatedAt = ctx.now().toISOString();
  });
}

export async function makeDefault(ctx: Context, account: Account): Promise<Account> {
  const store = await storeOf(ctx, account);
  store.assertWritable();
  await store.setDefault(account.app, account.id);
  return account;
}

/** Removes the account: metadata first (under the lock), then its secrets. */
export async function removeAccount(ctx: Context, account: Account): Promise<void> {
  const store = await storeOf(ctx, account);
  store.assertWritable();
  await store.remove(account.id);
}

/**
 * `touch: false` keeps updatedAt, which the refresh path reads as "the
 * credentials changed" (a failed refresh changes none). `ifUnchanged`: only
 * while the account is as `account` was read (a status learnt from these
 * credentials is not put on new ones a reconnect stored meanwhile).
 */
export async function setStatus(ctx: Context, account: Account, status: Account['status'], opts: { touch?: boolean; ifUnchanged?: boolean } = {}): Promise<void> {
  await (await storeOf(ctx, account)).update(account.id, (a) => {
    if (opts.ifUnchanged && a.updatedAt !== account.updatedAt) return;
    a.status = status;
    if (opts.touch !== false) a.updatedAt = ctx.now().toISOString();
  });
}

/** Clears an app's default; an app slug with several accounts is then ambiguous again. Returns the account that was the default. */
export async function clearDefault(store: AccountStore, app: string): Promise<Account | undefined> {
  store.assertWritable();
  return store.setDefault(app, undefined);
}

/** The account as it is now in its store (another process may have changed it), or account_not_found. */
export async function current(ctx: Context, account: Account): Promise<Account> {
  const now = await (await storeOf(ctx, account)).get(account.id);
  if (!now) throw gone(account.id);
  return now;
}

export function isDefault(view: Pick<AccountView, 'defaults'>, a: Account): boolean {
  return view.defaults[a.app] === a.id;
}

/**
 * Bookkeeping on a status (a key that passed its test, a refresh that failed):
 * the command's outcome does not depend on it, so a failure to record it is a
 * warning, never the command's error.
 */
export async function noteStatus(ctx: Context, account: Account, status: Account['status'], what: string, opts: { ifUnchanged?: boolean } = {}): Promise<void> {
  try {
    await setStatus(ctx, account, status, { ...opts, touch: false });
  } catch (err) {
    if (!(err instanceof AcctError)) throw err;
    ctx.warn(`could not record that ${what} (${err.message})`);
  }
}

/**
 * An account as another machine exported it (acct import): the same id unless
 * that id was retired here, its secrets written before the metadata that
 * points at them, as createAccount does. An account already here is replaced
 * whole (so a setting the bundle no longer has does not linger).
 */
export async function importAccount(ctx: Context, incoming: Account, fields: Fields, makeDefault: boolean): Promise<{ id: string; action: 'added' | 'updated' }> {
  ctx.store.assertWritable();
  const { team: _local, ...account } = incoming;
  return ctx.store.put(account, fields, makeDefault);
}
