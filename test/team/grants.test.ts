// Accounts' signed grants (src/team/grants.ts), through the built binary:
// whoever can change the database's rows (its superuser, here) flips an
// account to the team or plants a reader's access row, and no honest
// machine wraps the account's key for a member its owner's signed grant
// does not cover; a grant whose signature is not its owner's wraps nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { ok, opensWith, stripeKey, teamDatabase, teamMachine, type TeamMachine } from '../support/team.js';
import { newSigningKeys } from '../../src/team/seal.js';
import { signGrant, type GrantBody } from '../../src/team/grants.js';

let pg: PgCluster;
let alice: TeamMachine;
let bob: TeamMachine;
let carol: TeamMachine;
let teamId: string;
const SLOW = 120_000;
const { sql, createTeam, join, idOf, wrappedFor, keyVersionOf, account } = teamDatabase(() => pg);
/** As the database's owner could: past the triggers that hold members to the rules. */
const write = (q: string) => sql(`SET session_replication_role = replica; ${q}`);
const keyOf = stripeKey;

/** Whether the account's key, as the database holds it for the member (at the version it gives), opens with the member's own keys. */
async function opensFor(m: TeamMachine, accountId: string): Promise<boolean> {
  const c = await m.credentials();
  const memberId = idOf(m.name);
  return opensWith(wrappedFor(accountId, memberId), { publicKey: c.publicKey!, privateKey: c.privateKey! }, teamId, accountId, memberId, keyVersionOf(accountId));
}

/** A grant the database's writer signs with a key of its choosing, stored in place of the account's. */
function forgeGrant(accountId: string, signingKey: string, change: Partial<GrantBody>) {
  const body: GrantBody = { team: teamId, account: accountId, owner: idOf('alice'), visibility: 'team', readers: [], version: 99, ...change };
  const s = signGrant(body, signingKey);
  write(`UPDATE acct.accounts SET grant_text = '${s.text}', grant_sig = '${s.signature}', visibility = 'team' WHERE id = '${accountId}'`);
}

beforeAll(async () => {
  pg = await startPostgres();
  alice = teamMachine('alice');
  bob = teamMachine('bob');
  carol = teamMachine('carol');
  await createTeam(alice, [bob, carol]);
  teamId = sql("SELECT id FROM acct.teams WHERE name = 'acme'");
}, SLOW);

afterAll(() => pg?.destroy());

describe('the normal flows', () => {
  it('connect signs a private grant; share --with, --with team, unshare and remove wrap for whom the owner shared with', async () => {
    const a = await account(alice, 'normal');
    const grant = JSON.parse(sql(`SELECT grant_text FROM acct.accounts WHERE id = '${a}'`)) as GrantBody;
    expect(grant).toEqual({ team: teamId, account: a, owner: idOf('alice'), visibility: 'private', readers: [], version: 1 });
    await ok(alice, ['share', 'acme:stripe/normal', '--with', 'bob']);
    expect((await ok(bob, ['token', 'acme:stripe/normal'])).stdout.trim()).toBe(keyOf('normal'));
    await ok(alice, ['share', 'acme:stripe/normal', '--with', 'team']);
    expect((await ok(carol, ['token', 'acme:stripe/normal'])).stdout.trim()).toBe(keyOf('normal'));
    expect(JSON.parse(sql(`SELECT grant_text FROM acct.accounts WHERE id = '${a}'`))).toMatchObject({ visibility: 'team', readers: [idOf('bob')], version: 3 });
    await ok(alice, ['unshare', 'acme:stripe/normal', '--with', 'carol']);
    expect(await opensFor(bob, a)).toBe(true);
    expect(wrappedFor(a, idOf('carol'))).toBeUndefined();
    expect(sql(`SELECT visibility FROM acct.accounts WHERE id = '${a}'`)).toBe('shared');
    // A newcomer gets a team-visible account from syncShares (any reader's team members), and remove re-keys for the readers left.
    const t = await account(alice, 'teamwide');
    await ok(alice, ['share', 'acme:stripe/teamwide', '--with', 'team']);
    const dave = teamMachine('dave');
    await join(alice, dave);
    await ok(alice, ['team', 'members', 'acme']);
    expect((await ok(dave, ['token', 'acme:stripe/teamwide'])).stdout.trim()).toBe(keyOf('teamwide'));
    const before = wrappedFor(t, idOf('bob'));
    await ok(alice, ['team', 'remove', 'acme', 'carol']);
    expect(wrappedFor(t, idOf('bob'))).not.toEqual(before);
    expect(await opensFor(bob, t)).toBe(true);
    expect(await opensFor(dave, t)).toBe(true);
  }, SLOW);
});

describe('a database writer with a member on its side', () => {
  it('(E) a private account flipped to the team: the owner\'s team members wraps it for no one, and says so', async () => {
    const p = await account(alice, 'flipped');
    write(`UPDATE acct.accounts SET visibility = 'team' WHERE id = '${p}'`);
    const r = await ok(alice, ['team', 'members', 'acme']);
    expect(r.stderr).toContain(`the database says stripe/flipped (${p}) in team acme is shared with the whole team, but its owner did not share it with bob`);
    expect(wrappedFor(p, idOf('bob'))).toBeUndefined();
    await ok(bob, ['team', 'members', 'acme']);
    expect(Number(sql(`SELECT count(*) FROM acct.account_access WHERE account_id = '${p}'`))).toBe(1);
  }, SLOW);

  it('(F) a reader row planted with a junk key: the owner\'s unshare re-keys for the readers it shared with only, naming the planted one', async () => {
    const p = await account(alice, 'planted');
    await ok(alice, ['share', 'acme:stripe/planted', '--with', 'bob']);
    const dave = idOf('dave');
    sql(`INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) VALUES ('${teamId}', '${p}', '${dave}', '{"junk":1}', '${idOf('alice')}')`);
    const r = await ok(alice, ['unshare', 'acme:stripe/planted', '--with', 'bob']);
    expect(r.stderr).toContain('the database lists dave as a reader of stripe/planted');
    expect(wrappedFor(p, dave)).toBeUndefined();
    expect(wrappedFor(p, idOf('bob'))).toBeUndefined();
    // And team remove (an admin re-keying for the readers left) goes by the grant too.
    await ok(alice, ['share', 'acme:stripe/planted', '--with', 'bob']);
    sql(`INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) VALUES ('${teamId}', '${p}', '${dave}', '{"junk":1}', '${idOf('alice')}')`);
    const eve = teamMachine('eve');
    await join(alice, eve);
    await ok(alice, ['team', 'members', 'acme']);
    await ok(alice, ['share', 'acme:stripe/planted', '--with', 'eve']);
    const removal = await ok(alice, ['team', 'remove', 'acme', 'eve']);
    expect(removal.stderr).toContain('the database lists dave as a reader of');
    expect(wrappedFor(p, dave)).toBeUndefined();
    expect(await opensFor(bob, p)).toBe(true);
  }, SLOW);

  it('a grant whose signature is not its owner\'s, or signed by another member: nothing is wrapped for that account', async () => {
    const forged = await account(alice, 'forged');
    forgeGrant(forged, newSigningKeys().signingKey, {});
    const r = await ok(alice, ['team', 'members', 'acme']);
    expect(r.stderr).toContain(`the signed grant of stripe/forged (${forged}) in the database of team acme does not verify (its signature is not its owner’s)`);
    const byBob = await account(alice, 'bybob');
    // Bob's own signing key, his grant naming him as the owner: not the account's owner.
    forgeGrant(byBob, (await bob.credentials()).signingKey!, { owner: idOf('bob') });
    const r2 = await ok(alice, ['team', 'members', 'acme']);
    expect(r2.stderr).toContain(`the signed grant of stripe/bybob (${byBob}) in the database of team acme does not verify (it names another owner than the account’s)`);
    for (const a of [forged, byBob]) expect(Number(sql(`SELECT count(*) FROM acct.account_access WHERE account_id = '${a}'`))).toBe(1);
  }, SLOW);
});
