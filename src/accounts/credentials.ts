// The one way commands get an account's credentials: key fields as stored, or
// OAuth fields made fresh through the shared refresh path.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { Fields } from '../store/store.js';
import type { AppDefinition } from '../catalog/schema.js';
import { primaryField } from './keys.js';
import { needsReconnect, usageError } from '../errors.js';

export interface FreshOptions {
  /** Refresh when the access token expires within this many seconds. */
  minTtlSeconds: number;
  /** Refresh even if the token is still valid. */
  force?: boolean;
}

export async function freshCredentials(ctx: Context, account: Account, app: AppDefinition, options: FreshOptions): Promise<Fields> {
  if (account.status === 'needs-reconnect')
    throw needsReconnect(`${account.app}/${account.nickname} needs to be reconnected`, `run: acct reconnect ${account.id}`);
  let fields: Fields;
  if (account.auth === 'oauth2') {
    const { ensureFresh } = await import('./refresh.js');
    const fresh = await ensureFresh(ctx, account, app, options);
    // OAuth credentials expose `expires_at` beside the tokens (the spec's field list); absent: the token does not expire.
    fields = fresh.expiresAt ? { ...fresh.fields, expires_at: fresh.expiresAt } : fresh.fields;
  } else {
    if (options.force) throw usageError('--refresh is for OAuth accounts; API keys do not expire');
    fields = await ctx.secrets.read(account.id);
  }
  ctx.housekeeping('record the use of the account', () => ctx.accounts.markUsed(account.id, ctx.now()));
  // Connection settings read like fields (acct env exports them where the app names a variable); stored fields win.
  return account.settings ? { ...account.settings, ...fields } : fields;
}

export function primaryFieldName(app: AppDefinition): string {
  return app.auth === 'oauth2' ? 'oauth_access_token' : primaryField(app).name;
}
