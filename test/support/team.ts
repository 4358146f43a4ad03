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

/** What schema version 5 added (accounts' signed grants), taken out again: the database as an acct from before grants left it. */
export const UNDO_V5 = `
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
