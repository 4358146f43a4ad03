// Authorization server metadata: OpenID Connect discovery, then RFC 8414, on
// oauth4webapi. Protocol only: which metadata a URL publishes, or why none is
// usable, in acct's words. What acct makes of it (an app definition) is
// commands/discover.ts's.
import { oauth } from './protocol.js';
import { isLoopbackHost } from '../catalog/schema.js';
import { capBodies, type Fetch } from '../http.js';
import { AcctError, usageError, unavailable, providerText, scrubLibraryText } from '../errors.js';

/** The issuer as a URL acct will ask: https, or plain http on a loopback host (local servers and tests). */
export function issuerUrl(raw: string): URL {
  let issuer: URL;
  try {
    issuer = new URL(raw);
  } catch {
    throw usageError(`--issuer "${raw}" is not a URL`);
  }
  const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
  if (issuer.protocol !== 'https:' && !insecure) throw usageError('the issuer must be an https URL (plain http only on loopback)');
  return issuer;
}

/** The issuer's metadata: OpenID Connect discovery first, then RFC 8414; both failing is exit 5 with why each did. */
export async function discover(issuer: URL, deps: { fetch: Fetch }): Promise<oauth.AuthorizationServer> {
  const options = { [oauth.customFetch]: capBodies(deps.fetch) as unknown as typeof globalThis.fetch, [oauth.allowInsecureRequests]: issuer.protocol === 'http:' };
  const problems: string[] = [];
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      return await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm }));
    } catch (err) {
      if (err instanceof AcctError) throw err;
      problems.push(`${algorithm === 'oidc' ? 'OpenID Connect' : 'RFC 8414'}: ${discoveryProblem(err)}`);
    }
  }
  throw unavailable(`no usable authorization server metadata at ${issuer.href}`, problems.join('; '));
}

/** Why one kind of metadata was not usable: oauth4webapi's fixed text for its own errors, nothing quoted from elsewhere. */
function discoveryProblem(err: unknown): string {
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    const status = (err.cause as { status?: number } | undefined)?.status;
    return `${providerText(err.message)}${status ? ` (HTTP ${status})` : ''}`;
  }
  return scrubLibraryText(err instanceof Error ? err.message : String(err));
}
