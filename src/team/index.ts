// Team stores: what the rest of acct uses of src/team/.
//
//   configuredTeams(paths, env)   the teams this machine (or CI) is a member of
//   openTeamStore(deps, name)     an AccountStore on one of them
//
// Which store a reference goes to (`acme:stripe/live`, or an unqualified one
// searched everywhere) is decided in accounts/stores.ts.
//
// Opening a store neither loads the driver nor connects: the first call that
// needs the database does (store.warm() starts it early).
import { AcctError, storeError } from '../errors.js';
import type { Paths } from '../paths.js';
import { configuredTeams, memberUrl, findTeam, envCredentials, credentialsEntry, credentialsFromFields, credentialsToFields, acceptRoster, acceptVersion, type TeamConfig, type MemberCredentials, type Versioned } from './config.js';
import { TeamStore, type TeamStoreDeps } from './store.js';
import { OfflineTokens, type TokenSecrets } from './offline.js';

export { configuredTeams, memberUrl, type TeamConfig };
export { TeamStore, type AccountAccess } from './store.js';
export type { LocalSecrets } from './admin.js';

export interface TeamDeps extends TeamStoreDeps {
  paths: Paths;
  /** The machine's own secret store (keychain or passphrase store), which holds the member credentials, and the tokens kept for while a database is unreachable. */
  secrets: TokenSecrets;
}

export function openTeamStore(deps: TeamDeps, name: string): TeamStore {
  const team = findTeam(deps.paths, deps.env, name);
  let creds: Promise<MemberCredentials> | undefined;
  const credentials = () => (creds ??= loadCredentials(deps, team));
  // In CI (ACCT_TEAM) nothing is kept: no local store is opened there, nor a keychain asked.
  const tokens = team.source === 'file' ? new OfflineTokens(deps.paths, deps.secrets, team) : undefined;
  // A joined machine keeps the roster version it accepted and the key and grant versions it saw in teams.json, and a signing key it makes in its store; CI keeps neither.
  const kept =
    team.source === 'file'
      ? {
          acceptRoster: (pin: { version: number; hash: string }) => acceptRoster(deps.paths, team.name, team.teamId, pin),
          acceptVersion: (kind: Versioned, accountId: string, version: number) => acceptVersion(deps.paths, team.name, team.teamId, kind, accountId, version),
          saveCredentials: (c: MemberCredentials) => deps.secrets.write(credentialsEntry(team.name), credentialsToFields(c)),
        }
      : {};
  return new TeamStore(team, credentials, { ...deps, tokens, ...kept });
}

async function loadCredentials(deps: TeamDeps, team: TeamConfig): Promise<MemberCredentials> {
  if (team.source === 'env') return envCredentials(deps.env)!;
  let fields: Record<string, string>;
  try {
    fields = await deps.secrets.read(credentialsEntry(team.name));
  } catch (err) {
    if (err instanceof AcctError && err.exitCode !== 6) throw err;
    if (err instanceof AcctError && /missing/.test(err.message))
      throw storeError(`this machine's member credentials for team ${team.name} are missing from its store`, `join the team again with a new invitation (acct team join ${team.url} --code-stdin)`, err);
    throw err;
  }
  const c = credentialsFromFields(fields);
  if (!c || c.teamId !== team.teamId || c.memberId !== team.memberId)
    throw storeError(`this machine's member credentials for team ${team.name} do not match teams.json`, `join the team again with a new invitation (acct team join ${team.url} --code-stdin)`);
  return c;
}
