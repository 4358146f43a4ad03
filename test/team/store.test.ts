// The team store (src/team/) against a real PostgreSQL cluster: several
// "machines" (each its own ACCT_HOME with a passphrase store) create, invite,
// join, share, unshare and remove; what a member may not read it cannot read,
// through the store or through SQL as its own role; the database holds no
// plaintext secret.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { code, keyAccount, roleOf, storeMachine, type StoreMachine } from '../support/team-store.js';
import { createTeam, invite, join as joinTeam, addCi, members, removeMember, share, unshare } from '../../src/team/admin.js';
import { configuredTeams, type TeamStore } from '../../src/team/index.js';
import { splitTeam } from '../../src/accounts/stores.js';
import { credentialsEntry } from '../../src/team/config.js';
import { SCHEMA_VERSION } from '../../src/team/schema.js';
import { AcctError } from '../../src/errors.js';

let pg: PgCluster;

const opened: TeamStore[] = [];
const machine = (name: string) => storeMachine(name, opened);
type Machine = StoreMachine;

const SECRET = 'sk_live_TEAMSECRET_4f9a2c';

let alice: Machine;
let bob: Machine;
let carol: Machine;
let aliceStore: TeamStore;
let bobStore: TeamStore;
let accountId: string;
let ciKey: string;

beforeAll(async () => {
  pg = await startPostgres();
  alice = machine('alice');
  bob = machine('bob');
  carol = machine('carol');
});

afterAll(async () => {
  for (const s of opened) await s.close();
  pg?.destroy();
});

describe('team store on PostgreSQL', () => {
  it('refuses a URL with a password in it, before connecting', async () => {
    expect(await code(createTeam({ paths: alice.paths, env: {}, secrets: alice.secrets }, { name: 'acme', url: `postgres://acct:hunter2@${pg.host}:${pg.port}/acct`, memberName: 'alice' }))).toBe('bad_input:2');
    expect(configuredTeams(alice.paths, {})).toEqual([]);
  });

  it('an unreachable database is exit 5, naming its host', async () => {
    const err = await createTeam({ paths: alice.paths, env: { PGPASSWORD: 'x' }, secrets: alice.secrets }, { name: 'acme', url: 'postgres://acct@127.0.0.1:1/acct', memberName: 'alice' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcctError);
    expect((err as AcctError).exitCode).toBe(5);
    expect((err as AcctError).message).toContain('127.0.0.1:1');
  });

  it('create needs a role that may make roles and the schema: said with what to ask the DBA', async () => {
    pg.sql("CREATE ROLE plain LOGIN PASSWORD 'plain-pw'", { database: 'postgres' });
    const err = await createTeam({ paths: alice.paths, env: { PGPASSWORD: 'plain-pw' }, secrets: alice.secrets }, { name: 'acme', url: `postgres://plain@${pg.host}:${pg.port}/acct`, memberName: 'alice' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcctError);
    expect([(err as AcctError).code, (err as AcctError).exitCode]).toEqual(['access_denied', 4]);
    expect((err as AcctError).hint).toContain('CREATEROLE');
    expect(configuredTeams(alice.paths, {})).toEqual([]);
  });

  it('create makes the schema and its first admin; the team is remembered without a password', async () => {
    const r = await createTeam({ paths: alice.paths, env: { PGPASSWORD: pg.password }, secrets: alice.secrets }, { name: 'acme', url: pg.url, memberName: 'alice' });
    expect(r.memberId).toMatch(/^mb_/);
    const teams = configuredTeams(alice.paths, {});
    expect(teams).toEqual([{ name: 'acme', url: pg.url, teamId: r.teamId, memberId: r.memberId, source: 'file', roster: { version: 1, hash: expect.any(String) } }]);
    aliceStore = alice.store();
    expect(await aliceStore.member()).toMatchObject({ name: 'alice', isAdmin: true });
    // A second team of the same name in the database is refused.
    expect(await code(createTeam({ paths: carol.paths, env: { PGPASSWORD: pg.password }, secrets: carol.secrets }, { name: 'acme', url: pg.url, memberName: 'carol' }))).toBe('bad_input:2');
  });

  it('invite prints a one-time code; join replaces its password, so the code works once', async () => {
    const { code: c } = await invite(aliceStore, { name: 'bob' });
    expect(c).toMatch(/^acct-invite-/);
    await joinTeam({ paths: bob.paths, env: {}, secrets: bob.secrets }, { url: pg.url, code: c });
    bobStore = bob.store();
    expect(await bobStore.member()).toMatchObject({ name: 'bob', isAdmin: false });
    // Used again on another machine: refused by the database, nothing remembered there.
    expect(await code(joinTeam({ paths: carol.paths, env: {}, secrets: carol.secrets }, { url: pg.url, code: c }))).toBe('access_denied:4');
    expect(configuredTeams(carol.paths, {})).toEqual([]);
    // A member who is not an admin cannot invite.
    expect(await code(invite(bobStore, { name: 'mallory' }))).toBe('access_denied:4');
  });

  it('a private account: its owner reads it; another member sees neither its secret nor its metadata, through acct or SQL', async () => {
    const created = await aliceStore.create('stripe', { api_key: SECRET }, (id, app) => ({ account: keyAccount(id, 'stripe', 'live'), makeDefault: app.accounts.length === 0 }));
    accountId = created.id;
    expect((await aliceStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
    expect((await aliceStore.resolve('stripe')).id).toBe(accountId);
    expect((await aliceStore.resolve('live')).id).toBe(accountId);
    expect(await code(bobStore.resolve('live'))).toBe('account_not_found:3');
    expect((await bobStore.view()).accounts).toEqual([]);
    expect(await code(bobStore.resolve('stripe/live'))).toBe('account_not_found:3');
    expect(await code(bobStore.readSecrets([accountId]))).toBe('account_not_found:3');
    const { role, password } = await roleOf(bob);
    expect(pg.sql('SELECT count(*) FROM acct.accounts', { user: role, password }).trim()).toBe('0');
    expect(pg.sql('SELECT count(*) FROM acct.account_secrets', { user: role, password }).trim()).toBe('0');
    expect(pg.sql('SELECT count(*) FROM acct.account_access', { user: role, password }).trim()).toBe('0');
    // What the SQL sees as the owner is ciphertext.
    const own = await roleOf(alice);
    expect(pg.sql('SELECT sealed::text FROM acct.account_secrets', { user: own.role, password: own.password })).not.toContain(SECRET);
    // A member cannot give itself admin rights, nor write the members table.
    expect(() => pg.sql(`UPDATE acct.members SET is_admin = true WHERE role_name = current_user`, { user: role, password })).toThrow(/permission denied/);
  });

  it('share with a member: it reads the secret; unshare: it no longer sees the account, and the key was replaced', async () => {
    const before = pg.sql(`SELECT sealed::text FROM acct.account_secrets WHERE account_id = '${accountId}'`);
    const r = await share(aliceStore, 'stripe/live', 'bob');
    expect(r.readers).toEqual(['alice', 'bob']);
    expect((await bobStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
    expect((await bobStore.resolve('stripe/live')).id).toBe(accountId);
    // Only the owner shares.
    expect(await code(share(bobStore, 'stripe/live', 'team'))).toBe('access_denied:4');
    const u = await unshare(aliceStore, 'stripe/live', 'bob');
    expect(u).toMatchObject({ readers: ['alice'], removed: ['bob'] });
    expect(await code(bobStore.readSecrets([accountId]))).toBe('account_not_found:3');
    expect((await bobStore.view()).accounts).toEqual([]);
    expect(pg.sql(`SELECT sealed::text FROM acct.account_secrets WHERE account_id = '${accountId}'`)).not.toBe(before);
    expect((await aliceStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
  });

  it('a CI member reads what is shared with the team, from ACCT_TEAM and ACCT_TEAM_KEY alone', async () => {
    ciKey = (await addCi(aliceStore, { name: 'deploy' })).key;
    expect(ciKey).toMatch(/^acct-team-key-/);
    await share(aliceStore, 'stripe/live', 'team');
    const ci = machine('ci');
    const ciEnv = { ACCT_TEAM: pg.url, ACCT_TEAM_KEY: ciKey };
    expect(configuredTeams(ci.paths, ciEnv)).toMatchObject([{ name: 'acme', source: 'env' }]);
    const ciStore = ci.store(ciEnv);
    expect((await ciStore.readSecrets([(await ciStore.resolve('stripe/live')).id])).get(accountId)).toEqual({ api_key: SECRET });
    // Shared with the team: bob sees it again, and reads it.
    expect((await bobStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
    // Uses say who, from where, with which command.
    await ciStore.recordUse(accountId, { at: new Date('2026-01-02T03:04:05Z'), command: 'env' });
    await bobStore.recordUse(accountId, { at: new Date('2026-01-02T03:05:05Z'), command: 'token' });
    expect(await aliceStore.uses(accountId, 10)).toEqual([
      { at: '2026-01-02T03:05:05.000Z', command: 'token', member: 'bob', machine: 'bob-laptop' },
      { at: '2026-01-02T03:04:05.000Z', command: 'env', member: 'deploy', machine: 'ci-laptop' },
    ]);
    expect((await aliceStore.lastUsed()).get(accountId)).toBe('2026-01-02T03:05:05.000Z');
  });

  it('a member who joins after an account was shared with the team gets its key from the next member listing', async () => {
    const { code: c } = await invite(aliceStore, { name: 'carol' });
    await joinTeam({ paths: carol.paths, env: {}, secrets: carol.secrets }, { url: pg.url, code: c });
    const carolStore = carol.store();
    expect(await code(carolStore.readSecrets([accountId]))).toBe('access_removed:4');
    const { list } = await members(aliceStore);
    expect(list.map((m) => [m.name, m.admin, m.ci])).toEqual([
      ['alice', true, false],
      ['bob', false, false],
      ['carol', false, false],
      ['deploy', false, true],
    ]);
    expect((await carolStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
  });

  it('updates, defaults and removal go through the owner; ids are never handed out again', async () => {
    const second = await aliceStore.create('stripe', { api_key: 'sk_test_second' }, (id, app) => {
      expect(app.accounts.map((a) => a.nickname)).toEqual(['live']);
      return { account: keyAccount(id, 'stripe', 'test'), makeDefault: false };
    });
    expect(await code(aliceStore.create('stripe', { api_key: 'x' }, (id) => ({ account: keyAccount(id, 'stripe', 'test'), makeDefault: false })))).toBe('bad_input:2');
    await aliceStore.update(second.id, (a) => void (a.identity = 'acct_123'), { api_key: 'sk_test_rotated' });
    expect((await aliceStore.get(second.id))?.identity).toBe('acct_123');
    expect((await aliceStore.readSecrets([second.id])).get(second.id)).toEqual({ api_key: 'sk_test_rotated' });
    // The owner changes its settings: its secrets are sealed again, bound to the new ones.
    await aliceStore.update(second.id, (a) => void (a.settings = { region: 'eu' }));
    expect((await aliceStore.readSecrets([second.id])).get(second.id)).toEqual({ api_key: 'sk_test_rotated' });
    expect((await aliceStore.setDefault('stripe', second.id))?.id).toBe(accountId);
    expect((await aliceStore.resolve('stripe')).id).toBe(second.id);
    // bob reads the team account; he cannot delete it.
    expect(await code(bobStore.remove(accountId))).toBe('access_denied:4');
    await aliceStore.remove(second.id);
    expect(await aliceStore.get(second.id)).toBeUndefined();
    expect(pg.sql(`SELECT count(*) FROM acct.retired_ids WHERE id = '${second.id}'`).trim()).toBe('1');
  });

  it('OAuth clients: set by one member, sealed, read by the others; put keeps an imported id', async () => {
    await aliceStore.clients.set('github', { clientId: 'Iv1.team', clientSecret: 'client-secret-TEAM-9' });
    expect(await bobStore.clients.peek('github')).toEqual({ clientId: 'Iv1.team', hasSecret: true });
    expect(await bobStore.clients.get('github')).toEqual({ clientId: 'Iv1.team', clientSecret: 'client-secret-TEAM-9' });
    expect(pg.sql('SELECT sealed::text FROM acct.clients')).not.toContain('client-secret-TEAM-9');
    await aliceStore.clients.set('gitlab', { clientId: 'public-one' });
    expect(await carol.store().clients.get('gitlab')).toEqual({ clientId: 'public-one' });
    expect(await bobStore.clients.remove('gitlab')).toBe(true);
    expect(await aliceStore.clients.peek('gitlab')).toBeUndefined();
    expect(await aliceStore.clients.remove('gitlab')).toBe(false);

    const now = new Date().toISOString();
    const imported = { id: 'acc_imported22', app: 'openai', nickname: 'bot', auth: 'keys' as const, status: 'ok' as const, scopes: [], fields: ['api_key'], identity: null, expiresAt: null, createdAt: now, updatedAt: now };
    expect(await aliceStore.put(imported, { api_key: 'sk-imported' }, true)).toEqual({ id: 'acc_imported22', action: 'added' });
    expect(await aliceStore.put({ ...imported, identity: 'me' }, { api_key: 'sk-imported-2' }, false)).toEqual({ id: 'acc_imported22', action: 'updated' });
    expect((await aliceStore.readSecrets(['acc_imported22'])).get('acc_imported22')).toEqual({ api_key: 'sk-imported-2' });
    expect((await aliceStore.resolve('openai')).identity).toBe('me');
    await aliceStore.remove('acc_imported22');
    // A retired id is not handed out again: the import gets a new one.
    const again = await aliceStore.put(imported, { api_key: 'sk-imported' }, false);
    expect(again.action).toBe('added');
    expect(again.id).not.toBe('acc_imported22');
    await aliceStore.remove(again.id);
  });

  it('a reader refreshes an account but cannot rename it or change where its credentials go; neither can the DBA, unseen', async () => {
    const { role, password } = await roleOf(carol);
    // carol reads the team-shared account: she may store new tokens and their expiry…
    pg.sql(`UPDATE acct.accounts SET meta = jsonb_set(meta, '{expiresAt}', '"2030-01-01T00:00:00.000Z"') WHERE id = '${accountId}'`, { user: role, password });
    // …but not its settings or nickname.
    expect(() => pg.sql(`UPDATE acct.accounts SET meta = jsonb_set(meta, '{settings}', '{"subdomain": "evil"}') WHERE id = '${accountId}'`, { user: role, password })).toThrow(/only its owner/);
    expect(() => pg.sql(`UPDATE acct.accounts SET nickname = 'mine' WHERE id = '${accountId}'`, { user: role, password })).toThrow(/only its owner/);
    // A database administrator can: then the secrets no longer open, for anyone, instead of going to another host.
    // (The guard trigger holds for superusers too; a DBA turns triggers off first.)
    pg.sql(`SET session_replication_role = replica; UPDATE acct.accounts SET meta = jsonb_set(meta, '{settings}', '{"subdomain": "evil"}') WHERE id = '${accountId}'`);
    expect(await code(aliceStore.readSecrets([accountId]))).toBe('store_unavailable:6');
    pg.sql(`SET session_replication_role = replica; UPDATE acct.accounts SET meta = meta - 'settings' WHERE id = '${accountId}'`);
    expect((await aliceStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
  });

  it('clearing outcomes under the refresh lock keeps the mark of the refresh under way until the holder is done', async () => {
    // A holder clears outcomes after its token answer and before it stores the tokens: a waiter that found the mark gone in between would present the refresh token just rotated away.
    const mark = () => pg.sql(`SELECT coalesce(string_agg(problem, ','), '') FROM acct.refresh_outcomes WHERE account_id = '${accountId}'`).trim();
    const lock = aliceStore.refreshLock(accountId);
    const seen = await lock.hold(
      async () => {
        const during = mark();
        await lock.clearOutcome();
        return [during, mark()];
      },
      { waitMs: 10_000 },
    );
    expect(seen).toEqual(['a refresh is under way', 'a refresh is under way']);
    expect(mark()).toBe('');
    // A failure recorded outside a refresh is what clearOutcome removes.
    await lock.recordOutcome({ at: new Date().toISOString(), problem: 'provider down', final: true });
    expect(mark()).toBe('provider down');
    await lock.clearOutcome();
    expect(mark()).toBe('');
  });

  it('remove re-keys what the member could read, lists it to rotate, and the member is shut out with exit 4', async () => {
    const before = pg.sql(`SELECT sealed::text FROM acct.account_secrets WHERE account_id = '${accountId}'`);
    const r = await removeMember(aliceStore, 'bob');
    expect(r.member).toBe('bob');
    expect(r.toRotate).toEqual([{ id: accountId, label: `stripe/live (${accountId})`, rekeyed: true }]);
    expect(pg.sql(`SELECT sealed::text FROM acct.account_secrets WHERE account_id = '${accountId}'`)).not.toBe(before);
    // The others still read it.
    expect((await aliceStore.readSecrets([accountId])).get(accountId)).toEqual({ api_key: SECRET });
    // bob, on a fresh start: his role can no longer log in.
    const again = bob.store();
    const err = await again.readSecrets([accountId]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcctError);
    expect([(err as AcctError).code, (err as AcctError).exitCode]).toEqual(['access_removed', 4]);
    const { role, password } = await roleOf(bob);
    expect(() => pg.sql('SELECT 1', { user: role, password })).toThrow(/not permitted to log in/);
  });

  it('the database and its dump hold no plaintext secret, private key or role password', async () => {
    const dump = pg.dump();
    expect(dump).toContain('acct.account_secrets');
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain('sk_test_rotated');
    for (const m of [alice, carol]) {
      const c = await m.secrets.read(credentialsEntry('acme'));
      expect(dump).not.toContain(c.privateKey!);
      expect(dump).not.toContain(c.password!);
      const roles = pg.sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${c.role}'`, { database: 'postgres' });
      expect(roles).toMatch(/^SCRAM-SHA-256\$/);
    }
  });

  it('migrations run once when two teams are created at the same time in a new database', async () => {
    pg.sql('CREATE DATABASE fresh OWNER acct', { database: 'postgres' });
    const url = `postgres://acct@${pg.host}:${pg.port}/fresh`;
    const [x, y] = [machine('x'), machine('y')];
    await Promise.all([
      createTeam({ paths: x.paths, env: { PGPASSWORD: pg.password }, secrets: x.secrets }, { name: 'one', url, memberName: 'x' }),
      createTeam({ paths: y.paths, env: { PGPASSWORD: pg.password }, secrets: y.secrets }, { name: 'two', url, memberName: 'y' }),
    ]);
    expect(pg.sql('SELECT version FROM acct.schema_version ORDER BY version', { database: 'fresh' }).trim().split('\n')).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => String(i + 1)));
    expect(pg.sql('SELECT name FROM acct.teams ORDER BY name', { database: 'fresh' }).trim().split('\n')).toEqual(['one', 'two']);
  });

  it('team references split on the first colon', () => {
    expect(splitTeam('acme:stripe/live')).toEqual({ team: 'acme', ref: 'stripe/live' });
    expect(splitTeam('stripe/live')).toEqual({ ref: 'stripe/live' });
    expect(splitTeam(':x')).toEqual({ ref: ':x' });
  });
});
