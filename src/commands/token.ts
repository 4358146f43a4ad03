// acct token: the primary secret on stdout, fresh. Kept light: no prompts,
// tables, colours or HTTP unless a refresh is actually needed.
import type { Context } from '../context.js';
import { findAccount, storeOf } from '../accounts/service.js';
import { warmFor } from '../accounts/stores.js';
import { freshCredentials, primaryFieldName } from '../accounts/credentials.js';
import { AcctError, usageError } from '../errors.js';
import type { Account } from '../accounts/model.js';
import type { Fields } from '../store/store.js';
import { printJson, out } from '../output/format.js';

export interface TokenOptions {
  field?: string;
  minTtl: string;
  refresh?: boolean;
  json?: boolean;
}

export async function token(ctx: Context, ref: string, opts: TokenOptions): Promise<void> {
  const minTtl = Number(opts.minTtl);
  if (!Number.isFinite(minTtl) || minTtl < 0) throw usageError(`--min-ttl takes a number of seconds, not "${opts.minTtl}"`);
  // Every token is read from a store: let it start unlocking (or connecting) while the account is found.
  warmFor(ctx, ref);
  let account: Account;
  let fields: Fields;
  let offline = false;
  try {
    account = await findAccount(ctx, ref);
    fields = await freshCredentials(ctx, account, ctx.catalog.forAccount(account), { minTtlSeconds: minTtl, force: opts.refresh });
  } catch (err) {
    // A team's database unreachable: the access token kept on this machine, when the team allows it and it needs no refresh.
    if (opts.refresh || !(err instanceof AcctError) || err.code !== 'team_unreachable') throw err;
    ({ account, fields } = await (await import('../accounts/offline.js')).offlineCredentials(ctx, ref, err, minTtl));
    offline = true;
  }
  const app = ctx.catalog.forAccount(account);
  const name = opts.field ?? primaryFieldName(app);
  const value = fields[name];
  if (value === undefined)
    throw usageError(`${account.app}/${account.nickname} has no field "${name}"`, `its fields are: ${Object.keys(fields).sort().join(', ')}`);
  if (opts.json) {
    const current = offline ? account : ((await (await storeOf(ctx, account)).get(account.id)) ?? account);
    printJson(ctx.io, {
      id: account.id,
      field: name,
      token: value,
      expires_at: name === 'oauth_access_token' ? current.expiresAt : null,
      scopes: current.scopes,
    });
  } else out(ctx.io, `${value}\n`);
}
