// acct request <ref> <path-or-url>: an HTTP request with the account's auth.
// The body goes to stdout byte for byte; on 401 the token is refreshed once
// through the shared refresh path and the request retried.
import type { Context } from '../context.js';
import { findAccount, setStatus } from '../accounts/service.js';
import { freshCredentials } from '../accounts/credentials.js';
import { withClientId } from '../accounts/clients.js';
import { buildRequest, type BuiltRequest, type DataReader, type RequestOptions } from '../api/request.js';
import { printJson } from '../output/format.js';
import { readInputFile, readStdinBytes } from '../ui/stdin.js';
import { ExitCode, needsReconnect, usageError } from '../errors.js';

export interface RequestCommandOptions extends RequestOptions {
  include?: boolean;
  json?: boolean;
  failOk?: boolean;
}

export async function request(ctx: Context, ref: string, pathOrUrl: string, opts: RequestCommandOptions): Promise<number> {
  const account = findAccount(ctx, ref);
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
  const send = async (rejected?: string) => {
    let fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30 });
    if (rejected !== undefined && fields.oauth_access_token === rejected) fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, force: true });
    const req = await buildRequest(app, withClientId(ctx, app, fields), pathOrUrl, opts, read);
    const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body ? new Uint8Array(req.body) : undefined, redirect: 'manual' });
    return { req, res, token: fields.oauth_access_token };
  };

  let { req, res, token } = await send();
  if (res.status === 401 && account.auth === 'oauth2') {
    await res.body?.cancel();
    ctx.info(`${req.url.host} answered 401; refreshing the token and retrying`);
    ({ req, res } = await send(token));
    if (res.status === 401) {
      await setStatus(ctx, account.id, 'needs-reconnect');
      await write(ctx, req, res, opts);
      throw needsReconnect(`${req.url.host} rejected ${account.app}/${account.nickname} even with a fresh token`, `reconnect it: acct reconnect ${account.id}`);
    }
  }
  await write(ctx, req, res, opts);
  if (res.status >= 400 && !opts.failOk) {
    ctx.io.stderr.write(`acct: ${req.method} ${req.url.origin}${req.url.pathname} answered ${res.status} ${res.statusText}\n`);
    if (res.status === 401 && account.auth === 'keys') ctx.io.stderr.write(`  the key was rejected; check it with: acct test ${account.id}\n`);
    return ExitCode.unexpected;
  }
  return ExitCode.ok;
}

async function write(ctx: Context, req: BuiltRequest, res: Response, opts: RequestCommandOptions): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer());
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
