// The optional offline fallback of a team (issue 13, part 6), through the
// built binary: two "machines" (ACCT_HOMEs with passphrase stores) in a team
// on a private PostgreSQL cluster, an OAuth team account connected against
// the real authorization server and an API-key one. While the team allows it
// (acct team set acme --offline-tokens on, admins only), a read keeps the
// access token sealed in the machine's own store, and token/env/exec use it
// while the database is stopped; otherwise, or once it expired, exit 5.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { BROWSER_COMMAND, sleep } from '../support/oauth-cli.js';
import { SecretStore } from '../../src/store/store.js';
import { credentialsEntry } from '../../src/team/config.js';
import { openPool } from '../../src/team/pg.js';
import { migrate, SCHEMA_VERSION } from '../../src/team/schema.js';
import { startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { UNDO_V5 } from '../support/team.js';

let pg: PgCluster;
let server: AuthServer;
const REF = 'acme:local/bot';
const KEY_REF = 'acme:stripe/live';
const API_KEY = 'sk_live_OFFLINE_never_kept_5e1c0a9b';
const SLOW = 180_000;

/** What schema version 4 added (signed rosters), taken out again; the machines forget the roster they accepted (unpin). */
const UNDO_V4 = `
DROP TABLE acct.rosters;
DROP FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz, text, jsonb);
DROP FUNCTION acct.set_my_keys(text, text, text, jsonb);
DROP FUNCTION acct.set_my_signing_key(text, text, jsonb);
ALTER TABLE acct.members DROP COLUMN signing_key, DROP COLUMN proof, DROP COLUMN invitation;
DELETE FROM acct.schema_version WHERE version = 4;
`;
function unpin(m: { home: string }) {
  const file = join(m.home, 'teams.json');
  const teams = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...teams, teams: teams.teams.map(({ roster: _r, ...t }: { roster?: unknown }) => t) }));
}

/** What schema version 3 added, taken out again: the database as a version 1 or 2 acct left it. */
const UNDO_V3 = `
DROP POLICY grant_access ON acct.account_access;
DROP POLICY rewrap ON acct.account_access;
CREATE POLICY grant_access ON acct.account_access FOR INSERT WITH CHECK (acct.owns(team_id, account_id) OR acct.can_read(team_id, account_id));
CREATE POLICY rewrap ON acct.account_access FOR UPDATE USING (acct.can_read(team_id, account_id));
DROP FUNCTION acct.rekey(text, text, jsonb, jsonb);
DROP FUNCTION acct.for_team(text, text);
DROP FUNCTION acct.is_joined(text, text);
DROP FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz);
-- Version 1's, in signature only: this file invites no one after taking version 3 out.
CREATE FUNCTION acct.add_member(t text, member text, member_name text, role text, verifier text, admin boolean, ci boolean, pub text) RETURNS void LANGUAGE sql AS 'SELECT NULL::void';
ALTER TABLE acct.uses DROP CONSTRAINT uses_visible;
ALTER TABLE acct.accounts DROP CONSTRAINT accounts_visible;
ALTER TABLE acct.members DROP CONSTRAINT members_visible;
ALTER TABLE acct.uses ALTER COLUMN at DROP DEFAULT;
DROP TRIGGER use_time ON acct.uses;
DROP FUNCTION acct.use_time();
DROP POLICY see ON acct.retired_ids;
DROP POLICY retire ON acct.retired_ids;
CREATE POLICY member_of ON acct.retired_ids FOR ALL USING (acct.me(team_id) IS NOT NULL);
DELETE FROM acct.schema_version WHERE version = 3;
`;

type Env = Record<string, string | undefined>;

function machine(name: string) {
  const home = tempHome();
  const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: `pass-${name}`, USER: name, ACCT_BROWSER: BROWSER_COMMAND, ACCT_TEAM_TIMEOUT: '5' });
  const secrets = new SecretStore({ paths: { config: home, data: home }, requestedKind: 'file', keychain: async () => Promise.reject(new Error('none')), passphrase: async () => `pass-${name}` });
  return {
    name,
    home,
    secrets,
    run: (args: string[], opts: { input?: string; env?: Env } = {}) => acct(args, { ...env, ...opts.env }, opts.input === undefined ? {} : { input: opts.input, stdin: undefined }),
  };
}
type Machine = ReturnType<typeof machine>;
let alice: Machine;
let bob: Machine;

/** What a machine keeps for the team: the list's entries, and the sealed entries in its store. */
function kept(m: { home: string }): { listed: { account: string; app: string; expiresAt: string }[]; entries: string[] } {
  const list = join(m.home, 'team-tokens.json');
  const secrets = join(m.home, 'secrets');
  return {
    listed: existsSync(list) ? JSON.parse(readFileSync(list, 'utf8')).tokens : [],
    entries: existsSync(secrets) ? readdirSync(secrets).filter((f) => f.startsWith('team-token.')) : [],
  };
}

/** The account's access token as the team holds it now (read online). */
async function online(m: Machine, args: string[] = []): Promise<string> {
  const r = await m.run(['token', REF, ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

/** Runs fn with the database stopped. */
async function down<T>(fn: () => Promise<T>): Promise<T> {
  pg.stop();
  try {
    return await fn();
  } finally {
    pg.start();
  }
}

const hostPort = () => `${pg.host}:${pg.port}`;

beforeAll(async () => {
  [pg, server] = await Promise.all([startPostgres(), startAuthServer({ accessTokenTtl: 600 })]);
  alice = machine('alice');
  bob = machine('bob');
  const c = await alice.run(['team', 'create', 'acme', pg.url], { env: { PGPASSWORD: pg.password } });
  expect(c.exitCode, c.stderr).toBe(0);
  const inv = await alice.run(['team', 'invite', 'acme', '--name', 'bob']);
  expect(inv.exitCode, inv.stderr).toBe(0);
  const j = await bob.run(['team', 'join', `postgres://${pg.host}:${pg.port}/acct`, '--code-stdin'], { input: inv.stdout });
  expect(j.exitCode, j.stderr).toBe(0);
  const appFile = server.appFile('public');
  for (const m of [alice, bob]) expect((await m.run(['apps', 'add', 'local', '--file', appFile])).exitCode).toBe(0);
  const cs = await alice.run(['client', 'set', 'local', '--team', 'acme', '--client-id', server.clients.public.clientId, '--no-secret']);
  expect(cs.exitCode, cs.stderr).toBe(0);
  const conn = await alice.run(['connect', 'local', '--team', 'acme', '--nickname', 'bot'], { env: { ACCT_TEST_BROWSER_LOGIN: 'shared-bot' } });
  expect(conn.exitCode, conn.stderr).toBe(0);
  const key = await alice.run(['connect', 'stripe', '--team', 'acme', '--nickname', 'live', '--stdin', '--no-verify'], { input: API_KEY });
  expect(key.exitCode, key.stderr).toBe(0);
  for (const ref of [REF, KEY_REF]) {
    const sh = await alice.run(['share', ref, '--with', 'team']);
    expect(sh.exitCode, sh.stderr).toBe(0);
  }
}, SLOW);
afterAll(async () => {
  pg?.destroy();
  await server?.close();
});

describe('offline tokens of a team (the database unreachable)', () => {
  it('off by default: a read keeps nothing, and with the database stopped the read exits 5 naming the host, the hint naming the setting', async () => {
    const shown = await bob.run(['team', 'set', 'acme', '--json']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({ team: 'acme', offline_tokens: false });
    const token = await online(bob);
    expect(kept(bob)).toEqual({ listed: [], entries: [] });
    const r = await down(() => bob.run(['token', REF]));
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(hostPort());
    expect(r.stderr).toContain('acct team set acme --offline-tokens on');
    expect(r.stderr).not.toContain(token);
    expect(kept(bob)).toEqual({ listed: [], entries: [] });
  }, SLOW);

  it('only an admin changes the setting (exit 4 with a hint); members lists it', async () => {
    const denied = await bob.run(['team', 'set', 'acme', '--offline-tokens', 'on']);
    expect(denied.exitCode).toBe(4);
    expect(denied.stderr).toContain('only an admin');
    expect(denied.stderr).toContain('acct team members acme');
    // Nor through SQL as the member's own role: the database checks it too.
    const { role, password } = await bob.secrets.read(credentialsEntry('acme'));
    const teamId = JSON.parse(readFileSync(join(bob.home, 'teams.json'), 'utf8')).teams[0].teamId as string;
    expect(() => pg.sql(`SELECT acct.set_offline_tokens('${teamId}', true)`, { user: role, password })).toThrow(/only an admin/);
    expect(() => pg.sql(`UPDATE acct.teams SET offline_tokens = true`, { user: role, password })).toThrow(/permission denied/);
    expect(JSON.parse((await bob.run(['team', 'set', 'acme', '--json'])).stdout).offline_tokens).toBe(false);
    const bad = await alice.run(['team', 'set', 'acme', '--offline-tokens', 'yes']);
    expect(bad.exitCode).toBe(2);
    const on = await alice.run(['team', 'set', 'acme', '--offline-tokens', 'on', '--json']);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(JSON.parse(on.stdout)).toEqual({ team: 'acme', offline_tokens: true });
    const members = await bob.run(['team', 'members', 'acme']);
    expect(members.exitCode, members.stderr).toBe(0);
    expect(members.stderr).toContain('Offline tokens: on');
  }, SLOW);

  it('on: a read keeps the access token sealed (never the API key, never in plain text), written once while it does not change; with the database stopped token, env and exec use it with a warning', async () => {
    const token = await online(bob);
    const k = kept(bob);
    expect(k.listed.map((l) => l.app)).toEqual(['local']);
    expect(k.entries).toHaveLength(1);
    const entry = join(bob.home, 'secrets', k.entries[0]!);
    const written = statSync(entry).mtimeMs;
    // The API-key account read too: never kept.
    const key = await bob.run(['token', KEY_REF]);
    expect(key, key.stderr).toMatchObject({ exitCode: 0, stdout: `${API_KEY}\n` });
    // The same token read again: nothing is written.
    await sleep(50);
    expect(await online(bob)).toBe(token);
    expect(kept(bob).entries).toEqual(k.entries);
    expect(statSync(entry).mtimeMs).toBe(written);
    // Nothing of the token, the key or the refresh token in plain text on the machine.
    const refresh = JSON.parse((await bob.run(['show', REF, '--reveal', '--json'])).stdout).fields.oauth_refresh_token as string;
    for (const f of allFiles(bob.home)) for (const s of [token, API_KEY, refresh]) expect(f.content.includes(s), f.path).toBe(false);

    const [t, json, env, exec, keyDown, tooShort, unqualified, forced, serve] = await down(async () => [
      await bob.run(['token', REF]),
      await bob.run(['token', REF, '--json']),
      await bob.run(['env', '--format', 'json', `T=${REF}`]),
      // `--` before the token: an access token may start with a dash, which node would take for one of its options.
      await bob.run(['exec', `T=${REF}`, '--', process.execPath, '-e', 'process.exit(process.env.T === process.argv[1] ? 7 : 1)', '--', token]),
      await bob.run(['token', KEY_REF]),
      await bob.run(['token', REF, '--min-ttl', '100000']),
      await bob.run(['token', 'local/bot']),
      await bob.run(['token', REF, '--refresh']),
      await bob.run(['exec', '--serve', `T=${REF}`, '--', process.execPath, '-e', '']),
    ]);
    expect(t, t.stderr).toMatchObject({ exitCode: 0, stdout: `${token}\n` });
    expect(t.stderr).toContain(`at ${hostPort()} is unreachable`);
    expect(t.stderr).toMatch(/valid until \d{4}-\d\d-\d\dT/);
    expect(t.stderr).not.toContain(token);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ token, field: 'oauth_access_token', expires_at: k.listed[0]!.expiresAt });
    expect(env.exitCode, env.stderr).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual({ T: token });
    expect(exec.exitCode, exec.stderr).toBe(7);
    expect(exec.stderr).toContain('unreachable');
    // The API key was never kept; a copy that does not last --min-ttl is none; an unqualified name is not guessed.
    // Nor is a refresh, or a server that reads the database for the command.
    for (const r of [keyDown, tooShort, unqualified, forced, serve]) {
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(hostPort());
    }
    expect(keyDown.stderr).toContain('no copy');
    expect(tooShort.stderr).toContain('--min-ttl');
    expect(unqualified.stderr).toContain(`an access token of ${REF} is kept on this machine`);
    // No use was recorded while it was down, and the database is back as before.
    expect(await online(bob)).toBe(token);
  }, SLOW);

  it('a refreshed token replaces the kept one; once it expired, exit 5', async () => {
    const before = kept(bob).listed[0]!;
    server.setAccessTokenTtl(2);
    let token: string;
    try {
      token = await online(bob, ['--refresh']);
      const now = kept(bob).listed;
      expect(now).toHaveLength(1);
      expect(now[0]!.expiresAt).not.toBe(before.expiresAt);
      await sleep(3000);
      const r = await down(() => bob.run(['token', REF, '--min-ttl', '0']));
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('expired at');
      expect(r.stderr).not.toContain(token);
    } finally {
      server.setAccessTokenTtl(600);
    }
    // A new token (refreshed for everyone), kept again.
    const fresh = await online(bob, ['--refresh']);
    expect(fresh).not.toBe(token);
    expect(kept(bob).entries).toHaveLength(1);
    expect(await down(() => bob.run(['token', REF]))).toMatchObject({ exitCode: 0, stdout: `${fresh}\n` });
  }, SLOW);

  it('ten reads at once of a token refreshed on another machine: all succeed without a warning, and one copy of the new token is kept', async () => {
    const before = kept(bob).listed[0]!.expiresAt;
    const r = await alice.run(['token', REF, '--refresh']);
    expect(r.exitCode, r.stderr).toBe(0);
    const token = r.stdout.trim();
    const reads = await Promise.all(Array.from({ length: 10 }, () => bob.run(['token', REF])));
    expect(reads.map((x) => [x.exitCode, x.stdout, x.stderr])).toEqual(reads.map(() => [0, `${token}\n`, '']));
    const k = kept(bob);
    expect(k.entries).toHaveLength(1);
    expect(k.listed).toHaveLength(1);
    expect(k.listed[0]!.expiresAt).not.toBe(before);
    expect(await down(() => bob.run(['token', REF]))).toMatchObject({ exitCode: 0, stdout: `${token}\n` });
  }, SLOW);

  it('the setting turned off: the next read forgets the kept copy, and the database down exits 5', async () => {
    expect(kept(bob).entries).toHaveLength(1);
    const off = await alice.run(['team', 'set', 'acme', '--offline-tokens', 'off']);
    expect(off.exitCode, off.stderr).toBe(0);
    expect(off.stderr).toContain('Offline tokens: off');
    await online(bob);
    expect(kept(bob)).toEqual({ listed: [], entries: [] });
    const r = await down(() => bob.run(['token', REF]));
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain('no copy');
  }, SLOW);

  it('unshared, or the member removed: the kept copy is forgotten when the database says so', async () => {
    expect((await alice.run(['team', 'set', 'acme', '--offline-tokens', 'on'])).exitCode).toBe(0);
    await online(bob);
    expect(kept(bob).entries).toHaveLength(1);
    const un = await alice.run(['unshare', REF, '--with', 'team']);
    expect(un.exitCode, un.stderr).toBe(0);
    // The account is invisible to Bob now: his next look at the team forgets it.
    const gone = await bob.run(['token', REF]);
    expect(gone.exitCode).toBe(3);
    expect(kept(bob)).toEqual({ listed: [], entries: [] });

    const sh = await alice.run(['share', REF, '--with', 'bob']);
    expect(sh.exitCode, sh.stderr).toBe(0);
    await online(bob);
    expect(kept(bob).entries).toHaveLength(1);
    const rm = await alice.run(['team', 'remove', 'acme', 'bob']);
    expect(rm.exitCode, rm.stderr).toBe(0);
    const removed = await bob.run(['token', REF]);
    expect(removed.exitCode, removed.stderr).toBe(4);
    expect(kept(bob)).toEqual({ listed: [], entries: [] });
    const r = await down(() => bob.run(['token', REF]));
    expect(r.exitCode).toBe(5);
  }, SLOW);
});

describe('the schema migration of the setting', () => {
  it('a version 1 schema migrates once (acct team upgrade, twice at once): its teams get the setting, off, and may call its function', async () => {
    pg.sql('CREATE DATABASE old OWNER acct', { database: 'postgres' });
    const url = `postgres://acct@${pg.host}:${pg.port}/old`;
    const pool = await openPool({ url, env: { PGPASSWORD: pg.password }, max: 1 });
    try {
      const client = await pool.connect();
      try {
        await migrate(client, 1);
        // A team as a version 1 acct made it.
        await client.query('CREATE ROLE acct_oldteam NOLOGIN');
        await client.query("INSERT INTO acct.teams (id, name, group_role) VALUES ('oldteam', 'old', 'acct_oldteam')");
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
    const sql = (q: string) => pg.sql(q, { database: 'old' }).trim();
    expect(sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'acct' AND table_name = 'teams' AND column_name = 'offline_tokens'")).toBe('0');
    const [a, b] = await Promise.all([alice.run(['team', 'upgrade', url, '--json'], { env: { PGPASSWORD: pg.password } }), bob.run(['team', 'upgrade', url, '--json'], { env: { PGPASSWORD: pg.password } })]);
    for (const r of [a, b]) {
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ to: SCHEMA_VERSION });
    }
    expect(sql('SELECT version FROM acct.schema_version ORDER BY version').split('\n')).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => String(i + 1)));
    expect(sql("SELECT offline_tokens FROM acct.teams WHERE id = 'oldteam'")).toBe('f');
    expect(sql("SELECT has_function_privilege('acct_oldteam', 'acct.set_offline_tokens(text, boolean)', 'EXECUTE')")).toBe('t');
    expect(sql("SELECT has_function_privilege('public', 'acct.set_offline_tokens(text, boolean)', 'EXECUTE')")).toBe('f');
    const again = await alice.run(['team', 'upgrade', url], { env: { PGPASSWORD: pg.password } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`up to date (version ${SCHEMA_VERSION})`);
  }, SLOW);
});

describe('a team whose database is still at schema version 1', () => {
  it('reads work (the setting reads as off), team set says how to upgrade, and team upgrade brings the setting', async () => {
    // The team's database as a version 1 acct left it, and its machines, which knew no roster.
    pg.sql(UNDO_V5);
    pg.sql(UNDO_V4);
    for (const m of [alice, bob]) unpin(m);
    pg.sql(UNDO_V3);
    pg.sql("DROP FUNCTION acct.set_offline_tokens(text, boolean); ALTER TABLE acct.teams DROP COLUMN offline_tokens; DELETE FROM acct.schema_version WHERE version = 2");
    const token = await alice.run(['token', REF]);
    expect(token.exitCode, token.stderr).toBe(0);
    expect(token.stderr).toBe('');
    expect(JSON.parse((await alice.run(['team', 'set', 'acme', '--json'])).stdout)).toEqual({ team: 'acme', offline_tokens: false });
    const old = await alice.run(['team', 'set', 'acme', '--offline-tokens', 'on']);
    expect(old.exitCode).toBe(2);
    expect(old.stderr).toContain('acct team upgrade');
    const up = await alice.run(['team', 'upgrade', pg.url], { env: { PGPASSWORD: pg.password } });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toContain(`from version 1 to ${SCHEMA_VERSION}`);
    const on = await alice.run(['team', 'set', 'acme', '--offline-tokens', 'on', '--json']);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(JSON.parse(on.stdout).offline_tokens).toBe(true);
  }, SLOW);
});

describe('on a machine whose store is the OS keychain (Secret Service, through the keychain agent)', () => {
  let session: KeyringSession | undefined;
  let stopAgent: (() => Promise<unknown>) | undefined;
  afterAll(async () => {
    await stopAgent?.();
    await session?.stop();
  });

  it('keeps the token sealed under the keychain\'s key, and uses it while the database is stopped', async () => {
    session = await startKeyringSession();
    const home = tempHome();
    const env = baseEnv({ ...session.env, ACCT_HOME: home, USER: 'carol', ACCT_TEAM_TIMEOUT: '5' });
    const carol = { name: 'carol', home, run: (args: string[], input?: string) => acct(args, env, input === undefined ? {} : { input, stdin: undefined }) };
    stopAgent = () => carol.run(['agent', 'stop']);
    const inv = await alice.run(['team', 'invite', 'acme', '--name', 'carol']);
    expect(inv.exitCode, inv.stderr).toBe(0);
    const j = await carol.run(['team', 'join', `postgres://${pg.host}:${pg.port}/acct`, '--code-stdin'], inv.stdout);
    expect(j.exitCode, j.stderr).toBe(0);
    expect((await carol.run(['apps', 'add', 'local', '--file', server.appFile('public')])).exitCode).toBe(0);
    expect((await alice.run(['share', REF, '--with', 'carol'])).exitCode).toBe(0);
    expect(JSON.parse((await carol.run(['team', 'set', 'acme', '--json'])).stdout).offline_tokens).toBe(true);
    const first = await carol.run(['token', REF]);
    expect(first.exitCode, first.stderr).toBe(0);
    const token = first.stdout.trim();
    const k = kept(carol);
    expect(k.entries).toHaveLength(1);
    expect(await carol.run(['token', REF])).toMatchObject({ exitCode: 0, stdout: `${token}\n`, stderr: '' });
    // The keychain agent holds the keychain's connection by now: the kept copy is read through it below.
    expect(JSON.parse((await carol.run(['agent', 'status', '--json'])).stdout)).toMatchObject({ running: true });
    for (const f of allFiles(home)) expect(f.content.includes(token), f.path).toBe(false);
    const r = await down(() => carol.run(['token', REF]));
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `${token}\n` });
    expect(r.stderr).toContain(`at ${hostPort()} is unreachable`);
  }, SLOW);
});

describe('a database that drops connections (it accepts and never answers)', () => {
  it('env with two references of the team: one connect timeout, then both from the kept copy', async () => {
    const token = (await alice.run(['token', REF])).stdout.trim();
    expect(kept(alice).entries).toHaveLength(1);
    let connections = 0;
    const sockets: Socket[] = [];
    const silent = createServer((s) => {
      connections++;
      sockets.push(s);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const file = join(alice.home, 'teams.json');
    const original = readFileSync(file, 'utf8');
    const port = (silent.address() as AddressInfo).port;
    writeFileSync(file, original.replace(`:${pg.port}/`, `:${port}/`));
    try {
      const r = await alice.run(['env', '--format', 'json', `A=${REF}`, `B=${REF}.oauth_access_token`], { env: { ACCT_TEAM_TIMEOUT: '2' } });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ A: token, B: token });
      expect(r.stderr).toContain(`127.0.0.1:${port} is unreachable`);
      expect(connections).toBe(1);
    } finally {
      writeFileSync(file, original);
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, SLOW);
});
