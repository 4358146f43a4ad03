// The PostgreSQL driver, loaded on first use of a team (acct token on a local
// account never loads it), and the one place its errors become acct's.
//
// Why `pg` (node-postgres) rather than `postgres` (porsager): it is plain
// CommonJS with no ESM-only entry, which our one-file CommonJS bundle needs
// (dist/vendor/pg.cjs, like the other libraries); it reads PGPASSWORD and
// ~/.pgpass (through the pgpass package, called here ourselves) and takes TLS
// from sslmode in the URL; its Client gives us a dedicated session for the
// refresh lock (a session advisory lock must live on one connection); and it
// is the driver most managed PostgreSQL services document.
import type { Pool, PoolClient, PoolConfig } from 'pg';
import type { TeamAgent } from '../agent/client.js';
import { AcctError, errorMessage } from '../errors.js';
import { hostOf } from './config.js';

export type { Pool, PoolClient };

export interface Connection {
  url: string;
  /** The role to log in as; the URL's user otherwise. */
  user?: string;
  /** The role's password; otherwise PGPASSWORD, then ~/.pgpass. */
  password?: string;
  env: NodeJS.ProcessEnv;
  /** Connections at most in the pool. */
  max?: number;
  /** How long to wait for a connection; ACCT_TEAM_TIMEOUT otherwise. */
  connectTimeoutMs?: number;
  /** How long an idle connection is kept (5 s: a command's pool; the agent keeps its own longer). */
  idleTimeoutMs?: number;
}

/** Seconds to wait for the database to answer a connection (ACCT_TEAM_TIMEOUT, default 10). */
export function connectTimeoutMs(env: NodeJS.ProcessEnv): number {
  const n = Number(env.ACCT_TEAM_TIMEOUT ?? 10);
  return Number.isFinite(n) && n > 0 ? n * 1000 : 10_000;
}

export async function openPool(c: Connection): Promise<Pool> {
  const [{ default: pg }, { parse }] = await Promise.all([import('pg'), import('pg-connection-string')]);
  // The URL's own fields, then ours: pg would let the URL's (empty) password and user override explicit ones.
  const parsed = parse(c.url) as Record<string, unknown>;
  delete parsed.password;
  const config: PoolConfig = {
    ...(parsed as PoolConfig),
    user: c.user ?? ((parsed.user as string) || c.env.PGUSER || undefined),
    // A function: pg's own .pgpass lookup prints a deprecation warning.
    password: c.password !== undefined ? c.password : async () => passwordFromEnvironment(c, parsed),
    max: c.max ?? 4,
    connectionTimeoutMillis: c.connectTimeoutMs ?? connectTimeoutMs(c.env),
    idleTimeoutMillis: c.idleTimeoutMs ?? 5_000,
    // A pool with idle connections does not keep acct running once its command is done.
    allowExitOnIdle: true,
    application_name: 'acct',
  };
  const pool = new pg.Pool(config);
  // An idle connection the server closes (a restart) is an error event on the pool: the next query connects anew.
  pool.on('error', () => undefined);
  return pool;
}

async function passwordFromEnvironment(c: Connection, parsed: Record<string, unknown>): Promise<string> {
  if (c.env.PGPASSWORD) return c.env.PGPASSWORD;
  const { default: pgpass } = await import('pgpass');
  const found = await new Promise<string | undefined>((resolve) =>
    pgpass({ host: parsed.host || 'localhost', port: parsed.port || 5432, database: parsed.database, user: c.user ?? parsed.user }, resolve),
  );
  if (found === undefined)
    throw new AcctError('usage', `no password for ${String(c.user ?? parsed.user)} at ${hostOf(c.url)}`, {
      hint: 'set PGPASSWORD, or add a line for it to ~/.pgpass (host:port:database:user:password, mode 0600)',
    });
  return found;
}

/**
 * A team database as a store uses it: single statements (query), sessions of
 * its own for transactions and the refresh lock (connect), and a head start
 * (warm).
 */
export interface Database {
  query<T extends object>(sql: string, params: unknown[]): Promise<T[]>;
  connect(): Promise<PoolClient>;
  /** Makes the first connection ahead of the first statement (a head start; failures are the next statement's). */
  warm(): Promise<void>;
  end(): Promise<void>;
}

/** The database through a pool of this process's own connections. */
export async function poolDatabase(c: Connection): Promise<Database> {
  const pool = await openPool(c);
  return {
    query: async <T extends object>(sql: string, params: unknown[]) => (await pool.query<T>(sql, params)).rows,
    connect: () => pool.connect(),
    warm: async () => (await pool.connect()).release(),
    end: () => pool.end(),
  };
}

/**
 * The database through the keychain agent where it runs (agent/databases.ts):
 * its connections are open and logged in already, so a statement costs one
 * round trip instead of the driver's load, a new backend and a login. Only
 * single statements go there, each safe to run twice; transactions and the
 * refresh lock need a session of their own, and get one from this process's
 * pool, made on first use. When the agent cannot answer (not running, too
 * slow, a refusal), the statement runs on that pool, and so do the rest.
 */
export function agentDatabase(agent: Pick<TeamAgent, 'query'>, c: Connection & { user: string; password: string }): Database {
  let own: Promise<Database> | undefined;
  const direct = () => (own ??= poolDatabase(c).catch((err: unknown) => {
    own = undefined;
    throw err;
  }));
  let agentHelps = true;
  const connectTimeout = c.connectTimeoutMs ?? connectTimeoutMs(c.env);
  return {
    async query<T extends object>(sql: string, params: unknown[]): Promise<T[]> {
      // Values as JSON carries them (dates become ISO 8601 text, as timestamptz takes it); bytes do not travel as JSON.
      if (agentHelps && !params.some((p) => p instanceof Uint8Array)) {
        const answer = await agent.query({ db: { url: c.url, user: c.user, password: c.password, connectTimeoutMs: connectTimeout }, sql, params });
        if (answer?.ok) {
          for (const row of answer.rows) for (const col of answer.dates) if (typeof row[col] === 'string') row[col] = new Date(row[col] as string);
          return answer.rows as T[];
        }
        if (answer && 'error' in answer) throw Object.assign(new Error(answer.error.message), answer.error.code ? { code: answer.error.code } : {});
        agentHelps = false;
      }
      return (await direct()).query<T>(sql, params);
    },
    connect: async () => (await direct()).connect(),
    warm: async () => undefined,
    end: async () => {
      if (own) await (await own.catch(() => undefined))?.end();
    },
  };
}

/** Network-level failures: the database is not there (or not now). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/** Node's codes for a server certificate that does not verify. */
const TLS_FAILURES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A driver error as acct reports it. The message never quotes a query or its
 * parameters (they hold sealed secrets and verifiers): the driver's own text
 * for the server's errors, which name objects, not values.
 */
export function teamError(err: unknown, url: string, team?: string): unknown {
  if (err instanceof AcctError) return err;
  const e = err as { code?: string; message?: string };
  const host = hostOf(url);
  // Without a team (acct team upgrade names a database, not a team): the database, by its host.
  const database = team === undefined ? 'the team database' : `the database of team ${team}`;
  const message = errorMessage(err);
  // The driver's own failures carry no SQLSTATE: a connection that timed out or ended under a query.
  const driverFailure = !e.code && /timeout expired|Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
  // TLS as the URL's sslmode asks for it, and a server that does not speak it, or whose certificate does not verify.
  if ((!e.code && /does not support SSL connections/i.test(message)) || (e.code && TLS_FAILURES.has(e.code)))
    return new AcctError('team_unreachable', `${database} at ${host} cannot be reached over TLS as the URL's sslmode asks (${message})`, {
      hint: /does not support SSL/i.test(message)
        ? 'the server does not accept TLS: have its administrator turn ssl on (recommended), or on a network you trust give the URL sslmode=disable'
        : "the server's certificate does not verify: give its CA with sslrootcert=<file> in the URL, or check the host name matches the certificate",
      cause: err,
    });
  if ((e.code && UNREACHABLE.has(e.code)) || driverFailure)
    return new AcctError('team_unreachable', `${database} at ${host} is unreachable (${message})`, {
      hint: 'check that it is running and reachable from here; the accounts there are unchanged',
      cause: err,
    });
  if (team === undefined && (e.code === '28P01' || e.code === '28000'))
    return new AcctError('access_denied', `${host} refused the login of the URL's role (${message})`, { hint: 'check the password in PGPASSWORD or ~/.pgpass for the role that created the team', cause: err });
  if (team === undefined && e.code === '42501') return new AcctError('access_denied', `${host}: ${message}`, { hint: 'run it as the role that owns the acct schema', cause: err });
  if (e.code === '28000' && /not permitted to log in/.test(message))
    return new AcctError('access_removed', `this machine's member of team ${team} was removed from it`, {
      hint: `ask an admin of ${team} to invite you again (acct team invite ${team} --name …)`,
      cause: err,
    });
  if (e.code === '28P01' || e.code === '28000')
    return new AcctError('access_denied', `${host} refused this member's login to team ${team} (${message})`, {
      hint: `the member's password was changed or its role dropped; ask an admin of ${team} for a new invitation`,
      cause: err,
    });
  if (e.code === '42501')
    return new AcctError('access_denied', `team ${team}: ${message}`, { hint: 'ask an admin of the team', cause: err });
  if (e.code === '3F000' || e.code === '42P01')
    return new AcctError('not_found', `there is no acct team schema in the database at ${host}`, {
      hint: 'create a team there first: acct team create <name> <url>',
      cause: err,
    });
  return err;
}

let inFlight = 0;
let keepAlive: NodeJS.Timeout | undefined;

/**
 * Runs `fn` with the process kept alive. The pool lets Node exit once its
 * connections are idle (allowExitOnIdle: a command need not close it), so
 * while a store operation is under way something must hold the event loop,
 * or Node could exit with the operation half done.
 */
export async function alive<T>(fn: () => Promise<T>): Promise<T> {
  if (inFlight++ === 0) keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    return await fn();
  } finally {
    if (--inFlight === 0) clearInterval(keepAlive);
  }
}
