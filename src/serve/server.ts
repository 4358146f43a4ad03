// The local credentials API (`acct serve`, `acct exec --serve`): account
// metadata and fresh credentials for local programs, over a unix socket or a
// loopback port, behind a bearer token.
//
//   GET  /v1/accounts                                  metadata, no secrets
//   GET  /v1/accounts/{id-or-ref}[?include_credentials=1]   + fields by name and expires_at, fresh
//   POST /v1/accounts/{id-or-ref}/refresh              refreshed now, then as above
//
// `credentials` never holds the refresh token (servedFields): acct keeps it,
// and refreshes through this server, so no program that asks gets a
// credential that outlives it or lets it refresh on its own. A server for
// one child (exec --serve) knows only the accounts its command line named,
// and of each serves only the fields that command line put in the
// environment; a reference that names anything else is not found, the same
// answer for every such reference.
//
// Errors are JSON, {error: {code, message, hint}}, with the HTTP status of the
// code in the error table (src/errors.ts). Every request is logged, method,
// path (no query values), status and time, never a secret.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Context } from '../context.js';
import { findAccount, storeOf } from '../accounts/service.js';
import { everyView, splitTeam } from '../accounts/stores.js';
import { freshCredentials } from '../accounts/credentials.js';
import { resolveReference, label } from '../accounts/resolve.js';
import { accountJson } from '../commands/list.js';
import { AcctError, errorMessage } from '../errors.js';
import type { Account } from '../accounts/model.js';
import type { AccountStore, AccountView } from '../store/account-store.js';
import type { Fields } from '../store/store.js';

export interface ServeOptions {
  token: string;
  /** TCP listeners check Host and Origin against loopback names (DNS rebinding); a unix socket cannot be reached from a page. */
  tcp: boolean;
  /** Serve only these accounts, by id, and of each only these fields (exec --serve: what its command line named). */
  only?: ReadonlyMap<string, { account: Account; fields: ReadonlySet<string> }>;
  log: (line: string) => void;
  /** At most this many requests are worked on at once; more wait, and past maxQueued are refused (429). */
  maxConcurrent?: number;
  maxQueued?: number;
}

/** What the API never hands out: the refresh token stays with acct, its one holder (SPEC: one holder per refresh token). */
const NEVER_SERVED: ReadonlySet<string> = new Set(['oauth_refresh_token']);

/** The one decision of which credential fields are served: never NEVER_SERVED, and only those `named` when given. */
export function servedFields(fields: Fields, named?: ReadonlySet<string>): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => !NEVER_SERVED.has(name) && (!named || named.has(name))));
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

export function credentialsServer(ctx: Context, opts: ServeOptions): Server {
  const expected = Buffer.from(opts.token);
  const limit = new Limit(opts.maxConcurrent ?? 16, opts.maxQueued ?? 1024);
  // One credential fetch per account at a time in this process; concurrent requests share it.
  const inFlight = new Map<string, Promise<Record<string, string>>>();

  const fetchFields = (account: Account, force: boolean) => {
    const key = `${account.id}:${force ? 'refresh' : 'fresh'}`;
    let p = inFlight.get(key);
    if (!p) {
      p = freshCredentials(ctx, account, ctx.catalog.get(account.app), { minTtlSeconds: 60, force }).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  };

  const handle = async (req: IncomingMessage): Promise<[number, unknown]> => {
    if (opts.tcp) {
      if (!LOOPBACK_HOST.test(req.headers.host ?? '')) throw new AcctError('forbidden', 'the Host header does not name this machine', { hint: 'ask http://127.0.0.1:<port>/ or http://localhost:<port>/' });
      const origin = req.headers.origin;
      if (origin !== undefined && !isLoopbackOrigin(origin)) throw new AcctError('forbidden', 'requests from web pages are refused', { hint: 'call the API from a local program, not a browser page' });
    }
    // The scheme is case-insensitive (RFC 9110 11.1): bearer and BEARER are Bearer. The token is compared in constant time.
    const [, scheme, token] = /^(\S+) +(.*)$/.exec(req.headers.authorization ?? '') ?? [];
    const auth = Buffer.from(scheme?.toLowerCase() === 'bearer' ? token! : '');
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected))
      throw new AcctError('unauthorized', req.headers.authorization ? 'wrong bearer token' : 'no bearer token', {
        hint: 'send Authorization: Bearer <the token acct serve printed or read from --token-file>',
      });
    const url = new URL(req.url ?? '/', 'http://acct');
    const parts = url.pathname.split('/').filter(Boolean).map(decodePart);
    const method = req.method ?? 'GET';
    // {id-or-ref} may hold one slash (app/nickname); POST …/refresh refreshes it.
    const refresh = method === 'POST' && parts.length >= 4 && parts.at(-1) === 'refresh';
    const ref = parts.slice(2, refresh ? -1 : undefined).join('/');
    if (parts[0] !== 'v1' || parts[1] !== 'accounts' || parts.length > (refresh ? 5 : 4))
      throw new AcctError('not_found', `no such endpoint: ${url.pathname}`, { hint: 'GET /v1/accounts, GET /v1/accounts/{id}, POST /v1/accounts/{id}/refresh' });
    if (parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, 'GET');
      const listed: unknown[] = [];
      let views: { store: AccountStore; view: AccountView }[];
      if (opts.only) views = await servedViews(ctx, opts.only);
      else {
        const every = await everyView(ctx);
        if (every.unreachable) throw every.unreachable;
        views = every.views;
      }
      for (const { store, view } of views) {
        const used = await store.lastUsed();
        for (const a of view.accounts) listed.push(accountJson(a, view.defaults[a.app] === a.id, used.get(a.id) ?? null));
      }
      return [200, listed];
    }
    if (!refresh && method !== 'GET') throw notAllowed(method, 'GET (or POST …/refresh)');
    const account = opts.only ? await findServed(ctx, opts.only, ref) : await findAccount(ctx, ref);
    const store = await storeOf(ctx, account);
    const view = await store.view();
    const body: Record<string, unknown> = accountJson(account, view.defaults[account.app] === account.id, (await store.lastUsed()).get(account.id) ?? null);
    if (refresh || truthy(url.searchParams.get('include_credentials'))) {
      const { expires_at: _, ...fields } = await fetchFields(account, refresh);
      const now = (await store.get(account.id)) ?? account;
      body.credentials = servedFields(fields, opts.only?.get(account.id)?.fields);
      body.expires_at = now.expiresAt;
    }
    return [200, body];
  };

  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 120_000, headersTimeout: 10_000 }, (req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0];
    // A request body is never needed; drain and discard up to a small bound.
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > 64 * 1024) req.destroy();
    });
    limit
      .run(() => handle(req))
      .then(
        ([status, value]) => send(res, status, value),
        (err: unknown) => {
          const e = err instanceof AcctError ? err : new AcctError('unexpected', `unexpected error: ${errorMessage(err)}`);
          send(res, e.httpStatus, { error: { code: e.code, message: e.message, hint: e.hint ?? null } });
        },
      )
      .finally(() => opts.log(`${req.method} ${path} ${res.statusCode} ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)}ms`));
  });
  // Malformed HTTP: answer 400 and close, and keep serving everyone else.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"bad_input","message":"malformed request","hint":null}}');
    else socket.destroy();
    opts.log(`malformed request (${err.code ?? 'error'})`);
  });
  return server;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

type Served = NonNullable<ServeOptions['only']>;

/** The stores of the served accounts, each with only those accounts, and only the defaults that name one of them. */
async function servedViews(ctx: Context, only: Served): Promise<{ store: AccountStore; view: AccountView }[]> {
  const byStore = new Map<string, Account>();
  for (const { account } of only.values()) byStore.set(account.team ?? '', account);
  const views: { store: AccountStore; view: AccountView }[] = [];
  for (const account of byStore.values()) {
    const store = await storeOf(ctx, account);
    const all = await store.view();
    const accounts = all.accounts.filter((a) => only.has(a.id));
    views.push({ store, view: { accounts, defaults: Object.fromEntries(Object.entries(all.defaults).filter(([, id]) => only.has(id))) } });
  }
  return views;
}

/**
 * A reference resolved among the served accounts alone, as findAccount
 * resolves one among every store's: a match in more than one store is
 * ambiguous. Whatever names no served account (another account, one that
 * does not exist, a typo of either) gets one answer, which names none.
 */
async function findServed(ctx: Context, only: Served, ref: string): Promise<Account> {
  const { team, ref: inner } = splitTeam(ref);
  const found: Account[] = [];
  for (const { view } of await servedViews(ctx, only)) {
    const accounts = team === undefined ? view.accounts : view.accounts.filter((a) => a.team === team);
    if (!accounts.length) continue;
    try {
      found.push(resolveReference({ version: 1, accounts: [...accounts], defaults: { ...view.defaults }, retiredIds: [] }, inner));
    } catch (err) {
      // Ambiguous among the served accounts: the error names only them.
      if (!(err instanceof AcctError) || err.code !== 'account_not_found') throw err;
    }
  }
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw new AcctError('reference_ambiguous', `"${ref}" matches ${found.length} of the accounts served here: ${found.map((a) => (a.team ? `${a.team}:${label(a)}` : label(a))).join(', ')}`, {
      hint: `name one of them: ${found.map((a) => (a.team ? `${a.team}:${a.app}/${a.nickname}` : a.id)).join(' or ')}`,
    });
  throw new AcctError('account_not_found', `no account served here matches "${ref}"`, {
    hint: 'this server serves only the accounts named on the acct exec command line: GET /v1/accounts lists them',
  });
}

/** A path segment, percent-decoded; a malformed escape (%zz) is the caller's mistake. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new AcctError('bad_input', `malformed percent-escape in the path: ${part}`, { hint: 'escape a reference as UTF-8 (encodeURIComponent): % as %25, / as %2F' });
  }
}

const notAllowed = (method: string, allowed: string) => new AcctError('method_not_allowed', `${method} is not allowed here`, { hint: `use ${allowed}` });
const truthy = (v: string | null) => v !== null && ['1', 'true', 'yes'].includes(v.toLowerCase());

function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOST.test(u.host);
  } catch {
    return false;
  }
}

/** A counting semaphore with a bounded queue. */
class Limit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else {
      if (this.waiting.length >= this.maxQueued) throw new AcctError('busy', 'too many requests at once', { hint: 'retry in a moment' });
      await new Promise<void>((resolve) => this.waiting.push(resolve)); // woken with the slot of the one that finished
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
