// A git smart-HTTP server for the tests: `git http-backend` as a CGI behind
// a small Node server on 127.0.0.1 that demands Basic auth and asks the test
// whether the username and password are good (an OAuth token is checked
// against the authorization server). Every attempt is recorded.
import { spawn, execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AuthAttempt {
  username: string;
  password: string;
  ok: boolean;
}

export interface GitServer {
  port: number;
  /** host:port, as git names it in credential requests. */
  host: string;
  root: string;
  url(repo: string): string;
  /** Basic-auth attempts, in order (requests without credentials are not listed). */
  attempts: AuthAttempt[];
  setAuthorize(check: (username: string, password: string) => Promise<boolean> | boolean): void;
  /** Makes a bare repository with one commit on main. */
  createRepo(name: string): string;
  close(): Promise<void>;
}

const gitEnv = {
  PATH: process.env.PATH,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

export async function startGitServer(): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), 'acct-git-root-'));
  const attempts: AuthAttempt[] = [];
  let authorize: (u: string, p: string) => Promise<boolean> | boolean = () => false;

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const m = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return deny(res);
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const ok = colon > 0 && (await authorize(username, password));
    attempts.push({ username, password, ok });
    if (!ok) return deny(res);
    cgi(req, res, username);
  }

  function deny(res: ServerResponse) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="acct test git"', 'content-type': 'text/plain' });
    res.end('authentication required\n');
  }

  function cgi(req: IncomingMessage, res: ServerResponse, user: string) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const child = spawn('git', ['http-backend'], {
      env: {
        ...gitEnv,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    req.pipe(child.stdin);
    // CGI output: headers (Status: among them), a blank line, the body.
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end));
    });
    child.on('close', () => {
      if (!headersDone) res.writeHead(500).end('http-backend wrote no headers');
      else res.end();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    host: `127.0.0.1:${port}`,
    root,
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    attempts,
    setAuthorize(check) {
      authorize = check;
    },
    createRepo(name) {
      const bare = join(root, name);
      mkdirSync(bare, { recursive: true });
      execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare], { env: gitEnv });
      execFileSync('git', ['config', 'http.receivepack', 'true'], { cwd: bare, env: gitEnv });
      const work = mkdtempSync(join(tmpdir(), 'acct-git-seed-'));
      execFileSync('git', ['init', '--quiet', '--initial-branch=main', work], { env: gitEnv });
      writeFileSync(join(work, 'README'), 'hello\n');
      execFileSync('git', ['add', 'README'], { cwd: work, env: gitEnv });
      execFileSync('git', ['commit', '--quiet', '-m', 'first'], { cwd: work, env: gitEnv });
      execFileSync('git', ['push', '--quiet', bare, 'main'], { cwd: work, env: gitEnv });
      return bare;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
