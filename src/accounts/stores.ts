// Which store holds an account: decided here, once. A reference qualified by
// a team (`acme:stripe/live`) goes to that team's store; an unqualified one
// is looked up in this machine's store (local, or the bundle), then in every
// team joined, and is ambiguous when more than one has it. The account a
// store returns carries its team (Account.team), so every later operation on
// it goes back to the same store.
import type { Context } from '../context.js';
import type { AccountStore, AccountView } from '../store/account-store.js';
import type { Paths } from '../paths.js';
import type { TeamDeps } from '../team/index.js';
import { configuredTeams, notAMember, TEAM_NAME_RE } from '../team/config.js';
import { ACCOUNT_ID_RE, type Account } from './model.js';
import { AcctError } from '../errors.js';
import { label } from './resolve.js';

export interface TeamStores {
  /** The names of the teams this machine has joined (config, or ACCT_TEAM in CI): known without connecting. */
  names(): string[];
  /** A team's store, connected on first use. */
  open(name: string): Promise<AccountStore>;
  /** Ends the connections of the stores opened (the command is done). */
  close(): Promise<void>;
}

export const noTeams: TeamStores = {
  names: () => [],
  open: async (name) => {
    throw notAMember(name, []);
  },
  close: async () => undefined,
};

/**
 * The teams of teams.json and ACCT_TEAM/ACCT_TEAM_KEY (team/config.ts, which
 * reads one small file); a team's store, and the driver with it, is loaded
 * only when a reference or a command needs that team.
 */
export function teamStores(paths: Paths, env: NodeJS.ProcessEnv, deps: () => TeamDeps): TeamStores {
  let names: string[] | undefined;
  const opened = new Map<string, Promise<AccountStore>>();
  const known = () => (names ??= configuredTeams(paths, env).map((t) => t.name));
  return {
    names: known,
    open: (name) => {
      if (!known().includes(name)) return Promise.reject(notAMember(name, known()));
      let store = opened.get(name);
      if (!store) {
        store = import('../team/index.js').then((t) => t.openTeamStore(deps(), name));
        opened.set(name, store);
      }
      return store;
    },
    close: async () => {
      for (const store of opened.values()) await (await store).close();
      opened.clear();
    },
  };
}

/** A reference split at its team qualifier (`acme:stripe/live`): a team name before the colon (nicknames, slugs and ids never hold one). */
export function splitTeam(ref: string): { team?: string; ref: string } {
  const i = ref.indexOf(':');
  const team = i > 0 ? ref.slice(0, i) : '';
  return TEAM_NAME_RE.test(team) ? { team, ref: ref.slice(i + 1) } : { ref };
}

/**
 * A head start on the stores a reference will read (token): a team's
 * reference warms that team's store alone (connecting, which reads this
 * machine's member credentials only when it has them: in CI, ACCT_TEAM_KEY
 * holds them and no local store is opened, nor a keychain asked); any other
 * warms this machine's store, and every team's when teams are joined.
 */
export function warmFor(ctx: Context, ref: string): void {
  const { team } = splitTeam(ref);
  const teams = ctx.teams.names();
  if (team === undefined || !teams.includes(team)) ctx.store.warm();
  // An id is looked for here first, and a local one needs no team (findAccount): no connection is started
  // that the lookup may not use, and that the end of the command would then wait for (a host that drops packets).
  const warmed = team !== undefined ? teams.filter((n) => n === team) : ACCOUNT_ID_RE.test(ref) ? [] : teams;
  for (const t of warmed)
    ctx.teams.open(t).then(
      (store) => store.warm(),
      () => undefined, // said by the lookup itself
    );
}

/** The store an account came from. */
export function storeOf(ctx: Context, account: Pick<Account, 'team'>): Promise<AccountStore> {
  return account.team ? ctx.teams.open(account.team) : Promise.resolve(ctx.store);
}

/** The store a new account goes to: a team's (connect --team), else this machine's. */
export function storeFor(ctx: Context, team: string | undefined): Promise<AccountStore> {
  if (team === undefined) return Promise.resolve(ctx.store);
  if (!ctx.teams.names().includes(team)) throw notAMember(team, ctx.teams.names());
  return ctx.teams.open(team);
}

const hints = (ctx: Context) => ({
  isApp: (slug: string) => ctx.catalog.find(slug) !== undefined,
  appSlugs: () => ctx.catalog.all().map((e) => e.app.slug),
});

export async function findAccount(ctx: Context, ref: string): Promise<Account> {
  const { team, ref: inner } = splitTeam(ref);
  if (team !== undefined) {
    if (!ctx.teams.names().includes(team)) throw notAMember(team, ctx.teams.names());
    return (await ctx.teams.open(team)).resolve(inner, hints(ctx));
  }
  const teams = ctx.teams.names();
  if (!teams.length) return ctx.store.resolve(ref, hints(ctx));
  // Local first, then every team; a reference that more than one store answers is ambiguous.
  const stores = [ctx.store, ...(await Promise.all(teams.map((t) => ctx.teams.open(t))))];
  const found: Account[] = [];
  let firstMiss: unknown;
  let removed: AcctError | undefined;
  for (const store of stores) {
    try {
      found.push(await store.resolve(ref, hints(ctx)));
    } catch (err) {
      // A team that cannot answer leaves the reference undecided; this machine's match is then named by the one reference that needs no team.
      const local = found.find((a) => !a.team);
      if (local && err instanceof AcctError && err.code === 'team_unreachable')
        throw new AcctError('team_unreachable', err.message, { hint: `to use this machine's ${label(local)} meanwhile, name it by its id: ${local.id}`, cause: err });
      // A team that removed this machine's member holds nothing for it: the reference is decided by the other stores, and the removal said.
      if (err instanceof AcctError && err.code === 'access_removed') {
        removed ??= err;
        continue;
      }
      if (!(err instanceof AcctError) || err.code !== 'account_not_found') throw err;
      firstMiss ??= err;
    }
    // An id names one account whichever store holds it (ids are random): this machine's, found first, needs no team.
    if (found[0] && !found[0].team && found[0].id === ref) return found[0];
  }
  if (!found.length) throw removed ?? firstMiss;
  if (removed) ctx.warn(`${removed.message}${removed.hint ? ` (${removed.hint})` : ''}`);
  if (found.length === 1) return found[0]!;
  // A local account has no qualifier: its id names it alone (ids are random, unique across stores).
  const qualified = (a: Account) => (a.team ? `${a.team}:${a.app}/${a.nickname}` : a.id);
  throw new AcctError('reference_ambiguous', `"${ref}" matches accounts in ${found.length} stores: ${found.map((a) => (a.team ? `${a.team}:${label(a)}` : label(a))).join(', ')}`, {
    hint: `name one of them: ${found.map(qualified).join(' or ')}`,
  });
}

interface Views<V> {
  views: { store: AccountStore; view: V }[];
  unreachable?: AcctError;
}

/**
 * Every store's accounts: this machine's first, then each team's (list,
 * status). A team whose database cannot be reached is left out and returned
 * as `unreachable`: the caller shows what the other stores hold, then fails
 * with it (exit 5), so neither a person nor a script takes the list for whole.
 */
export function everyView(ctx: Context): Promise<Views<AccountView>>;
/** The same with what `read` reads of each store (list: `(s) => s.listed()`). */
export function everyView<V>(ctx: Context, read: (store: AccountStore) => Promise<V>): Promise<Views<V>>;
export async function everyView(ctx: Context, read = (store: AccountStore): Promise<unknown> => store.view()): Promise<Views<unknown>> {
  const stores = [ctx.store, ...(await Promise.all(ctx.teams.names().map((t) => ctx.teams.open(t))))];
  let unreachable: AcctError | undefined;
  const views = await Promise.all(
    stores.map(async (store) => {
      try {
        return { store, view: await read(store) };
      } catch (err) {
        if (err instanceof AcctError && err.code === 'team_unreachable' && store.kind === 'team') {
          unreachable ??= err;
          return undefined;
        }
        // A team that removed this machine's member has no accounts for it: said, and the other stores listed.
        if (!(err instanceof AcctError) || err.code !== 'access_removed') throw err;
        ctx.warn(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
        return undefined;
      }
    }),
  );
  return { views: views.filter((v) => v !== undefined), unreachable };
}

/** How a reference names an account in messages: `app/nickname`, with its team when it has one. */
export const qualifiedName = (a: Pick<Account, 'app' | 'nickname' | 'team'>) => `${a.team ? `${a.team}:` : ''}${a.app}/${a.nickname}`;
