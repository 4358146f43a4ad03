// Revocation at the provider (RFC 7009) before a local delete. A failure is
// reported and the caller still deletes locally.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import { resolveClient } from './clients.js';
import { resolveApp } from '../catalog/resolve-app.js';
import { revoke, classifyFailure } from '../oauth/protocol.js';
import { AcctError } from '../errors.js';

/** true when revoked, false when it could not be (with a warning), null when the app has no revocation endpoint. */
export async function revokeAccount(ctx: Context, account: Account): Promise<boolean | null> {
  const found = ctx.catalog.find(account.app);
  const app = found && resolveApp(found.app, account.settings);
  if (!app || app.auth !== 'oauth2') return null;
  const label = `${account.app}/${account.nickname}`;
  if (!app.oauth.revocationUrl) {
    ctx.info(`${app.name} has no revocation endpoint; revoke acct's access in your ${app.name} account settings if you want it gone there too.`);
    return null;
  }
  try {
    const client = await resolveClient(ctx, app);
    if (!client) throw new AcctError(2, `no OAuth client is set for ${app.slug}`);
    const fields = await ctx.secrets.read(account.id);
    const fetch = await ctx.fetch();
    // The refresh token first: revoking it ends the whole grant at most providers.
    if (fields.oauth_refresh_token) await revoke(app, client, fields.oauth_refresh_token, 'refresh_token', { fetch });
    if (fields.oauth_access_token) await revoke(app, client, fields.oauth_access_token, 'access_token', { fetch });
    ctx.info(`Revoked ${label} at ${app.name}.`);
    return true;
  } catch (err) {
    const why = err instanceof AcctError ? err.message : classifyFailure(err).message;
    ctx.warn(`could not revoke ${label} at ${app.name} (${why}); deleting it locally anyway. Revoke it in your ${app.name} settings.`);
    return false;
  }
}
