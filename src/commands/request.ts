// acct request <ref> <path-or-url>: an HTTP request with the account's auth.
// The body goes to stdout byte for byte; on 401 the token is refreshed once
// through the shared refresh path and the request retried. Redirects are
// followed with -L only, through send.ts: credentials never leave the origin.
import type { Context } from '../context.js';
import { findAccount, setStatus, storeOf } from '../accounts/service.js';
import { freshCredentials } from '../accounts/credentials.js';
import { withClientId } from '../accounts/clients.js';
import { buildRequest, type BuiltRequest, type DataReader, type RequestOptions } from '../api/request.js';
import { send, redact, DEFAULT_MAX_REDIRECTS, type Sent } from '../api/send.js';
import { printJson, out } from '../output/format.js';
import { nextPage, joinPages } from '../api/paginate.js';
import { readInputFile, readStdinBytes } from '../ui/stdin.js';
import { AcctError, ExitCode, errorMessage, needsReconnect, providerText, usageError } from '../errors.js';

export interface RequestCommandOptions extends RequestOptions {
  include?: boolean;
  json?: boolean;
  failOk?: boolean;
  /** -L: follow redirects. */
  location?: boolean;
  /** --max-redirs: hops to follow with -L. */
  maxRedirs?: string;
  /** Follow the next-page links (or the app's cursor) and print one JSON array. */
  paginate?: boolean;
  /** A jq filter applied to the JSON answer (jq-wasm: jq itself, compiled to WebAssembly). */
  jq?: string;
}

/** A loop of next links that never ends is a provider's bug; so many pages is almost surely one. */
const MAX_PAGES = 10_000;

export async function request(ctx: Context, ref: string, pathOrUrl: string, opts: RequestCommandOptions): Promise<number> {
  const maxRedirects = opts.maxRedirs === undefined ? DEFAULT_MAX_REDIRECTS : Number(opts.maxRedirs);
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) throw usageError(`--max-redirs takes a whole number of hops, not "${opts.maxRedirs}"`);
  if (opts.maxRedirs !== undefined && !opts.location) throw usageError('--max-redirs goes with -L (--location)');
  if (opts.paginate && (opts.include || opts.json)) throw usageError('--paginate prints one JSON array of every page; it goes without -i and --json');
  if (opts.jq !== undefined && (opts.include || opts.json)) throw usageError('--jq prints what the filter selects; it goes without -i and --json');
  if (opts.paginate && opts.method && opts.method.toUpperCase() !== 'GET') throw usageError('--paginate follows pages of a GET request', 'leave out -X, or drop --paginate');
  if (opts.paginate && opts.data.length && !opts.get) throw usageError('--paginate follows pages of a GET request; data would make it a POST', 'put the data in the query with -G');
  // A filter that cannot compile is refused before anything is sent: the request may not be one to make twice (a POST).
  if (opts.jq !== undefined) await checkFilter(opts.jq);
  const account = await findAccount(ctx, ref);
  const store = await storeOf(ctx, account);
  const app = ctx.catalog.forAccount(account);
  const cache = new Map<string, Buffer>();
  // Data is read once and reused if the request is retried after a refresh.
  const read: DataReader = async (source) => {
    const key = 'file' in source ? `file:${source.file}` : 'stdin';
    const hit = cache.get(key);
    if (hit) return hit;
    const data = 'file' in source ? readInputFile(source.file) : await readStdinBytes(ctx.io.stdin, '-d -', 'pipe the data in, or use -d @file');
    cache.set(key, data);
    return data;
  };

  const fetch = await ctx.fetch();
  // After a 401 (`rejected` is the token that got it), another process may
  // already have refreshed: take its token, and refresh only if the stored one
  // is still the rejected one.
  const attempt = async (target: string, rejected?: string) => {
    let fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30 });
    if (rejected !== undefined && fields.oauth_access_token === rejected) fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, force: true });
    // Later pages come as full URLs; their data is already in the query.
    const req = await buildRequest(app, await withClientId(ctx, store, app, fields), target, target === pathOrUrl ? opts : { ...opts, data: [], get: false }, read);
    const sent = await send(fetch, req, {
      redirects: opts.location ? 'follow' : 'none',
      maxRedirects,
      onLeaveOrigin: (to) => ctx.info(`Following a redirect to ${to.origin}, without the ${app.slug} credentials (they go only to ${req.url.origin})`),
    });
    return { req, sent, res: sent.response, token: fields.oauth_access_token };
  };

  /** One request, with the one refresh-and-retry a 401 earns. */
  const page = async (target: string) => {
    let { req, sent, res, token } = await attempt(target);
    // Only a 401 to a request that carried the token says anything about the token.
    if (res.status === 401 && sent.credentialsSent && account.auth === 'oauth2') {
      await res.body?.cancel();
      ctx.info(`${sent.url.host} answered 401; refreshing the token and retrying`);
      ({ req, sent, res } = await attempt(target, token));
      if (res.status === 401 && sent.credentialsSent) {
        await setStatus(ctx, account, 'needs-reconnect');
        await write(ctx, res, opts);
        throw needsReconnect(`${sent.url.host} rejected ${account.app}/${account.nickname} even with a fresh token`, `reconnect it: acct reconnect ${account.id}`);
      }
    }
    return { req, sent, res };
  };

  let { req, sent, res } = await page(pathOrUrl);
  if (opts.paginate && res.ok) {
    const pages: unknown[] = [];
    const seen = new Set<string>();
    for (;;) {
      const body = Buffer.from(await res.arrayBuffer());
      const value = parseJson(body, `page ${pages.length + 1} of ${sent.url.pathname}`);
      pages.push(value);
      const next = nextPage(app.api.pagination ?? { type: 'link' }, sent.url, res.headers.get('link'), value);
      if (!next) break;
      if (seen.has(next.href) || pages.length >= MAX_PAGES)
        throw new AcctError('http_error', `${sent.url.host} keeps pointing to more pages (${pages.length} so far, ${seen.has(next.href) ? 'a page it already gave' : 'no end in sight'})`, { hint: 'drop --paginate and ask for the pages you need' });
      seen.add(next.href);
      ({ req, sent, res } = await page(next.href));
      if (!res.ok) break; // reported below, as a single request's failure would be
    }
    if (res.ok) {
      await printValue(ctx, joinPages(app.api.pagination ?? { type: 'link' }, pages), opts.jq);
      return ExitCode.ok;
    }
  } else if (opts.jq !== undefined && res.ok) {
    await printValue(ctx, parseJson(Buffer.from(await res.arrayBuffer()), sent.url.pathname), opts.jq);
    return ExitCode.ok;
  }
  await write(ctx, res, opts);
  const failed = res.status >= 400 || (res.status >= 300 && res.status !== 304);
  if (failed && !opts.failOk) {
    // An error like any other (exit 1, http_error): with --json, one object on stderr, the answer itself on stdout.
    const hints = [
      ...(res.status < 400 ? explainRedirect(req, sent, maxRedirects) : []),
      ...(res.status === 401 && sent.credentialsSent && account.auth === 'keys' ? [`the key was rejected; check it with: acct test ${account.id}`] : []),
    ];
    throw new AcctError('http_error', `${sent.method} ${sent.url.origin}${sent.url.pathname} answered ${res.status} ${providerText(res.statusText)}`, hints.length ? { hint: hints.join('\n  ') } : {});
  }
  return ExitCode.ok;
}

/** A redirect that was not followed: where it pointed (credential values taken out) and what to do, a line each. */
function explainRedirect(req: BuiltRequest, sent: Sent, maxRedirects: number): string[] {
  const location = sent.notFollowed?.location ? redact(sent.notFollowed.location.href, req.credentials.values) : undefined;
  const lines = [`Location: ${location ?? '(none that acct can follow)'}`];
  switch (sent.notFollowed?.reason) {
    case 'policy':
      lines.push(`follow it with -L (credentials go only to ${req.url.origin})`);
      break;
    case 'limit':
      lines.push(`stopped after ${maxRedirects} redirect${maxRedirects === 1 ? '' : 's'}; raise --max-redirs to follow more`);
      break;
    case 'credential-in-location':
      lines.push(`not followed: the address carries a credential of this account, and it is on another origin than ${req.url.origin}`);
      break;
  }
  return lines;
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new AcctError('http_error', `the answer to ${what} is not JSON`, { hint: 'drop --paginate/--jq to see it as it came' });
  }
}

/** A JSON value: through the jq filter when there is one (strings raw, as gh api --jq prints them), pretty on a terminal, compact on a pipe. */
async function printValue(ctx: Context, value: unknown, filter: string | undefined): Promise<void> {
  if (filter === undefined) {
    out(ctx.io, `${ctx.io.stdoutIsTTY ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
    return;
  }
  const jq = await loadJq();
  let text: string;
  try {
    text = await jq.raw(JSON.stringify(value), filter, ['-r', ...(ctx.io.stdoutIsTTY ? [] : ['-c'])]);
  } catch (err) {
    throw badFilter(err);
  }
  out(ctx.io, text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

interface Jq {
  raw(data: string, filter: string, flags?: string[]): Promise<string>;
}

/** jq-wasm runs jq 1.7 itself (compiled to WebAssembly): --jq means what jq means, as in gh api --jq. */
const loadJq = async () => (await import('jq-wasm')) as unknown as Jq;

const badFilter = (err: unknown) =>
  usageError(`--jq: ${providerText(errorMessage(err).split('\n')[0] ?? '')}`, "check the filter: it is jq syntax, e.g. --jq .login or --jq '.[].name'");

/**
 * Throws when `filter` does not compile. jq compiles a whole program before
 * it runs any of it, so the filter behind `empty |` is compiled and never
 * run: no input can make it fail here (on its own line, so a trailing
 * comment in it does not swallow the parenthesis). The error shown is the
 * one jq gives for the filter alone, whose line numbers are the user's.
 */
async function checkFilter(filter: string): Promise<void> {
  const jq = await loadJq();
  try {
    await jq.raw('null', `empty | (\n${filter}\n)`, ['-r']);
  } catch (wrapped) {
    try {
      await jq.raw('null', filter, ['-n', '-r']);
    } catch (err) {
      throw badFilter(err);
    }
    throw badFilter(wrapped);
  }
}

async function write(ctx: Context, res: Response, opts: RequestCommandOptions): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer());
  // On a terminal, JSON is for reading: indented. Piped, the body goes as it came, byte for byte.
  if (!opts.json && !opts.include && ctx.io.stdoutIsTTY && /[/+]json\b/i.test(res.headers.get('content-type') ?? '')) {
    try {
      out(ctx.io, `${JSON.stringify(JSON.parse(body.toString('utf8')), null, 2)}\n`);
      return;
    } catch {
      // declared JSON but is not: as it came, below
    }
  }
  if (opts.json) {
    printJson(ctx.io, { status: res.status, headers: Object.fromEntries(res.headers), ...decodeBody(body, res.headers.get('content-type')) });
    return;
  }
  if (opts.include) {
    let head = `HTTP ${res.status} ${res.statusText}\r\n`;
    for (const [name, value] of res.headers) head += `${name}: ${value}\r\n`;
    ctx.io.stdout.write(`${head}\r\n`);
  }
  await new Promise<void>((resolve, reject) => ctx.io.stdout.write(body, (err) => (err ? reject(err) : resolve())));
}

/** JSON bodies as values, text as a string, anything else as base64. */
function decodeBody(body: Buffer, contentType: string | null): { body: unknown } | { body_base64: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { body_base64: body.toString('base64') };
  }
  if (contentType && /[/+]json\b/i.test(contentType)) {
    try {
      return { body: JSON.parse(text) };
    } catch {
      // Declared JSON but is not: hand over the text as it came.
    }
  }
  return { body: text };
}
