// Turning references into environment variables: names from the app's catalog
// entry, or NAME=ref[.field]; every credential through the refresh path.
import type { Context } from '../context.js';
import { findAccount as findInStores } from './service.js';
import { freshCredentialsMany, primaryFieldName } from './credentials.js';
import { splitTeam } from './stores.js';
import { usageError, AcctError } from '../errors.js';
import { envNameProblem } from '../catalog/env-names.js';
import type { EnvVars } from '../output/envfmt.js';
import type { Account } from './model.js';
import type { Fields } from '../store/store.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An access token handed to env, exec and run lives at least this long. */
const MIN_TTL_SECONDS = 60;

interface Wanted {
  account: Account;
  /** Explicit NAME=ref[.field]; otherwise the app's env map. */
  name?: string;
  field?: string;
  spec: string;
}

/** How a spec's reference becomes an account: findAccount, or (the team's database unreachable) the copy kept on this machine. */
type Find = (ctx: Context, ref: string) => Promise<Account>;

export async function parseEnvSpec(ctx: Context, spec: string, findAccount: Find = findInStores): Promise<Wanted> {
  const eq = spec.indexOf('=');
  if (eq < 0) return { account: await findAccount(ctx, spec), spec };
  const name = spec.slice(0, eq);
  const target = spec.slice(eq + 1);
  if (!NAME_RE.test(name)) throw usageError(`"${name}" is not a valid environment variable name`, 'use letters, digits and _ (not starting with a digit)');
  const problem = envNameProblem(name);
  if (problem) throw usageError(`${spec}: ${problem}`, `name another variable: DEPLOY_TOKEN=${spec.slice(eq + 1)}`);
  if (!target) throw usageError(`"${spec}" names no account`, 'write NAME=ref or NAME=ref.field');
  try {
    return { account: await findAccount(ctx, target), name, spec };
  } catch (err) {
    const dot = target.lastIndexOf('.');
    if (dot <= 0 || !(err instanceof AcctError)) throw err;
    return { account: await findAccount(ctx, target.slice(0, dot)), name, field: target.slice(dot + 1), spec };
  }
}

/** An account the specs named, with the fields of it they put in the environment (what exec --serve may serve of it). */
export interface NamedAccount {
  account: Account;
  fields: Set<string>;
}

/**
 * Resolves every spec first (so a bad one fails before any refresh), then
 * fetches fresh credentials. `named` holds, per account id, the fields the
 * variables were taken from. With `offline: false` a team whose database is
 * unreachable fails the command (exec --serve, whose server reads the
 * database), instead of handing out the access token kept on this machine.
 */
export async function collectEnv(ctx: Context, specs: string[], opts: { offline?: boolean } = {}): Promise<{ vars: EnvVars; secrets: Set<string>; named: Map<string, NamedAccount> }> {
  if (!specs.length) throw usageError('name at least one account', 'e.g. acct env github openai, or DEPLOY_TOKEN=github/bot');
  const wanted: Wanted[] = [];
  // Credentials of team accounts whose database is unreachable, from the copies kept on this machine (accounts/offline.ts).
  const kept = new Map<string, Fields>();
  // A team found unreachable is not tried again for the next spec (a host that drops packets costs a connect timeout each time).
  const unreachable = new Map<string, AcctError>();
  for (const s of specs) {
    const team = splitTeam(s.slice(s.indexOf('=') + 1)).team;
    try {
      const known = team === undefined ? undefined : unreachable.get(team);
      if (known) throw known;
      wanted.push(await parseEnvSpec(ctx, s));
    } catch (err) {
      if (!(err instanceof AcctError) || err.code !== 'team_unreachable' || opts.offline === false) throw err;
      if (team !== undefined) unreachable.set(team, err);
      const { offlineCredentials } = await import('./offline.js');
      wanted.push(
        await parseEnvSpec(ctx, s, async (c, ref) => {
          const { account, fields } = await offlineCredentials(c, ref, err, MIN_TTL_SECONDS);
          kept.set(account.id, fields);
          return account;
        }),
      );
    }
  }
  const vars: EnvVars = [];
  const origin = new Map<string, string>();
  const secrets = new Set<string>();
  const named = new Map<string, NamedAccount>();
  const apps = new Map(wanted.map((w) => [w.account.id, ctx.catalog.forAccount(w.account)]));
  const fresh = await freshCredentialsMany(ctx, wanted.filter((w) => !kept.has(w.account.id)).map((w) => ({ account: w.account, app: apps.get(w.account.id)! })), { minTtlSeconds: MIN_TTL_SECONDS });
  const credentials = new Map([...fresh, ...kept]);
  for (const w of wanted) {
    const app = apps.get(w.account.id)!;
    const fields = credentials.get(w.account.id)!;
    const pairs: [string, string][] = w.name
      ? [[w.name, w.field ?? primaryFieldName(app)]]
      : Object.entries(app.env).map(([field, name]) => [name, field] as [string, string]).filter(([, field]) => fields![field] !== undefined || !isOptional(app, field));
    for (const [name, field] of pairs) {
      const value = fields[field] ?? defaultOf(app, field);
      if (value === undefined)
        throw usageError(`${w.account.app}/${w.account.nickname} has no field "${field}"`, `its fields are: ${Object.keys(fields).sort().join(', ')}`);
      const before = origin.get(name);
      if (before !== undefined)
        throw usageError(`${before} and ${w.spec} both set ${name}`, `name one of them explicitly: OTHER_NAME=${w.spec.includes('=') ? w.spec.slice(w.spec.indexOf('=') + 1) : w.spec}`);
      origin.set(name, w.spec);
      vars.push([name, value]);
      if (isSecretField(app, field)) secrets.add(value);
      let of = named.get(w.account.id);
      if (!of) named.set(w.account.id, (of = { account: w.account, fields: new Set() }));
      of.fields.add(field);
    }
  }
  return { vars, secrets, named };
}

type AnyApp = ReturnType<Context['catalog']['get']>;
const keyField = (app: AnyApp, field: string) => (app.auth === 'keys' ? app.fields.find((f) => f.name === field) : undefined);
const isOptional = (app: AnyApp, field: string) => keyField(app, field)?.optional === true;
const defaultOf = (app: AnyApp, field: string) => keyField(app, field)?.default;
/** OAuth fields and secret key fields are masked; a non-secret field (a region, an account SID) is not. */
export const isSecretField = (app: AnyApp, field: string) =>
  (app.settings ?? []).some((s) => s.name === field) ? false
  : app.auth === 'oauth2' ? /token|secret|key/.test(field) && field !== 'token_type' : keyField(app, field)?.secret !== false;
