// acct status: every account's health. From local data alone by default (no
// network, no secrets); with --check, each account's test request, run in
// parallel with a bound on how many at once.
import type { Context } from '../context.js';
import { everyView, qualifiedName } from '../accounts/stores.js';
import type { Account } from '../accounts/model.js';
import { checkAccount as checkCredentials } from '../accounts/check.js';
import { sortByAppAndNickname, printJson, printTable, style } from '../output/format.js';
import type { TestOutcome } from '../api/test-request.js';
import { AcctError, ExitCode, usageError, visibleData } from '../errors.js';

export type Health = 'ok' | 'expired' | 'needs-reconnect' | 'unverified' | 'failing' | 'unreachable' | 'untested' | 'error';
/** The outcome of a test request, under the same name and with the same values as `acct test --json`'s; null when none ran. */
export type CheckResult = TestOutcome['kind'] | 'error' | null;

export interface StatusRow {
  id: string;
  ref: string;
  status: Health;
  detail: string;
  identity: string | null;
  result: CheckResult;
}

/** What local data says: needs-reconnect, an expired token with or without a way to refresh it, or ok. */
export function localHealth(a: Account, now: Date): { status: Health; detail: string } {
  if (a.status === 'needs-reconnect') return { status: 'needs-reconnect', detail: `run: acct reconnect ${a.id}` };
  if (a.status === 'unverified') return { status: 'unverified', detail: `stored without a passing test request; check it: acct test ${a.id}` };
  if (a.status === 'failing') return { status: 'failing', detail: 'the last refresh failed (not a rejected grant); retried on next use' };
  if (a.expiresAt && new Date(a.expiresAt) <= now) {
    return a.fields.includes('oauth_refresh_token') || a.grant === 'client_credentials'
      ? { status: 'expired', detail: 'refreshed on next use' }
      : { status: 'needs-reconnect', detail: `expired and no refresh token; run: acct reconnect ${a.id}` };
  }
  return { status: 'ok', detail: a.expiresAt ? `expires ${a.expiresAt}` : 'does not expire' };
}

async function checkRow(ctx: Context, a: Account): Promise<Omit<StatusRow, 'id' | 'ref'>> {
  const local = localHealth(a, ctx.now());
  // A grant refused for good is not sent to the provider again; a key is tested again, as a passing test clears its mark.
  if (local.status === 'needs-reconnect' && !(a.auth === 'keys' && a.status === 'needs-reconnect')) return { ...local, identity: a.identity, result: null };
  try {
    const app = ctx.catalog.forAccount(a);
    const outcome = await checkCredentials(ctx, a, app);
    switch (outcome.kind) {
      case 'ok':
        return { status: 'ok', detail: outcome.identity ? `authenticated as ${outcome.identity}` : 'test request passed', identity: outcome.identity ?? a.identity, result: 'ok' };
      case 'rejected':
        return { status: 'needs-reconnect', detail: `${outcome.detail}; run: acct reconnect ${a.id}`, identity: a.identity, result: 'rejected' };
      case 'unreachable':
        return { status: 'unreachable', detail: outcome.detail, identity: a.identity, result: 'unreachable' };
      default:
        // No test request: what local data says (an unverified key stays unverified).
        return { ...(local.status === 'unverified' ? local : { status: 'untested' as const, detail: outcome.detail }), identity: a.identity, result: 'untested' };
    }
  } catch (err) {
    if (!(err instanceof AcctError)) throw err;
    const status: Health = err.exitCode === ExitCode.reconnect ? 'needs-reconnect' : err.exitCode === ExitCode.unavailable ? 'unreachable' : 'error';
    return { status, detail: status === 'needs-reconnect' ? `${err.message}; run: acct reconnect ${a.id}` : err.message, identity: a.identity, result: status === 'needs-reconnect' ? 'rejected' : status === 'unreachable' ? 'unreachable' : 'error' };
  }
}

/** Runs fn over items with at most `limit` running at once, keeping order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The exit code: 4 when any account needs reconnecting, else 5 when any was unreachable or failing to refresh, 1 on other errors. */
export function statusExitCode(rows: StatusRow[]): number {
  if (rows.some((r) => r.status === 'needs-reconnect')) return ExitCode.reconnect;
  if (rows.some((r) => r.status === 'unreachable' || r.status === 'failing')) return ExitCode.unavailable;
  if (rows.some((r) => r.status === 'error')) return ExitCode.unexpected;
  return ExitCode.ok;
}

export async function status(ctx: Context, opts: { check?: boolean; app?: string; concurrency?: string; json?: boolean }): Promise<number> {
  const limit = Number(opts.concurrency ?? 8);
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`--concurrency must be a positive whole number, not "${opts.concurrency}"`);
  const { views, unreachable } = await everyView(ctx);
  const every = views.flatMap(({ view }) => view.accounts);
  const accounts = sortByAppAndNickname(every.filter((a) => !opts.app || a.app === opts.app));
  // As list: an app that is gone still shows the accounts it left; one that never existed is a typo (exit 3, the closest slugs).
  if (opts.app && !accounts.length) ctx.catalog.get(opts.app);
  if (opts.check && accounts.length && !opts.json) ctx.info(`Checking ${accounts.length} account${accounts.length === 1 ? '' : 's'}…`);
  const rows: StatusRow[] = await mapBounded(accounts, limit, async (a) => ({
    id: a.id,
    ref: qualifiedName(a),
    ...(opts.check ? await checkRow(ctx, a) : { ...localHealth(a, ctx.now()), identity: a.identity, result: null }),
  }));
  if (opts.json) printJson(ctx.io, rows);
  else if (!rows.length) ctx.info(opts.app ? `No ${opts.app} accounts. Connect one: acct connect ${opts.app}` : 'No accounts yet. Connect one: acct connect <app>');
  else {
    const s = await style(ctx.io, ctx.env);
    const paint = (h: Health) => (h === 'ok' ? s.green(h) : h === 'expired' || h === 'untested' ? s.dim(h) : h === 'unverified' || h === 'failing' ? s.yellow(h) : s.red(h));
    await printTable(
      ctx,
      [{ head: 'ID' }, { head: 'ACCOUNT', flexible: true }, { head: 'STATUS' }, { head: 'DETAIL', text: true, flexible: true, drop: 1 }],
      rows.map((r) => [r.id, visibleData(r.ref), paint(r.status), visibleData(r.detail)]),
      s,
    );
  }
  // The accounts of the stores that answered are shown; a team that did not is the command's failure (exit 5, naming its host).
  if (unreachable) throw unreachable;
  return statusExitCode(rows);
}
