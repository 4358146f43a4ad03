// What a member may write in the team's database, and what acct does when
// something there is not what it wrote: a reader cannot take an account away
// from its owner, a key that does not open is a store error (never a crypto
// library's), and a removal goes through whatever it finds.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { code, keyAccount, roleOf, storeMachine, type StoreMachine } from '../support/team-store.js';
import { addCi, createTeam, invite, join as joinTeam, removeMember, share, unshare } from '../../src/team/admin.js';
import { acct, baseEnv } from '../support/cli.js';
import { openTeamStore, type TeamStore } from '../../src/team/index.js';
import { credentialsEntry } from '../../src/team/config.js';
import { AcctError } from '../../src/errors.js';

let pg: PgCluster;
const opened: TeamStore[] = [];
const warnings: string[] = [];

const machine = (name: string) => storeMachine(name, opened, (m) => void warnings.push(m));
type Machine = StoreMachine;

async function asMember(m: Machine, sql: string): Promise<string> {
  const { role, password } = await roleOf(m);
  return pg.sql(sql, { user: role, password });
}

async function memberId(m: Machine): Promise<string> {
  return (await m.secrets.read(credentialsEntry('acme'))).memberId!;
}

let alice: Machine;
let bob: Machine;
let carol: Machine;
let aliceStore: TeamStore;
let bobStore: TeamStore;

beforeAll(async () => {
  pg = await startPostgres();
  alice = machine('alice');
  bob = machine('bob');
  carol = machine('carol');
  await createTeam({ ...alice.deps(), env: { PGPASSWORD: pg.password } }, { name: 'acme', url: pg.url, memberName: 'alice' });
  aliceStore = alice.store();
  for (const m of [bob, carol]) await joinTeam(m.deps(), { url: pg.url, code: (await invite(aliceStore, { name: m.name })).code });
  bobStore = bob.store();
});

afterAll(async () => {
  for (const s of opened) await s.close();
  pg?.destroy();
});

async function newAccount(nickname: string, secret: string): Promise<string> {
  return (await aliceStore.create('stripe', { api_key: secret }, (id) => ({ account: keyAccount(id, 'stripe', nickname), makeDefault: false }))).id;
}

describe('who writes wrapped keys', () => {
  it('a reader can neither overwrite another member\'s wrapped key (the owner\'s) nor wrap the key for a member of its choosing', async () => {
    const id = await newAccount('readers', 'sk_readers_1');
    await share(aliceStore, `stripe/readers`, 'bob');
    const [a, b, c] = [await memberId(alice), await memberId(bob), await memberId(carol)];
    await asMember(bob, `UPDATE acct.account_access SET wrapped = (SELECT wrapped FROM acct.account_access WHERE account_id = '${id}' AND member_id = '${b}') WHERE account_id = '${id}' AND member_id = '${a}'`);
    expect((await aliceStore.readSecrets([id])).get(id)).toEqual({ api_key: 'sk_readers_1' });
    await expect(
      asMember(bob, `INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) SELECT team_id, account_id, '${c}', wrapped, '${b}' FROM acct.account_access WHERE account_id = '${id}' AND member_id = '${b}'`),
    ).rejects.toThrow(/row-level security/);
    // Nor re-key it: only its owner, or an admin who reads it.
    await expect(asMember(bob, `SELECT acct.rekey(team_id, account_id, '{}'::jsonb, '{}'::jsonb, 1) FROM acct.account_access WHERE account_id = '${id}' AND member_id = '${b}'`)).rejects.toThrow(/re-keys it/);
    expect((await aliceStore.readSecrets([id])).get(id)).toEqual({ api_key: 'sk_readers_1' });
  });

  it('a wrapped key altered in the database: unshare is a store error (exit 6), and the removal of a member goes through, the account listed as not re-keyed', async () => {
    const id = await newAccount('altered', 'sk_altered_1');
    await share(aliceStore, 'stripe/altered', 'bob');
    const [a, b] = [await memberId(alice), await memberId(bob)];
    // What a DBA (or a reader, before version 3) could do: the owner's row holds bob's wrapped key.
    pg.sql(`UPDATE acct.account_access SET wrapped = (SELECT wrapped FROM acct.account_access WHERE account_id = '${id}' AND member_id = '${b}') WHERE account_id = '${id}' AND member_id = '${a}'`);
    expect(await code(aliceStore.readSecrets([id]))).toBe('store_unavailable:6');
    expect(await code(unshare(aliceStore, 'stripe/altered', 'bob'))).toBe('store_unavailable:6');
    const r = await removeMember(aliceStore, 'bob');
    expect(r.toRotate.find((t) => t.id === id)).toMatchObject({ rekeyed: false, why: expect.stringContaining('do not open') });
    // The others were re-keyed, and bob is out.
    expect(r.toRotate.filter((t) => t.id !== id).every((t) => t.rekeyed)).toBe(true);
    expect(pg.sql(`SELECT removed_at IS NOT NULL FROM acct.members WHERE id = '${b}'`).trim()).toBe('t');
    expect(await code(bob.store().readSecrets([id]))).toBe('access_removed:4');
  });
});

describe('the upgrade of a team made by an older acct (schema version 2)', () => {
  it('runs once, and the team\'s group may call the new functions', async () => {
    const { openPool } = await import('../../src/team/pg.js');
    const { migrate, SCHEMA_VERSION } = await import('../../src/team/schema.js');
    const { upgradeSchema } = await import('../../src/team/admin.js');
    pg.sql('CREATE DATABASE v2 OWNER acct', { database: 'postgres' });
    const url = `postgres://acct@${pg.host}:${pg.port}/v2`;
    const pool = await openPool({ url, env: { PGPASSWORD: pg.password }, max: 1 });
    try {
      const client = await pool.connect();
      try {
        await migrate(client, 2);
        // A team as a version 2 acct made it, with an invitation not yet used.
        await client.query('CREATE ROLE acct_v2team NOLOGIN');
        await client.query("INSERT INTO acct.teams (id, name, group_role) VALUES ('v2team', 'old', 'acct_v2team')");
        await client.query("CREATE ROLE acct_v2team_pending LOGIN PASSWORD 'SCRAM-SHA-256$4096:x$y:z' IN ROLE acct_v2team");
        await client.query("INSERT INTO acct.members (team_id, id, name, role_name) VALUES ('v2team', 'mb_pending', 'pending', 'acct_v2team_pending')");
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
    const sql = (q: string) => pg.sql(q, { database: 'v2' }).trim();
    const [x, y] = await Promise.all([upgradeSchema({ env: { PGPASSWORD: pg.password } }, url), upgradeSchema({ env: { PGPASSWORD: pg.password } }, url)]);
    expect([x.to, y.to]).toEqual([SCHEMA_VERSION, SCHEMA_VERSION]);
    expect(sql('SELECT version FROM acct.schema_version ORDER BY version').split('\n')).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => String(i + 1)));
    expect(sql("SELECT has_function_privilege('acct_v2team', 'acct.rekey(text, text, jsonb, jsonb)', 'EXECUTE')")).toBe('t');
    expect(sql("SELECT has_function_privilege('public', 'acct.rekey(text, text, jsonb, jsonb)', 'EXECUTE')")).toBe('f');
    expect(sql("SELECT qual FROM pg_policies WHERE tablename = 'account_access' AND policyname = 'rewrap'")).toContain('owns');
    // The invitation made before expiries: it expires a week from the upgrade.
    expect(sql("SELECT rolvaliduntil > now() + interval '6 days' FROM pg_roles WHERE rolname = 'acct_v2team_pending'")).toBe('t');
    expect(sql("SELECT has_function_privilege('acct_v2team', 'acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz)', 'EXECUTE')")).toBe('t');
  });
});

describe('a refresh and a re-key at the same time', () => {
  it('the re-key waits for the refresh: its new secret is stored under the new key, and every reader opens it', async () => {
    const id = await newAccount('race', 'sk_race_old');
    const carolStore = carol.store();
    const dan = machine('dan');
    await joinTeam(dan.deps(), { url: pg.url, code: (await invite(aliceStore, { name: 'dan' })).code });
    await share(aliceStore, 'stripe/race', 'carol');
    await share(aliceStore, 'stripe/race', 'dan');
    // A window the width of a slow network: a member's write of the secrets takes a second and a half before it locks the row.
    pg.sql(`ALTER POLICY readers_write ON acct.account_secrets USING (acct.can_read(team_id, account_id) AND (SELECT true FROM pg_sleep(1.5)))`);
    try {
      // carol refreshes (the store's update, with new secrets) while alice unshares it from dan (a re-key for alice and carol).
      const refresh = carolStore.update(id, () => undefined, { api_key: 'sk_race_rotated' });
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all([refresh, unshare(aliceStore, 'stripe/race', 'dan')]);
    } finally {
      pg.sql(`ALTER POLICY readers_write ON acct.account_secrets USING (acct.can_read(team_id, account_id))`);
    }
    expect((await aliceStore.readSecrets([id])).get(id)).toEqual({ api_key: 'sk_race_rotated' });
    expect((await carolStore.readSecrets([id])).get(id)).toEqual({ api_key: 'sk_race_rotated' });
  });

  it('a write of the secrets that finds no row is an error, not a change that looks stored', async () => {
    const id = await newAccount('gone', 'sk_gone_1');
    // Hidden from the member's writes (as when its access went between its read and its write).
    pg.sql(`ALTER POLICY readers_write ON acct.account_secrets USING (acct.can_read(team_id, account_id) AND account_id <> '${id}')`);
    try {
      expect(await code(aliceStore.update(id, () => undefined, { api_key: 'sk_gone_2' }))).toBe('store_unavailable:6');
    } finally {
      pg.sql(`ALTER POLICY readers_write ON acct.account_secrets USING (acct.can_read(team_id, account_id))`);
    }
    expect((await aliceStore.readSecrets([id])).get(id)).toEqual({ api_key: 'sk_gone_1' });
  });
});


describe('a change committed is never reported as failed, and one that fails leaves nothing used up', () => {
  const cli = (m: Machine, args: string[]) => acct(args, baseEnv({ ACCT_HOME: m.paths.config, ACCT_STORE: 'file', ACCT_PASSPHRASE: `passphrase of ${m.name}`, ACCT_AGENT: '0' }));
  // Wrapping a client key for a member fails: what the sync after add-ci and share does.
  const breakSync = () =>
    pg.sql(`CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON acct.client_access FOR EACH ROW EXECUTE FUNCTION public.refuse()`);
  const mendSync = () => pg.sql('DROP TRIGGER refuse ON acct.client_access; DROP FUNCTION public.refuse()');

  it('add-ci prints the key although the sync after it fails, with a warning; share exits 0 the same way', async () => {
    await aliceStore.clients.set('github', { clientId: 'Iv1.x', clientSecret: 'client-secret-1' });
    await newAccount('later', 'sk_later');
    breakSync();
    try {
      warnings.length = 0;
      const ci = await addCi(aliceStore, { name: 'deploy' });
      expect(ci.key).toMatch(/^acct-team-key-/);
      expect(warnings.join('\n')).toContain('acct team members acme');
      // The CI member is there, and its key works.
      const ciStore = openTeamStore({ paths: { config: tmpdir(), data: tmpdir() }, env: { ACCT_TEAM: pg.url, ACCT_TEAM_KEY: ci.key }, secrets: alice.secrets, warn: () => undefined }, 'acme');
      opened.push(ciStore);
      expect((await ciStore.member()).name).toBe('deploy');
      const r = await cli(alice, ['share', 'acme:stripe/later', '--with', 'carol']);
      expect(r.stderr).toContain('could not wrap');
      expect(r.exitCode, r.stderr).toBe(0);
    } finally {
      mendSync();
    }
    expect((await carol.store().readSecrets([(await carol.store().resolve('stripe/later')).id])).size).toBe(1);
  });

  it('a join whose teams.json cannot be written fails before the commit: the invitation works afterwards', async () => {
    const erin = machine('erin');
    const { code: c } = await invite(aliceStore, { name: 'erin' });
    // A config folder where no file can be made, even as root.
    const unwritable = { ...erin.deps(), paths: { config: '/proc/1', data: erin.paths.data } };
    const err = await joinTeam(unwritable, { url: pg.url, code: c }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcctError);
    await joinTeam(erin.deps(), { url: pg.url, code: c });
    expect((await erin.store().member()).name).toBe('erin');
  });
});

describe('the URL of a team database', () => {
  const create = (url: string) => {
    const m = machine('urls');
    return createTeam({ ...m.deps(), env: { PGPASSWORD: pg.password } }, { name: 'urls', url, memberName: 'x' }).then(
      () => Promise.reject(new Error('created a team')),
      (e: unknown) => e as AcctError,
    );
  };
  const base = () => `postgres://acct@${pg.host}:${pg.port}/acct`;

  it('a password in any spelling of the parameter is refused, exit 2, without echoing it', async () => {
    for (const q of ['pass%77ord=Hunter2Secret', 'PASSWORD=Hunter2Secret', 'sslpassword=Hunter2Secret', 'sslPassword=Hunter2Secret']) {
      const err = await create(`${base()}?${q}`);
      expect([err.code, err.exitCode], q).toEqual(['bad_input', 2]);
      expect(err.message).toContain('password');
      expect(`${err.message} ${err.hint}`).not.toContain('Hunter2Secret');
    }
  });

  it('an sslmode that is none is refused, exit 2, listing the valid ones; TLS asked of a server without it is exit 5 with what to do', async () => {
    const bogus = await create(`${base()}?sslmode=bogus`);
    expect([bogus.code, bogus.exitCode]).toEqual(['bad_input', 2]);
    expect(bogus.hint).toContain('verify-full');
    const noTls = await create(`${base()}?sslmode=require`);
    expect([noTls.code, noTls.exitCode]).toEqual(['team_unreachable', 5]);
    expect(noTls.message).toContain(`${pg.host}:${pg.port}`);
    expect(noTls.hint).toContain('ssl');
  });
});

describe('invitations expire', () => {
  it('a code past its expiry is exit 4 "expired", with the next step; the server refuses it too; a join makes the role valid for good', async () => {
    const frank = machine('frank');
    const { code: c, expires } = await invite(aliceStore, { name: 'frank', expiresInMs: 1500 });
    expect(Date.parse(expires)).toBeGreaterThan(Date.now());
    await new Promise((r) => setTimeout(r, 2000));
    const err = (await joinTeam(frank.deps(), { url: pg.url, code: c }).catch((e: unknown) => e)) as AcctError;
    expect([err.code, err.exitCode]).toEqual(['access_denied', 4]);
    expect(err.message).toContain('expired');
    expect(err.hint).toContain('acct team invite acme');
    // The code's own date changed to the future: the database refuses the login all the same.
    const payload = JSON.parse(Buffer.from(c.slice('acct-invite-'.length), 'base64url').toString());
    const forged = `acct-invite-${Buffer.from(JSON.stringify({ ...payload, expires: '2999-01-01T00:00:00.000Z' })).toString('base64url')}`;
    expect(await code(joinTeam(frank.deps(), { url: pg.url, code: forged }))).toBe('access_denied:4');

    const gina = machine('gina');
    const fresh = await invite(aliceStore, { name: 'gina' });
    // The default: a week.
    expect(Math.abs(Date.parse(fresh.expires) - Date.now() - 7 * 86_400_000)).toBeLessThan(60_000);
    await joinTeam(gina.deps(), { url: pg.url, code: fresh.code });
    const role = (await gina.secrets.read(credentialsEntry('acme'))).role!;
    expect(pg.sql(`SELECT rolvaliduntil = 'infinity' FROM pg_roles WHERE rolname = '${role}'`).trim()).toBe('t');
  });
});

describe('what members write, as others are shown it', () => {
  const cli = (m: Machine, args: string[]) => acct(args, baseEnv({ ACCT_HOME: m.paths.config, ACCT_STORE: 'file', ACCT_PASSPHRASE: `passphrase of ${m.name}`, ACCT_AGENT: '0' }));
  it('a use with an escape sequence is refused; one dated in the future gets the server\'s time; control characters already there are shown escaped', async () => {
    const id = await newAccount('shown', 'sk_shown');
    await share(aliceStore, 'stripe/shown', 'carol');
    const c = await memberId(carol);
    const use = (machineName: string, at: string) =>
      asMember(carol, `INSERT INTO acct.uses (team_id, account_id, member_id, machine, command, at) SELECT team_id, id, '${c}', ${machineName}, 'token', '${at}' FROM acct.accounts WHERE id = '${id}'`);
    await expect(use(`E'evil\\x1b]0;pwned\\x07'`, '2026-01-01T00:00:00Z')).rejects.toThrow(/uses_visible/);
    await use(`'laptop'`, '2999-01-01T00:00:00Z');
    expect(pg.sql(`SELECT at < now() + interval '1 minute' FROM acct.uses WHERE account_id = '${id}'`).trim()).toBe('t');
    // Rows from before the constraints (NOT VALID: not checked): shown with the control characters visible.
    // As a DBA would (replica: the owner's guard trigger off); the constraints put back after.
    pg.sql(`SET session_replication_role = replica; ALTER TABLE acct.accounts DROP CONSTRAINT accounts_visible; UPDATE acct.accounts SET nickname = E'shown\\x1b[2J' WHERE id = '${id}';
            ALTER TABLE acct.accounts ADD CONSTRAINT accounts_visible CHECK (nickname !~ '[\\u0001-\\u001f]') NOT VALID;
            ALTER TABLE acct.members DROP CONSTRAINT members_visible; UPDATE acct.members SET name = E'carol\\x1b[31m' WHERE id = '${c}';
            ALTER TABLE acct.members ADD CONSTRAINT members_visible CHECK (name !~ '[\\u0001-\\u001f]') NOT VALID;
            ALTER TABLE acct.uses DROP CONSTRAINT uses_visible;
            INSERT INTO acct.uses (team_id, account_id, member_id, machine, command, at) SELECT team_id, id, '${c}', E'evil\\x1b]0;x\\x07', E'tok\\nen', now() FROM acct.accounts WHERE id = '${id}';
            ALTER TABLE acct.uses ADD CONSTRAINT uses_visible CHECK (machine !~ '[\\u0001-\\u001f]') NOT VALID`);
    for (const args of [['list'], ['show', `acme:${id}`], ['team', 'members', 'acme']]) {
      const r = await cli(alice, args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout, args.join(' ')).not.toContain('\u001b');
      expect(r.stdout + r.stderr, args.join(' ')).not.toContain('\u0007');
    }
    expect((await cli(alice, ['list'])).stdout).toContain('shown\\x1b[2J');
    expect((await cli(alice, ['show', `acme:${id}`])).stdout).toContain('evil\\x1b]0;x\\x07');
    expect((await cli(alice, ['team', 'members', 'acme'])).stdout).toContain('carol\\x1b[31m');
  });
});

describe('small ones', () => {
  it('a member cannot take a retired id back (delete or change it)', async () => {
    const id = await newAccount('retire', 'sk_retire');
    await aliceStore.remove(id);
    await asMember(carol, `DELETE FROM acct.retired_ids WHERE id = '${id}'`);
    await asMember(carol, `UPDATE acct.retired_ids SET id = 'acc_other' WHERE id = '${id}'`);
    expect(pg.sql(`SELECT count(*) FROM acct.retired_ids WHERE id = '${id}'`).trim()).toBe('1');
  });

  it('team upgrade names the database, not "team the team"', async () => {
    const { upgradeSchema } = await import('../../src/team/admin.js');
    const err = (await upgradeSchema({ env: { PGPASSWORD: 'x' } }, 'postgres://acct@127.0.0.1:1/acct').catch((e: unknown) => e)) as AcctError;
    expect([err.code, err.exitCode]).toEqual(['team_unreachable', 5]);
    expect(err.message).toContain('the team database at 127.0.0.1:1');
    expect(err.message).not.toContain('the team at');
  });
});
