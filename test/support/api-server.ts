// Local stand-ins for the APIs behind `acct request` and `acct status`: an
// HTTP server on 127.0.0.1 that records every request it gets (raw body
// included) and answers through a replaceable handler; a forward proxy that
// records what went through it; a port nothing listens on; and a way to run
// acct with binary-safe stdout.
import { buffer } from 'node:stream/consumers';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { execa, type Options } from 'execa';
import { BIN } from './cli.js';

export interface SeenRequest {
  method: string;
  /** The request target as received (path and query). */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

export interface ApiServer {
  url: string;
  port: number;
  seen: SeenRequest[];
  /** Replaces how the server answers (the default echoes the request as JSON). */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** Answers 200 with {method, url, body} as JSON. */
export const echo: Handler = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, url: req.url, body: req.body.toString('utf8') }));
};

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}


function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * `host` is any 127.0.0.x address (all loopback on Linux): a server on
 * 127.0.0.2 is another origin than one on 127.0.0.1, as a stranger's host would be.
 */
export async function startApiServer(handler: Handler = echo, options: { host?: string } = {}): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  const seen: SeenRequest[] = [];
  let current = handler;
  const server = createServer((req, res) => {
    void (async () => {
      const body = await buffer(req);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body };
      seen.push(entry);
      await current(entry, res);
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  const port = await listen(server, host);
  return {
    url: `http://${host}:${port}`,
    port,
    seen,
    handle(h) {
      current = h;
    },
    close: () => closeServer(server),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}

export interface ProxyRecord {
  kind: 'connect' | 'forward';
  /** host:port of the target. */
  target: string;
  /** The first request line the client sent to the target ("GET /v1/x HTTP/1.1"). */
  requestLine?: string;
}

export interface Proxy {
  url: string;
  seen: ProxyRecord[];
  close(): Promise<void>;
}

/**
 * A forward proxy for http targets: absolute-form requests are forwarded, and
 * CONNECT tunnels (what undici's ProxyAgent opens by default) are spliced to
 * the target, the first request line inside them recorded.
 */
export async function startProxy(): Promise<Proxy> {
  const seen: ProxyRecord[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '');
    const record: ProxyRecord = { kind: 'forward', target: target.host, requestLine: `${req.method} ${target.pathname}${target.search} HTTP/${req.httpVersion}` };
    seen.push(record);
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const record: ProxyRecord = { kind: 'connect', target: req.url ?? '' };
    seen.push(record);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    const upstream = netConnect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      let first = '';
      const sniff = (chunk: Buffer) => {
        first += chunk.toString('latin1');
        const eol = first.indexOf('\r\n');
        if (eol >= 0) {
          record.requestLine ??= first.slice(0, eol);
          client.off('data', sniff);
        }
      };
      if (head.length) sniff(head);
      client.on('data', sniff);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close() {
      for (const s of sockets) s.destroy();
      return closeServer(server);
    },
  };
}

export interface RawResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs acct keeping stdout as bytes (for binary bodies). */
export async function acctRaw(args: string[], env: Record<string, string | undefined>, options: Options = {}): Promise<RawResult> {
  const r = await execa('node', [BIN, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000, ...options, encoding: 'buffer', stripFinalNewline: false });
  return { exitCode: r.exitCode ?? -1, stdout: Buffer.from(r.stdout as unknown as Uint8Array), stderr: Buffer.from(r.stderr as unknown as Uint8Array).toString('utf8') };
}
