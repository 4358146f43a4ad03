// Building an HTTP request the way curl users expect (-X, -H, -d, -G) on top of
// an app's base URL and declared authorization. No prompts and no storage:
// the command passes in the account's fields and a way to read data files.
import type { AppDefinition } from '../catalog/schema.js';
import { isSecureUrl } from '../catalog/schema.js';
import { authorize, baseUrl, resolveUrl, type Credentials } from './authorize.js';
import { usageError } from '../errors.js';
import { HEADER_VALUE_CONTROL, HTTP_TOKEN } from '../catalog/template.js';

export interface RequestOptions {
  method?: string;
  headers: string[];
  data: string[];
  get?: boolean;
  allowHost?: boolean;
}

export interface BuiltRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What the app's auth placed (see send.ts). */
  credentials: Credentials;
}

/** Reads `@file`, `@-` / `-` (stdin) data arguments. */
export type DataReader = (source: { file: string } | { stdin: true }) => Promise<Buffer>;

/** -H "Name: value". The argument may hold a secret, so an error names the header at most, never the value. */
export function parseHeader(raw: string): [string, string] {
  const i = raw.indexOf(':');
  if (i < 0) throw usageError('an -H argument has no colon, so it is not a header', 'write it as -H "Name: value"');
  const name = raw.slice(0, i).trim();
  if (!HTTP_TOKEN.test(name))
    throw usageError(`an -H argument is not a header: the part before the colon is not a header name`, 'write it as -H "Name: value" (a name is letters, digits and -)');
  const value = raw.slice(i + 1).trim();
  if (HEADER_VALUE_CONTROL.test(value))
    throw usageError(`the -H ${name} value holds a line break or another control character`, 'a header value is one line; nothing was sent');
  return [name, value];
}

/** The URL to call: a path joined to the app's base URL, or a full URL on the app's API host. */
export function targetUrl(app: AppDefinition, fields: Record<string, string>, pathOrUrl: string, allowHost = false): URL {
  const url = resolveUrl(app, fields, pathOrUrl);
  const apiHost = new URL(baseUrl(app, fields)).host;
  if (url.host !== apiHost && !allowHost)
    throw usageError(
      `refusing to send ${app.slug} credentials to ${url.host}: the app's API host is ${apiHost}`,
      `give a path on ${apiHost}, or pass --allow-host if you trust ${url.host} with them`,
    );
  if (!isSecureUrl(url.href)) throw usageError(`refusing to send credentials over plain http to ${url.host}`, 'use an https URL');
  return url;
}

async function readData(arg: string, read: DataReader): Promise<Buffer> {
  if (arg === '-' || arg === '@-') return read({ stdin: true });
  if (arg.startsWith('@')) return read({ file: arg.slice(1) });
  return Buffer.from(arg, 'utf8');
}

function looksLikeJson(data: Buffer): boolean {
  const text = data.toString('utf8').trim();
  if (!/^[[{]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export async function buildRequest(app: AppDefinition, fields: Record<string, string>, pathOrUrl: string, opts: RequestOptions, read: DataReader): Promise<BuiltRequest> {
  let url = targetUrl(app, fields, pathOrUrl, opts.allowHost);
  const extra: Record<string, string> = {};
  for (const h of opts.headers) {
    const [name, value] = parseHeader(h);
    extra[name] = value;
  }
  // Several -d values are joined with "&", as curl does.
  const parts = await Promise.all(opts.data.map((d) => readData(d, read)));
  const data = parts.length ? Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('&'), p] : [p]))) : undefined;
  let body: Buffer | undefined;
  if (data && opts.get) {
    url = new URL(url);
    url.search = url.search ? `${url.search}&${data.toString('utf8')}` : `?${data.toString('utf8')}`;
  } else body = data;

  const method = (opts.method ?? (body ? 'POST' : 'GET')).toUpperCase();
  if (!HTTP_TOKEN.test(method)) throw usageError('-X takes an HTTP method such as GET, POST or PATCH', 'a method is one word of letters');
  if (body && (method === 'GET' || method === 'HEAD')) throw usageError(`a ${method} request cannot carry data`, 'use -G to put the data in the query string, or -X POST');
  const prepared = authorize(app, fields, url);
  const headers: Record<string, string> = { ...prepared.headers };
  if (body && !hasHeader(extra, 'content-type')) headers['Content-Type'] = looksLikeJson(body) ? 'application/json' : 'application/x-www-form-urlencoded';
  // User headers win over the app's fixed ones, but never silently replace its authorization.
  for (const [name, value] of Object.entries(extra)) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
    headers[name] = value;
  }
  return { url: prepared.url, method, headers, body, credentials: prepared.credentials };
}

const hasHeader = (headers: Record<string, string>, name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
