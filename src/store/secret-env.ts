// The environment variables that unlock acct's own stores. A child acct starts
// (`exec`, and later `run` and `serve`) is handed the credentials it asked
// for, never these: with ACCT_PASSPHRASE, or ACCT_BUNDLE and ACCT_BUNDLE_KEY,
// a child could read every account, not only the ones named on the command
// line. The one list of them lives here.

/** Names acct never passes to a child unless the user names them (`--pass-env NAME`). */
const STORE_SECRETS = ['ACCT_PASSPHRASE', 'ACCT_BUNDLE', 'ACCT_BUNDLE_KEY', 'ACCT_BUNDLE_CACHE', 'ACCT_TEAM_KEY'];
/** Per-app OAuth client secrets given for one run (ACCT_CLIENT_SECRET_GITHUB). */
const STORE_SECRET_PREFIXES = ['ACCT_CLIENT_SECRET_'];

export function isStoreSecretName(name: string): boolean {
  return STORE_SECRETS.includes(name) || STORE_SECRET_PREFIXES.some((p) => name.startsWith(p));
}

/** env without acct's store secrets, except those in `keep`. */
export function childEnvironment(env: NodeJS.ProcessEnv, keep: readonly string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (!isStoreSecretName(name) || keep.includes(name)) out[name] = value;
  return out;
}
