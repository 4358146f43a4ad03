// acct apps add <slug> --issuer URL: an app definition from the issuer's
// metadata (discovered by oauth/discovery.ts).
import type { Context } from '../context.js';
import type { AppDefinition } from '../catalog/schema.js';
import { parseApp } from '../catalog/validate.js';
import type { oauth } from '../oauth/protocol.js';
import { discover, issuerUrl } from '../oauth/discovery.js';
import { AcctError } from '../errors.js';
import { CONTROL_CHARACTER } from '../catalog/template.js';

interface DiscoverOptions {
  issuer?: string;
  scope: string[];
  baseUrl?: string;
  testPath?: string;
  identity: string[];
  name?: string;
}

export async function discoverApp(ctx: Context, slug: string, opts: DiscoverOptions): Promise<AppDefinition> {
  const issuer = issuerUrl(opts.issuer!);
  const as = await discover(issuer, { fetch: await ctx.fetch() });
  if (!as.authorization_endpoint || !as.token_endpoint)
    throw new AcctError('usage', `${issuer.href} metadata lacks an authorization or token endpoint`);
  const methods = as.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  const scopes = opts.scope.length ? opts.scope : defaultScopes(as.scopes_supported);
  const baseUrl = opts.baseUrl ?? issuer.href.replace(/\/$/, '');
  const draft = {
    slug,
    name: opts.name ?? providerName(as, issuer),
    description: `discovered from ${issuer.href}`,
    docs: issuer.href,
    api: { baseUrl, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
    test: opts.testPath ? { path: opts.testPath, identity: opts.identity } : userinfoTest(as.userinfo_endpoint, baseUrl, opts.identity),
    env: { oauth_access_token: `${slug.toUpperCase().replace(/-/g, '_')}_TOKEN` },
    auth: 'oauth2',
    oauth: {
      issuer: as.issuer,
      issParameterSupported: as.authorization_response_iss_parameter_supported === true,
      authorizationUrl: as.authorization_endpoint,
      tokenUrl: as.token_endpoint,
      revocationUrl: as.revocation_endpoint,
      deviceAuthorizationUrl: as.device_authorization_endpoint,
      userinfoUrl: as.userinfo_endpoint,
      scopes,
      clientAuth: methods.includes('client_secret_basic') ? 'client_secret_basic' : methods.includes('client_secret_post') ? 'client_secret_post' : 'none',
      clientSecret: 'optional',
      pkce: true,
      createClientUrl: issuer.href,
    },
  };
  return parseApp(draft, `the metadata of ${issuer.href}`);
}

/** The name the metadata gives the provider (OpenID Federation's display_name or organization_name), else its host without a generic first label. */
export function providerName(as: oauth.AuthorizationServer, issuer: URL): string {
  for (const key of ['display_name', 'organization_name', 'name']) {
    const v = as[key];
    // Printed in prompts and tables: one short line of text, nothing else.
    if (typeof v === 'string' && v.trim() && v.length <= 80 && !CONTROL_CHARACTER.test(v)) return v.trim();
  }
  const host = issuer.hostname;
  const labels = host.split('.');
  if (labels.length > 2 && /^(accounts?|auth|login|id|identity|sso|oauth2?|www)$/i.test(labels[0]!) && !/^\d+$/.test(labels.at(-1)!)) return labels.slice(1).join('.');
  return host;
}

/**
 * The userinfo endpoint as the test request, when it sits under the API base
 * URL (or on its origin): it proves the token works and names who it belongs to.
 * Elsewhere it would send the token to another origin than the app's API.
 */
function userinfoTest(userinfo: string | undefined, baseUrl: string, identity: string[]) {
  if (!userinfo) return undefined;
  let url: URL, base: URL;
  try {
    url = new URL(userinfo);
    base = new URL(baseUrl);
  } catch {
    return undefined;
  }
  if (url.origin !== base.origin) return undefined;
  const prefix = baseUrl.replace(/\/+$/, '');
  const path = url.href.startsWith(`${prefix}/`) ? url.href.slice(prefix.length) : url.href;
  return { path, identity: identity.length ? identity : ['preferred_username', 'email', 'sub'] };
}

/** openid + profile/email where offered, and offline_access so a refresh token comes back. */
function defaultScopes(supported: string[] | undefined): string[] {
  if (!supported) return [];
  return ['openid', 'profile', 'email', 'offline_access'].filter((s) => supported.includes(s));
}
