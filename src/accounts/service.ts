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
  return resolveReference(ctx.accounts.read(), ref, (slug) => ctx.catalog.find(slug) !== undefined);
}

export function validateNickname(nickname: string): string {
  if (!NICKNAME_RE.test(nickname) || nickname.startsWith('acc_'))
    throw usageError(
      `"${nickname}" is not a valid nickname`,
      'use letters, digits and . _ @ + - (at most 64, no slash, not starting with acc_)',
    );
  return nickname;
}

/** A nickname derived from an identity ("octocat", "me@example.com"), made unique within the app. */
export function deriveNickname(m: Metadata, app: string, identity: string | null): string {
  const base =
    (identity ?? 'default')
      .replace(/[^A-Za-z0-9._@+-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      // acc_ starts account ids, never nicknames.
      .replace(/^acc_/, 'acc-')
      .slice(0, 60) || 'default';
  const taken = new Set(m.accounts.filter((a) => a.app === app).map((a) => a.nickname));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export interface NewCredentials {
  fields: Fields;
  scopes: string[];
  expiresAt: string | null;
  identity: string | null;
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
      if (m.accounts.some((a) => a.id === id) || m.retiredIds.includes(id)) throw new AcctError(ExitCode.unexpected, 'account id collision; retry');
      if (nickname && m.accounts.some((a) => a.app === app.slug && a.nickname === nickname))
        throw usageError(
          `${app.slug} already has an account called "${nickname}"`,
          `pick another --nickname, or replace its credentials: acct reconnect ${app.slug}/${nickname}`,
        );
      const now = ctx.now().toISOString();
      const account: Account = {
        id,
        app: app.slug,
        nickname: nickname ?? deriveNickname(m, app.slug, creds.identity),
        auth: app.auth,
        status: 'ok',
        scopes: creds.scopes,
        fields: Object.keys(creds.fields).sort(),
        identity: creds.identity,
        expiresAt: creds.expiresAt,
        createdAt: now,
        updatedAt: now,
      };
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
    a.status = 'ok';
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

export async function setStatus(ctx: Context, id: string, status: Account['status']): Promise<void> {
  await ctx.accounts.update((m) => {
    const a = mustFind(m, id);
    a.status = status;
    a.updatedAt = ctx.now().toISOString();
  });
}

export function mustFind(m: Metadata, id: string): Account {
  const a = m.accounts.find((x) => x.id === id);
  if (!a) throw new AcctError(ExitCode.notFound, `account ${id} no longer exists`, { hint: 'another acct process deleted it; see acct list' });
  return a;
}

export function isDefault(m: Metadata, a: Account): boolean {
  return m.defaults[a.app] === a.id;
}
