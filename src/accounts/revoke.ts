// Revocation at the provider (RFC 7009): before a local delete, and of the
// grant a reconnect replaced. A failure is reported and the caller goes on.
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { OAuthApp } from '../catalog/schema.js';
import type { Fields } from '../store/store.js';
import { resolveClient } from './clients.js';
import { resolveApp } from '../catalog/resolve-app.js';
import { revoke, classifyFailure } from '../oauth/protocol.js';
import { AcctError } from '../errors.js';
import { readSecrets } from './credentials.js';
import { storeOf } from './stores.js';
import type { AccountStore } from '../store/account-store.js';

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
    const client = await resolveClient(ctx, await storeOf(ctx, account), app);
    if (!client) throw new AcctError('usage', `no OAuth client is set for ${app.slug}`);
    const fields = await readSecrets(ctx, account);
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

/**
 * After a reconnect stored new credentials: revokes the grant they replaced.
 * Nothing when the provider handed back the same refresh token (the grant
 * lives on), or when the app has no revocation endpoint.
 */
export async function revokeReplaced(ctx: Context, store: AccountStore, app: OAuthApp, old: Fields, current: Fields, label: string): Promise<void> {
  if (!app.oauth.revocationUrl) return;
  if (old.oauth_refresh_token && old.oauth_refresh_token === current.oauth_refresh_token) return;
  const tokens: [string, 'refresh_token' | 'access_token'][] = [];
  if (old.oauth_refresh_token) tokens.push([old.oauth_refresh_token, 'refresh_token']);
  if (old.oauth_access_token && old.oauth_access_token !== current.oauth_access_token) tokens.push([old.oauth_access_token, 'access_token']);
  if (!tokens.length) return;
  const why = await revokeTokens(ctx, store, app, tokens);
  if (why === undefined) ctx.info(`Revoked the previous grant of ${label} at ${app.name}.`);
  else ctx.warn(`the new credentials of ${label} are stored, but the previous grant could not be revoked at ${app.name} (${why}): revoke it in your ${app.name} settings`);
}

/** Revokes a grant acct will not keep (`what` names it), refresh token first; a failure is a warning. Nothing when the app has no revocation endpoint. */
export async function revokeGrant(ctx: Context, store: AccountStore, app: OAuthApp, fields: Fields, what: string): Promise<void> {
  if (!app.oauth.revocationUrl) {
    ctx.warn(`${what} stays at ${app.name}, which has no revocation endpoint: remove it in your ${app.name} settings`);
    return;
  }
  const tokens: [string, 'refresh_token' | 'access_token'][] = [];
  if (fields.oauth_refresh_token) tokens.push([fields.oauth_refresh_token, 'refresh_token']);
  if (fields.oauth_access_token) tokens.push([fields.oauth_access_token, 'access_token']);
  const why = await revokeTokens(ctx, store, app, tokens);
  if (why !== undefined) ctx.warn(`${what} could not be revoked at ${app.name} (${why}): revoke it in your ${app.name} settings`);
}

/** undefined when every token was revoked; otherwise why not, in acct's words. */
async function revokeTokens(ctx: Context, store: AccountStore, app: OAuthApp, tokens: [string, 'refresh_token' | 'access_token'][]): Promise<string | undefined> {
  try {
    const client = await resolveClient(ctx, store, app);
    if (!client) throw new AcctError('usage', `no OAuth client is set for ${app.slug}`);
    const fetch = await ctx.fetch();
    for (const [token, hint] of tokens) await revoke(app, client, token, hint, { fetch });
    return undefined;
  } catch (err) {
    return err instanceof AcctError ? err.message : classifyFailure(err).message;
  }
}
