import type { Context } from '../context.js';
import { findAccount, makeDefault, removeAccount, renameAccount } from '../accounts/service.js';
import { printJson } from '../output/format.js';
import { usageError, ExitCode } from '../errors.js';
import { label } from '../accounts/resolve.js';

export async function rename(ctx: Context, ref: string, nickname: string, opts: { json?: boolean }) {
  const a = await renameAccount(ctx, ref, nickname);
  if (opts.json) printJson(ctx.io, { id: a.id, app: a.app, nickname: a.nickname });
  else ctx.info(`Renamed to ${label(a)}`);
}

export async function setDefault(ctx: Context, ref: string, opts: { json?: boolean }) {
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
