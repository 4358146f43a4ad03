// The loopback receiver's edges: Ctrl-C while waiting, the page the browser
// lands on, and an authorization response from the wrong issuer (RFC 9207).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect as tcpConnect } from 'node:net';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, startAcct, listJson } from '../support/oauth-cli.js';
import { acct } from '../support/cli.js';
import { authorize } from '../support/browser-lib.mjs';

let server: AuthServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
});
afterAll(async () => {
  await server?.close();
});

const URL_LINE = /^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m;

/** Whether anything still listens on a local port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends one raw HTTP/1.1 request to a local port and returns the status line of the answer. */
function rawRequest(port: number, target: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: string) => (answer += d));
    socket.once('end', () => resolve(answer.split('\r\n')[0]!));
    socket.once('error', reject);
  });
}

describe('loopback edges', () => {
  it('a malformed request line is answered 400 and acct keeps waiting; so is a request with another Host (DNS rebinding)', async () => {
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const run = startAcct(['connect', 'local', '--no-browser', '--timeout', '60'], env);
    const [, url] = await run.stderrMatch(URL_LINE);
    const port = Number(new URL(new URL(url!).searchParams.get('redirect_uri')!).port);
    expect(await rawRequest(port, '//[/callback', `127.0.0.1:${port}`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawRequest(port, '//evil.example/callback', `127.0.0.1:${port}`)).toBe('HTTP/1.1 400 Bad Request');

    const callback = new URL(await authorize(url!, { login: 'rebind' }));
    // The very callback, state and code included, but sent to another name: refused, and not taken.
    expect(await rawRequest(port, `${callback.pathname}${callback.search}`, `rebind.example:${port}`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await listening(port)).toBe(true);

    expect((await fetch(callback)).status).toBe(200);
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await listJson(env)).toHaveLength(1);
  });

  it('Ctrl-C while waiting exits 130, closes the listener and stores nothing', async () => {
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const run = startAcct(['connect', 'local', '--no-browser', '--timeout', '60'], env);
    const [, url] = await run.stderrMatch(URL_LINE);
    const port = Number(new URL(new URL(url!).searchParams.get('redirect_uri')!).port);
    expect(await listening(port)).toBe(true);

    run.process.kill('SIGINT');
    const r = await run.done();
    expect(r.exitCode).toBe(130);
    expect(r.stdout).toBe('');
    expect(await listening(port)).toBe(false);
    expect(await listJson(env)).toEqual([]);
  });

  it('the page after the redirect is no-store, locked down, and carries no code or token', async () => {
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const run = startAcct(['connect', 'local', '--no-browser', '--timeout', '60'], env);
    const [, url] = await run.stderrMatch(URL_LINE);
    const callback = await authorize(url!, { login: 'page-check' });
    const code = new URL(callback).searchParams.get('code')!;
    expect(code.length).toBeGreaterThan(10);

    const res = await fetch(callback);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    // Sent before the code exchange, which may still fail: it must not say the account is connected.
    expect(body).toContain('Authorization received');
    expect(body).toContain('Return to the terminal');
    expect(body).not.toMatch(/connected/i);
    expect(body).not.toContain(code);

    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(code);
  });

  it('a response whose iss is not the issuer is refused: nothing stored, the error says why', async () => {
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const run = startAcct(['connect', 'local', '--no-browser', '--timeout', '60'], env);
    const [, url] = await run.stderrMatch(URL_LINE);
    const callback = new URL(await authorize(url!, { login: 'mix-up' }));
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
    callback.searchParams.set('iss', 'https://attacker.example');
    await fetch(callback);

    const r = await run.done();
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/did not come from .*"iss" does not match/);
    expect(r.stderr).toMatch(/nothing was stored/);
    expect(await listJson(env)).toEqual([]);
  });

  it('OAuth credentials expose expires_at as a field, as token --field and env read it', async () => {
    const { env } = await oauthHome(server, 'public');
    const connected = await acct(['connect', 'local', '--nickname', 'expiry'], env);
    expect(connected.exitCode, connected.stderr).toBe(0);
    const [account] = await listJson(env);
    expect(account!.expires_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await acct(['token', 'local', '--field', 'expires_at'], env)).toMatchObject({ exitCode: 0, stdout: `${account!.expires_at}\n` });
    const vars = await acct(['env', 'EXPIRES=local.expires_at', '--format', 'json'], env);
    expect(JSON.parse(vars.stdout)).toEqual({ EXPIRES: account!.expires_at });
  });
});
