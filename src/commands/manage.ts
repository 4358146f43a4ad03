import type { Context } from '../context.js';
import { findAccount, makeDefault, removeAccount, renameAccount, clearDefault } from '../accounts/service.js';
import { out, printJson } from '../output/format.js';
import { usageError, notFound, ExitCode } from '../errors.js';
import { label } from '../accounts/resolve.js';

export async function rename(ctx: Context, ref: string, nickname: string, opts: { json?: boolean }) {
  const a = await renameAccount(ctx, ref, nickname);
  if (opts.json) printJson(ctx.io, { id: a.id, app: a.app, nickname: a.nickname });
  else ctx.info(`Renamed to ${label(a)}`);
}

/**
 * `acct default <ref>` makes the account its app's default; `acct default
 * <app>` (an app slug, no account of that name) shows the default; `--unset`
 * clears the default of the app (or of the account's app).
 */
export async function setDefault(ctx: Context, ref: string, opts: { json?: boolean; unset?: boolean }) {
  const m = ctx.accounts.read();
  const isApp = !ref.includes('/') && ctx.catalog.find(ref) !== undefined && !m.accounts.some((a) => a.id === ref || (a.nickname === ref && a.app !== ref));
  if (opts.unset) {
    ctx.accounts.assertWritable();
    const app = isApp ? ref : findAccount(ctx, ref).app;
    const was = await clearDefault(ctx, app);
    if (opts.json) printJson(ctx.io, { app, default: null, was: was ? { id: was.id, nickname: was.nickname } : null });
    else ctx.info(was ? `${app} has no default account now (it was ${label(was)})` : `${app} had no default account`);
    return;
  }
  if (isApp) {
    const def = m.accounts.find((a) => a.id === m.defaults[ref]);
    if (opts.json) return printJson(ctx.io, { app: ref, default: def ? { id: def.id, nickname: def.nickname } : null });
    if (!def) {
      const ofApp = m.accounts.filter((a) => a.app === ref);
      throw notFound(
        `${ref} has no default account`,
        ofApp.length ? `pick one: acct default ${ref}/${ofApp[0]!.nickname} (${ref} accounts: ${ofApp.map(label).join(', ')})` : `connect one: acct connect ${ref}`,
      );
    }
    out(ctx.io, `${label(def)}\n`);
    return;
  }
  ctx.accounts.assertWritable();
  const a = await makeDefault(ctx, ref);
  if (opts.json) printJson(ctx.io, { id: a.id, app: a.app, nickname: a.nickname, default: true });
  else ctx.info(`${label(a)} is now the default ${a.app} account`);
}

export async function remove(ctx: Context, ref: string, opts: { yes?: boolean; keepRemote?: boolean; json?: boolean }) {
  const account = findAccount(ctx, ref);
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
  await removeAccount(ctx, account.id);
  if (opts.json) printJson(ctx.io, { id: account.id, app: account.app, nickname: account.nickname, deleted: true, revoked });
  else ctx.info(`Deleted ${label(account)}`);
}
