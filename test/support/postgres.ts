// A private PostgreSQL cluster for one test file: initdb in a temporary
// folder, listening on 127.0.0.1 at a free port (and a unix socket in the
// folder), a database `acct` and a role `acct` with CREATEROLE that owns it,
// as a DBA would set up for a team. Stopped and removed at the end.
//
// Tests run as root and initdb refuses root, so the cluster belongs to the
// postgres user: its folder is chowned to it and initdb, pg_ctl and psql run
// through `runuser -u postgres --`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface PgCluster {
  host: string;
  port: number;
  /** The acct owner role's URL, without its password (that goes in PGPASSWORD). */
  url: string;
  /** The owner role's password, for PGPASSWORD. */
  password: string;
  dir: string;
  /** Runs SQL as the superuser (psql -At), returns its output. */
  sql(query: string, opts?: { user?: string; password?: string; database?: string }): string;
  /** pg_dump of the acct database, as text. */
  dump(): string;
  /** Stops and starts the server (pg_ctl restart -m fast). */
  restart(): void;
  stop(): void;
  start(): void;
  /** Ends the backends of a role (pg_terminate_backend); returns how many. */
  killBackends(role: string): number;
  destroy(): void;
}

const BIN = (() => {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  return join(root, versions[0]!, 'bin');
})();

const asRoot = userInfo().uid === 0;
/** Runs a PostgreSQL binary as the postgres user when we are root. */
function pgRun(bin: string, args: string[], input?: string, env: Record<string, string> = {}): string {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args];
  const r = spawnSync(cmd as string, argv as string[], { input, encoding: 'utf8', env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...env }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startPostgres(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'acct-pg-'));
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const pwfile = join(dir, 'superuser.pw');
  writeFileSync(pwfile, 'superuser-test-password\n', { mode: 0o600 });
  if (asRoot) chownSync(pwfile, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), 0);
  pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = await freePort();
  const host = '127.0.0.1';
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [`listen_addresses = '${host}'`, `port = ${port}`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 300', "password_encryption = 'scram-sha-256'", ''].join('\n'),
  );
  const start = () => pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  start();
  const superEnv = { PGPASSWORD: 'superuser-test-password' };
  const psql = (query: string, opts: { user?: string; password?: string; database?: string } = {}) =>
    pgRun('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', opts.user ?? 'postgres', '-d', opts.database ?? 'acct', '-c', query], undefined, {
      PGPASSWORD: opts.password ?? superEnv.PGPASSWORD,
    });
  const password = 'owner-test-password';
  pgRun('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', `CREATE ROLE acct LOGIN CREATEROLE PASSWORD '${password}'`], undefined, superEnv);
  pgRun('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE DATABASE acct OWNER acct'], undefined, superEnv);
  let stopped = false;
  return {
    host,
    port,
    url: `postgres://acct@${host}:${port}/acct`,
    password,
    dir,
    sql: psql,
    dump: () => pgRun('pg_dump', ['-h', host, '-p', String(port), '-U', 'postgres', '-d', 'acct'], undefined, superEnv),
    restart: () => void pgRun('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', 'fast', 'restart', '-l', join(dir, 'log')]),
    stop: () => void pgRun('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', 'fast', 'stop']),
    start: () => void start(),
    killBackends: (role) => Number(psql(`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role.replace(/'/g, "''")}') t`).trim()),
    destroy() {
      if (stopped) return;
      stopped = true;
      // A test may have stopped it already: pg_ctl status says 3 then.
      const running = spawnSync(asRoot ? 'runuser' : join(BIN, 'pg_ctl'), [...(asRoot ? ['-u', 'postgres', '--', join(BIN, 'pg_ctl')] : []), '-D', data, 'status']).status === 0;
      if (running) pgRun('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', 'immediate', 'stop']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
