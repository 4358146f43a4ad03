// A read of a team account while its team's database is unreachable: from
// the copy of its access token kept on this machine (team/offline.ts), when
// the team allowed it, the copy is valid for the read's min-ttl, and the
// reference names the account without the database: `<team>:<app>/<nickname>`,
// `<team>:<id>`, or an id. Otherwise the unreachable error stands, its hint
// saying why no copy served. Loaded only then (token, env, exec).
import type { Context } from '../context.js';
import { ACCOUNT_ID_RE, type Account } from './model.js';
import type { Fields } from '../store/store.js';
import { splitTeam, qualifiedName } from './stores.js';
import { AcctError } from '../errors.js';

/** The account and its credentials, as freshCredentials gives them, from the copy kept here; said in a warning. No use can be recorded. */
export async function offlineCredentials(ctx: Context, ref: string, unreachable: AcctError, minTtlSeconds: number): Promise<{ account: Account; fields: Fields }> {
  const { team, ref: inner } = splitTeam(ref);
  // An unqualified name could be another store's account: only the team can say, so no copy is guessed for it; the hint names the way.
  if (team === undefined && !ACCOUNT_ID_RE.test(ref)) throw await qualifyHint(ctx, ref, unreachable, minTtlSeconds);
  const teams = team !== undefined ? ctx.teams.names().filter((t) => t === team) : ctx.teams.names();
  let problem: string | undefined;
  for (const name of teams) {
    const store = await ctx.teams.open(name);
    const copy = await store.offlineCopy?.(inner, minTtlSeconds, ctx.now());
    if (!copy) continue;
    if ('problem' in copy) {
      problem ??= copy.problem;
      continue;
    }
    ctx.warn(
      `the database of team ${name} at ${copy.host} is unreachable; using the access token of ${qualifiedName(copy.account)} kept on this machine, valid until ${copy.expiresAt} (this use is not recorded)`,
    );
    const fields: Fields = { oauth_access_token: copy.token, expires_at: copy.expiresAt };
    // Connection settings read like fields, as handOver gives them.
    return { account: copy.account, fields: copy.account.settings ? { ...copy.account.settings, ...fields } : fields };
  }
  if (!problem) throw unreachable;
  throw new AcctError('team_unreachable', unreachable.message, { hint: unreachable.hint ? `${unreachable.hint}; ${problem}` : problem, cause: unreachable });
}

/** The unreachable error, its hint naming the team references whose kept copies would serve. */
async function qualifyHint(ctx: Context, ref: string, unreachable: AcctError, minTtlSeconds: number): Promise<AcctError> {
  const named: string[] = [];
  for (const name of ctx.teams.names()) {
    const copy = await (await ctx.teams.open(name)).offlineCopy?.(ref, minTtlSeconds, ctx.now());
    if (copy && !('problem' in copy)) named.push(`${name}:${ref}`);
  }
  if (!named.length) return unreachable;
  const hint = `an access token of ${named.join(' and ')} is kept on this machine: name the account with its team to use it meanwhile`;
  return new AcctError('team_unreachable', unreachable.message, { hint: unreachable.hint ? `${unreachable.hint}; ${hint}` : hint, cause: unreachable });
}
