// The team store's refresh lock across processes and "machines" (each a
// member of its own, with its own key): many processes on an expired token
// cause one token request, and every one ends with the same new token; a
// holder that dies, or whose session the server ends, releases the lock.
// The workers (test/support/team-lock-worker.ts) run the refresh path's
// shape on RefreshLock, bundled with esbuild and run as separate processes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { SecretStore } from '../../src/store/store.js';
import { createTeam, addCi, share } from '../../src/team/admin.js';
import { openTeamStore, type TeamStore } from '../../src/team/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKER = join(ROOT, 'node_modules/.cache/acct/team-lock-worker.cjs');

let pg: PgCluster;
let server: Server;
let tokenUrl: string;
let owner: TeamStore;
let accountId: string;
const keys: string[] = [];
/** What the token endpoint saw. */
const seen = { requests: 0, reused: 0, presented: new Set<string>() };

beforeAll(async () => {
  await build({ entryPoints: [join(ROOT, 'test/support/team-lock-worker.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: WORKER, external: ['pg', 'pg-connection-string', 'pgpass'], logLevel: 'error' });
  pg = await startPostgres();
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      const rt = new URLSearchParams(body).get('refresh_token') ?? '';
      // A slow provider: the callers behind the holder really wait.
      setTimeout(() => {
        if (seen.presented.has(rt)) {
          seen.reused++;
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
          return;
        }
        seen.presented.add(rt);
        const n = ++seen.requests;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `at-${n}`, refresh_token: `rt-${n}`, expires_in: 3600 }));
      }, 300);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tokenUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`;

  const home = mkdtempSync(join(tmpdir(), 'acct-team-owner-'));
  const paths = { config: home, data: home };
  const secrets = new SecretStore({ paths, requestedKind: 'file', keychain: async () => Promise.reject(new Error('none')), passphrase: async () => 'owner pass' });
  await createTeam({ paths, env: { PGPASSWORD: pg.password }, secrets }, { name: 'acme', url: pg.url, memberName: 'owner' });
  owner = openTeamStore({ paths, env: {}, secrets, warn: () => undefined }, 'acme');
  for (let i = 0; i < 5; i++) keys.push((await addCi(owner, { name: `machine${i}` })).key);
  const now = new Date().toISOString();
  const a = await owner.create('example', { oauth_access_token: 'at-0', oauth_refresh_token: 'rt-0' }, (id) => ({
    account: { id, app: 'example', nickname: 'ci', auth: 'oauth2', status: 'ok', scopes: [], fields: ['oauth_access_token', 'oauth_refresh_token'], identity: null, expiresAt: new Date(Date.now() - 1000).toISOString(), createdAt: now, updatedAt: now },
    makeDefault: true,
  }));
  accountId = a.id;
  await share(owner, 'example/ci', 'team');
}, 120_000);

afterAll(async () => {
  await owner?.close();
  server?.close();
  pg?.destroy();
});

interface Worker {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  kill(): void;
  held: Promise<void>;
  waiting: Promise<void>;
}

function worker(key: string, extra: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [WORKER], {
    env: { PATH: process.env.PATH, ACCT_TEAM: pg.url, ACCT_TEAM_KEY: key, ACCOUNT: accountId, TOKEN_URL: tokenUrl, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onHeld: () => void;
  let onWaiting: () => void;
  const held = new Promise<void>((r) => (onHeld = r));
  const waiting = new Promise<void>((r) => (onWaiting = r));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    if (stdout.includes('held\n')) onHeld();
    if (stdout.includes('waiting\n')) onWaiting();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  // 'close', not 'exit': at 'exit' the child's pipes may still hold its output
  // (under load a worker that printed its token was read as exit 0 with nothing printed).
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.on('close', (code) => r({ code, stdout, stderr })));
  return { done, held, waiting, kill: () => child.kill('SIGKILL') };
}

async function expire() {
  await owner.update(accountId, (a) => void (a.expiresAt = new Date(Date.now() - 1000).toISOString()));
}

describe('the team refresh lock', () => {
  it('5 machines x 10 processes on an expired token: one token request, all end with the same new token', async () => {
    const all = keys.flatMap((k) => Array.from({ length: 10 }, () => worker(k)));
    const results = await Promise.all(all.map((w) => w.done));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'at-1\n' });
    expect(seen.requests).toBe(1);
    expect(seen.reused).toBe(0);
    expect((await owner.readSecrets([accountId])).get(accountId)).toMatchObject({ oauth_access_token: 'at-1', oauth_refresh_token: 'rt-1' });
  }, 120_000);

  it('a holder killed with the lock: its session ends, the lock with it, and a waiter refreshes', async () => {
    await expire();
    const holder = worker(keys[0]!, { STALL_MS: '600000', SIGNAL_HELD: '1' });
    await holder.held;
    const waiter = worker(keys[1]!, { WAIT_MS: '30000' });
    holder.kill();
    expect(await waiter.done).toMatchObject({ code: 0, stdout: 'at-2\n' });
    expect((await holder.done).code).toBe(null);
    expect(seen).toMatchObject({ requests: 2, reused: 0 });
  }, 60_000);

  it("the server ends the holder's session: the waiter refreshes, the holder finds the new token and says the lock was lost", async () => {
    await expire();
    const holder = worker(keys[2]!, { STALL_MS: '3000', SIGNAL_HELD: '1' });
    await holder.held;
    const waiter = worker(keys[3]!, { WAIT_MS: '30000' });
    const role = pg.sql(`SELECT role_name FROM acct.members WHERE name = 'machine2'`).trim();
    expect(pg.killBackends(role)).toBeGreaterThan(0);
    expect(await waiter.done).toMatchObject({ code: 0, stdout: 'at-3\n' });
    const h = await holder.done;
    expect(h).toMatchObject({ code: 0, stdout: 'held\nat-3\n' });
    expect(h.stderr).toContain('refresh lock');
    expect(seen).toMatchObject({ requests: 3, reused: 0 });
  }, 60_000);

  it('PostgreSQL restarted between the token request and storing its answer: the rotated refresh token is stored once it is back', async () => {
    await expire();
    const holder = worker(keys[1]!, { SIGNAL_REQUESTED: '1', STALL_AFTER_MS: '1500' });
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (seen.requests === 4) r(void clearInterval(t));
      }, 20);
    });
    pg.stop();
    await new Promise((r) => setTimeout(r, 3000)); // the holder's write finds no database, and tries again
    pg.start();
    const h = await holder.done;
    expect(h, h.stderr).toMatchObject({ code: 0, stdout: 'requested\nat-4\n' });
    expect(h.stderr).toContain('trying again');
    expect((await owner.readSecrets([accountId])).get(accountId)).toMatchObject({ oauth_access_token: 'at-4', oauth_refresh_token: 'rt-4' });
  }, 60_000);

  it('PostgreSQL restarted while one holds the lock and another waits: the waiter reconnects and refreshes once, the holder finds its token', async () => {
    await expire();
    const holder = worker(keys[2]!, { STALL_MS: '4000', SIGNAL_HELD: '1' });
    await holder.held;
    const waiter = worker(keys[3]!, { WAIT_MS: '30000', SIGNAL_WAITING: '1' });
    await waiter.waiting;
    pg.restart();
    const w = await waiter.done;
    expect(w, w.stderr).toMatchObject({ code: 0, stdout: 'waiting\nat-5\n' });
    const h = await holder.done;
    expect(h, h.stderr).toMatchObject({ code: 0, stdout: 'held\nat-5\n' });
    expect(h.stderr).toContain('was lost while it was held');
    expect(seen).toMatchObject({ requests: 5, reused: 0 });
  }, 60_000);

  it('a waiter whose deadline comes while the holder still holds gets the lock-busy error', async () => {
    await expire();
    const holder = worker(keys[4]!, { STALL_MS: '5000', SIGNAL_HELD: '1' });
    await holder.held;
    const waiter = worker(keys[0]!, { WAIT_MS: '500' });
    const w = await waiter.done;
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('timed out waiting for the refresh lock');
    expect(await holder.done).toMatchObject({ code: 0, stdout: 'held\nat-6\n' });
  }, 60_000);
});
