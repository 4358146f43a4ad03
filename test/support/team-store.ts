// Team "machines" in this process, for tests of the team store's code
// (src/team/) against a real PostgreSQL: each its own folder with a
// passphrase store, opening TeamStores that the test closes at the end.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretStore } from '../../src/store/store.js';
import { openTeamStore, type TeamStore } from '../../src/team/index.js';
import { credentialsEntry } from '../../src/team/config.js';
import type { Account } from '../../src/accounts/model.js';
import { AcctError } from '../../src/errors.js';

export interface StoreMachine {
  name: string;
  paths: { config: string; data: string };
  secrets: SecretStore;
  env: NodeJS.ProcessEnv;
  /** A TeamStore of team acme on this machine (kept in `opened`, to close). */
  store(env?: NodeJS.ProcessEnv): TeamStore;
  /** What the admin functions (createTeam, join…) take. */
  deps(): { paths: { config: string; data: string }; env: NodeJS.ProcessEnv; secrets: SecretStore };
}

/** `opened` collects the stores made, `warn` what they warn of. */
export function storeMachine(name: string, opened: TeamStore[], warn: (message: string) => void = () => undefined): StoreMachine {
  const home = mkdtempSync(join(tmpdir(), `acct-team-${name}-`));
  const paths = { config: home, data: home };
  const secrets = new SecretStore({ paths, requestedKind: 'file', keychain: async () => Promise.reject(new Error('no keychain in this test')), passphrase: async () => `passphrase of ${name}` });
  const env: NodeJS.ProcessEnv = {};
  return {
    name,
    paths,
    secrets,
    env,
    store(e = env) {
      const s = openTeamStore({ paths, env: e, secrets, warn, machine: () => `${name}-laptop` }, 'acme');
      opened.push(s);
      return s;
    },
    deps: () => ({ paths, env: {}, secrets }),
  };
}

/** A key account's metadata, as a store's create or put takes it. */
export function keyAccount(id: string, app: string, nickname: string): Account {
  const now = new Date().toISOString();
  return { id, app, nickname, auth: 'keys', status: 'ok', scopes: [], fields: ['api_key'], identity: null, expiresAt: null, createdAt: now, updatedAt: now };
}

/** How a promise fails: `code:exit` of its AcctError, undefined when it succeeds (anything else is thrown on). */
export async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof AcctError) return `${err.code}:${err.exitCode}`;
    throw err;
  }
}

/** A member's role and password, as its machine keeps them: for SQL as that member. */
export async function roleOf(m: StoreMachine): Promise<{ role: string; password: string }> {
  const c = await m.secrets.read(credentialsEntry('acme'));
  return { role: c.role!, password: c.password! };
}
