// Versions a machine keeps of each team account, through the built binary.
// Key versions (src/team/seal.ts, wrapInfo; schema version 6): every re-key
// raises an account's key version, which is bound into each wrap of the key,
// and a machine that has seen a version refuses an older one. Grant versions
// (src/team/grants.ts): a machine that verified an owner's grant wraps for
// no older one. The writer is the database's superuser, who puts back an
// account's rows from before an unshare: the key the unshared member still
// holds, or the grant that still listed them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { ok, stripeKey, teamDatabase, teamMachine, UNDO_V6, type TeamMachine } from '../support/team.js';
import { SCHEMA_VERSION } from '../../src/team/schema.js';

let pg: PgCluster;
let alice: TeamMachine;
let bob: TeamMachine;
let carol: TeamMachine;
const SLOW = 120_000;
const { sql, createTeam, join, idOf, keyVersionOf, account } = teamDatabase(() => pg);
/** As the database's owner could: past the triggers that hold members to the rules. */
const write = (q: string) => sql(`SET session_replication_role = replica; ${q}`);

/** A command's error under --json: its code, message and hint. */
function failure(r: { exitCode: number; stderr: string }): { code: string; message: string; hint: string } {
  return JSON.parse(r.stderr.trim().split('\n').pop()!);
}

/** An account's secrets and wrapped keys as the database holds them, to put back later (as a writer with an old backup could). */
function rowsOf(accountId: string): { secrets: string; access: string } {
  return {
    secrets: sql(`SELECT row_to_json(s) FROM acct.account_secrets s WHERE account_id = '${accountId}'`),
    access: sql(`SELECT coalesce(json_agg(x), '[]') FROM acct.account_access x WHERE account_id = '${accountId}'`),
  };
}

function putBack(accountId: string, rows: { secrets: string; access: string }): void {
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  write(`BEGIN;
    UPDATE acct.account_secrets s SET sealed = r.sealed, key_version = r.key_version FROM json_populate_record(NULL::acct.account_secrets, ${quote(rows.secrets)}::json) r
      WHERE s.team_id = r.team_id AND s.account_id = r.account_id;
    DELETE FROM acct.account_access WHERE account_id = '${accountId}';
    INSERT INTO acct.account_access SELECT * FROM json_populate_recordset(NULL::acct.account_access, ${quote(rows.access)}::json);
    COMMIT;`);
}

beforeAll(async () => {
  pg = await startPostgres();
  alice = teamMachine('alice');
  bob = teamMachine('bob');
  carol = teamMachine('carol');
  await createTeam(alice, [bob, carol]);
}, SLOW);

afterAll(() => pg?.destroy());

const keysSeen = (m: TeamMachine) => (m.teams()!.teams[0] as { keys?: Record<string, number> }).keys;
const grantsSeen = (m: TeamMachine) => (m.teams()!.teams[0] as { grants?: Record<string, number> }).grants;

describe('versions kept of team accounts', () => {
  it('unshare and team remove raise the version; a machine that saw it refuses the key from before (exit 5), reading and storing nothing with it', async () => {
    const id = await account(alice, 'rolled');
    expect(keyVersionOf(id)).toBe(0);
    await ok(alice, ['share', 'acme:stripe/rolled', '--with', 'bob']);
    await ok(alice, ['share', 'acme:stripe/rolled', '--with', 'carol']);
    expect((await ok(carol, ['token', 'acme:stripe/rolled'])).stdout.trim()).toBe(stripeKey('rolled'));
    const before = rowsOf(id);

    await ok(alice, ['unshare', 'acme:stripe/rolled', '--with', 'carol']);
    expect(keyVersionOf(id)).toBe(1);
    expect(keysSeen(alice)).toEqual({ [id]: 1 });
    expect((await ok(bob, ['token', 'acme:stripe/rolled'])).stdout.trim()).toBe(stripeKey('rolled'));
    expect(keysSeen(bob)).toEqual({ [id]: 1 });
    const current = rowsOf(id);

    // The writer puts back the rows from before the unshare: carol's wrap, and the key she holds, as version 0.
    putBack(id, before);
    const putBackRows = rowsOf(id);
    expect(sql(`SELECT count(*) FROM acct.account_access WHERE account_id = '${id}' AND member_id = '${idOf('carol')}'`)).toBe('1');
    for (const [m, args] of [
      [bob, ['token', 'acme:stripe/rolled', '--json']],
      [alice, ['token', 'acme:stripe/rolled', '--json']],
      // Storing: a new key sealed with the old key would be carol's to read.
      [alice, ['reconnect', 'acme:stripe/rolled', '--stdin', '--no-verify', '--json']],
      // Wrapping: the old key for another member.
      [alice, ['share', 'acme:stripe/rolled', '--with', 'team', '--json']],
    ] as const) {
      const r = await m.run([...args], args[0] === 'reconnect' ? { input: stripeKey('rotated') } : {});
      expect(r.exitCode, `${m.name} ${args.join(' ')}: ${r.stderr}`).toBe(5);
      expect(r.stdout).toBe('');
      expect(failure(r)).toMatchObject({
        code: 'key_rolled_back',
        message: `the database of team acme holds an older key of account ${id} (version 0) than this machine has seen (version 1)`,
        hint: expect.stringContaining('restore the account'),
      });
    }
    // Nothing written: the rows are the ones put back, and the marks did not move.
    expect(rowsOf(id)).toEqual(putBackRows);
    expect(keysSeen(alice)).toEqual({ [id]: 1 });

    // The current rows back: every machine reads again, and team remove (a re-key for the readers left) raises it once more.
    putBack(id, current);
    expect((await ok(bob, ['token', 'acme:stripe/rolled'])).stdout.trim()).toBe(stripeKey('rolled'));
    const dave = teamMachine('dave');
    await join(alice, dave);
    await ok(alice, ['team', 'members', 'acme']);
    await ok(alice, ['share', 'acme:stripe/rolled', '--with', 'dave']);
    // The key dave got is version 1, wrapped as such.
    expect((await ok(dave, ['token', 'acme:stripe/rolled'])).stdout.trim()).toBe(stripeKey('rolled'));
    expect(keysSeen(dave)).toEqual({ [id]: 1 });
    await ok(alice, ['team', 'remove', 'acme', 'dave']);
    expect(keyVersionOf(id)).toBe(2);
    expect((await ok(bob, ['token', 'acme:stripe/rolled'])).stdout.trim()).toBe(stripeKey('rolled'));
    expect(keysSeen(bob)).toEqual({ [id]: 2 });
  }, SLOW);

  it('the version is bound into the wrap: a database that says a newer version of the same key opens nothing, and no machine records it', async () => {
    const id = await account(alice, 'bound');
    await ok(alice, ['share', 'acme:stripe/bound', '--with', 'bob']);
    await ok(alice, ['unshare', 'acme:stripe/bound', '--with', 'bob']);
    await ok(alice, ['share', 'acme:stripe/bound', '--with', 'bob']);
    expect(keyVersionOf(id)).toBe(1);
    // A higher version with the same wraps: the key does not open as it (exit 6), and the mark stays where it was.
    // Not a reader's to change, past acct.rekey: refused by the database (a reader who could would make every machine refuse the account).
    const bobRole = await bob.credentials();
    expect(() => pg.sql(`UPDATE acct.account_secrets SET key_version = 0 WHERE account_id = '${id}'`, { user: bobRole.role!, password: bobRole.password! })).toThrow(/key version changes only with a re-key/);
    expect(keyVersionOf(id)).toBe(1);
    write(`UPDATE acct.account_secrets SET key_version = 7 WHERE account_id = '${id}'`);
    const r = await bob.run(['token', 'acme:stripe/bound']);
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`the key of ${id} in team acme does not open with this member's key`);
    expect(keysSeen(bob)?.[id]).toBeUndefined();
    // The version 0 text for a version 1 key: no more.
    write(`UPDATE acct.account_secrets SET key_version = 0 WHERE account_id = '${id}'`);
    expect((await bob.run(['token', 'acme:stripe/bound'])).exitCode).toBe(6);
    write(`UPDATE acct.account_secrets SET key_version = 1 WHERE account_id = '${id}'`);
    expect((await ok(bob, ['token', 'acme:stripe/bound'])).stdout.trim()).toBe(stripeKey('bound'));
  }, SLOW);

  it('a re-key whose commit fails records nothing: the machine goes on with the version the database still holds', async () => {
    const id = await account(alice, 'uncommitted');
    await ok(alice, ['share', 'acme:stripe/uncommitted', '--with', 'bob']);
    const grantBefore = grantsSeen(alice)?.[id];
    // A constraint checked at commit that fails: the unshare's statements all ran, its commit does not.
    write(`CREATE FUNCTION public.fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
      CREATE CONSTRAINT TRIGGER fail_at_commit AFTER UPDATE ON acct.account_secrets DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.fail_at_commit();`);
    try {
      const r = await alice.run(['unshare', 'acme:stripe/uncommitted', '--with', 'bob']);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('refused at commit');
    } finally {
      write('DROP TRIGGER fail_at_commit ON acct.account_secrets; DROP FUNCTION public.fail_at_commit()');
    }
    expect(keyVersionOf(id)).toBe(0);
    expect(keysSeen(alice)?.[id]).toBeUndefined();
    expect(grantsSeen(alice)?.[id]).toBe(grantBefore);
    expect((await ok(alice, ['token', 'acme:stripe/uncommitted'])).stdout.trim()).toBe(stripeKey('uncommitted'));
    await ok(alice, ['unshare', 'acme:stripe/uncommitted', '--with', 'bob']);
    expect(keyVersionOf(id)).toBe(1);
    expect(keysSeen(alice)?.[id]).toBe(1);
  }, SLOW);

  it('an acct from before versions cannot re-key on this schema (its acct.rekey refuses, nothing changed)', () => {
    const id = sql("SELECT id FROM acct.accounts WHERE nickname = 'bound'");
    const teamId = sql("SELECT id FROM acct.teams WHERE name = 'acme'");
    const before = rowsOf(id);
    expect(() => sql(`SELECT acct.rekey('${teamId}', '${id}', '{}'::jsonb, '{}'::jsonb)`)).toThrow(/key versions \(team schema 6\): upgrade acct/);
    expect(rowsOf(id)).toEqual(before);
  });

  it('grants: the owner\'s machine wraps for no grant older than the one it signed, nor for none, and signs past them', async () => {
    const id = await account(alice, 'granted');
    await ok(alice, ['share', 'acme:stripe/granted', '--with', 'team']);
    expect((await ok(carol, ['token', 'acme:stripe/granted'])).stdout.trim()).toBe(stripeKey('granted'));
    const teamWide = sql(`SELECT row_to_json(a) FROM (SELECT grant_text, grant_sig FROM acct.accounts WHERE id = '${id}') a`);
    await ok(alice, ['unshare', 'acme:stripe/granted', '--with', 'team']);
    expect(grantsSeen(alice)?.[id]).toBe(3);
    const wrapsOf = () => sql(`SELECT count(*) FROM acct.account_access WHERE account_id = '${id}'`);
    expect(wrapsOf()).toBe('1');
    // The writer puts back the grant that shared it with the team (signed by alice, version 2), and the visibility it said.
    const { grant_text, grant_sig } = JSON.parse(teamWide) as { grant_text: string; grant_sig: string };
    const quote = (t: string) => `'${t.replace(/'/g, "''")}'`;
    write(`UPDATE acct.accounts SET grant_text = ${quote(grant_text)}, grant_sig = ${quote(grant_sig)}, visibility = 'team' WHERE id = '${id}'`);
    const r = await ok(alice, ['team', 'members', 'acme']);
    expect(r.stderr).toContain(`the signed grant of stripe/granted (${id}) in the database of team acme does not verify (it is an older one (version 2) than this machine has seen (version 3))`);
    expect(wrapsOf()).toBe('1');
    // Taken away: the same.
    write(`UPDATE acct.accounts SET grant_text = NULL, grant_sig = NULL WHERE id = '${id}'`);
    const gone = await ok(alice, ['team', 'members', 'acme']);
    expect(gone.stderr).toContain(`the signed grant of stripe/granted (${id}) in the database of team acme does not verify (it is gone, and this machine has seen its version 3)`);
    expect(wrapsOf()).toBe('1');
    // The owner's next share signs past the version it has seen (other machines saw 3), from no reader (not the database's).
    const shared = await ok(alice, ['share', 'acme:stripe/granted', '--with', 'bob']);
    expect(shared.stderr).toContain('taken as shared with no one');
    expect(JSON.parse(sql(`SELECT grant_text FROM acct.accounts WHERE id = '${id}'`))).toMatchObject({ visibility: 'private', readers: [idOf('bob')], version: 4 });
    expect(grantsSeen(alice)?.[id]).toBe(4);
    expect(wrapsOf()).toBe('2');
    expect((await carol.run(['token', 'acme:stripe/granted'])).exitCode).not.toBe(0);
  }, SLOW);

  it('on a schema from before versions (5), this acct reads, shares and unshares with version 0 keys; team upgrade keeps them working', async () => {
    const id = await account(alice, 'older');
    await ok(alice, ['share', 'acme:stripe/older', '--with', 'bob']);
    sql(UNDO_V6);
    await ok(alice, ['share', 'acme:stripe/older', '--with', 'carol']);
    expect((await ok(carol, ['token', 'acme:stripe/older'])).stdout.trim()).toBe(stripeKey('older'));
    await ok(alice, ['unshare', 'acme:stripe/older', '--with', 'carol']);
    expect((await ok(bob, ['token', 'acme:stripe/older'])).stdout.trim()).toBe(stripeKey('older'));
    expect((await carol.run(['token', 'acme:stripe/older'])).exitCode).toBe(3);
    // Accounts re-keyed at versions 1 and 2 before the undo: not readable on a schema that says 0 (the wraps are bound), as expected of an undo.
    const up = await alice.run(['team', 'upgrade', pg.url, '--json'], { env: { PGPASSWORD: pg.password } });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ from: 5, to: SCHEMA_VERSION });
    expect(keyVersionOf(id)).toBe(0);
    expect((await ok(bob, ['token', 'acme:stripe/older'])).stdout.trim()).toBe(stripeKey('older'));
    await ok(alice, ['unshare', 'acme:stripe/older', '--with', 'bob']);
    expect(keyVersionOf(id)).toBe(1);
    expect((await ok(alice, ['token', 'acme:stripe/older'])).stdout.trim()).toBe(stripeKey('older'));
  }, SLOW);
});
