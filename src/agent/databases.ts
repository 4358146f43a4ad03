// Team database connections the agent keeps open between commands.
//
// A command that opens its own connection to a team's PostgreSQL pays for
// the driver (about 20 ms to load), a new backend and a SCRAM login (30 ms
// or more, plus the network's round trips) before its first query: on its
// own more than the spec's budget for `acct token` on a team account. The
// agent, which runs anyway where the keychain is the Secret Service, keeps
// a small pool per database, role and password, and runs the statements acct
// sends it (protocol.ts, QueryRequest) on those connections.
//
// What the agent holds: an authenticated session and, for as long as the
// pool lives, the role's password (to reconnect); no member's private key
// (it opens sealed items with one it is sent, and forgets it, see
// server.ts teamOpen). So what these connections can read is what the
// database holds: ciphertext and metadata, with row-level security as that
// member. A removed member's session sees nothing more (the policies check
// removed_at), and the pools close after IDLE_MS without use, or with the
// agent.
import { createHash } from 'node:crypto';
import type { QueryAnswer, QueryRequest } from './protocol.js';
import type { Pool } from '../team/pg.js';

export interface AgentDatabases {
  query(request: QueryRequest): Promise<QueryAnswer>;
  /** Ends every pool (the agent is stopping). */
  close(): Promise<void>;
}

/** How long the agent keeps an unused connection (the agent itself exits after ACCT_AGENT_IDLE). */
const IDLE_MS = 10 * 60_000;
/** Pools at most (the least recently used one is ended): one per team and member is the usual case. */
const MAX_POOLS = 8;
/** Driver errors that mean the connection itself failed, not the statement. */
const CONNECTION_LOST = /Connection terminated|connection error|ECONNRESET|EPIPE/i;

type OpenPool = (c: { url: string; user: string; password: string; env: NodeJS.ProcessEnv; max: number; connectTimeoutMs: number; idleTimeoutMs: number }) => Promise<Pool>;

const defaultOpenPool: OpenPool = async (c) => (await import('../team/pg.js')).openPool(c);

export function agentDatabases(openPool: OpenPool = defaultOpenPool): AgentDatabases {
  const pools = new Map<string, Promise<Pool>>();

  const keyOf = (db: QueryRequest['db']) => createHash('sha256').update(`${db.url}\0${db.user}\0${db.password}`).digest('hex');
  const dropPool = async (db: QueryRequest['db'], pool: Pool) => {
    const key = keyOf(db);
    if (pools.has(key)) pools.delete(key);
    await pool.end().catch(() => undefined);
  };

  const poolFor = (db: QueryRequest['db']): Promise<Pool> => {
    const key = keyOf(db);
    let pool = pools.get(key);
    if (pool) {
      pools.delete(key); // to the end: the most recently used
      pools.set(key, pool);
      return pool;
    }
    pool = openPool({ url: db.url, user: db.user, password: db.password, env: {}, max: 2, connectTimeoutMs: db.connectTimeoutMs, idleTimeoutMs: IDLE_MS });
    pool.catch(() => pools.delete(key));
    pools.set(key, pool);
    if (pools.size > MAX_POOLS) {
      const [oldest, ended] = pools.entries().next().value!;
      pools.delete(oldest);
      void ended.then((p) => p.end()).catch(() => undefined);
    }
    return pool;
  };

  return {
    async query(request) {
      let pool: Pool;
      try {
        pool = await poolFor(request.db);
      } catch {
        return { ok: false, reason: 'the database driver could not be loaded' };
      }
      const run = async (): Promise<QueryAnswer> => {
        const result = await pool.query({ text: request.sql, values: request.params });
        const dates = result.fields.filter((f) => result.rows.some((r) => r[f.name] instanceof Date)).map((f) => f.name);
        return { ok: true, rows: result.rows, dates };
      };
      try {
        return await run();
      } catch (first) {
        // Every statement that comes this way is safe to run twice, so two
        // failures of a kept connection get one more try:
        // - an idle connection the server closed (a restart) fails the first
        //   statement sent on it: again, on a new connection;
        // - a member removed from the team can no longer log in, but a
        //   session made before is still logged in, and meets "permission
        //   denied": the pool is ended and the statement runs on a new one,
        //   whose login says what a command of its own would have heard.
        if (isPermissionDenied(first)) {
          await dropPool(request.db, pool);
          try {
            pool = await poolFor(request.db);
          } catch {
            return { ok: false, reason: 'the database driver could not be loaded' };
          }
        } else if (!isConnectionLost(first)) return databaseError(first);
        try {
          return await run();
        } catch (err) {
          return databaseError(err);
        }
      }
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((p) => p.then((pool) => pool.end()).catch(() => undefined)));
    },
  };
}

function isPermissionDenied(err: unknown): boolean {
  return (err as { code?: string }).code === '42501';
}

function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '57P01' || e.code === 'ECONNRESET' || e.code === 'EPIPE' || (!e.code && CONNECTION_LOST.test(String(e.message)));
}

/** The driver's error as acct sees it from its own connections: SQLSTATE (or errno code) and the driver's text, never the statement or its values. */
function databaseError(err: unknown): QueryAnswer {
  const e = err as { code?: unknown; message?: unknown };
  return { ok: false, error: { ...(typeof e.code === 'string' ? { code: e.code } : {}), message: typeof e.message === 'string' ? e.message : String(err) } };
}
