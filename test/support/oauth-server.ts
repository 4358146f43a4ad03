// A real OAuth 2.0 authorization server for the tests: panva's oidc-provider,
// in the test process, on 127.0.0.1 with a random port. In front of it sits a
// small HTTP layer that
//   - serves a protected resource, GET /me, answering with the account behind a
//     bearer access token (acct's "test request");
//   - counts and logs refresh requests at the token endpoint (the refresh
//     token values presented, so tests can prove a rotated-out one never
//     comes back);
//   - injects faults at the token endpoint (500, a hang, malformed JSON).
// Two clients are registered: a public one (no secret, PKCE) and a
// confidential one (client_secret_basic). Both are native apps, so any port on
// the loopback redirect http://127.0.0.1/callback is accepted (RFC 8252 §7.3).
import { buffer } from 'node:stream/consumers';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Provider from 'oidc-provider';
import { driveDevice } from './browser-lib.mjs';

export type TokenFault = 'none' | '500' | 'hang' | 'malformed';
export type ClientKind = 'public' | 'confidential';

export interface AuthServerOptions {
  /** Access token lifetime in seconds (default 3). Changeable later with setAccessTokenTtl. */
  accessTokenTtl?: number;
  /** Device code lifetime in seconds (default 600). */
  deviceCodeTtl?: number;
  /** The polling interval the device authorization response advertises (default 1). */
  deviceInterval?: number;
  /** Extra members of the discovery document (a provider's display_name). */
  discoveryExtras?: Record<string, unknown>;
}

export interface AuthServer {
  issuer: string;
  port: number;
  /** Same as issuer: the server's base URL. */
  url: string;
  clients: Record<ClientKind, { clientId: string; clientSecret?: string }>;
  /** Token endpoint activity. */
  tokenRequests: {
    /** grant_type=refresh_token requests received (faulted ones included). */
    readonly refresh: number;
    /** Every refresh token value presented, in order. */
    readonly refreshTokensPresented: readonly string[];
    /** grant_type of every token request, in order. */
    readonly grantTypes: readonly string[];
  };
  /** Every request received, in order: method, path and the User-Agent it carried. */
  requests: { method: string; path: string; userAgent: string | undefined }[];
  /** Every revocation request: token and hint. */
  revocations: { token: string; hint: string | undefined }[];
  setTokenFault(kind: TokenFault): void;
  /** Holds every refresh request this long before answering it (a slow token endpoint); 0 to stop. */
  setTokenDelay(ms: number): void;
  setAccessTokenTtl(seconds: number): void;
  setDeviceCodeTtl(seconds: number): void;
  /** Extra members of every successful token response from now on (Salesforce's instance_url). */
  setTokenExtras(extras: Record<string, string>): void;
  /** Ends every grant (of one account, or all): later refreshes get invalid_grant. */
  revokeAllGrants(accountId?: string): Promise<number>;
  /** RFC 7662 introspection through the provider's endpoint (as the confidential client). */
  introspect(token: string): Promise<boolean>;
  /** Plays the user at the device verification page: approve or abort. */
  completeDevice(userCode: string, approve: boolean, login?: string): Promise<void>;
  /** Writes a user-app definition for `acct apps add <slug> --file F` and returns its path. */
  appFile(client: ClientKind, extra?: Record<string, unknown>): string;
  close(): Promise<void>;
}

const PUBLIC_ID = 'acct-public';
/** A public client whose one redirect URI is https://127.0.0.1:8976/callback. */
export const HTTPS_REDIRECT_ID = 'acct-https-redirect';
const CONFIDENTIAL_ID = 'acct-confidential';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export async function startAuthServer(options: AuthServerOptions = {}): Promise<AuthServer> {
  const state = {
    accessTokenTtl: options.accessTokenTtl ?? 3,
    deviceCodeTtl: options.deviceCodeTtl ?? 600,
    fault: 'none' as TokenFault,
    delayMs: 0,
    tokenExtras: {} as Record<string, string>,
  };
  const confidentialSecret = `cs_${randomBytes(24).toString('hex')}`;
  const refreshTokensPresented: string[] = [];
  const grantTypes: string[] = [];
  let refreshCount = 0;
  const revocations: { token: string; hint: string | undefined }[] = [];
  const requests: { method: string; path: string; userAgent: string | undefined }[] = [];
  const grants = new Map<string, string>(); // grantId → accountId
  const hanging = new Set<ServerResponse>();

  let providerCallback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let provider: any;

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? '', path: url.pathname, userAgent: req.headers['user-agent'] });
    if (req.method === 'GET' && url.pathname === '/me') return me(req, res);
    if (req.method === 'POST' && (url.pathname === '/token' || url.pathname === '/token/revocation')) {
      // Read the form here (to log and to fault), then hand the parsed body on:
      // oidc-provider uses req.body when the stream was already consumed.
      const body = await buffer(req);
      const form = new URLSearchParams(body.toString('utf8'));
      if (url.pathname === '/token/revocation') revocations.push({ token: form.get('token') ?? '', hint: form.get('token_type_hint') ?? undefined });
      else {
        const grantType = form.get('grant_type') ?? '';
        grantTypes.push(grantType);
        if (grantType === 'refresh_token') {
          refreshCount++;
          refreshTokensPresented.push(form.get('refresh_token') ?? '');
          if (state.fault === '500') {
            res.writeHead(500, { 'content-type': 'application/json' });
            return res.end(JSON.stringify({ error: 'server_error', error_description: 'injected failure' }));
          }
          if (state.fault === 'malformed') {
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end('{"access_token": "tru');
          }
          if (state.fault === 'hang') {
            hanging.add(res);
            res.on('close', () => hanging.delete(res));
            return; // never answers
          }
          if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
        }
      }
      (req as IncomingMessage & { body?: Buffer }).body = body;
    }
    providerCallback!(req, res);
  }

  async function me(req: IncomingMessage, res: ServerResponse) {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/i.exec(auth);
    const token = m ? await provider.AccessToken.find(m[1]) : undefined;
    if (!token || token.isExpired) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      return res.end(JSON.stringify({ error: 'invalid_token', error_description: 'the access token is invalid or expired' }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ login: token.accountId, sub: token.accountId, scope: token.scope }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const redirectUris = ['http://127.0.0.1/callback', 'http://localhost/callback'];
  const grantTypesAllowed = ['authorization_code', 'refresh_token', DEVICE_GRANT];
  provider = new Provider(issuer, {
    clients: [
      // For apps whose provider redirects only to https, loopback included (Slack): nothing listens there.
      // oidc-provider takes an https loopback redirect only from a web client.
      {
        client_id: HTTPS_REDIRECT_ID,
        client_name: 'acct tests (https redirect)',
        application_type: 'web',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['https://127.0.0.1:8976/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      {
        client_id: PUBLIC_ID,
        client_name: 'acct tests (public)',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: redirectUris,
        grant_types: grantTypesAllowed,
        response_types: ['code'],
      },
      {
        client_id: CONFIDENTIAL_ID,
        client_secret: confidentialSecret,
        client_name: 'acct tests (confidential)',
        application_type: 'native',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: redirectUris,
        grant_types: grantTypesAllowed,
        response_types: ['code'],
      },
    ],
    jwks: { keys: [{ ...rsa, use: 'sig', kid: 'test' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes: ['openid', 'offline_access', 'api'],
    routes: { userinfo: '/userinfo' },
    ...(options.discoveryExtras ? { discovery: options.discoveryExtras } : {}),
    // Any login is an account whose id is the login.
    findAccount: async (_ctx: unknown, accountId: string) => ({ accountId, claims: async () => ({ sub: accountId }) }),
    features: {
      devInteractions: { enabled: true },
      deviceFlow: {
        enabled: true,
        // Plain pages (the defaults import web fonts and log notices).
        userCodeInputSource: async (ctx: any, form: string, _out: unknown, err?: { name?: string; userCode?: string }) => {
          const msg = !err ? 'Enter the code displayed on your device' : err.name === 'AbortedError' ? 'The Sign-in request was interrupted' : 'The code you entered is incorrect or expired';
          ctx.body = page('Sign-in', `<p>${msg}</p>${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx: any, form: string, client: { clientId: string }, _info: unknown, userCode: string) => {
          ctx.body = page(
            'Confirm Device',
            `<p>${client.clientId} shows the code <code>${userCode}</code></p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button><button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`,
          );
        },
        successSource: async (ctx: any) => {
          ctx.body = page('Sign-in Success', '<p>Your sign-in was successful, you can now close this page.</p>');
        },
      },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // The confidential client may introspect any token (the tests do), a public one only its own.
        allowedPolicy: async (_ctx: unknown, client: any, token: any) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
    },
    pkce: { required: () => true },
    // Every token request of these clients gets a refresh token, rotated on each use.
    issueRefreshToken: async (_ctx: unknown, client: any) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: () => state.accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: () => state.deviceCodeTtl,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 3600,
      Session: 3600,
    },
    // Quiet: the dev-interaction pages and the provider's own error pages are enough.
    renderError: async (ctx: any, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>error</title><h1>oops! something went wrong</h1><pre>${Object.entries(out)
        .map(([k, v]) => `${k}: ${String(v).replace(/[<&]/g, '')}`)
        .join('\n')}</pre>`;
    },
  });
  // The spec default is 5 s between device polls; the tests do not wait that long.
  const deviceInterval = options.deviceInterval ?? 1;
  provider.use(async (ctx: any, next: () => Promise<void>) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.device_code)
      ctx.body = { ...ctx.body, interval: deviceInterval };
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.access_token)
      ctx.body = { ...ctx.body, ...state.tokenExtras };
  });
  provider.on('grant.saved', (grant: { jti: string; accountId: string }) => grants.set(grant.jti, grant.accountId));
  // Expected errors (invalid_grant after a revocation, a denied consent) are part of the tests; keep the output clean.
  for (const ev of ['server_error', 'grant.error', 'authorization.error', 'backchannel.error', 'introspection.error', 'revocation.error', 'userinfo.error'])
    provider.on(ev, (_ctx: unknown, err: any) => {
      if (ev === 'server_error' || (err?.statusCode ?? 400) >= 500) console.error(`oidc-provider ${ev}:`, err);
    });
  providerCallback = provider.callback();

  const clients = {
    public: { clientId: PUBLIC_ID },
    confidential: { clientId: CONFIDENTIAL_ID, clientSecret: confidentialSecret },
  };

  return {
    issuer,
    port,
    url: issuer,
    clients,
    tokenRequests: {
      get refresh() {
        return refreshCount;
      },
      get refreshTokensPresented() {
        return refreshTokensPresented;
      },
      get grantTypes() {
        return grantTypes;
      },
    },
    revocations,
    requests,
    setTokenFault(kind) {
      state.fault = kind;
      if (kind !== 'hang') for (const res of hanging) res.destroy();
    },
    setTokenDelay(ms) {
      state.delayMs = ms;
    },
    setAccessTokenTtl(seconds) {
      state.accessTokenTtl = seconds;
    },
    setDeviceCodeTtl(seconds) {
      state.deviceCodeTtl = seconds;
    },
    setTokenExtras(extras) {
      state.tokenExtras = extras;
    },
    async revokeAllGrants(accountId) {
      let n = 0;
      for (const [grantId, owner] of grants) {
        if (accountId !== undefined && owner !== accountId) continue;
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.Grant.adapter.destroy(grantId),
        ]);
        grants.delete(grantId);
        n++;
      }
      return n;
    },
    async introspect(token) {
      const res = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(CONFIDENTIAL_ID)}:${encodeURIComponent(confidentialSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }),
      });
      if (res.status !== 200) throw new Error(`introspection answered ${res.status}`);
      return ((await res.json()) as { active: boolean }).active === true;
    },
    async completeDevice(userCode, approve, login = 'dana') {
      await driveDevice(`${issuer}/device?user_code=${encodeURIComponent(userCode)}`, { approve, login });
    },
    appFile(client, extra = {}) {
      const file = join(tmpdir(), `acct-oauth-app-${randomBytes(4).toString('hex')}.json`);
      const definition = {
        name: 'Local OAuth',
        description: 'oidc-provider in the test process',
        auth: 'oauth2',
        api: { baseUrl: issuer, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
        test: { path: '/me', identity: ['login'] },
        env: { oauth_access_token: 'LOCAL_OAUTH_TOKEN' },
        oauth: {
          issuer,
          issParameterSupported: true,
          authorizationUrl: `${issuer}/auth`,
          tokenUrl: `${issuer}/token`,
          revocationUrl: `${issuer}/token/revocation`,
          deviceAuthorizationUrl: `${issuer}/device/auth`,
          userinfoUrl: `${issuer}/userinfo`,
          scopes: ['api'],
          clientAuth: client === 'public' ? 'none' : 'client_secret_basic',
          clientSecret: client === 'public' ? 'none' : 'required',
          pkce: true,
          createClientUrl: `${issuer}/clients`,
        },
        ...extra,
      };
      writeFileSync(file, JSON.stringify(definition));
      return file;
    },
    close() {
      for (const res of hanging) res.destroy();
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
}

