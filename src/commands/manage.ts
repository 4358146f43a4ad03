import type { Context } from '../context.js';
import { findAccount, makeDefault, removeAccount, renameAccount, clearDefault, noteShared, storeOf } from '../accounts/service.js';
import { splitTeam, storeFor } from '../accounts/stores.js';
import { out, printJson } from '../output/format.js';
import { usageError, notFound, ExitCode } from '../errors.js';
import { label } from '../accounts/resolve.js';

export async function rename(ctx: Context, ref: string, nickname: string, opts: { json?: boolean }) {
  const a = await renameAccount(ctx, ref, nickname);
  if (opts.json) printJson(ctx.io, { id: a.id, app: a.app, nickname: a.nickname });
  else ctx.info(`Renamed to ${label(a)}`);
  await noteShared(ctx, a);
}

/**
 * `acct default <ref>` makes the account its app's default; `acct default
 * <app>` (an app slug, no account of that name) shows the default; `--unset`
 * clears the default of the app (or of the account's app).
 */
export async function setDefault(ctx: Context, ref: string, opts: { json?: boolean; unset?: boolean }) {
  // Defaults are each store's own: `acct default acme:github` is the team's default github account.
  const { team, ref: inner } = splitTeam(ref);
  const store = await storeFor(ctx, team);
  const m = await store.view();
  const isApp = !inner.includes('/') && ctx.catalog.find(inner) !== undefined && !m.accounts.some((a) => a.id === inner || (a.nickname === inner && a.app !== inner));
  if (opts.unset) {
    const account = isApp ? undefined : await findAccount(ctx, ref);
    const app = account?.app ?? inner;
    const was = await clearDefault(account ? await storeOf(ctx, account) : store, app);
    if (opts.json) printJson(ctx.io, { app, default: null, was: was ? { id: was.id, nickname: was.nickname } : null });
    else ctx.info(was ? `${app} has no default account now (it was ${label(was)})` : `${app} had no default account`);
    return;
  }
  if (isApp) {
    const def = m.accounts.find((a) => a.id === m.defaults[inner]);
    if (opts.json) return printJson(ctx.io, { app: inner, default: def ? { id: def.id, nickname: def.nickname } : null });
    if (!def) {
      const ofApp = m.accounts.filter((a) => a.app === inner);
      const prefix = team ? `${team}:` : '';
      throw notFound(
        `${ref} has no default account`,
        ofApp.length ? `pick one: acct default ${prefix}${inner}/${ofApp[0]!.nickname} (${inner} accounts: ${ofApp.map(label).join(', ')})` : `connect one: acct connect ${inner}${team ? ` --team ${team}` : ''}`,
      );
    }
    out(ctx.io, `${label(def)}\n`);
    return;
  }
  store.assertWritable();
  const a = await makeDefault(ctx, await findAccount(ctx, ref));
  if (opts.json) printJson(ctx.io, { id: a.id, app: a.app, nickname: a.nickname, default: true });
  else ctx.info(`${label(a)} is now the default ${a.app} account`);
}

export async function remove(ctx: Context, ref: string, opts: { yes?: boolean; keepRemote?: boolean; json?: boolean }) {
  const account = await findAccount(ctx, ref);
  (await storeOf(ctx, account)).assertWritable();
  if (!opts.yes) {
    if (!ctx.prompter.interactive) throw usageError(`deleting ${label(account)} needs confirmation`, 'pass --yes');
    if (!(await ctx.prompter.confirm(`Delete ${label(account)}?`, '--yes'))) {
      ctx.info('Nothing deleted.');
      return ExitCode.cancelled;
    }
  }
  let revoked: boolean | null = null;
  if (account.auth === 'oauth2' && !opts.keepRemote) {
    const { revokeAccount } = await import('../accounts/revoke.js');
    revoked = await revokeAccount(ctx, account);
  }
  await removeAccount(ctx, account);
  if (opts.json) printJson(ctx.io, { id: account.id, app: account.app, nickname: account.nickname, deleted: true, revoked });
  else ctx.info(`Deleted ${label(account)}`);
}
