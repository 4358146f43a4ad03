// A team member's "machine" for tests through the built binary: its own
// ACCT_HOME with a passphrase store (or, given a Secret Service session's
// environment, the keychain), and what the test reads of it directly.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { join } from 'node:path';
import { acct, baseEnv, tempHome, type RunResult } from './cli.js';
import { SecretStore } from '../../src/store/store.js';
import { credentialsEntry } from '../../src/team/config.js';
import type { Fields } from '../../src/store/store.js';
import { isWrapped, unwrapKey, wrapInfo } from '../../src/team/seal.js';
import type { PgCluster } from './postgres.js';
import { REKEY_V3 } from '../../src/team/schema.js';

type Env = Record<string, string | undefined>;

export interface TeamMachine {
  name: string;
  home: string;
  run(args: string[], opts?: { input?: string; env?: Env }): Promise<RunResult>;
  /** The passphrase store's entries (a keychain machine has none the test can read). */
  secrets: SecretStore;
  /** This machine's member credentials for a team (passphrase store only). */
  credentials(team?: string): Promise<Fields>;
  /** teams.json, parsed (undefined when there is none). */
  teams(): { teams: { name: string; roster?: { version: number; hash: string } }[] } | undefined;
}

/** `keychain`: a Secret Service session's environment, for a machine whose store is the OS keychain. */
export function teamMachine(name: string, extra: Env = {}, keychain?: Record<string, string>): TeamMachine {
  const home = tempHome();
  const store: Env = keychain ? { ...keychain } : { ACCT_STORE: 'file', ACCT_PASSPHRASE: `pass-${name}` };
  const env = baseEnv({ ACCT_HOME: home, USER: name, ACCT_TEAM_TIMEOUT: '5', ...store, ...extra });
  const secrets = new SecretStore({ paths: { config: home, data: home }, requestedKind: 'file', keychain: async () => Promise.reject(new Error('none')), passphrase: async () => `pass-${name}` });
  return {
    name,
    home,
    secrets,
    run: (args, opts = {}) => acct(args, { ...env, ...opts.env }, opts.input === undefined ? {} : { input: opts.input, stdin: undefined }),
    credentials: (team = 'acme') => secrets.read(credentialsEntry(team)),
    teams() {
      try {
        return JSON.parse(readFileSync(join(home, 'teams.json'), 'utf8'));
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * What schema version 6 changed in functions, taken out again: version 3's
 * acct.rekey back in place (version 6 made it refuse), owned by the schema's
 * owner and granted to each team's group role, and no versioned one. The key
 * versions stay (UNDO_V6 drops them too): the accounts re-keyed since are
 * wrapped for their versions, and would open for no one without them.
 */
const UNDO_V6_FUNCTIONS = `
DROP FUNCTION acct.rekey(text, text, jsonb, jsonb, integer);
DROP FUNCTION acct.rekey(text, text, jsonb, jsonb);
${REKEY_V3}
DO $$
DECLARE g text;
BEGIN
  EXECUTE format('ALTER FUNCTION acct.rekey(text, text, jsonb, jsonb) OWNER TO %I', (SELECT nspowner::regrole::text FROM pg_catalog.pg_namespace WHERE nspname = 'acct'));
  FOR g IN SELECT group_role FROM acct.teams LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION acct.rekey(text, text, jsonb, jsonb) TO %I', g);
  END LOOP;
END $$;
DROP TRIGGER guard_key_version ON acct.account_secrets;
DROP FUNCTION acct.guard_key_version();
DELETE FROM acct.schema_version WHERE version = 6;
`;

/** What schema version 6 added (key versions), all of it taken out again: the database as an acct from before versions left it (its accounts' keys as version 0). */
export const UNDO_V6 = `${UNDO_V6_FUNCTIONS}
ALTER TABLE acct.account_secrets DROP COLUMN key_version;
`;

/** What schema version 5 added (accounts' signed grants), taken out again, after version 6's functions: the database as an acct from before grants left it. */
export const UNDO_V5 = `${UNDO_V6_FUNCTIONS}
DROP TRIGGER guard_grant ON acct.accounts;
DROP FUNCTION acct.guard_grant();
ALTER TABLE acct.accounts DROP COLUMN grant_text, DROP COLUMN grant_sig;
DELETE FROM acct.schema_version WHERE version = 5;
`;

/** Runs acct on a machine, expecting exit 0 (its stderr said when not). */
export async function ok(m: TeamMachine, args: string[], input?: string) {
  const r = await m.run(args, input === undefined ? {} : { input });
  expect(r.exitCode, `${m.name}: acct ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/**
 * What a team's database holds, read as its superuser: the tests check it,
 * and play the writer who changes it. `cluster` is asked on each call (the
 * tests start theirs in beforeAll).
 */
export function teamDatabase(cluster: () => PgCluster) {
  const sql = (q: string, database = 'acct') => cluster().sql(q, { database }).trim();
  const accountOf = (nickname: string) => sql(`SELECT id FROM acct.accounts WHERE nickname = '${nickname}'`);
  const memberUrl = () => `postgres://${cluster().host}:${cluster().port}/acct`;
  /** `m` joins team acme with an invitation from `admin` (confirmed at the admin's next team members). */
  const join = async (admin: TeamMachine, m: TeamMachine): Promise<void> => {
    const code = (await ok(admin, ['team', 'invite', 'acme', '--name', m.name])).stdout.trim();
    const j = await m.run(['team', 'join', memberUrl(), '--code-stdin'], { input: code });
    expect(j.exitCode, j.stderr).toBe(0);
  };
  return {
    join,
    /** Team acme, created on `admin`'s machine, with `members` joined and confirmed. */
    async createTeam(admin: TeamMachine, members: TeamMachine[]): Promise<void> {
      const created = await admin.run(['team', 'create', 'acme', cluster().url], { env: { PGPASSWORD: cluster().password } });
      expect(created.exitCode, created.stderr).toBe(0);
      for (const m of members) await join(admin, m);
      await ok(admin, ['team', 'members', 'acme']);
    },
    sql,
    accountOf,
    /** The database's URL as members use it (no password). */
    memberUrl,
    idOf: (name: string) => sql(`SELECT id FROM acct.members WHERE name = '${name}' AND removed_at IS NULL`),
    /** Connects a Stripe account (key stripeKey(nickname)) in the team on that machine; its id. */
    async account(m: TeamMachine, nickname: string, team = 'acme'): Promise<string> {
      await ok(m, ['connect', 'stripe', '--team', team, '--nickname', nickname, '--stdin', '--no-verify'], stripeKey(nickname));
      return accountOf(nickname);
    },
    /** The version of an account's key, as the database holds it (src/team/seal.ts, wrapInfo). */
    keyVersionOf: (accountId: string, database = 'acct') => Number(sql(`SELECT key_version FROM acct.account_secrets WHERE account_id = '${accountId}'`, database)),
    /** The wrapped key of an account for a member, as the database holds it (undefined: none). */
    wrappedFor(accountId: string, memberId: string): unknown {
      const raw = sql(`SELECT wrapped FROM acct.account_access WHERE account_id = '${accountId}' AND member_id = '${memberId}'`);
      return raw ? JSON.parse(raw) : undefined;
    },
  };
}

/** Whether a wrapped account key, of that key version, opens with these keys. */
export function opensWith(wrapped: unknown, keys: { publicKey: string; privateKey: string }, teamId: string, accountId: string, memberId: string, keyVersion: number): boolean {
  try {
    return isWrapped(wrapped) && unwrapKey(wrapped, keys, wrapInfo(teamId, accountId, memberId, keyVersion)).length === 32;
  } catch {
    return false;
  }
}

/** The API key of the tests' team account of that nickname. */
export const stripeKey = (nickname: string) => `sk_live_${nickname}_4f9a2c0123456789`;
