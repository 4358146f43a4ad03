// Account lifecycle on top of the metadata file and the secret store. The
// secret file is written before the metadata that points at it, and removed
// after, so a reader never finds an account without its credentials.
import type { Context } from '../context.js';
import { resolveReference } from './resolve.js';
import { NICKNAME_RE, type Account, type Metadata } from './model.js';
import { usageError, AcctError, ExitCode } from '../errors.js';
import type { Fields } from '../store/store.js';
import type { AppDefinition } from '../catalog/schema.js';

export function findAccount(ctx: Context, ref: string): Account {
  return resolveReference(
    ctx.accounts.read(),
    ref,
    (slug) => ctx.catalog.find(slug) !== undefined,
    () => ctx.catalog.all().map((e) => e.app.slug),
  );
}

export function validateNickname(nickname: string): string {
  if (!NICKNAME_RE.test(nickname) || nickname.startsWith('acc_'))
    throw usageError(
      `"${nickname}" is not a valid nickname`,
      'use letters, digits and . _ @ + - (at most 64, no slash, not starting with acc_)',
    );
  return nickname;
}

/**
 * The automatic nickname: the identity ("octocat", "me@example.com"), made
 * unique within the app. Without a usable identity it is the app slug and a
 * number ("openai-1"): unique across apps too, so the bare nickname is a
 * reference that names one account and says which app it belongs to.
 */
export function deriveNickname(m: Metadata, app: string, identity: string | null): string {
  const base = identityNickname(identity);
  const taken = new Set(m.accounts.filter((a) => a.app === app).map((a) => a.nickname));
  if (base && !taken.has(base)) return base;
  const stem = base ?? app;
  for (let i = base ? 2 : 1; ; i++) if (!taken.has(`${stem}-${i}`)) return `${stem}-${i}`;
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
export function checkNewNickname(ctx: Context, app: string, nickname: string): void {
  validateNickname(nickname);
  if (ctx.accounts.read().accounts.some((a) => a.app === app && a.nickname === nickname)) throw nicknameTaken(app, nickname);
}

const nicknameTaken = (app: string, nickname: string) =>
  usageError(`${app} already has an account called "${nickname}"`, `pick another --nickname, or replace its credentials: acct reconnect ${app}/${nickname}`);

/**
 * The account a new connect of this identity updates instead of adding one:
 * same app, same identity, and no --nickname asking for a separate account
 * (a dedicated CI account of the same user is connected with --nickname ci).
 * Several candidates: the one with the automatic nickname, else the default, else the oldest.
 */
export function sameIdentity(ctx: Context, app: string, identity: string | null, nickname: string | undefined): Account | undefined {
  if (!identity || nickname !== undefined) return undefined;
  const m = ctx.accounts.read();
  const candidates = m.accounts.filter((a) => a.app === app && a.identity === identity);
  const auto = identityNickname(identity);
  return candidates.find((a) => a.nickname === auto) ?? candidates.find((a) => m.defaults[app] === a.id) ?? candidates[0];
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

export async function createAccount(
  ctx: Context,
  app: AppDefinition,
  creds: NewCredentials,
  nickname: string | undefined,
): Promise<Account> {
  if (nickname) validateNickname(nickname);
  let id = ctx.accounts.newId(ctx.accounts.read());
  // Secrets first; the id is checked again under the lock below.
  await ctx.secrets.write(id, creds.fields);
  try {
    return await ctx.accounts.update((m) => {
      if (m.accounts.some((a) => a.id === id) || m.retiredIds.includes(id)) throw new AcctError('unexpected', 'account id collision; retry');
      if (nickname && m.accounts.some((a) => a.app === app.slug && a.nickname === nickname)) throw nicknameTaken(app.slug, nickname);
      const now = ctx.now().toISOString();
      const account: Account = {
        id,
        app: app.slug,
        nickname: nickname ?? deriveNickname(m, app.slug, creds.identity),
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
      if (!m.accounts.some((a) => a.app === app.slug)) m.defaults[app.slug] = id;
      m.accounts.push(account);
      return account;
    });
  } catch (err) {
    // Whatever stopped the metadata write, the secret must not outlive it; if even that fails, the next write's sweep removes it.
    ctx.housekeeping('remove the secret of the account that was not created', () => ctx.secrets.remove(id));
    throw err;
  }
}

/** New credentials for an existing account: same id and nickname. */
export async function replaceCredentials(ctx: Context, id: string, creds: NewCredentials): Promise<Account> {
  await ctx.secrets.write(id, creds.fields);
  return ctx.accounts.update((m) => {
    const a = mustFind(m, id);
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
    return { ...a };
  });
}

export async function renameAccount(ctx: Context, ref: string, nickname: string): Promise<Account> {
  validateNickname(nickname);
  return ctx.accounts.update((m) => {
    const a = resolveReference(m, ref);
    if (m.accounts.some((o) => o.app === a.app && o.nickname === nickname && o.id !== a.id))
      throw usageError(`${a.app} already has an account called "${nickname}"`, 'pick another nickname');
    a.nickname = nickname;
    a.updatedAt = ctx.now().toISOString();
    return { ...a };
  });
}

export async function makeDefault(ctx: Context, ref: string): Promise<Account> {
  return ctx.accounts.update((m) => {
    const a = resolveReference(m, ref);
    m.defaults[a.app] = a.id;
    return { ...a };
  });
}

/** Removes the account locally: metadata first (under the lock), then its secret file. */
export async function removeAccount(ctx: Context, id: string): Promise<void> {
  await ctx.accounts.update((m) => {
    mustFind(m, id);
    m.accounts = m.accounts.filter((a) => a.id !== id);
    m.retiredIds.push(id);
    for (const [app, def] of Object.entries(m.defaults)) if (def === id) delete m.defaults[app];
  });
  ctx.secrets.remove(id);
}

/** `touch: false` keeps updatedAt, which the refresh path reads as "the credentials changed" (a failed refresh changes none). */
export async function setStatus(ctx: Context, id: string, status: Account['status'], opts: { touch?: boolean } = {}): Promise<void> {
  await ctx.accounts.update((m) => {
    const a = mustFind(m, id);
    a.status = status;
    if (opts.touch !== false) a.updatedAt = ctx.now().toISOString();
  });
}

/** Clears an app's default; an app slug with several accounts is then ambiguous again. Returns the account that was the default. */
export async function clearDefault(ctx: Context, app: string): Promise<Account | undefined> {
  return ctx.accounts.update((m) => {
    const a = m.accounts.find((x) => x.id === m.defaults[app]);
    delete m.defaults[app];
    return a && { ...a };
  });
}

export function mustFind(m: Metadata, id: string): Account {
  const a = m.accounts.find((x) => x.id === id);
  if (!a) throw new AcctError('account_not_found', `account ${id} no longer exists`, { hint: 'another acct process deleted it; see acct list' });
  return a;
}

export function isDefault(m: Metadata, a: Account): boolean {
  return m.defaults[a.app] === a.id;
}

/**
 * Bookkeeping on a status (a key that passed its test, a refresh that failed):
 * the command's outcome does not depend on it, so a failure to record it is a
 * warning, never the command's error.
 */
export async function noteStatus(ctx: Context, account: Account, status: Account['status'], what: string): Promise<void> {
  try {
    await setStatus(ctx, account.id, status, { touch: false });
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
  const before = ctx.accounts.read();
  const id = before.retiredIds.includes(incoming.id) ? ctx.accounts.newId(before) : incoming.id;
  const existed = before.accounts.some((a) => a.id === id);
  await ctx.secrets.write(id, fields);
  try {
    return await ctx.accounts.update((m) => {
      if (m.accounts.some((o) => o.app === incoming.app && o.nickname === incoming.nickname && o.id !== id))
        throw usageError(`${incoming.app}/${incoming.nickname} was created locally meanwhile`, 'rename it, then import again');
      const account: Account = { ...incoming, id, fields: Object.keys(fields).sort(), updatedAt: ctx.now().toISOString() };
      const at = m.accounts.findIndex((a) => a.id === id);
      if (at >= 0) m.accounts[at] = account;
      else m.accounts.push(account);
      if (makeDefault && !m.defaults[incoming.app]) m.defaults[incoming.app] = id;
      return { id, action: at >= 0 ? ('updated' as const) : ('added' as const) };
    });
  } catch (err) {
    if (!existed) ctx.housekeeping('remove the secret of the account that was not imported', () => ctx.secrets.remove(id));
    throw err;
  }
}
