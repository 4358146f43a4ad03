// Helpers for the OAuth tests: an acct home wired to the test authorization
// server, a running acct whose stderr can be watched, and secret-safe comparisons.
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { acct, baseEnv, BIN, tempHome } from './cli.js';
import type { AuthServer, ClientKind } from './oauth-server.js';
import { CLIENT, type QuirkProvider } from './quirk-provider.js';

export const BROWSER_SCRIPT = resolve(import.meta.dirname, 'browser.mjs');
export const BROWSER_COMMAND = `${process.execPath} ${BROWSER_SCRIPT}`;

export interface OAuthHome {
  home: string;
  env: Record<string, string | undefined>;
  slug: string;
}

/** A fresh acct home (passphrase file store) with the server's app added and its client set. */
export async function oauthHome(server: AuthServer, kind: ClientKind, opts: { slug?: string; env?: Record<string, string | undefined> } = {}): Promise<OAuthHome> {
  const slug = opts.slug ?? 'local';
  const home = tempHome();
  const env = baseEnv({
    ACCT_HOME: home,
    ACCT_STORE: 'file',
    ACCT_PASSPHRASE: 'correct horse battery staple',
    ACCT_BROWSER: BROWSER_COMMAND,
    ...opts.env,
  });
  const added = await acct(['apps', 'add', slug, '--file', server.appFile(kind)], env);
  expect(added.stderr).toBe(`Added ${slug} (OAuth 2.0). Connect an account: acct connect ${slug}\n`);
  const client = server.clients[kind];
  const set = client.clientSecret
    ? await acct(['client', 'set', slug, '--client-id', client.clientId, '--secret-stdin'], env, { input: client.clientSecret, stdin: undefined })
    : await acct(['client', 'set', slug, '--client-id', client.clientId, '--no-secret'], env);
  expect(set.exitCode, set.stderr).toBe(0);
  return { home, env, slug };
}

/** A short, stable stand-in for a secret in assertions: never print the value itself. */
/** A fresh passphrase-store home with the app `def` added as `slug`, and the quirk provider's client set for it. */
export async function quirkHome(p: QuirkProvider, slug: string, def: Record<string, unknown>, extraEnv: Record<string, string | undefined> = {}): Promise<Record<string, string | undefined>> {
  const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pw', ACCT_BROWSER: BROWSER_COMMAND, ...extraEnv });
  const added = await acct(['apps', 'add', slug, '--file', p.appFile(def)], env);
  expect(added.exitCode, added.stderr).toBe(0);
  const set = await acct(['client', 'set', slug, '--client-id', CLIENT.clientId, '--secret-stdin'], env, { input: CLIENT.clientSecret, stdin: undefined });
  expect(set.exitCode, set.stderr).toBe(0);
  return env;
}

export function fingerprint(secret: string | undefined): string {
  if (secret === undefined) return '(none)';
  return `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 16)} (${secret.length} chars)`;
}

export interface RunningAcct {
  process: ResultPromise;
  /** Resolves with the first match of `re` in stderr (so far or later). */
  stderrMatch(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stderr(): string;
  done(): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** Starts acct without waiting for it, stdin piped. */
export function startAcct(args: string[], env: Record<string, string | undefined>): RunningAcct {
  const child = execa('node', [BIN, ...args], { env, extendEnv: false, reject: false, stripFinalNewline: false, stdin: 'pipe', timeout: 60_000 });
  let err = '';
  const waiters: (() => void)[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err += d;
    for (const w of waiters.splice(0)) w();
  });
  return {
    process: child,
    stderr: () => err,
    stderrMatch(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stderr never matched ${re}; it was:\n${err}`)), timeoutMs);
        const check = () => {
          const m = err.match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else waiters.push(check);
        };
        check();
        void child.then(() => {
          if (!err.match(re)) {
            clearTimeout(timer);
            reject(new Error(`acct exited before stderr matched ${re}; it was:\n${err}`));
          }
        });
      });
    },
    async done() {
      const r = await child;
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: err };
    },
  };
}

/** The account's fields, values revealed (for comparisons through fingerprint only). */
export async function revealed(ref: string, env: Record<string, string | undefined>): Promise<Record<string, string>> {
  const r = await acct(['show', ref, '--reveal', '--json'], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout).fields;
}

export async function listJson(env: Record<string, string | undefined>): Promise<Array<Record<string, any>>> {
  const r = await acct(['list', '--json'], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects `local/<nickname>` through the test browser (logging in as
 * `login`) while the server issues access tokens that live `ttl` seconds,
 * then sets the lifetime back to `after`; returns the new account's id.
 */
export async function connectWithTtl(server: AuthServer, env: Record<string, string | undefined>, nickname: string, ttl: number, opts: { login?: string; after?: number } = {}): Promise<string> {
  server.setAccessTokenTtl(ttl);
  try {
    const r = await acct(['connect', 'local', '--nickname', nickname], { ...env, ACCT_TEST_BROWSER_LOGIN: opts.login ?? nickname });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.trim();
  } finally {
    server.setAccessTokenTtl(opts.after ?? 300);
  }
}
