// OAuth clients (client id, and secret when the app needs one) per app, kept
// by the store that holds the accounts they issued (the local store's
// clients.json, a bundle's, a team's), behind AccountStore.clients.
// ACCT_CLIENT_ID_<APP> / ACCT_CLIENT_SECRET_<APP> override both for one run.
import type { Context } from '../context.js';
import type { AccountStore } from '../store/account-store.js';
import { templateFields, type AppDefinition, type OAuthApp } from '../catalog/schema.js';
import type { OAuthClient } from '../oauth/protocol.js';
import { usageError } from '../errors.js';
import { valueProblem } from './field-value.js';

export const envSuffix = (slug: string) => slug.toUpperCase().replace(/-/g, '_');

export interface ResolvedClient extends OAuthClient {
  source: 'environment' | 'stored';
}

/**
 * An account's fields, plus `oauth_client_id` when the app's request
 * templates name it (Twitch's API wants the client id in a Client-Id header on
 * every call): the client set for the app now, ACCT_CLIENT_ID_<APP> first.
 */
export async function withClientId(ctx: Context, store: AccountStore, app: AppDefinition, fields: Record<string, string>): Promise<Record<string, string>> {
  if (!carriesClientId(app)) return fields;
  const clientId = ctx.env[`ACCT_CLIENT_ID_${envSuffix(app.slug)}`] || (await store.clients.peek(app.slug))?.clientId;
  if (!clientId) throw usageError(`${app.name} requests carry the OAuth client id, and none is set`, `set it: acct client set ${app.slug} --client-id <id>`);
  return { ...fields, oauth_client_id: clientId };
}

/** withClientId with the client in hand (connect, which just used it). */
export function addClientId(app: AppDefinition, fields: Record<string, string>, clientId: string): Record<string, string> {
  return carriesClientId(app) ? { ...fields, oauth_client_id: clientId } : fields;
}

const carriesClientId = (app: AppDefinition) => app.auth === 'oauth2' && templateFields(JSON.stringify(app.api)).includes('oauth_client_id');

export async function resolveClient(ctx: Context, store: AccountStore, app: OAuthApp): Promise<ResolvedClient | undefined> {
  const suffix = envSuffix(app.slug);
  const envId = ctx.env[`ACCT_CLIENT_ID_${suffix}`];
  if (envId) return { clientId: envId, clientSecret: ctx.env[`ACCT_CLIENT_SECRET_${suffix}`] || undefined, source: 'environment' };
  const stored = await store.clients.get(app.slug);
  return stored && { clientId: stored.clientId, clientSecret: stored.clientSecret, source: 'stored' };
}

const VSCHAR = /^[\x20-\x7e]+$/;

/** Throws unless `clientId` can be one. RFC 6749 (appendix A): a client id and secret are printable ASCII; a line break or an escape in one is a paste gone wrong, and would go into headers and forms. */
export function checkClientId(clientId: string): void {
  if (!clientId.trim() || clientId !== clientId.trim()) throw usageError('the client id is empty or has surrounding whitespace');
  if (!VSCHAR.test(clientId)) throw usageError('the client id holds a character other than printable ASCII (a line break, a control character)', "copy it again from the provider's console");
}

/** Throws unless `clientId` and `clientSecret` can be the app's client (what saveClient stores). */
export function checkClient(app: OAuthApp, clientId: string, clientSecret: string | undefined): void {
  checkClientId(clientId);
  if (clientSecret !== undefined && (!clientSecret || clientSecret !== clientSecret.trim()))
    throw usageError('the client secret is empty or has surrounding whitespace');
  const bad = clientSecret !== undefined ? valueProblem(clientSecret, 'encoded', app.name) : undefined;
  if (bad) throw usageError(`the client secret ${bad.problem}`, `nothing was stored; ${bad.why}`);
  if (clientSecret !== undefined && !VSCHAR.test(clientSecret))
    throw usageError('the client secret holds a character other than printable ASCII (a line break, a control character)', "copy it again from the provider's console");
  if (clientSecret === undefined && app.oauth.clientSecret === 'required')
    throw usageError(`${app.name} needs a client secret`, `pass it on stdin: acct client set ${app.slug} --client-id ${clientId} --secret-stdin < secret.txt`);
}

export async function saveClient(store: AccountStore, app: OAuthApp, clientId: string, clientSecret: string | undefined): Promise<void> {
  checkClient(app, clientId, clientSecret);
  await store.clients.set(app.slug, { clientId, ...(clientSecret !== undefined ? { clientSecret } : {}) });
}


/** The port of a sign-in without a listener (--manual, https redirects) when the app fixes none. */
const MANUAL_PORT = 8976;

/** The redirect URI to register: plain http on loopback may take any port (RFC 8252) unless the app fixes one; https needs its exact port. */
export function redirectUriToRegister(app: OAuthApp): string {
  const r = app.oauth.redirect;
  const port = r.port ?? (r.scheme === 'https' ? MANUAL_PORT : undefined);
  return `${r.scheme}://${r.host}${port ? `:${port}` : ''}${r.path}`;
}

/** The redirect URI of a sign-in without a listener: the browser ends there, on an error page, and the user pastes its address. */
export function manualRedirectUri(app: OAuthApp): string {
  const r = app.oauth.redirect;
  return `${r.scheme}://${r.host}:${r.port ?? MANUAL_PORT}${r.path}`;
}
