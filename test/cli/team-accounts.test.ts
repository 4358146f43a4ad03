// Team accounts the way users reach them, through the built binary: the
// issue's "What a user can do" list step by step on several "machines"
// (each its own ACCT_HOME and passphrase store) against one private
// PostgreSQL cluster, then CI with nothing but ACCT_TEAM/ACCT_TEAM_KEY, then
// the faults a user meets (a restart, a stopped database, a removed member).
import { storedMetadata } from '../support/accounts.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

let pg: PgCluster;
const STRIPE = 'sk_live_TEAMCLI_stripe_4f1c9e0b7a';
const LOCAL_STRIPE = 'sk_live_TEAMCLI_anas_own_key_93d1';
const BILLING = 'sk_live_TEAMCLI_billing_key_0c3a7e';
const GITHUB = 'ghp_TEAMCLIciToken000000000000000000001';
const SECRETS = [STRIPE, LOCAL_STRIPE, BILLING, GITHUB];

type Env = Record<string, string | undefined>;

function machine(name: string) {
  const home = tempHome();
  const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: `pass-${name}`, USER: name });
  return {
    name,
    home,
    env,
    run: (args: string[], opts: { input?: string; env?: Env } = {}) => acct(args, { ...env, ...opts.env }, opts.input === undefined ? {} : { input: opts.input, stdin: undefined }),
  };
}
type Machine = ReturnType<typeof machine>;

/** Nothing a user or a test sees carries a secret it should not. */
function expectNoSecret(...outputs: string[]) {
  for (const o of outputs) for (const s of SECRETS) expect(o.includes(s), 'a secret leaked into output').toBe(false);
}

let alice: Machine;
let ana: Machine;
const teamUrl = () => `postgres://${pg.host}:${pg.port}/acct`;

beforeAll(async () => {
  pg = await startPostgres();
  alice = machine('alice');
  ana = machine('ana');
}, 120_000);
afterAll(() => pg?.destroy());

describe('team accounts through the CLI', () => {
  let liveId: string;
  let ciKey: string;

  it('create, invite, join: Ana is in the team, her key in her own store', async () => {
    const c = await alice.run(['team', 'create', 'acme', pg.url], { env: { PGPASSWORD: pg.password } });
    expect(c.exitCode, c.stderr).toBe(0);
    const inv = await alice.run(['team', 'invite', 'acme', '--name', 'ana']);
    expect(inv.exitCode, inv.stderr).toBe(0);
    const j = await ana.run(['team', 'join', teamUrl(), '--code-stdin'], { input: inv.stdout });
    expect(j.exitCode, j.stderr).toBe(0);
    expect(j.stderr).toContain('Joined team acme as ana');
  });

  it('connect --team: a team account, listed with its team; private to Alice until shared', async () => {
    const r = await alice.run(['connect', 'stripe', '--team', 'acme', '--nickname', 'live', '--stdin', '--no-verify'], { input: STRIPE });
    expect(r.exitCode, r.stderr).toBe(0);
    liveId = r.stdout.trim();
    expect(liveId).toMatch(/^acc_[a-z2-7]{10}$/);
    expect(r.stderr).toContain(`stripe/live (${liveId})`);
    // Nothing of it on Alice's machine: the team's database holds it. Only its id, in teams.json, with the version of the grant Alice signed.
    for (const f of allFiles(alice.home)) {
      if (f.path.endsWith('/teams.json')) {
        const { grants, ...team } = (JSON.parse(f.content.toString('utf8')) as { teams: { grants?: Record<string, number> }[] }).teams[0]!;
        expect(grants).toEqual({ [liveId]: 1 });
        expect(JSON.stringify(team)).not.toContain(liveId);
      } else expect(f.content.includes(liveId), f.path).toBe(false);
    }

    // A team that is not joined is named as such, with the teams that are.
    const typo = await alice.run(['connect', 'stripe', '--team', 'acm', '--nickname', 'x', '--stdin', '--no-verify'], { input: STRIPE });
    expect(typo.exitCode).toBe(3);
    expect(typo.stderr).toContain('"acm"');
    expect(typo.stderr).toContain('acme');
    // A nickname that is an app's slug is refused in a team as anywhere (the list below shows nothing was stored).
    const slug = await alice.run(['connect', 'stripe', '--team', 'acme', '--nickname', 'stripe', '--stdin', '--no-verify'], { input: STRIPE });
    expect(slug.exitCode).toBe(2);
    expect(slug.stderr).toContain('"stripe" is the name of an app, so it cannot be a nickname');

    const list = await alice.run(['list']);
    expect(list.exitCode, list.stderr).toBe(0);
    const [header, ...rows] = list.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['ID', 'TEAM', 'APP', 'NICKNAME', 'DEFAULT', 'AUTH', 'STATUS', 'EXPIRES', 'LAST_USED']);
    expect(rows.map((l) => l.split(/\s+/).slice(0, 4))).toEqual([[liveId, 'acme', 'stripe', 'live']]);

    // Ana's machine sees nothing of a private account: neither the secret nor its name.
    const t = await ana.run(['token', 'acme:stripe/live']);
    expect(t.exitCode).toBe(3);
    expect(t.stdout).toBe('');
    const l = await ana.run(['list', '--json']);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toEqual([]);
    expectNoSecret(r.stderr, list.stdout, t.stderr, l.stdout);
  });

  it('share --with ana: her machine gets the token; unshare: she gets the not-found code, never the secret', async () => {
    const s = await alice.run(['share', 'acme:stripe/live', '--with', 'ana']);
    expect(s.exitCode, s.stderr).toBe(0);
    const t = await ana.run(['token', 'acme:stripe/live']);
    expect(t, t.stderr).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });

    const u = await alice.run(['unshare', 'acme:stripe/live', '--with', 'ana']);
    expect(u.exitCode, u.stderr).toBe(0);
    const after = await ana.run(['token', 'acme:stripe/live']);
    expect(after.exitCode).toBe(3);
    expect(after.stdout).toBe('');
    // Unshared, a private account is not there for her at all (row-level security): not even its name is confirmed,
    // and what she is told covers both (none, or none shared with her), with a connect that goes to the team.
    expect(after.stderr).toContain('no stripe account is called "live" in team acme, or none that is shared with you');
    expect(after.stderr).toContain('connect one: acct connect stripe --team acme; or ask its owner to share it with you');
    expectNoSecret(s.stderr, u.stderr, after.stderr);

    expect((await alice.run(['share', 'acme:stripe/live', '--with', 'team'])).exitCode).toBe(0);
    expect(await ana.run(['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
  });

  // SPEC's exit codes: 3 is "not found, or ambiguous reference".
  it('an unqualified reference: ambiguous when this machine and the team both have it (exit 3, both ways named); fine when only one has it', async () => {
    const own = await ana.run(['connect', 'stripe', '--nickname', 'live', '--stdin', '--no-verify'], { input: LOCAL_STRIPE });
    expect(own.exitCode, own.stderr).toBe(0);
    const localId = own.stdout.trim();

    const amb = await ana.run(['token', 'stripe/live']);
    expect(amb.exitCode, amb.stderr).toBe(3);
    expect(amb.stdout).toBe('');
    expect(amb.stderr).toContain('stripe/live');
    // Both ways to say which one: the local account's id, the team's qualified name.
    expect(amb.stderr).toContain(localId);
    expect(amb.stderr).toContain('acme:stripe/live');
    expectNoSecret(amb.stderr);
    const ambJson = await ana.run(['token', 'stripe/live', '--json']);
    expect(JSON.parse(ambJson.stderr)).toMatchObject({ code: 'reference_ambiguous' });
    // Each way works.
    expect(await ana.run(['token', localId])).toMatchObject({ exitCode: 0, stdout: `${LOCAL_STRIPE}\n` });
    expect(await ana.run(['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    // `env` takes the same references and says the same.
    const envAmb = await ana.run(['env', 'K=stripe/live']);
    expect(envAmb.exitCode).toBe(3);
    expect(envAmb.stderr).toContain('acme:stripe/live');

    // An account only the team has: the unqualified reference finds it.
    const b = await alice.run(['connect', 'stripe', '--team', 'acme', '--nickname', 'billing', '--stdin', '--no-verify'], { input: BILLING });
    expect(b.exitCode, b.stderr).toBe(0);
    expect((await alice.run(['share', 'acme:stripe/billing', '--with', 'ana'])).exitCode).toBe(0);
    expect(await ana.run(['token', 'stripe/billing'])).toMatchObject({ exitCode: 0, stdout: `${BILLING}\n` });
    // And one only this machine has stays this machine's.
    expect(await alice.run(['token', 'stripe/billing'])).toMatchObject({ exitCode: 0, stdout: `${BILLING}\n` });

    // Ana's list: her own account with "-", the team's with acme.
    const l = await ana.run(['list']);
    expect(l.exitCode, l.stderr).toBe(0);
    const rows = l.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/).slice(0, 4));
    expect(rows).toEqual(
      expect.arrayContaining([
        [localId, '-', 'stripe', 'live'],
        [liveId, 'acme', 'stripe', 'live'],
      ]),
    );
  });

  it('add-ci; in CI, ACCT_TEAM and ACCT_TEAM_KEY alone (an empty ACCT_HOME) give acct env --format github', async () => {
    const ci = await alice.run(['team', 'add-ci', 'acme', '--name', 'deploy']);
    expect(ci.exitCode, ci.stderr).toBe(0);
    ciKey = ci.stdout.trim();
    const g = await alice.run(['connect', 'github-token', '--team', 'acme', '--nickname', 'ci', '--stdin', '--no-verify'], { input: GITHUB });
    expect(g.exitCode, g.stderr).toBe(0);
    expect((await alice.run(['share', 'acme:github-token/ci', '--with', 'deploy'])).exitCode).toBe(0);

    const home = tempHome();
    const ghEnv = join(mkdtempSync(join(tmpdir(), 'acct-gh-')), 'github_env');
    writeFileSync(ghEnv, '');
    // A CI runner: no passphrase, no store, no teams.json.
    const env = baseEnv({ ACCT_HOME: home, GITHUB_ENV: ghEnv, ACCT_TEAM: teamUrl(), ACCT_TEAM_KEY: ciKey, USER: 'runner' });
    const r = await acct(['env', 'acme:github-token/ci', '--format', 'github'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`::add-mask::${GITHUB}`);
    expect(readFileSync(ghEnv, 'utf8')).toContain(GITHUB);
    expect(readFileSync(ghEnv, 'utf8')).toContain('GITHUB_TOKEN');
    // Nothing written on the runner's disk that holds a secret.
    for (const f of allFiles(home)) for (const s of SECRETS) expect(f.content.includes(s), f.path).toBe(false);
    // CI reads only what was shared with it.
    const other = await acct(['token', 'acme:stripe/billing'], env);
    expect(other.exitCode).toBe(3);
    expect(other.stdout).toBe('');
    // And token works there too.
    expect(await acct(['token', 'acme:github-token/ci'], env)).toMatchObject({ exitCode: 0, stdout: `${GITHUB}\n` });
  });

  it('show lists who used a team account, from which machine, with which command; list shows its last use', async () => {
    const r = await alice.run(['show', 'acme:github-token/ci', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ id: expect.stringMatching(/^acc_/), team: 'acme', app: 'github-token', nickname: 'ci' });
    // Newest first: CI's token, then CI's env (all these "machines" share one host name).
    expect(j.recent_uses.slice(0, 2).map((u: Record<string, string>) => [u.member, u.machine, u.command])).toEqual([
      ['deploy', hostname(), 'token'],
      ['deploy', hostname(), 'env'],
    ]);
    expect(j.last_used_at).toBe(j.recent_uses[0].at);
    expect(j.fields.token).not.toBe(GITHUB);

    const text = await alice.run(['show', 'acme:github-token/ci']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^team\s+acme$/m);
    expect(text.stdout).toContain('recent uses');
    expect(text.stdout).toMatch(new RegExp(`deploy@${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+token`));
    expectNoSecret(r.stdout, text.stdout);

    // Ana's use of stripe/live shows as hers on Alice's machine, and in list as the last use.
    const shown = JSON.parse((await alice.run(['show', 'acme:stripe/live', '--json'])).stdout);
    expect(shown.recent_uses[0]).toMatchObject({ member: 'ana', command: 'token' });
    const listed = JSON.parse((await alice.run(['list', '--json'])).stdout) as Record<string, unknown>[];
    expect(listed.find((a) => a.id === liveId)).toMatchObject({ team: 'acme', last_used_at: shown.recent_uses[0].at });
    const table = await alice.run(['list']);
    const row = table.stdout.split('\n').find((l) => l.startsWith(liveId))!;
    expect(row).not.toMatch(/never$/);
  });

  it('acct token on a team account opens one database session (the warm-up connection serves the lookup)', async () => {
    const sessions = () => Number(pg.sql("SELECT pg_stat_clear_snapshot(); SELECT sessions FROM pg_stat_database WHERE datname = 'acct'", { database: 'postgres' }).trim().split('\n').pop());
    const before = sessions();
    const r = await ana.run(['token', 'acme:stripe/live']);
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    // A session's stats reach the shared counters as its backend exits.
    let after = sessions();
    for (let i = 0; i < 20 && after === before; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = sessions();
    }
    expect(after - before).toBe(1);
  });

  it('PostgreSQL restarted: the next commands work and nothing is lost', async () => {
    const before = JSON.parse((await alice.run(['list', '--json'])).stdout);
    pg.restart();
    expect(await ana.run(['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
    const after = await alice.run(['list', '--json']);
    expect(after.exitCode, after.stderr).toBe(0);
    const strip = (xs: Record<string, unknown>[]) => xs.map(({ last_used_at: _, ...a }) => a);
    expect(strip(JSON.parse(after.stdout))).toEqual(strip(before));
    const env = await alice.run(['env', '--format', 'json', 'A=acme:stripe/live', 'B=acme:stripe/billing', 'C=acme:github-token/ci']);
    expect(env.exitCode, env.stderr).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual({ A: STRIPE, B: BILLING, C: GITHUB });
  });

  it('the database unreachable: acct token on a team account exits 5 naming the host, and leaves nothing behind', async () => {
    pg.stop();
    try {
      const r = await ana.run(['token', 'acme:stripe/live'], { env: { ACCT_TEAM_TIMEOUT: '5' } });
      expect(r.exitCode).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${pg.host}:${pg.port}`);
      expectNoSecret(r.stderr);
      const ci = await acct(['token', 'acme:github-token/ci'], baseEnv({ ACCT_HOME: tempHome(), ACCT_TEAM: teamUrl(), ACCT_TEAM_KEY: ciKey }));
      expect(ci.exitCode).toBe(5);
      expect(ci.stderr).toContain(`${pg.host}:${pg.port}`);
      // An account of this machine's own store, named by its id, does not need the team.
      const mine = storedMetadata(ana.home).accounts[0]!.id;
      const local = await ana.run(['token', mine], { env: { ACCT_TEAM_TIMEOUT: '5' } });
      expect(local, local.stderr).toMatchObject({ exitCode: 0, stdout: `${LOCAL_STRIPE}\n` });
      // A name both may hold cannot be decided without the team: exit 5, and the hint names the way that needs no team.
      const undecided = await ana.run(['token', 'stripe/live'], { env: { ACCT_TEAM_TIMEOUT: '5' } });
      expect(undecided.exitCode).toBe(5);
      expect(undecided.stdout).toBe('');
      expect(undecided.stderr).toContain(`${pg.host}:${pg.port}`);
      expect(undecided.stderr).toContain(`name it by its id: ${mine}`);
      // list shows this machine's own accounts, then fails naming the team's host: the list is not taken for whole.
      const listed = await ana.run(['list', '--json'], { env: { ACCT_TEAM_TIMEOUT: '5' } });
      expect(listed.exitCode).toBe(5);
      expect((JSON.parse(listed.stdout) as { id: string; team?: string }[]).map((a) => [a.id, a.team ?? null])).toEqual([[mine, null]]);
      expect(listed.stderr).toContain(`${pg.host}:${pg.port}`);
      const table = await ana.run(['list'], { env: { ACCT_TEAM_TIMEOUT: '5', COLUMNS: '200' } });
      expect(table.exitCode).toBe(5);
      expect(table.stdout).toMatch(/^ID\s+TEAM\s+APP/);
      expect(table.stdout).toContain(mine);
    } finally {
      pg.start();
    }
    expect(await ana.run(['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
  });

  it('team remove: the removed member gets exit 4 with the reason, and no secret', async () => {
    const r = await alice.run(['team', 'remove', 'acme', 'ana']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`stripe/live (${liveId})`);
    for (const ref of ['acme:stripe/live', 'acme:stripe/billing']) {
      const t = await ana.run(['token', ref]);
      expect(t.exitCode).toBe(4);
      expect(t.stdout).toBe('');
      expect(t.stderr).toMatch(/removed/);
      expect(t.stderr).toContain('acme');
      expectNoSecret(t.stderr);
    }
    // Her own accounts are still hers, by id and by name (the team has none for her now: no ambiguity), the removal said.
    const mine = storedMetadata(ana.home).accounts[0]!.id;
    expect(await ana.run(['token', mine])).toMatchObject({ exitCode: 0, stdout: `${LOCAL_STRIPE}\n` });
    const byName = await ana.run(['token', 'stripe/live']);
    expect(byName, byName.stderr).toMatchObject({ exitCode: 0, stdout: `${LOCAL_STRIPE}\n` });
    expect(byName.stderr).toMatch(/member.*team acme.*removed|removed from team acme/);
    const l = await ana.run(['list', '--json']);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout).map((a: { id: string }) => a.id)).toEqual([mine]);
    expect(l.stderr).toMatch(/member.*team acme.*removed|removed from team acme/);
    // A reference only the team could answer keeps the reason, and exit 4.
    const gone = await ana.run(['token', 'stripe/billing']);
    expect(gone.exitCode).toBe(4);
    expect(gone.stderr).toMatch(/removed/);
    // Alice still reads everything.
    expect(await alice.run(['token', 'acme:stripe/live'])).toMatchObject({ exitCode: 0, stdout: `${STRIPE}\n` });
  });

  it('no secret in the database dump, nor in any team member machine\'s files', () => {
    const dump = pg.dump();
    for (const s of SECRETS) expect(dump.includes(s)).toBe(false);
    for (const m of [alice, ana]) for (const f of allFiles(m.home)) for (const s of SECRETS) expect(f.content.includes(s), f.path).toBe(false);
    expect(readdirSync(alice.home)).toContain('teams.json');
  });
});
