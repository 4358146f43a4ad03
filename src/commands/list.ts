import type { Context } from '../context.js';
import { sortByAppAndNickname, printJson, printTable, relativeTime, style } from '../output/format.js';
import { isDefault } from '../accounts/service.js';
import type { Account } from '../accounts/model.js';

export function accountJson(a: Account, isDefaultAccount: boolean, lastUsed: string | null) {
  return {
    id: a.id,
    app: a.app,
    nickname: a.nickname,
    auth: a.auth,
    status: a.status,
    default: isDefaultAccount,
    identity: a.identity,
    scopes: a.scopes,
    expires_at: a.expiresAt,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    last_used_at: lastUsed,
  };
}

export async function list(ctx: Context, opts: { app?: string; json?: boolean }): Promise<void> {
  const m = ctx.accounts.read();
  let used = new Map<string, string>();
  ctx.housekeeping('read when the accounts were last used', () => void (used = ctx.accounts.lastUsed()));
  const accounts = sortByAppAndNickname(m.accounts.filter((a) => !opts.app || a.app === opts.app));
  if (opts.json) {
    printJson(ctx.io, accounts.map((a) => accountJson(a, isDefault(m, a), used.get(a.id) ?? null)));
    return;
  }
  if (!accounts.length) {
    ctx.info(opts.app ? `No ${opts.app} accounts. Connect one: acct connect ${opts.app}` : 'No accounts yet. Connect one: acct connect <app> (find apps with: acct apps)');
    return;
  }
  const s = await style(ctx.io, ctx.env);
  const now = ctx.now();
  await printTable(
    ctx.io,
    ['ID', 'APP', 'NICKNAME', 'AUTH', 'STATUS', 'EXPIRES', 'LAST USED'],
    accounts.map((a) => [
      a.id,
      a.app,
      a.nickname + (isDefault(m, a) ? s.dim(' (default)') : ''),
      a.auth === 'oauth2' ? 'oauth' : 'keys',
      a.status === 'ok' ? s.green('ok') : s.red(a.status),
      a.expiresAt ? relativeTime(a.expiresAt, now) : s.dim('-'),
      relativeTime(used.get(a.id) ?? null, now),
    ]),
    s,
  );
}
