// The agent's team database connections (src/agent/databases.ts) and acct's
// side of them (src/team/pg.ts, agentDatabase), against a real PostgreSQL:
// rows and timestamps survive the trip as JSON, the database's errors come
// back as its own, a pool is found only with its password, a connection the
// server closed is replaced, and acct connects itself when the agent cannot
// answer. The agent request line is checked as the agent reads it (begin()).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { agentDatabases, type AgentDatabases } from '../../src/agent/databases.js';
import { begin } from '../../src/agent/server.js';
import { AGENT_PROTOCOL, MAX_QUERY_SQL, type QueryAnswer, type QueryRequest } from '../../src/agent/protocol.js';
import { agentDatabase } from '../../src/team/pg.js';
import type { TeamAgent } from '../../src/agent/client.js';

let pg: PgCluster;
let dbs: AgentDatabases;
const BUS = 'unix:path=/tmp/test-bus';

const request = (sql: string, params: unknown[] = [], password = pg.password): QueryRequest => ({
  v: AGENT_PROTOCOL,
  op: 'query',
  bus: BUS,
  db: { url: pg.url, user: 'acct', password, connectTimeoutMs: 5_000 },
  sql,
  params,
});
/** An answer as acct receives it: through JSON, as the socket carries it. */
const wire = async (r: QueryRequest) => JSON.parse(JSON.stringify(await dbs.query(r))) as QueryAnswer;
const backends = () => Number(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'acct' AND application_name = 'acct'", { database: 'postgres' }).trim());

beforeAll(async () => {
  pg = await startPostgres();
  dbs = agentDatabases();
}, 120_000);
afterAll(async () => {
  await dbs?.close();
  pg?.destroy();
});

describe('the agent keeps team database connections', () => {
  it('answers rows, naming the timestamp columns, and keeps the connection for the next statement', async () => {
    const a = await wire(request("SELECT $1::text AS name, '2026-01-02T03:04:05Z'::timestamptz AS at, '{\"k\": [1]}'::jsonb AS meta, NULL::timestamptz AS gone", ['x']));
    expect(a).toEqual({ ok: true, rows: [{ name: 'x', at: '2026-01-02T03:04:05.000Z', meta: { k: [1] }, gone: null }], dates: ['at'] });
    const held = backends();
    expect(held).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 5; i++) expect((await wire(request('SELECT 1 AS one'))).ok).toBe(true);
    expect(backends()).toBe(held);
  });

  it("gives back the database's error with its SQLSTATE, not the statement", async () => {
    const a = await wire(request('SELECT * FROM no_such_table_here'));
    expect(a).toMatchObject({ ok: false, error: { code: '42P01' } });
    expect(JSON.stringify(a)).not.toContain('SELECT');
  });

  it('finds a pool only with its password: a wrong one is refused by the database, not served by the kept connection', async () => {
    expect((await wire(request('SELECT 1 AS one'))).ok).toBe(true);
    const a = await wire(request('SELECT 1 AS one', [], 'not the password'));
    expect(a).toMatchObject({ ok: false, error: { code: '28P01' } });
  });

  it('replaces a connection the server closed (a restart) without failing the statement', async () => {
    expect((await wire(request('SELECT 1 AS one'))).ok).toBe(true);
    pg.restart();
    expect(await wire(request('SELECT 2 AS two'))).toEqual({ ok: true, rows: [{ two: 2 }], dates: [] });
  });

  it('ends its connections when it stops', async () => {
    const own = agentDatabases();
    expect((await own.query(request('SELECT 1 AS one'))).ok).toBe(true);
    const before = backends();
    await own.close();
    let after = backends();
    for (let i = 0; i < 20 && after >= before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = backends();
    }
    expect(after).toBe(before - 1);
  });
});

describe("acct's side: agentDatabase", () => {
  const connection = () => ({ url: pg.url, user: 'acct', password: pg.password, env: {} });
  /** An agent that answers through agentDatabases and counts what it was asked. */
  const relay = () => {
    const asked: string[] = [];
    const agent: Pick<TeamAgent, 'query'> = {
      query: async (r) => {
        asked.push(r.sql);
        return JSON.parse(JSON.stringify(await dbs.query({ v: AGENT_PROTOCOL, op: 'query', bus: BUS, ...r }))) as QueryAnswer;
      },
    };
    return { agent, asked };
  };

  it('turns timestamp columns back into dates, and database errors into errors with their code', async () => {
    const { agent, asked } = relay();
    const db = agentDatabase(agent, connection());
    const rows = await db.query<{ at: Date; n: number }>("SELECT '2026-05-06T07:08:09Z'::timestamptz AS at, 3 AS n", []);
    expect(rows[0]!.at).toBeInstanceOf(Date);
    expect(rows[0]!.at.toISOString()).toBe('2026-05-06T07:08:09.000Z');
    await expect(db.query('SELECT * FROM no_such_table_here', [])).rejects.toMatchObject({ code: '42P01' });
    expect(asked).toHaveLength(2);
    await db.end();
  });

  it('runs the statement on its own connection when the agent cannot answer, and keeps to it', async () => {
    let asked = 0;
    const db = agentDatabase({ query: async () => (asked++, undefined) }, connection());
    expect(await db.query<{ n: number }>('SELECT 7 AS n', [])).toEqual([{ n: 7 }]);
    expect(await db.query<{ n: number }>('SELECT 8 AS n', [])).toEqual([{ n: 8 }]);
    expect(asked).toBe(1);
    await db.end();
  });

  it('sends bytes, which JSON would mangle, over its own connection; transactions too', async () => {
    const { agent, asked } = relay();
    const db = agentDatabase(agent, connection());
    expect(await db.query<{ n: number }>('SELECT length($1::bytea) AS n', [Buffer.from([0, 1, 2])])).toEqual([{ n: 3 }]);
    const client = await db.connect();
    await client.query('BEGIN');
    await client.query('ROLLBACK');
    client.release();
    expect(asked).toEqual([]);
    await db.end();
  });
});

describe('the request line, as the agent reads it', () => {
  const line = (over: Record<string, unknown>) => JSON.stringify({ ...request('SELECT 1'), ...over });

  it('takes a query request of its own D-Bus session', () => {
    const r = begin(line({}), BUS);
    expect(r).toMatchObject({ ok: true, query: { sql: 'SELECT 1' } });
  });

  it('refuses one of another session, a URL that is not PostgreSQL, an oversized statement, a missing password', () => {
    expect(begin(line({}), 'unix:path=/other')).toEqual({ ok: false, reason: 'this agent serves another D-Bus session' });
    expect(begin(line({ db: { ...request('').db, url: 'http://127.0.0.1/' } }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
    expect(begin(line({ sql: 'x'.repeat(MAX_QUERY_SQL + 1) }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
    const { password: _, ...noPassword } = request('').db;
    expect(begin(line({ db: noPassword }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
    expect(begin(line({ params: 'not a list' }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
  });
});
