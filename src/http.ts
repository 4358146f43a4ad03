// Outbound HTTP: undici's fetch with an agent that honours HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY, a deadline on every request, and acct's User-Agent.
import { unavailable } from './errors.js';
import { VERSION } from './version.js';

export type Fetch = (url: string | URL, init?: RequestInit & { timeoutMs?: number }) => Promise<Response>;

export interface HttpOptions {
  timeoutMs: number;
  /** Called once for a request still unanswered after SLOW_MS, so long waits show progress. */
  onSlow?: (host: string) => void;
}

const SLOW_MS = 3000;

export const USER_AGENT = `acct/${VERSION}`;
/** User agents a library sets on its own (oauth4webapi names itself): acct's replaces them. One a caller chose (`acct request -H`) stays. */
const LIBRARY_AGENT = /^oauth4webapi\//;

export async function createFetch(options: HttpOptions): Promise<Fetch> {
  // undici is CommonJS: the bundle's dynamic import exposes it as `default` only.
  const mod = await import('undici');
  const { fetch, EnvHttpProxyAgent } = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const dispatcher = new EnvHttpProxyAgent({ connectTimeout: options.timeoutMs, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  return async (url, init = {}) => {
    const { timeoutMs = options.timeoutMs, signal, ...rest } = init;
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const slow = options.onSlow && setTimeout(() => options.onSlow!(new URL(url).host), SLOW_MS);
    slow?.unref();
    try {
      const headers = new Headers(rest.headers);
      if (!headers.has('user-agent') || LIBRARY_AGENT.test(headers.get('user-agent')!)) headers.set('user-agent', USER_AGENT);
      return (await fetch(url, { ...(rest as object), headers, signal: combined, dispatcher } as never)) as unknown as Response;
    } catch (err) {
      const host = new URL(url).host;
      if (deadline.aborted) throw unavailable(`${host} did not answer within ${timeoutMs / 1000}s`, 'check your network or proxy settings and retry', err);
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw unavailable(
        `cannot reach ${host}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        'check your network, proxy (HTTPS_PROXY/NO_PROXY) and retry',
        err,
      );
    } finally {
      if (slow) clearTimeout(slow);
    }
  };
}
