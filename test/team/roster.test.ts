// The team's signed roster (src/team/roster.ts), through the built binary:
// whoever can change the database's rows (its superuser, here) replaces a
// member's key, adds a member of their own, or changes the roster itself,
// and honest machines wrap no account key for a key the team's admins did
// not vouch for; a join checks the database's roster against the code's pin;
// an upgraded team gets its roster from its first admin command. The admin,
// alice, keeps her keys in a real Secret Service; the others in passphrase
// stores, which the test reads to check whose key a wrapped key opens for.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { allFiles } from '../support/cli.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { ok, opensWith, stripeKey, teamDatabase, teamMachine, UNDO_V5, type TeamMachine } from '../support/team.js';
import { credentialsEntry } from '../../src/team/config.js';
import { newMemberKeys, newSigningKeys, sha256 } from '../../src/team/seal.js';
import { joinProof, signRoster, type RosterBody } from '../../src/team/roster.js';
import { SCHEMA_VERSION } from '../../src/team/schema.js';

let pg: PgCluster;
let session: KeyringSession;
let alice: TeamMachine;
let bob: TeamMachine;
let carol: TeamMachine;
let teamId: string;
const SLOW = 120_000;

const { sql, idOf, accountOf, wrappedFor, keyVersionOf, account, memberUrl } = teamDatabase(() => pg);
const accessRows = () => Number(sql('SELECT count(*) FROM acct.account_access'));

async function join(m: TeamMachine, code: string, url = memberUrl()) {
  return m.run(['team', 'join', url, '--code-stdin'], { input: code });
}

async function invite(admin: TeamMachine, name: string, team = 'acme'): Promise<string> {
  return (await ok(admin, ['team', 'invite', team, '--name', name])).stdout.trim();
}

const keyOf = stripeKey;
const opensWithin = (wrapped: unknown, keys: { publicKey: string; privateKey: string }, accountId: string, memberId: string) => opensWith(wrapped, keys, teamId, accountId, memberId, keyVersionOf(accountId));


/** A command's error under --json: its code, message and hint. */
function failure(r: { exitCode: number; stderr: string }): { code: string; message: string; hint: string } {
  return JSON.parse(r.stderr.trim().split('\n').pop()!);
}

/** The newest roster version's body as the database holds it. */
function newest(): { body: RosterBody; text: string } {
  const text = sql(`SELECT body FROM acct.rosters WHERE team_id = '${teamId}' ORDER BY version DESC LIMIT 1`);
  return { body: JSON.parse(text), text };
}

/** Appends a version the way an attacker would: the next after the newest, signed with `signingKey`, as `signer`. */
function forge(signer: string, signingKey: string, change: (b: RosterBody) => RosterBody = (b) => b) {
  const { body, text } = newest();
  const next = change({ ...body, version: body.version + 1, prev: sha256(text), signer });
  const s = signRoster(next, signingKey);
  sql(`INSERT INTO acct.rosters (team_id, version, body, signature, signer) VALUES ('${teamId}', ${next.version}, '${s.text}', '${s.signature}', '${signer}')`);
}

/** Runs fn with the rosters table as it is now put back afterwards (as its owner could, in the database). */
async function withRostersRestored(fn: () => Promise<void>) {
  sql('CREATE TABLE public.saved_rosters AS SELECT * FROM acct.rosters');
  try {
    await fn();
  } finally {
    sql('DELETE FROM acct.rosters; INSERT INTO acct.rosters SELECT * FROM public.saved_rosters; DROP TABLE public.saved_rosters');
  }
}

const attacker = { ...newMemberKeys(), ...newSigningKeys() };

beforeAll(async () => {
  [pg, session] = await Promise.all([startPostgres(), startKeyringSession()]);
  alice = teamMachine('alice', { ACCT_AGENT: '0' }, session.env);
  bob = teamMachine('bob');
  carol = teamMachine('carol');
}, SLOW);

afterAll(async () => {
  await session?.stop();
  pg?.destroy();
});

describe('the normal flow', () => {
  it('create, invite, join, the admin confirms, share, token; add-ci and CI reads; remove re-keys and leaves the roster', async () => {
    const created = await alice.run(['team', 'create', 'acme', pg.url], { env: { PGPASSWORD: pg.password } });
    expect(created.exitCode, created.stderr).toBe(0);
    teamId = sql("SELECT id FROM acct.teams WHERE name = 'acme'");
    expect(sql(`SELECT count(*) FROM acct.rosters WHERE team_id = '${teamId}'`)).toBe('1');
    expect(alice.teams()?.teams[0]?.roster?.version).toBe(1);
    for (const m of [bob, carol]) {
      const j = await join(m, await invite(alice, m.name));
      expect(j.exitCode, j.stderr).toBe(0);
    }
    // Carol joined after alice's last command (her invite of carol confirmed bob): waiting for alice.
    const waiting = JSON.parse((await ok(bob, ['team', 'members', 'acme', '--json'])).stdout);
    expect(waiting.find((m: { name: string }) => m.name === 'bob')).toMatchObject({ state: 'confirmed' });
    expect(waiting.find((m: { name: string }) => m.name === 'carol')).toMatchObject({ state: 'joined', confirmer: 'alice' });
    const listed = await ok(alice, ['team', 'members', 'acme', '--json']);
    expect(JSON.parse(listed.stdout).map((m: { name: string; state: string }) => [m.name, m.state])).toEqual([
      ['alice', 'confirmed'],
      ['bob', 'confirmed'],
      ['carol', 'confirmed'],
    ]);
    expect(newest().body.members.map((m) => m.name).sort()).toEqual(['alice', 'bob', 'carol']);
    // Through a member's role the roster is append-only, and only for admins.
    const asBob = await bob.credentials();
    const bobSql = (q: string) => pg.sql(q, { user: asBob.role!, password: asBob.password! });
    expect(() => bobSql('UPDATE acct.rosters SET body = body')).toThrow(/permission denied/);
    expect(() => bobSql('DELETE FROM acct.rosters')).toThrow(/permission denied/);
    expect(() => bobSql(`INSERT INTO acct.rosters (team_id, version, body, signature, signer) VALUES ('${teamId}', 99, '{}', 'x', '${idOf('bob')}')`)).toThrow(/row-level security/);

    // A member not confirmed yet: sharing with it is an error with the next step, and wraps nothing.
    const dave = teamMachine('dave');
    expect((await join(dave, await invite(alice, 'dave'))).exitCode).toBe(0);
    const bobs = await account(bob, 'bobs');
    const early = await bob.run(['share', 'acme:stripe/bobs', '--with', 'dave', '--json']);
    expect(early.exitCode).toBe(2);
    expect(failure(early)).toMatchObject({ code: 'member_unconfirmed', hint: expect.stringContaining('alice confirms it by running acct team members acme') });
    expect(wrappedFor(bobs, idOf('dave'))).toBeUndefined();
    const table = await ok(dave, ['team', 'members', 'acme']);
    expect(table.stderr).toContain('dave joined, waiting for alice to confirm');
    await ok(alice, ['team', 'members', 'acme']);
    await ok(bob, ['share', 'acme:stripe/bobs', '--with', 'dave']);
    expect((await ok(dave, ['token', 'acme:stripe/bobs'])).stdout.trim()).toBe(keyOf('bobs'));

    // add-ci: listed at once; its key pins the roster; CI reads what is shared with it.
    const live = await account(alice, 'live');
    const key = (await ok(alice, ['team', 'add-ci', 'acme', '--name', 'deploy'])).stdout.trim();
    const payload = JSON.parse(Buffer.from(key.slice('acct-team-key-'.length), 'base64url').toString());
    expect(payload.roster).toEqual({ version: newest().body.version, hash: sha256(newest().text) });
    expect(newest().body.members.find((m) => m.name === 'deploy')).toMatchObject({ ci: true, admin: false });
    await ok(alice, ['share', 'acme:stripe/live', '--with', 'deploy']);
    await ok(alice, ['share', 'acme:stripe/live', '--with', 'dave']);
    const ci = teamMachine('ci', { ACCT_TEAM: memberUrl(), ACCT_TEAM_KEY: key });
    expect((await ok(ci, ['token', 'acme:stripe/live'])).stdout.trim()).toBe(keyOf('live'));

    // remove: a version without dave, signed by alice; what dave read gets a new key, for the readers left.
    const before = wrappedFor(live, idOf('alice'));
    const daveId = idOf('dave');
    await ok(alice, ['team', 'remove', 'acme', 'dave']);
    expect(newest().body.members.some((m) => m.id === daveId)).toBe(false);
    expect(newest().body.signer).toBe(idOf('alice'));
    expect(wrappedFor(live, idOf('alice'))).not.toEqual(before);
    expect(wrappedFor(live, daveId)).toBeUndefined();
    expect((await ok(ci, ['token', 'acme:stripe/live'])).stdout.trim()).toBe(keyOf('live'));
    expect((await dave.run(['token', 'acme:stripe/live'])).exitCode).toBe(4);
  }, SLOW);
});

describe('a database writer who changes acct.members', () => {
  it("a member's key replaced: share --with, --with team and team members wrap for the roster's key only, and say so", async () => {
    const carolId = idOf('carol');
    const real = await carol.credentials();
    const carolKeys = { publicKey: real.publicKey!, privateKey: real.privateKey! };
    sql(`UPDATE acct.members SET public_key = '${attacker.publicKey}' WHERE id = '${carolId}'`);
    try {
      const one = await account(alice, 'swap1');
      const r = await ok(alice, ['share', 'acme:stripe/swap1', '--with', 'carol']);
      expect(r.stderr).toContain('the key of member carol');
      expect(r.stderr).toContain('signed roster');
      expect(opensWithin(wrappedFor(one, carolId), carolKeys, one, carolId)).toBe(true);
      expect(opensWithin(wrappedFor(one, carolId), attacker, one, carolId)).toBe(false);

      const two = await account(alice, 'swap2');
      const t = await ok(alice, ['share', 'acme:stripe/swap2', '--with', 'team']);
      expect(t.stderr).toContain('the key of member carol');
      expect(opensWithin(wrappedFor(two, carolId), carolKeys, two, carolId)).toBe(true);
      expect(opensWithin(wrappedFor(two, carolId), attacker, two, carolId)).toBe(false);
      // A newcomer's wrap (team members, syncShares) goes by the roster too: carol's taken away, then wrapped again.
      sql(`DELETE FROM acct.account_access WHERE account_id = '${two}' AND member_id = '${carolId}'`);
      const m = await ok(alice, ['team', 'members', 'acme']);
      expect(m.stderr).toContain('the key of member carol');
      expect(opensWithin(wrappedFor(two, carolId), carolKeys, two, carolId)).toBe(true);
      expect(opensWithin(wrappedFor(two, carolId), attacker, two, carolId)).toBe(false);
    } finally {
      sql(`UPDATE acct.members SET public_key = '${carolKeys.publicKey}' WHERE id = '${carolId}'`);
    }
    expect((await ok(carol, ['token', 'acme:stripe/swap1'])).stdout.trim()).toBe(keyOf('swap1'));
  }, SLOW);

  it('two members renamed in the database: share --with goes by the roster\'s names, to the member it lists', async () => {
    const [bobId, carolId] = [idOf('bob'), idOf('carol')];
    const name = (bobAs: string, carolAs: string) =>
      sql(`UPDATE acct.members SET name = 'x-' || id WHERE id IN ('${bobId}', '${carolId}');
           UPDATE acct.members SET name = '${bobAs}' WHERE id = '${bobId}'; UPDATE acct.members SET name = '${carolAs}' WHERE id = '${carolId}'`);
    name('carol', 'bob');
    try {
      const id = await account(alice, 'renamed');
      await ok(alice, ['share', 'acme:stripe/renamed', '--with', 'carol']);
      expect(wrappedFor(id, carolId)).toBeDefined();
      expect(wrappedFor(id, bobId)).toBeUndefined();
    } finally {
      name('bob', 'carol');
    }
  }, SLOW);

  it('a member of their own added: never confirmed (said, naming it), left out of --with team, refused for --with', async () => {
    // The ghost copies bob's sealed invitation and proof: they are bound to bob's id, and the MAC to bob's keys.
    sql(`INSERT INTO acct.members (team_id, id, name, role_name, public_key, signing_key, proof, invitation, is_admin, invited_by, joined_at)
         SELECT team_id, 'mb_ghost', 'ghost', 'acct_${teamId}_ghost', '${attacker.publicKey}', '${attacker.signingPublicKey}', proof, invitation, false, invited_by, now()
           FROM acct.members WHERE id = '${idOf('bob')}'`);
    try {
      const m = await ok(alice, ['team', 'members', 'acme', '--json']);
      expect(m.stderr).toContain("ghost in team acme is not confirmed: its key was not the one that joined with the invitation");
      expect(JSON.parse(m.stdout).find((x: { name: string }) => x.name === 'ghost')).toMatchObject({ state: 'joined' });
      expect(newest().body.members.some((x) => x.id === 'mb_ghost')).toBe(false);
      const g = await account(alice, 'ghost1');
      const refused = await alice.run(['share', 'acme:stripe/ghost1', '--with', 'ghost', '--json']);
      expect(refused.exitCode).toBe(2);
      expect(failure(refused).code).toBe('member_unconfirmed');
      const t = await ok(alice, ['share', 'acme:stripe/ghost1', '--with', 'team']);
      expect(t.stderr).toContain('not wrapped yet for ghost');
      expect(sql("SELECT count(*) FROM acct.account_access WHERE member_id = 'mb_ghost'")).toBe('0');
      expect(wrappedFor(g, idOf('bob'))).toBeDefined();
    } finally {
      sql("DELETE FROM acct.members WHERE id = 'mb_ghost'");
    }
  }, SLOW);
});

describe('a roster changed in the database', () => {
  /** A share that must be refused (exit 5, roster_untrusted) with nothing wrapped. */
  async function refused(m: TeamMachine, nickname: string, detail: RegExp) {
    const rows = accessRows();
    const r = await m.run(['share', `acme:stripe/${nickname}`, '--with', 'carol', '--json']);
    expect(r.exitCode, r.stderr).toBe(5);
    const e = failure(r);
    expect(e.code).toBe('roster_untrusted');
    expect(e.message).toMatch(detail);
    expect(e.hint).toContain('not an admin');
    expect(e.hint).toContain('nothing was shared');
    expect(accessRows()).toBe(rows);
  }

  it('a version whose signature is not its signer\'s: refused, nothing wrapped; reads go on', async () => {
    await account(alice, 'tamper1');
    await account(bob, 'tamper2');
    await ok(alice, ['share', 'acme:stripe/live', '--with', 'bob']);
    await withRostersRestored(async () => {
      forge(idOf('alice'), attacker.signingKey, (b) => ({ ...b, members: [...b.members, { id: 'mb_evil', name: 'evil', role: 'acct_x_evil', admin: true, ci: false, x25519: attacker.publicKey, ed25519: attacker.signingPublicKey }] }));
      await refused(alice, 'tamper1', /signature of version \d+ is not alice's/);
      await refused(bob, 'tamper2', /signature of version \d+ is not alice's/);
      expect((await ok(bob, ['token', 'acme:stripe/live'])).stdout.trim()).toBe(keyOf('live'));
    });
  }, SLOW);

  it('a version signed by a member who is no admin: refused', async () => {
    const bobKey = (await bob.credentials()).signingKey!;
    await withRostersRestored(async () => {
      forge(idOf('bob'), bobKey, (b) => ({ ...b, members: b.members.map((m) => (m.name === 'carol' ? { ...m, x25519: attacker.publicKey } : m)) }));
      await refused(alice, 'tamper1', /signed by mb_\w+, who is no admin/);
    });
  }, SLOW);

  it('a roster rolled back below what the machine has seen, or another body at a version it knows: refused', async () => {
    await ok(alice, ['team', 'members', 'acme']);
    const seen = alice.teams()!.teams[0]!.roster!.version;
    await withRostersRestored(async () => {
      sql(`DELETE FROM acct.rosters WHERE version >= ${seen}`);
      await refused(alice, 'tamper1', /rolled back/);
    });
    await withRostersRestored(async () => {
      sql(`UPDATE acct.rosters SET body = replace(body, '"name":"carol"', '"name":"karol"') WHERE version = ${seen}`);
      await refused(alice, 'tamper1', new RegExp(`version ${seen} is not the one this machine accepted`));
    });
    // Put back as it was: the machine goes on.
    await ok(alice, ['share', 'acme:stripe/tamper1', '--with', 'carol']);
  }, SLOW);
});

describe('a roster that does not verify stops no removal', () => {
  it('team remove still takes the member\'s role and access away, lists the accounts as not re-keyed, and exits 5', async () => {
    const ivy = teamMachine('ivy');
    expect((await join(ivy, await invite(alice, 'ivy'))).exitCode).toBe(0);
    await ok(alice, ['team', 'members', 'acme']);
    const ivyId = idOf('ivy');
    const hers = await account(alice, 'hers');
    await ok(alice, ['share', 'acme:stripe/hers', '--with', 'ivy']);
    await withRostersRestored(async () => {
      forge(idOf('alice'), attacker.signingKey);
      const r = await alice.run(['team', 'remove', 'acme', 'ivy']);
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toContain('removed ivy from team acme in its database');
      expect(r.stderr).toContain('could not be verified');
      expect(r.stderr).toContain('run acct team remove acme ivy again');
      expect(r.stdout).toContain(`stripe/hers (${hers})  (not re-keyed: the team's signed roster could not be verified`);
      const j = await alice.run(['team', 'remove', 'acme', 'ivy', '--json']);
      expect(failure(j).code).toBe('not_found');
    });
    expect(sql(`SELECT removed_at IS NOT NULL FROM acct.members WHERE id = '${ivyId}'`)).toBe('t');
    expect(sql(`SELECT rolcanlogin FROM pg_roles WHERE rolname = (SELECT role_name FROM acct.members WHERE id = '${ivyId}')`)).toBe('f');
    expect(wrappedFor(hers, ivyId)).toBeUndefined();
    expect((await ivy.run(['token', 'acme:stripe/hers'])).exitCode).toBe(4);
    // Once the roster verifies again, the same command takes her out of it.
    await ok(alice, ['team', 'remove', 'acme', 'ivy']);
    expect(newest().body.members.some((m) => m.id === ivyId)).toBe(false);
    expect(newest().body.removed).toContain(ivyId);
  }, SLOW);
});

describe('a join checks the roster against its invitation', () => {
  it('refused when the database\'s roster does not chain from the code\'s pin: nothing in teams.json or the store; the code works once it does', async () => {
    const erin = teamMachine('erin', { ACCT_AGENT: '0' }, session.env);
    const code = await invite(alice, 'erin');
    await withRostersRestored(async () => {
      forge(idOf('alice'), attacker.signingKey);
      const r = await join(erin, code);
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toContain('refused to join team acme');
      expect(r.stderr).toContain('nothing was written on this machine');
      expect(erin.teams()).toBeUndefined();
      expect(allFiles(erin.home).map((f) => f.path).filter((p) => p.includes(credentialsEntry('acme')))).toEqual([]);
      expect(sql(`SELECT public_key IS NULL FROM acct.members WHERE name = 'erin'`)).toBe('t');
    });
    // A code whose pin was changed on the way: refused the same.
    const payload = JSON.parse(Buffer.from(code.slice('acct-invite-'.length), 'base64url').toString());
    const forged = `acct-invite-${Buffer.from(JSON.stringify({ ...payload, roster: { ...payload.roster, hash: sha256('another') } })).toString('base64url')}`;
    expect((await join(erin, forged)).exitCode).toBe(5);
    expect(erin.teams()).toBeUndefined();
    const r = await join(erin, code);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(erin.teams()?.teams[0]?.roster?.version).toBe(newest().body.version);
  }, SLOW);
});

/** The secret an invitation code carries (what a joiner proves its keys with). */
const secretOf = (code: string) => JSON.parse(Buffer.from(code.slice('acct-invite-'.length), 'base64url').toString()).secret as string;
const rowId = (name: string) => sql(`SELECT id FROM acct.members WHERE name = '${name}'`);
/** A member's keys as a database writer publishes them for a row: the attacker's, with a proof from the invitation's secret. */
function publishAttackerKeys(memberId: string, name: string, code: string) {
  const proof = joinProof(secretOf(code), teamId, memberId, name, attacker.publicKey, attacker.signingPublicKey);
  sql(`UPDATE acct.members SET removed_at = NULL, joined_at = now(), public_key = '${attacker.publicKey}', signing_key = '${attacker.signingPublicKey}', proof = '${JSON.stringify({ join: proof })}' WHERE id = '${memberId}'`);
}

describe('a database writer who undoes a removal', () => {
  it('a member removed by team remove, its row made active again: never confirmed again, nothing wrapped for it', async () => {
    const everyone = await account(alice, 'everyone');
    await ok(alice, ['share', 'acme:stripe/everyone', '--with', 'team']);
    const eve = teamMachine('eve');
    expect((await join(eve, await invite(alice, 'eve'))).exitCode).toBe(0);
    await ok(alice, ['team', 'members', 'acme']);
    const eveId = idOf('eve');
    expect(wrappedFor(everyone, eveId)).toBeDefined();
    await ok(alice, ['team', 'remove', 'acme', 'eve']);
    expect(newest().body.removed).toContain(eveId);
    sql(`UPDATE acct.members SET removed_at = NULL WHERE id = '${eveId}'`);
    try {
      const m = await ok(alice, ['team', 'members', 'acme']);
      expect(m.stderr).toContain('eve in team acme is not confirmed: that member was in the team\'s signed roster before');
      expect(newest().body.members.some((x) => x.id === eveId)).toBe(false);
      expect(wrappedFor(everyone, eveId)).toBeUndefined();
    } finally {
      sql(`UPDATE acct.members SET removed_at = now() WHERE id = '${eveId}'`);
    }
  }, SLOW);

  it('a member the database removed and brought back with keys of its own (a proof from the used code): the roster keeps the member\'s own key', async () => {
    const fay = teamMachine('fay');
    const code = await invite(alice, 'fay');
    expect((await join(fay, code)).exitCode).toBe(0);
    await ok(alice, ['team', 'members', 'acme']);
    const fayId = idOf('fay');
    const own = newest().body.members.find((m) => m.id === fayId)!.x25519;
    sql(`UPDATE acct.members SET removed_at = now() WHERE id = '${fayId}'`);
    await ok(alice, ['team', 'members', 'acme']);
    publishAttackerKeys(fayId, 'fay', code);
    await ok(alice, ['team', 'members', 'acme']);
    const entry = newest().body.members.find((m) => m.id === fayId);
    expect(entry?.x25519 ?? own).toBe(own);
    expect(opensWithin(wrappedFor(accountOf('everyone'), fayId), attacker, accountOf('everyone'), fayId)).toBe(false);
    expect(sql(`SELECT count(*) FROM acct.account_access WHERE member_id = '${fayId}' AND wrapped::text LIKE '%${attacker.publicKey.slice(0, 12)}%'`)).toBe('0');
  }, SLOW);

  it('a member the database alone says was removed: kept in the roster, named in a warning, wrapped for by no one until team remove', async () => {
    const hana = teamMachine('hana');
    expect((await join(hana, await invite(alice, 'hana'))).exitCode).toBe(0);
    await ok(alice, ['team', 'members', 'acme']);
    const hanaId = idOf('hana');
    sql(`UPDATE acct.members SET removed_at = now() WHERE id = '${hanaId}'`);
    const m = await ok(alice, ['team', 'members', 'acme']);
    expect(m.stderr).toContain('the database says hana was removed from team acme, but no admin removed them');
    expect(m.stderr).toContain('acct team remove acme hana');
    expect(newest().body.members.some((x) => x.id === hanaId)).toBe(true);
    const later = await account(alice, 'later');
    await ok(alice, ['share', 'acme:stripe/later', '--with', 'team']);
    expect(wrappedFor(later, hanaId)).toBeUndefined();
    // team remove takes her out (and tombstones her) though her row was removed already.
    const r = await ok(alice, ['team', 'remove', 'acme', 'hana']);
    expect(r.stdout + r.stderr).toContain('Removed hana');
    expect(newest().body.members.some((x) => x.id === hanaId)).toBe(false);
    expect(newest().body.removed).toContain(hanaId);
  }, SLOW);

  it('an invitation past its expiry (sealed in its terms): a join published after it is never confirmed', async () => {
    const code = await invite(alice, 'gil');
    const gilId = rowId('gil');
    publishAttackerKeys(gilId, 'gil', code);
    // Eight days later on alice's machine (the code works for seven).
    const later = joinPath(alice.home, 'later.cjs');
    writeFileSync(later, 'const now = Date.now; Date.now = () => now() + 8 * 86400000;\n');
    const m = await alice.run(['team', 'members', 'acme'], { env: { NODE_OPTIONS: `--require ${later}` } });
    expect(m.exitCode, m.stderr).toBe(0);
    expect(m.stderr).toContain('gil in team acme is not confirmed: its invitation expired');
    expect(newest().body.members.some((x) => x.id === gilId)).toBe(false);
  }, SLOW);
});

describe('a team from before rosters (schema version 3)', () => {
  it('reads go on; no one wraps until the first admin command after acct team upgrade writes version 1, and another machine only once its user trusts its fingerprint', async () => {
    sql('CREATE DATABASE old OWNER acct', 'postgres');
    const url = `postgres://acct@${pg.host}:${pg.port}/old`;
    const members = `postgres://${pg.host}:${pg.port}/old`;
    const [frank, gus, hal] = [teamMachine('frank'), teamMachine('gus'), teamMachine('hal')];
    const made = await frank.run(['team', 'create', 'legacy', url], { env: { PGPASSWORD: pg.password } });
    expect(made.exitCode, made.stderr).toBe(0);
    for (const m of [gus, hal]) expect((await join(m, await invite(frank, m.name, 'legacy'), members)).exitCode).toBe(0);
    await ok(frank, ['team', 'members', 'legacy']);
    await account(frank, 'old', 'legacy');
    await ok(frank, ['share', 'legacy:stripe/old', '--with', 'gus']);
    // The database and the machines as an acct from before rosters left them.
    sql(
      `DROP TABLE acct.rosters;
       DROP FUNCTION acct.add_member(text, text, text, text, text, boolean, boolean, text, timestamptz, text, jsonb);
       DROP FUNCTION acct.set_my_keys(text, text, text, jsonb); DROP FUNCTION acct.set_my_signing_key(text, text, jsonb);
       ALTER TABLE acct.members DROP COLUMN signing_key, DROP COLUMN proof, DROP COLUMN invitation;
       DELETE FROM acct.schema_version WHERE version = 4; ${UNDO_V5}`,
      'old',
    );
    for (const m of [frank, gus, hal]) {
      const { signingKey: _k, signingPublicKey: _p, ...old } = await m.credentials('legacy');
      await m.secrets.write(credentialsEntry('legacy'), old);
      const file = m.teams()!;
      writeFileSync(joinPath(m.home, 'teams.json'), JSON.stringify({ ...file, teams: file.teams.map(({ roster: _r, ...t }) => t) }));
    }
    expect((await ok(gus, ['token', 'legacy:stripe/old'])).stdout.trim()).toBe(keyOf('old'));
    await account(gus, 'gus', 'legacy');
    const before = await gus.run(['share', 'legacy:stripe/gus', '--with', 'hal', '--json']);
    expect(before.exitCode).toBe(2);
    expect(failure(before)).toMatchObject({ code: 'roster_missing', hint: expect.stringContaining('acct team members legacy') });

    const up = await frank.run(['team', 'upgrade', url, '--json'], { env: { PGPASSWORD: pg.password } });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ from: 3, to: SCHEMA_VERSION });
    // Migrations only: still no roster, still no wrap.
    expect((await gus.run(['share', 'legacy:stripe/gus', '--with', 'hal'])).exitCode).toBe(2);
    const first = await ok(frank, ['team', 'members', 'legacy']);
    expect(first.stderr).toContain('had no signed roster: wrote version 1');
    expect(sql('SELECT count(*) FROM acct.rosters', 'old')).toBe('1');
    expect((await frank.credentials('legacy')).signingKey).toBeDefined();
    // frank's machine says the fingerprint to give the others, and team members shows it.
    const fingerprint = /fingerprint of roster version 1 of team legacy is ([0-9a-f]{4}(?: [0-9a-f]{4}){3})/.exec(first.stderr)?.[1];
    expect(fingerprint, first.stderr).toBeDefined();
    expect((await ok(frank, ['team', 'members', 'legacy'])).stderr).toContain(`Signed roster: version 1, fingerprint ${fingerprint}.`);
    // No machine takes a version 1 on first use (anyone who writes the database can make one that lists their key): refused with the way on; reads go on.
    const unpinned = await gus.run(['share', 'legacy:stripe/gus', '--with', 'hal', '--json']);
    expect(unpinned.exitCode).toBe(2);
    expect(failure(unpinned)).toMatchObject({ code: 'roster_unpinned', hint: expect.stringContaining('acct team trust legacy <fingerprint>') });
    expect(sql(`SELECT count(*) FROM acct.account_access WHERE member_id = '${sql("SELECT id FROM acct.members WHERE name = 'hal'", 'old')}'`, 'old')).toBe('0');
    expect((await ok(gus, ['token', 'legacy:stripe/old'])).stdout.trim()).toBe(keyOf('old'));
    expect((await ok(gus, ['team', 'members', 'legacy'])).stderr).toContain('acct team trust legacy <fingerprint>');
    const wrong = await gus.run(['team', 'trust', 'legacy', '0123 4567 89ab cdef', '--json']);
    expect(wrong.exitCode).toBe(5);
    expect(failure(wrong).code).toBe('roster_untrusted');
    expect(gus.teams()!.teams[0]!.roster).toBeUndefined();
    await ok(gus, ['team', 'trust', 'legacy', fingerprint!]);
    expect(gus.teams()!.teams[0]!.roster?.version).toBe(1);
    await ok(gus, ['share', 'legacy:stripe/gus', '--with', 'hal']);
    expect((await ok(hal, ['token', 'legacy:stripe/gus'])).stdout.trim()).toBe(keyOf('gus'));
    // gus made and published a signing key with that command; frank's next command confirms it (its proof is an X25519 agreement with frank).
    await ok(frank, ['team', 'members', 'legacy']);
    const body = JSON.parse(sql('SELECT body FROM acct.rosters ORDER BY version DESC LIMIT 1', 'old')) as RosterBody;
    expect(body.members.find((m) => m.name === 'gus')?.ed25519).toBe((await gus.credentials('legacy')).signingPublicKey);
  }, SLOW);
});
