// Outbound HTTP: undici's fetch with an agent that honours HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY, a deadline on every request, and acct's User-Agent.
// It never follows a redirect by itself (src/api/send.ts does, keeping
// credentials at their origin), refuses header values that no request may
// carry before anything is sent, and says what failed in acct's words:
// undici's messages can quote the request (a header value it refused), so
// they never reach the user.
import { AcctError, ExitCode, unavailable } from './errors.js';
import { VERSION } from './version.js';
import { headerCanCarry, HTTP_TOKEN } from './catalog/template.js';

export type Fetch = (url: string | URL, init?: RequestInit & { timeoutMs?: number }) => Promise<Response>;

export interface HttpOptions {
  timeoutMs: number;
  /** Called once for a request still unanswered after SLOW_MS, so long waits show progress. */
  onSlow?: (host: string) => void;
}

const SLOW_MS = 3000;

/** Header names must be tokens and values free of control characters (CR, LF, NUL…) and within Latin-1; the value is never quoted back. */
export function checkHeaders(headers: RequestInit['headers']): void {
  if (!headers) return;
  const entries: [string, string][] =
    headers instanceof Headers ? [...headers] : Array.isArray(headers) ? (headers as [string, string][]) : Object.entries(headers as Record<string, string>);
  for (const [name, value] of entries) {
    if (!HTTP_TOKEN.test(name)) throw new AcctError('usage', 'a request header has a name that is not a valid HTTP header name', { hint: 'header names are letters, digits and -' });
    if (!headerCanCarry(String(value)))
      throw new AcctError('usage', `the ${name} header holds a line break, another control character or a character outside Latin-1, which no HTTP request may carry`, {
        hint: 'nothing was sent; check the value (a stored credential with such a character needs acct reconnect)',
      });
  }
}

export const USER_AGENT = `acct/${VERSION}`;
/** User agents a library sets on its own (oauth4webapi names itself): acct's replaces them. One a caller chose (`acct request -H`) stays. */
const LIBRARY_AGENT = /^oauth4webapi\//;

export async function createFetch(options: HttpOptions): Promise<Fetch> {
  // undici is CommonJS: the bundle's dynamic import exposes it as `default` only.
  const mod = await import('undici');
  const { fetch, EnvHttpProxyAgent } = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const dispatcher = new EnvHttpProxyAgent({ connectTimeout: options.timeoutMs, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  return async (url, init = {}) => {
    // A caller may shorten the wait (a refresh near its deadline), never lengthen it past ACCT_HTTP_TIMEOUT.
    const { timeoutMs: asked, signal, ...rest } = init;
    const timeoutMs = Math.min(asked ?? options.timeoutMs, options.timeoutMs);
    let host: string;
    try {
      host = new URL(url).host;
    } catch {
      throw new AcctError('usage', 'the request URL is not a valid URL', { hint: 'check the path or URL you gave' });
    }
    checkHeaders(rest.headers);
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const slow = options.onSlow && setTimeout(() => options.onSlow!(host), SLOW_MS);
    slow?.unref();
    try {
      const headers = new Headers(rest.headers);
      if (!headers.has('user-agent') || LIBRARY_AGENT.test(headers.get('user-agent')!)) headers.set('user-agent', USER_AGENT);
      return (await fetch(url, { ...(rest as object), headers, redirect: rest.redirect ?? 'manual', signal: combined, dispatcher } as never)) as unknown as Response;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      // undici's own timers (the dispatcher's, set to the same timeout) may fire first: the same wait, said the same way.
      const timedOut = deadline.aborted || /^UND_ERR_(HEADERS|BODY|CONNECT)_TIMEOUT$/.test(cause?.code ?? '');
      if (timedOut) throw unavailable(`${host} did not answer within ${Math.round(timeoutMs / 100) / 10}s`, 'check your network or proxy settings and retry', err, 'timeout');
      if (signal?.aborted) throw err;
      throw unavailable(`cannot reach ${host}: ${networkReason(err)}`, 'check your network, proxy (HTTPS_PROXY/NO_PROXY) and retry', err);
    } finally {
      if (slow) clearTimeout(slow);
    }
  };
}

/** What went wrong on the way, in words that quote nothing of the request: a system error code, or undici's error code. */
function networkReason(err: unknown): string {
  for (let e = err as { code?: unknown; cause?: unknown; name?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.code)) return e.code;
    if (e.name === 'HTTPParserError') return 'the answer is not valid HTTP';
  }
  return 'the connection failed';
}

/** The most acct reads of an authorization server's answer (token, device, revocation, discovery): 1 MiB, far above any real one. */
export const MAX_OAUTH_BODY = 1024 * 1024;

/** An answer whose body is larger than acct reads; `status` is the answer's, so that a 2xx one is known as final (src/oauth/protocol.ts). */
export class ResponseTooLarge extends AcctError {
  constructor(
    host: string,
    readonly status: number,
    limit: number,
  ) {
    super('provider_unavailable', `${host} answered with more than ${limit / 1024 / 1024} MiB (HTTP ${status}), more than any authorization server sends; it was not read`, {
      hint: 'this is a fault at the provider (or something between it and you); retry later',
    });
    this.name = 'ResponseTooLarge';
  }
}

/**
 * The answers of `fetch` with their bodies read here, at most `limit` bytes
 * (a larger one is a ResponseTooLarge, and the rest is not downloaded), and
 * handed on as a new Response holding them.
 */
export function capBodies(fetch: Fetch, limit = MAX_OAUTH_BODY): Fetch {
  return async (url, init) => {
    const res = await fetch(url, init);
    if (!res.body) return res;
    const tooLarge = async () => {
      await res.body!.cancel().catch(() => undefined); // the connection may already be gone: nothing more to read either way
      return new ResponseTooLarge(new URL(url).host, res.status, limit);
    };
    if (Number(res.headers.get('content-length')) > limit) throw await tooLarge();
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.releaseLock();
        throw await tooLarge();
      }
      chunks.push(value);
    }
    return new Response(size ? Buffer.concat(chunks) : null, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
