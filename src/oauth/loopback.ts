// RFC 8252 loopback redirect receiver: listens on 127.0.0.1 (random port unless
// the app needs a fixed one), takes the first callback that carries the
// expected state, ignores the rest, answers with a small page (which never
// says "connected": the exchange comes after it), closes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AcctError, ExitCode } from '../errors.js';

export interface LoopbackOptions {
  host: '127.0.0.1' | 'localhost';
  port?: number;
  path: string;
}

export interface LoopbackReceiver {
  redirectUri: string;
  /** Resolves with the full callback URL once a callback with `state` arrives. */
  wait(state: string, timeoutMs: number, signal?: AbortSignal): Promise<URL>;
  close(): Promise<void>;
}

export async function startLoopbackReceiver(opts: LoopbackOptions): Promise<LoopbackReceiver> {
  let expectedState: string | undefined;
  let deliver: ((url: URL) => void) | undefined;
  let origin: string | undefined; // http://host:port, once listening
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // DNS rebinding: a page at another name that resolves to 127.0.0.1 sends its own Host. Only the redirect URI's is taken.
    if (!origin || req.headers.host?.toLowerCase() !== new URL(origin).host) return page(res, 400, 'Unexpected request', 'This address only receives the OAuth redirect for acct.');
    const url = parseTarget(req.url, origin);
    if (!url) return page(res, 400, 'Bad request', 'This address only receives the OAuth redirect for acct.');
    if (req.method !== 'GET' || url.pathname !== opts.path) return page(res, 404, 'Not found', 'This address only receives the OAuth redirect for acct.');
    const state = url.searchParams.get('state');
    if (!expectedState || state !== expectedState || !deliver)
      return page(res, 400, 'Unexpected request', 'This redirect does not belong to the sign-in acct is waiting for. You can close this tab.');
    const error = url.searchParams.get('error');
    if (error) page(res, 200, 'Access was not granted', `The provider answered: ${error}${url.searchParams.get('error_description') ? ` (${url.searchParams.get('error_description')})` : ''}. You can close this tab and return to the terminal.`);
    // Said before the code exchange, the test request and the store, any of which can still fail: the page says only what is known,
    // and the terminal says the rest. (Holding the answer until the end would leave the tab loading for as long as they take.)
    else page(res, 200, 'Authorization received', 'Return to the terminal: acct finishes connecting there and says whether it worked. You can close this tab.');
    const done = deliver;
    deliver = undefined;
    done(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new AcctError('provider_unavailable', `port ${opts.port} on ${opts.host} is in use, and this app needs that port for its redirect`, {
              hint: 'stop whatever listens there and retry, or use --manual or --device',
            })
          : err,
      ),
    );
    server.listen(opts.port ?? 0, opts.host === 'localhost' ? '127.0.0.1' : opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://${opts.host}:${port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    redirectUri: `${origin}${opts.path}`,
    close,
    wait(state, timeoutMs, signal) {
      expectedState = state;
      return new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(() => {
          deliver = undefined;
          reject(
            new AcctError('timeout', `no authorization arrived within ${Math.round(timeoutMs / 1000)}s`, {
              hint: 'run the command again (raise --timeout), or use --manual or --device where a browser on this machine cannot reach it',
            }),
          );
        }, timeoutMs);
        const onAbort = () => {
          clearTimeout(timer);
          deliver = undefined;
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        deliver = (url) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(url);
        };
      });
    },
  };
}

/**
 * The request target as a URL at the receiver's origin; undefined when it is
 * not a path (an absolute or scheme-relative form such as //host/…, which
 * would name another host) or cannot be parsed (GET //[/callback).
 */
function parseTarget(target: string | undefined, origin: string): URL | undefined {
  if (!target?.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    const url = new URL(target, origin);
    return url.origin === origin ? url : undefined;
  } catch {
    return undefined;
  }
}

function page(res: ServerResponse, status: number, title: string, text: string) {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(
    `<!doctype html><meta charset="utf-8"><title>acct: ${esc(title)}</title><style>body{font:16px system-ui,sans-serif;max-width:32em;margin:4em auto;color:#222}</style><h1>${esc(title)}</h1><p>${esc(text)}</p>`,
  );
}
