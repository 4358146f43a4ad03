// A team member whose machine runs the keychain agent: the agent keeps the
// team database connection open between commands (src/agent/databases.ts),
// so `acct token` on a team account makes no new database session. Real
// gnome-keyring on a private D-Bus, real PostgreSQL, the built binary. The
// faults a warm connection could hide are checked through it: a restart of
// the database, the database stopped, the agent gone, a removed member whose
// session predates the removal.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { agentSocket, startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

const STRIPE = 'sk_live_TEAMAGENT_stripe_7d2e91c04b';

type Env = Record<string, string | undefined>;

let pg: PgCluster;
let session: KeyringSession;
/** Alice, the admin: a passphrase store, no agent. */
let alice: Env;
/** Ana, the member under test: the keychain, with its agent. */
let ana: Env;
const teamUrl = () => `postgres://${pg.host}:${pg.port}/acct`;
const run = (env: Env, args: string[], input?: string) => acct(args, env, input === undefined ? {} : { input, stdin: undefined });

/** Sessions of the acct database that have ended so far (PostgreSQL counts a session as its backend exits; psql here uses another database). */
function endedSessions(): number {
  return Number(pg.sql("SELECT pg_stat_clear_snapshot(); SELECT sessions FROM pg_stat_database WHERE datname = 'acct'", { database: 'postgres' }).trim().split('\n').pop());
}

/** The same, once a backend that just ended has been counted (polled until it moves, for a moment). */
async function endedSessionsAfter(before: number): Promise<number> {
  let n = endedSessions();
  for (let i = 0; i < 20 && n === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = endedSessions();
  }
  return n;
}

/** The backends logged in as Ana's role right now. */
const anaBackends = (): number[] =>
  pg
    .sql("SELECT a.pid FROM pg_stat_activity a JOIN acct.members m ON m.role_name = a.usename WHERE m.name = 'ana' ORDER BY a.pid", { database: 'acct' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);

/** What a run of acct loaded: files (require.cache) and Node's built-in modules. */
async function loads(args: string[], env: Env): Promise<{ stdout: string; files: string[]; builtins: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'acct-trace-'));
  const hooks = ['trace-loads.cjs', 'trace-builtins.cjs'].flatMap((h) => ['--require', resolve(import.meta.dirname, '../support', h)]);
  const r = await execa('node', [...hooks, BIN, ...args], { env: { ...env, ACCT_TRACE_LOADS: join(dir, 'files'), ACCT_TRACE_BUILTINS: join(dir, 'builtins') }, extendEnv: false, reject: false });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return { stdout: String(r.stdout), files: readFileSync(join(dir, 'files'), 'utf8').split('\n'), builtins: readFileSync(join(dir, 'builtins'), 'utf8').split('\n') };
}

beforeAll(async () => {
  pg = await startPostgres();
  session = await startKeyringSession();
  alice = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pass-alice', USER: 'alice' });
  ana = baseEnv({ ...session.env, ACCT_HOME: tempHome(), USER: 'ana', ACCT_TEAM_TIMEOUT: '3' });
  const created = await acct(['team', 'create', 'acme', pg.url], { ...alice, PGPASSWORD: pg.password });
  expect(created.exitCode, created.stderr).toBe(0);
  const inv = await run(alice, ['team', 'invite', 'acme', '--name', 'ana']);
  expect(inv.exitCode, inv.stderr).toBe(0);
  const joined = await run(ana, ['team', 'join', teamUrl(), '--code-stdin'], inv.stdout);
  expect(joined.exitCode, joined.stderr).toBe(0);
  expect((await run(alice, ['connect', 'stripe', '--team', 'acme', '--nickname', 'live', '--stdin', '--no-verify'], STRIPE)).exitCode).toBe(0);
  expect((await run(alice, ['share', 'acme:stripe/live', '--with', 'ana'])).exitCode).toBe(0);
}, 180_000);

afterAll(async () => {
  await session?.stop();
  pg?.destroy();
});

describe('a warm team connection, held by the keychain agent', () => {
  it('after the first command, acct token on a team account starts no database session', async () => {
    // The first read of Ana's member credentials starts the agent (as any keychain read does).
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    await agentSocket(session);
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    // The agent's connection is there between commands, logged in as Ana.
    const held = anaBackends();
    expect(held.length).toBeGreaterThanOrEqual(1);
    const before = endedSessions();
    for (let i = 0; i < 3; i++) expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    const env = await run(ana, ['env', '--format', 'json', 'S=acme:stripe/live']);
    expect(env.exitCode, env.stderr).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual({ S: STRIPE });
    await new Promise((r) => setTimeout(r, 300));
    // No backend came and went, and the same ones served every command.
    expect(endedSessions()).toBe(before);
    expect(anaBackends()).toEqual(held);
    // Uses are still recorded, as the member, through it.
    const shown = JSON.parse((await run(alice, ['show', 'acme:stripe/live', '--json'])).stdout);
    expect(shown.recent_uses.filter((u: { member: string }) => u.member === 'ana').length).toBeGreaterThanOrEqual(5);
  });

  it('through the agent, acct loads neither the database driver nor node:crypto (the agent opens the sealed secret)', async () => {
    const warm = await loads(['token', 'acme:stripe/live'], ana);
    expect(warm.stdout).toBe(STRIPE);
    expect(warm.files.some((f) => f.endsWith('vendor/pg.cjs'))).toBe(false);
    expect(warm.builtins).not.toContain('crypto');
    // The checks can fail: on its own, acct loads both.
    const alone = await loads(['token', 'acme:stripe/live'], { ...ana, ACCT_AGENT: '0' });
    expect(alone.stdout).toBe(STRIPE);
    expect(alone.files.some((f) => f.endsWith('vendor/pg.cjs'))).toBe(true);
    expect(alone.builtins).toContain('crypto');
  });

  it('without the agent (ACCT_AGENT=0) each command makes its own session: the count above can move', async () => {
    const before = endedSessions();
    for (let i = 0; i < 3; i++) expect(await run({ ...ana, ACCT_AGENT: '0' }, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    let after = await endedSessionsAfter(before);
    for (let i = 0; i < 20 && after - before < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = endedSessions();
    }
    expect(after - before).toBe(3);
  });

  it('PostgreSQL restarted under the warm connection: the next command works', async () => {
    const held = anaBackends();
    expect(held.length).toBeGreaterThanOrEqual(1);
    pg.restart();
    expect(anaBackends()).toEqual([]);
    const r = await run(ana, ['token', 'acme:stripe/live']);
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n`, stderr: '' });
    // The agent connected again (new backends, not this command's: they outlive it).
    const again = anaBackends();
    expect(again.length).toBeGreaterThanOrEqual(1);
    expect(again.some((pid) => held.includes(pid))).toBe(false);
  });

  it('the database stopped: exit 5 naming its host, through the agent as without it', async () => {
    pg.stop();
    try {
      const viaAgent = await run(ana, ['token', 'acme:stripe/live']);
      expect(viaAgent.exitCode, viaAgent.stderr).toBe(5);
      expect(viaAgent.stderr).toContain(`${pg.host}:${pg.port}`);
      expect(viaAgent.stderr).toContain('unreachable');
      const direct = await run({ ...ana, ACCT_AGENT: '0' }, ['token', 'acme:stripe/live']);
      expect(direct.exitCode).toBe(5);
      expect(direct.stderr).toContain(`${pg.host}:${pg.port}`);
      expect(viaAgent.stdout + direct.stdout).toBe('');
    } finally {
      pg.start();
    }
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
  });

  it('the agent stopped: acct connects itself, and the next keychain read starts the agent again', async () => {
    expect((await run(ana, ['agent', 'stop'])).exitCode).toBe(0);
    const before = endedSessions();
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    expect((await endedSessionsAfter(before)) - before).toBe(1);
    await agentSocket(session);
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
  });

  it('a member removed while the agent holds a session logged in as it: exit 4 with the reason, and no secret', async () => {
    expect(await run(ana, ['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    const held = anaBackends();
    expect(held.length).toBeGreaterThanOrEqual(1);
    const removed = await run(alice, ['team', 'remove', 'acme', 'ana']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    // The session made before the removal is still there: it is what this checks.
    expect(anaBackends().some((pid) => held.includes(pid))).toBe(true);
    const r = await run(ana, ['token', 'acme:stripe/live']);
    expect(r.exitCode, r.stderr).toBe(4);
    // What a command of its own hears at login (the agent's old session is not taken for proof of membership).
    expect(r.stderr).toContain("this machine's member of team acme was removed from it");
    expect(r.stdout).toBe('');
    const list = await run(ana, ['list', '--json']);
    expect(list.stderr).toContain('was removed');
    expect(list.stdout).not.toContain('stripe');
  });
});
