// OAuth clients (client id, and secret when the app needs one) per app. The id
// sits in clients.json; the secret is sealed in the secret store.
// ACCT_CLIENT_ID_<APP> / ACCT_CLIENT_SECRET_<APP> override both for one run.
import { join } from 'node:path';
import type { Context } from '../context.js';
import { templateFields, type AppDefinition, type OAuthApp } from '../catalog/schema.js';
import type { OAuthClient } from '../oauth/protocol.js';
import { readJsonIfExists, writeJsonAtomic, isObject, ensurePrivateDir } from '../store/files.js';
import { withLock } from '../store/lock.js';
import { usageError } from '../errors.js';

interface ClientRecord {
  clientId: string;
  hasSecret: boolean;
  updatedAt: string;
}
interface ClientsFile {
  version: 1;
  clients: Record<string, ClientRecord>;
}
const isClientsFile = (v: unknown): v is ClientsFile => isObject(v) && v.version === 1 && isObject(v.clients);

const file = (ctx: Context) => join(ctx.paths.config, 'clients.json');
const secretId = (slug: string) => `client.${slug}`;
export const envSuffix = (slug: string) => slug.toUpperCase().replace(/-/g, '_');

export interface ResolvedClient extends OAuthClient {
  source: 'environment' | 'stored';
}

export function storedClient(ctx: Context, slug: string): ClientRecord | undefined {
  if (ctx.bundle) {
    const c = ctx.bundle.client(slug);
    return c && { clientId: c.clientId, hasSecret: c.clientSecret !== undefined, updatedAt: '' };
  }
  return readJsonIfExists(file(ctx), isClientsFile)?.clients[slug];
}

/**
 * An account's fields, plus `oauth_client_id` when the app's request
 * templates name it (Twitch's API wants the client id in a Client-Id header on
 * every call): the client set for the app now, ACCT_CLIENT_ID_<APP> first.
 */
export function withClientId(ctx: Context, app: AppDefinition, fields: Record<string, string>): Record<string, string> {
  if (app.auth !== 'oauth2' || !templateFields(JSON.stringify(app.api)).includes('oauth_client_id')) return fields;
  const clientId = ctx.env[`ACCT_CLIENT_ID_${envSuffix(app.slug)}`] || storedClient(ctx, app.slug)?.clientId;
  if (!clientId) throw usageError(`${app.name} requests carry the OAuth client id, and none is set`, `set it: acct client set ${app.slug} --client-id <id>`);
  return { ...fields, oauth_client_id: clientId };
}

export async function resolveClient(ctx: Context, app: OAuthApp): Promise<ResolvedClient | undefined> {
  const suffix = envSuffix(app.slug);
  const envId = ctx.env[`ACCT_CLIENT_ID_${suffix}`];
  if (envId) return { clientId: envId, clientSecret: ctx.env[`ACCT_CLIENT_SECRET_${suffix}`] || undefined, source: 'environment' };
  const rec = storedClient(ctx, app.slug);
  if (!rec) return undefined;
  const clientSecret = rec.hasSecret ? (await ctx.secrets.read(secretId(app.slug))).client_secret : undefined;
  return { clientId: rec.clientId, clientSecret, source: 'stored' };
}

export async function saveClient(ctx: Context, app: OAuthApp, clientId: string, clientSecret: string | undefined): Promise<void> {
  if (!clientId.trim() || clientId !== clientId.trim()) throw usageError('the client id is empty or has surrounding whitespace');
  if (clientSecret !== undefined && (!clientSecret || clientSecret !== clientSecret.trim()))
    throw usageError('the client secret is empty or has surrounding whitespace');
  if (clientSecret === undefined && app.oauth.clientSecret === 'required')
    throw usageError(`${app.name} needs a client secret`, `pass it on stdin: acct client set ${app.slug} --client-id ${clientId} --secret-stdin < secret.txt`);
  if (clientSecret !== undefined) await ctx.secrets.write(secretId(app.slug), { client_secret: clientSecret });
  await withLock(join(ctx.paths.config, 'clients'), () => {
    const f = readJsonIfExists(file(ctx), isClientsFile) ?? { version: 1 as const, clients: {} };
    f.clients[app.slug] = { clientId, hasSecret: clientSecret !== undefined, updatedAt: ctx.now().toISOString() };
    ensurePrivateDir(ctx.paths.config);
    writeJsonAtomic(file(ctx), f);
  });
  if (clientSecret === undefined) ctx.secrets.remove(secretId(app.slug));
}

export async function removeClient(ctx: Context, slug: string): Promise<boolean> {
  const removed = await withLock(join(ctx.paths.config, 'clients'), () => {
    const f = readJsonIfExists(file(ctx), isClientsFile);
    if (!f?.clients[slug]) return false;
    delete f.clients[slug];
    writeJsonAtomic(file(ctx), f);
    return true;
  });
  ctx.secrets.remove(secretId(slug));
  return removed;
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
