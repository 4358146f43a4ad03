// `acct://<ref>[/<field>]`: credential references in files (`acct run
// --env-file`, `acct inject`). Every reference is resolved to an account
// before any credential is fetched, so a typo on line 40 fails before line 1
// costs a refresh; then each account's credentials are fetched once, through
// the shared refresh path.
import type { Context } from '../context.js';
import { findAccount } from './service.js';
import { freshCredentialsMany, primaryFieldName } from './credentials.js';
import { isSecretField } from './envvars.js';
import { AcctError } from '../errors.js';
import type { Account } from './model.js';

export const SCHEME = 'acct://';

/** One reference as written, and where (file:line), for errors. */
export interface Reference {
  uri: string;
  where: string;
}

interface Resolved {
  account: Account;
  field?: string;
}

/**
 * The account and field a reference names. `acct://github/bot` is the account
 * github/bot when there is one, else the field `bot` of the account `github`;
 * `acct://stripe/live/api_key` is always account + field.
 */
async function resolve(ctx: Context, r: Reference): Promise<Resolved> {
  const body = r.uri.slice(SCHEME.length);
  const parts = body.split('/');
  if (!r.uri.startsWith(SCHEME) || parts.some((p) => p === '') || parts.length > 3 || /[\s\u0000-\u001f]/.test(body))
    throw new AcctError('bad_input', `${r.where}: "${r.uri}" is not an acct reference`, {
      hint: 'write acct://<account>, acct://<app>/<nickname> or acct://<app>/<nickname>/<field>',
    });
  const at = (err: unknown) =>
    err instanceof AcctError ? new AcctError(err.code, `${r.where}: ${err.message}`, { hint: err.hint, cause: err }) : err;
  if (parts.length === 3) {
    try {
      return { account: await findAccount(ctx, `${parts[0]}/${parts[1]}`), field: parts[2] };
    } catch (err) {
      throw at(err);
    }
  }
  if (parts.length === 1) {
    try {
      return { account: await findAccount(ctx, parts[0]!) };
    } catch (err) {
      throw at(err);
    }
  }
  try {
    return { account: await findAccount(ctx, body) };
  } catch (first) {
    if (!(first instanceof AcctError) || first.code !== 'account_not_found') throw at(first);
    try {
      return { account: await findAccount(ctx, parts[0]!), field: parts[1] };
    } catch {
      throw at(first); // the whole reference as the user meant it, not its shorter reading
    }
  }
}

/** The value of every reference, in order, and which of them are secrets (to mask). */
export async function resolveReferences(ctx: Context, refs: Reference[]): Promise<{ values: string[]; secrets: Set<string> }> {
  const resolved: Resolved[] = [];
  for (const r of refs) resolved.push(await resolve(ctx, r));
  const apps = new Map(resolved.map(({ account }) => [account.id, ctx.catalog.forAccount(account)]));
  // One store conversation for every account that needs no refresh.
  const credentials = await freshCredentialsMany(ctx, resolved.map(({ account }) => ({ account, app: apps.get(account.id)! })), { minTtlSeconds: 60 });
  const secrets = new Set<string>();
  const values: string[] = [];
  for (const [i, { account, field }] of resolved.entries()) {
    const app = apps.get(account.id)!;
    const fields = credentials.get(account.id)!;
    const name = field ?? primaryFieldName(app);
    const value = fields[name];
    if (value === undefined)
      throw new AcctError('not_found', `${refs[i]!.where}: ${account.app}/${account.nickname} has no field "${name}"`, {
        hint: `its fields are: ${Object.keys(fields).sort().join(', ')}`,
      });
    values.push(value);
    if (isSecretField(app, name)) secrets.add(value);
  }
  return { values, secrets };
}
