// Outbound HTTP: undici's fetch with an agent that honours HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY, and a deadline on every request.
import { unavailable } from './errors.js';

export type Fetch = (url: string | URL, init?: RequestInit & { timeoutMs?: number }) => Promise<Response>;

export interface HttpOptions {
  timeoutMs: number;
  /** Called once for a request still unanswered after SLOW_MS, so long waits show progress. */
  onSlow?: (host: string) => void;
}

const SLOW_MS = 3000;

export async function createFetch(options: HttpOptions): Promise<Fetch> {
  // undici is CommonJS: the bundle's dynamic import exposes it as `default` only.
  const mod = await import('undici');
  const { fetch, EnvHttpProxyAgent } = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const dispatcher = new EnvHttpProxyAgent({ connectTimeout: options.timeoutMs, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  return async (url, init = {}) => {
    // A caller may shorten the wait (a refresh near its deadline), never lengthen it past ACCT_HTTP_TIMEOUT.
    const { timeoutMs: asked, signal, ...rest } = init;
    const timeoutMs = Math.min(asked ?? options.timeoutMs, options.timeoutMs);
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const slow = options.onSlow && setTimeout(() => options.onSlow!(new URL(url).host), SLOW_MS);
    slow?.unref();
    try {
      return (await fetch(url, { ...(rest as object), signal: combined, dispatcher } as never)) as unknown as Response;
    } catch (err) {
      const host = new URL(url).host;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      // undici's own timers (the dispatcher's, set to the same timeout) may fire first: the same wait, said the same way.
      const timedOut = deadline.aborted || /^UND_ERR_(HEADERS|BODY|CONNECT)_TIMEOUT$/.test(cause?.code ?? '');
      if (timedOut) throw unavailable(`${host} did not answer within ${Math.round(timeoutMs / 100) / 10}s`, 'check your network or proxy settings and retry', err);
      if (signal?.aborted) throw err;
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
