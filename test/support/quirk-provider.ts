// A small OAuth provider on 127.0.0.1 that plays one provider quirk at a time,
// for the tests of the catalog's quirk fields (test/cli/quirks.test.ts). It
// signs the user in without asking (the authorize endpoint redirects straight
// back with a code), records every request (query, headers, body) and answers
// through settings the test changes:
//   GET  /t/:tenant/authorize      302 to redirect_uri with code and state
//   POST /t/:tenant/token          authorization_code, refresh_token, client_credentials
//   POST /t/:tenant/refresh        a refresh endpoint apart from the token endpoint
//   GET  /resources                a list of sites (a lookup after connect)
//   GET  /t/:tenant/api/...        the API: {user: {login}} for a token it issued, 401 otherwise
// Tokens name the tenant they were issued under, so a test can tell that a
// setting reached every endpoint.
import { buffer } from 'node:stream/consumers';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

export interface SeenCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Form or JSON body, as name → value. */
  params: Record<string, string>;
  /** How the body came: form, json or none. */
  bodyKind: 'form' | 'json' | 'none';
}

export interface QuirkProvider {
  url: string;
  seen: SeenCall[];
  calls(path: RegExp): SeenCall[];
  /** Members merged into every successful token answer (expires_in in minutes, an absolute expiry, api_domain …). */
  tokenExtras: Record<string, unknown>;
  /** Answers the next token requests get instead of tokens, one each, in order (a 429 with Retry-After, a huge body). */
  tokenFaults: { status: number; body: unknown; headers?: Record<string, string> }[];
  /** Holds every request to the API this long before answering (a slow test request). */
  apiDelayMs: number;
  /** Leave expires_in out of token answers. */
  noExpiresIn: boolean;
  /** The lookup's answer. */
  resources: unknown;
  /** Issued access tokens → the tenant they belong to. */
  issued: Map<string, string>;
  /** Writes an app definition for `acct apps add --file`. */
  appFile(def: Record<string, unknown>): string;
  close(): Promise<void>;
}

export const CLIENT = { clientId: 'quirk-client', clientSecret: 'quirk-secret-value-1234' };

export async function startQuirkProvider(): Promise<QuirkProvider> {
  const seen: SeenCall[] = [];
  const issued = new Map<string, string>();
  let counter = 0;
  const state: Pick<QuirkProvider, 'tokenExtras' | 'noExpiresIn' | 'resources' | 'tokenFaults' | 'apiDelayMs'> = { tokenExtras: {}, noExpiresIn: false, resources: [], tokenFaults: [], apiDelayMs: 0 };
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(value));
  };
  const server = createServer((req, res) => {
    void (async () => {
      const raw = (await buffer(req)).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const type = req.headers['content-type'] ?? '';
      const bodyKind: SeenCall['bodyKind'] = !raw ? 'none' : type.includes('json') ? 'json' : 'form';
      const params: Record<string, string> = bodyKind === 'json' ? JSON.parse(raw) : bodyKind === 'form' ? Object.fromEntries(new URLSearchParams(raw)) : {};
      const call: SeenCall = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, params, bodyKind };
      seen.push(call);
      const m = /^\/t\/([^/]+)\/(authorize|token|refresh|api\/.*)$/.exec(url.pathname);
      if (url.pathname === '/resources') return json(res, 200, state.resources);
      if (!m) return json(res, 404, { error: 'not_found' });
      const [, tenant, what] = m as unknown as [string, string, string];
      if (what === 'authorize') {
        const back = new URL(url.searchParams.get('redirect_uri')!);
        back.searchParams.set('code', `code-${tenant}-${++counter}`);
        back.searchParams.set('state', url.searchParams.get('state') ?? '');
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (what === 'token' || what === 'refresh') {
        // Client authentication: HTTP Basic, or client_id/client_secret in the body.
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const [id, secret] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent) : [params.client_id, params.client_secret];
        if (id !== CLIENT.clientId || secret !== CLIENT.clientSecret) return json(res, 401, { error: 'invalid_client' });
        const fault = state.tokenFaults.shift();
        if (fault) {
          res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
          return res.end(typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body));
        }
        const grant = params.grant_type;
        if (!['authorization_code', 'refresh_token', 'client_credentials'].includes(grant ?? '')) return json(res, 400, { error: 'unsupported_grant_type' });
        const access = `at-${tenant}-${++counter}`;
        issued.set(access, tenant);
        const answer: Record<string, unknown> = { access_token: access, token_type: 'Bearer', ...(state.noExpiresIn ? {} : { expires_in: 3600 }) };
        if (grant !== 'client_credentials') answer.refresh_token = `rt-${tenant}-${counter}`;
        Object.assign(answer, state.tokenExtras); // a test's extras win, refresh_token included
        return json(res, 200, answer);
      }
      if (state.apiDelayMs) await new Promise((r) => setTimeout(r, state.apiDelayMs));
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || issued.get(token) !== tenant) return json(res, 401, { error: 'invalid_token' });
      return json(res, 200, { user: { login: `quinn@${tenant}` }, path: url.pathname });
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const base = `http://127.0.0.1:${port}`;
  return Object.assign(state, {
    url: base,
    seen,
    issued,
    calls: (path: RegExp) => seen.filter((c) => path.test(c.path)),
    appFile(def: Record<string, unknown>) {
      const file = join(tmpdir(), `acct-quirk-app-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(file, JSON.stringify(def));
      return file;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** An OAuth app definition for the provider, with the tenant as a connection setting; `oauth` and the rest override. */
export function quirkApp(p: QuirkProvider, over: { oauth?: Record<string, unknown>; [k: string]: unknown } = {}): Record<string, unknown> {
  const { oauth, ...rest } = over;
  return {
    name: 'Quirk',
    auth: 'oauth2',
    settings: [{ name: 'tenant', label: 'Tenant', pattern: '[a-z0-9-]+', example: 'acme' }],
    api: { baseUrl: `${p.url}/t/{tenant}/api`, auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
    test: { path: '/me', identity: ['user.login'] },
    env: { oauth_access_token: 'QUIRK_TOKEN', tenant: 'QUIRK_TENANT' },
    oauth: {
      authorizationUrl: `${p.url}/t/{tenant}/authorize`,
      tokenUrl: `${p.url}/t/{tenant}/token`,
      scopes: ['read', 'write'],
      clientAuth: 'client_secret_basic',
      createClientUrl: 'https://quirk.example/apps',
      ...oauth,
    },
    ...rest,
  };
}
