import type { Context } from '../context.js';
import { findAccount, isDefault, storeOf } from '../accounts/service.js';
import { readSecrets } from '../accounts/credentials.js';
import type { RecordedUse } from '../store/account-store.js';
import { mask, onTerminal, printJson, relativeTime, style, accountStatus, out as writeOut } from '../output/format.js';
import { accountJson } from './list.js';
import type { Account } from '../accounts/model.js';
import { visibleControls, visibleData, visibleDeep } from '../errors.js';

export async function show(ctx: Context, ref: string, opts: { reveal?: boolean; json?: boolean }): Promise<void> {
  let account = await findAccount(ctx, ref);
  const store = await storeOf(ctx, account);
  const m = await store.view();
  const app = ctx.catalog.find(account.app)?.app;
  const fields = await readSecrets(ctx, account);
  const secretNames = new Set(
    app?.auth === 'keys' ? app.fields.filter((f) => f.secret).map((f) => f.name) : ['oauth_access_token', 'oauth_refresh_token', 'id_token'],
  );
  // Unknown fields count as secret: better masked than leaked.
  const isSecret = (name: string) => secretNames.has(name) || !(app?.auth === 'keys' && app.fields.some((f) => f.name === name));
  const values = Object.fromEntries(
    Object.entries(fields)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, opts.reveal || !isSecret(k) ? v : mask(v)]),
  );
  let uses: RecordedUse[] = [];
  await ctx.housekeeping('read when the account was last used', async () => void (uses = await store.uses(account.id, 10)));
  const used = uses[0]?.at ?? null;
  const rotates = Boolean(account.rotatesRefreshToken || (app?.auth === 'oauth2' && app.oauth.rotatesRefreshToken));
  if (opts.json) {
    const oauth = account.auth === 'oauth2' ? { refresh_token_rotates: rotates, ...(account.accessOnly ? { access_only: true } : {}) } : {};
    const recent = uses.map((u) => ({ at: u.at, command: u.command ?? null, member: u.member ?? null, machine: u.machine ?? null }));
    printJson(ctx.io, { ...accountJson(account, isDefault(m, account), used), ...oauth, ...(account.team ? { recent_uses: recent } : {}), settings: account.settings ?? {}, ...(account.grant ? { grant: account.grant } : {}), fields: values });
    return;
  }
  const s = await style(ctx.io, ctx.env);
  const now = ctx.now();
  // What a provider, a bundle or a team's database wrote is data: every control character shown as \xNN (errors.ts),
  // so none moves the cursor or retitles the terminal. A revealed value keeps its line breaks (a PEM key).
  account = visibleDeep(account);
  const appName = app && visibleData(app.name);
  const shown = Object.fromEntries(Object.entries(values).map(([k, v]) => [visibleData(k), opts.reveal && isSecret(k) ? visibleControls(v) : visibleData(v)]));
  const rows: [string, string][] = [
    ['id', account.id],
    ...(account.team ? [['team', account.team] as [string, string]] : []),
    ['app', account.app + (appName ? s.dim(` (${appName})`) : s.red(' (app definition missing)'))],
    ['nickname', account.nickname],
    ['default', isDefault(m, account) ? `yes (acct ${account.app} means this account)` : 'no'],
    ['identity', account.identity ?? s.dim('-')],
    ['auth', account.auth],
    ...(account.clientId ? [['client id', account.clientId] as [string, string]] : []),
    ['status', accountStatus(s, account.status) + s.dim(STATUS_NEXT[account.status](account.id))],
    ['scopes', account.scopes.length ? account.scopes.join(' ') : s.dim('-')],
    // The instant, and on a terminal how far off it is (piped output holds no relative times).
    ['expires', account.expiresAt ? `${account.expiresAt}${onTerminal(ctx.io) ? ` (${relativeTime(account.expiresAt, now)})` : ''}` : s.dim('does not expire')],
    ...(account.auth === 'oauth2'
      ? [['refresh', account.accessOnly ? 'none (an --access-only copy)' : rotates ? 'rotates at every refresh (export only with --move or --access-only)' : s.dim('-')] as [string, string]]
      : []),
    ...Object.entries(account.settings ?? {}).map(([k, v]): [string, string] => [`setting ${k}`, v]),
    ...(account.grant ? [['grant', `${account.grant} (renewed by asking again)`] as [string, string]] : []),
    ['created', account.createdAt],
    ['updated', account.updatedAt],
    ['last used', used ?? s.dim('never')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length), ...Object.keys(shown).map((k) => k.length));
  const out = rows.map(([k, v]) => `${s.bold(k.padEnd(width))}  ${v}`);
  out.push('', s.bold('fields'));
  for (const [k, v] of Object.entries(shown)) out.push(`  ${k.padEnd(width)}  ${v}`);
  if (!opts.reveal) out.push(s.dim('  (values masked; --reveal prints them)'));
  // A team account's recent uses: who, from which machine, with which command (the seeds' "where it is used").
  if (account.team && uses.length) {
    out.push('', s.bold('recent uses'));
    for (const u of uses) out.push(`  ${u.at}  ${u.member ?? '?'}@${u.machine ?? '?'}  ${u.command ?? ''}`.trimEnd());
  }
  writeOut(ctx.io, out.join('\n') + '\n');
}

/** What each status means for the user, after the status word. */
const STATUS_NEXT: Record<Account['status'], (id: string) => string> = {
  ok: () => '',
  'needs-reconnect': (id) => ` (run: acct reconnect ${id})`,
  unverified: (id) => ` (stored without a passing test request; check it: acct test ${id})`,
  failing: () => ' (the last refresh failed; it is retried on next use)',
};
