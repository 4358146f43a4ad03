import type { Context } from '../context.js';
import { visibleData } from '../errors.js';
import { sortByAppAndNickname, printJson, printTable, style, accountStatus } from '../output/format.js';
import { everyView } from '../accounts/stores.js';
import type { Account } from '../accounts/model.js';
import type { AccountStore, ListedAccount, ListedView } from '../store/account-store.js';

export function accountJson(a: Account, isDefaultAccount: boolean, lastUsed: string | null) {
  return {
    id: a.id,
    ...(a.team ? { team: a.team } : {}),
    app: a.app,
    nickname: a.nickname,
    auth: a.auth,
    status: a.status,
    default: isDefaultAccount,
    identity: a.identity,
    client_id: a.clientId ?? null,
    scopes: a.scopes,
    expires_at: a.expiresAt,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    last_used_at: lastUsed,
  };
}

export async function list(ctx: Context, opts: { app?: string; json?: boolean }): Promise<void> {
  // --json prints every account whole; the table needs only what a store's listing holds.
  if (opts.json) {
    const { views, unreachable } = await everyView(ctx);
    const { accounts, isDefault, used } = await gather(ctx, views, opts.app);
    printJson(ctx.io, accounts.map((a) => accountJson(a, isDefault(a), used.get(a.id) ?? null)));
    if (unreachable) throw unreachable;
    return;
  }
  const { views, unreachable } = await everyView(ctx, (store) => store.listed());
  await printList(ctx, await gather(ctx, views, opts.app), opts);
  // What the other stores hold is shown; the command still fails, naming the team's host (exit 5).
  if (unreachable) throw unreachable;
}

/** Every store's accounts (of one app), in order, which are defaults, and when each was last used. */
async function gather<A extends ListedAccount>(ctx: Context, views: { store: AccountStore; view: { accounts: readonly A[]; defaults: ListedView['defaults'] } }[], app: string | undefined) {
  const used = new Map<string, string>();
  const defaults = new Set<string>();
  for (const { store, view } of views) {
    await ctx.housekeeping('read when the accounts were last used', async () => {
      for (const [id, at] of await store.lastUsed()) used.set(id, at);
    });
    for (const id of Object.values(view.defaults)) defaults.add(id);
  }
  const accounts = sortByAppAndNickname(views.flatMap(({ view }) => view.accounts.filter((a) => !app || a.app === app)));
  // An app that is gone (removed by the user) still lists the accounts it left; one that never existed is a typo.
  if (app && !accounts.length) ctx.catalog.get(app);
  return { accounts, used, isDefault: (a: ListedAccount) => defaults.has(a.id) };
}

async function printList(ctx: Context, { accounts, used, isDefault }: Awaited<ReturnType<typeof gather>>, opts: { app?: string }): Promise<void> {
  const teams = ctx.teams.names().length > 0;
  if (!accounts.length) {
    ctx.info(opts.app ? `No ${opts.app} accounts. Connect one: acct connect ${opts.app}` : 'No accounts yet. Connect one: acct connect <app> (find apps with: acct apps)');
    return;
  }
  const s = await style(ctx.io, ctx.env);
  // One word per cell (DEFAULT is * or -), so piped output splits with awk; a terminal's width cuts APP and NICKNAME first,
  // then leaves out AUTH, LAST USED, DEFAULT, EXPIRES and STATUS, in that order. Instants are as stored: printTable
  // shows them relative on a terminal.
  // The cells every row shares are styled once, not once per row (10,000 rows: calls add up in cold code).
  const yes = '*';
  const no = s.dim('-');
  await printTable(
    ctx,
    [
      { head: 'ID' },
      // A TEAM column once this machine has joined a team ("-": this machine's own store).
      ...(teams ? [{ head: 'TEAM' }] : []),
      { head: 'APP', flexible: true },
      { head: 'NICKNAME', flexible: true },
      { head: 'DEFAULT', drop: 3 },
      { head: 'AUTH', drop: 1 },
      { head: 'STATUS', drop: 5 },
      { head: 'EXPIRES', time: true, drop: 4 },
      { head: 'LAST USED', time: true, drop: 2 },
    ],
    accounts.map((a) => [
      a.id,
      // Text a bundle or a team's database wrote is data: every control character shown as \xNN (errors.ts visibleData).
      ...(teams ? [a.team ? visibleData(a.team) : no] : []),
      visibleData(a.app),
      visibleData(a.nickname),
      isDefault(a) ? yes : no,
      a.auth,
      accountStatus(s, a.status),
      a.expiresAt ? visibleData(a.expiresAt) : no,
      used.get(a.id) ?? 'never',
    ]),
    s,
  );
}
