// acct team … and acct share/unshare through the built binary, the way users
// run them: several "machines" (each its own ACCT_HOME and passphrase store)
// against one private PostgreSQL cluster. Team accounts are made through the
// store's API on the owner's machine until `connect --team` exists.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { SecretStore } from '../../src/store/store.js';
import { openTeamStore } from '../../src/team/index.js';
import { credentialsEntry } from '../../src/team/config.js';

let pg: PgCluster;
const SECRET = 'sk_live_CLI_TEAM_SECRET_77a1';

function machine(name: string) {
  const home = tempHome();
  const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: `pass-${name}`, USER: name });
  const secrets = new SecretStore({ paths: { config: home, data: home }, requestedKind: 'file', keychain: async () => Promise.reject(new Error('none')), passphrase: async () => `pass-${name}` });
  return { home, env, secrets, run: (args: string[], opts: { input?: string; env?: Record<string, string | undefined> } = {}) => acct(args, { ...env, ...opts.env }, opts.input === undefined ? {} : { input: opts.input, stdin: undefined }) };
}

let alice: ReturnType<typeof machine>;
let bob: ReturnType<typeof machine>;

beforeAll(async () => {
  pg = await startPostgres();
  alice = machine('alice');
  bob = machine('bob');
});
afterAll(() => pg?.destroy());

describe('acct team', () => {
  it('create refuses a password in the URL (argv), without echoing it', async () => {
    const r = await alice.run(['team', 'create', 'acme', `postgres://acct:hunter2secret@${pg.host}:${pg.port}/acct`]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('PGPASSWORD');
    expect(r.stderr + r.stdout).not.toContain('hunter2secret');
  });

  it('create with PGPASSWORD: the schema, and this machine as the first admin; teams.json keeps no password', async () => {
    const r = await alice.run(['team', 'create', 'acme', pg.url, '--json'], { env: { PGPASSWORD: pg.password } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ team: 'acme', member: 'alice', admin: true });
    const file = join(alice.home, 'teams.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(pg.password);
    expect(JSON.parse(readFileSync(file, 'utf8')).teams).toMatchObject([{ name: 'acme', url: pg.url }]);
  });

  it('invite → join --code-stdin; the code works once', async () => {
    const inv = await alice.run(['team', 'invite', 'acme', '--name', 'bob']);
    expect(inv.exitCode).toBe(0);
    const code = inv.stdout.trim();
    expect(code).toMatch(/^acct-invite-/);
    expect(inv.stderr).toContain('--code-stdin');
    expect(inv.stderr).toContain(`acct team join postgres://${pg.host}:${pg.port}/acct --code-stdin`);
    const j = await bob.run(['team', 'join', `postgres://${pg.host}:${pg.port}/acct`, '--code-stdin'], { input: `${code}\n` });
    expect(j.stderr).toContain('Joined team acme as bob');
    expect(j.exitCode).toBe(0);
    const other = machine('eve');
    const again = await other.run(['team', 'join', pg.url, '--code-stdin'], { input: code });
    expect(again.exitCode).toBe(4);
    expect(again.stderr).toContain('used already');
  });

  it('members lists who is in the team; a non-admin cannot invite', async () => {
    const r = await bob.run(['team', 'members', 'acme', '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).map((m: { name: string; admin: boolean }) => [m.name, m.admin])).toEqual([
      ['alice', true],
      ['bob', false],
    ]);
    // The table, piped: one word a cell, STATE confirmed for alice (bob waits for her to confirm him: she has run nothing since), JOINED the instant of --json, REMOVED "-" for a member still in.
    const table = await bob.run(['team', 'members', 'acme']);
    expect(table.exitCode, table.stderr).toBe(0);
    const rows = table.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    expect(rows[0]).toEqual(['MEMBER', 'ID', 'ROLE', 'STATE', 'JOINED', 'REMOVED']);
    const alice = JSON.parse(r.stdout)[0] as { id: string; joined: string };
    expect(rows[1]).toEqual(['alice', alice.id, 'admin', 'confirmed', alice.joined, '-']);
    for (const row of rows) expect(row).toHaveLength(6);
    expect(rows[2]?.[3]).toBe('joined');
    expect(table.stderr).toContain('bob joined, waiting for alice to confirm');
    const denied = await bob.run(['team', 'invite', 'acme', '--name', 'mallory']);
    expect(denied.exitCode).toBe(4);
    expect(denied.stderr).toContain('only an admin');
  });

  let accountId: string;
  it('share and unshare a private account; SQL as bob sees it only while shared', async () => {
    // Alice's machine makes a team account (the store API: connect --team comes with the lead's wiring).
    const store = openTeamStore({ paths: { config: alice.home, data: alice.home }, env: {}, secrets: alice.secrets, warn: () => undefined }, 'acme');
    const now = new Date().toISOString();
    const a = await store.create('stripe', { api_key: SECRET }, (id) => ({
      account: { id, app: 'stripe', nickname: 'live', auth: 'keys', status: 'ok', scopes: [], fields: ['api_key'], identity: null, expiresAt: null, createdAt: now, updatedAt: now },
      makeDefault: true,
    }));
    await store.close();
    accountId = a.id;
    const bobRole = await bob.secrets.read(credentialsEntry('acme'));
    const asBob = (q: string) => pg.sql(q, { user: bobRole.role, password: bobRole.password });
    expect(asBob('SELECT count(*) FROM acct.accounts').trim()).toBe('0');
    // Through acct, bob's machine cannot even name it: it is not there for him.
    const unseen = await bob.run(['share', 'acme:stripe/live', '--with', 'bob']);
    expect(unseen.exitCode).toBe(3);
    expect(unseen.stderr).not.toContain(accountId);

    const s = await alice.run(['share', 'acme:stripe/live', '--with', 'bob', '--json']);
    expect(s.exitCode).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ readers: ['alice', 'bob'] });
    expect(asBob('SELECT app || \'/\' || nickname FROM acct.accounts').trim()).toBe('stripe/live');
    expect(asBob('SELECT sealed::text FROM acct.account_secrets')).not.toContain(SECRET);

    const bad = await alice.run(['share', 'stripe/live', '--with', 'bob']);
    expect(bad.exitCode).toBe(2);
    const notOwner = await bob.run(['unshare', 'acme:stripe/live', '--with', 'team']);
    expect(notOwner.exitCode).toBe(4);

    const u = await alice.run(['unshare', 'acme:stripe/live', '--with', 'bob']);
    expect(u.exitCode).toBe(0);
    expect(u.stderr).toContain('rotate');
    expect(asBob('SELECT count(*) FROM acct.accounts').trim()).toBe('0');
  });

  it('add-ci prints ACCT_TEAM_KEY once; CI reaches the team from the environment alone', async () => {
    const r = await alice.run(['team', 'add-ci', 'acme', '--name', 'deploy']);
    expect(r.exitCode).toBe(0);
    const key = r.stdout.trim();
    expect(key).toMatch(/^acct-team-key-/);
    // The URL members use names no user: each logs in as its own role.
    const teamUrl = `postgres://${pg.host}:${pg.port}/acct`;
    expect(r.stderr).toContain(`ACCT_TEAM=${teamUrl} `);
    const ci = machine('ci');
    const m = await ci.run(['team', 'members', 'acme', '--json'], { env: { ACCT_TEAM: teamUrl, ACCT_TEAM_KEY: key } });
    expect(m.exitCode).toBe(0);
    expect(JSON.parse(m.stdout).map((x: { name: string }) => x.name)).toContain('deploy');
    // The database gone: exit 5 naming its host, as a stable code with --json.
    const down = await ci.run(['team', 'members', 'acme', '--json'], { env: { ACCT_TEAM: 'postgres://127.0.0.1:1/acct', ACCT_TEAM_KEY: key } });
    expect(down.exitCode).toBe(5);
    expect(JSON.parse(down.stderr)).toMatchObject({ code: 'team_unreachable', message: expect.stringContaining('127.0.0.1:1') });
    expect(down.stderr).not.toContain(key.slice(20, 60));
    // Half of the pair is a usage error naming the other half.
    const half = await ci.run(['team', 'members', 'acme'], { env: { ACCT_TEAM: pg.url } });
    expect(half.exitCode).toBe(2);
    expect(half.stderr).toContain('ACCT_TEAM_KEY');
  });

  it('remove lists what the member could read, to rotate; the member then gets exit 4', async () => {
    expect((await alice.run(['share', 'acme:stripe/live', '--with', 'bob'])).exitCode).toBe(0);
    const r = await alice.run(['team', 'remove', 'acme', 'bob']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`stripe/live (${accountId})`);
    const after = await bob.run(['team', 'members', 'acme']);
    expect(after.exitCode).toBe(4);
    expect(after.stderr).toMatch(/removed/);
  });

  it('an unreachable database: exit 5 naming the host', async () => {
    const r = await alice.run(['team', 'create', 'other', 'postgres://acct@127.0.0.1:1/acct'], { env: { PGPASSWORD: 'x' } });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain('127.0.0.1:1');
  });

  it('a wrong or missing owner password at create: said as such', async () => {
    const wrong = await alice.run(['team', 'create', 'other', pg.url], { env: { PGPASSWORD: 'not-it' } });
    expect(wrong.exitCode).toBe(4);
    expect(wrong.stderr).toContain('refused the password of acct');
    const none = await alice.run(['team', 'create', 'other', pg.url], { env: { HOME: alice.home } });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('PGPASSWORD');
  });

  it('the dump of the database holds no secret', () => {
    expect(pg.dump()).not.toContain(SECRET);
  });
});
