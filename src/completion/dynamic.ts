// `acct __complete refs|apps`: the values completion scripts offer for account
// references and app slugs, one a line. It reads the metadata file and the
// catalog only, never a secret, keychain or bundle, so it answers at once.
import type { Context } from '../context.js';
import { usageError } from '../errors.js';

export async function completeValues(ctx: Context, what: string | undefined): Promise<string[]> {
  if (what === 'apps') return ctx.catalog.all().map((e) => e.app.slug);
  if (what !== 'refs') throw usageError(`acct __complete takes refs or apps, not "${what ?? ''}"`);
  // A bundle's accounts are sealed; completing them would need its key.
  if (!ctx.store.openList) return [];
  const m = await ctx.store.view();
  const out = new Set<string>();
  const perApp = new Map<string, number>();
  for (const a of m.accounts) perApp.set(a.app, (perApp.get(a.app) ?? 0) + 1);
  for (const [app, count] of perApp) if (count === 1 || m.defaults[app]) out.add(app);
  for (const a of m.accounts) out.add(`${a.app}/${a.nickname}`);
  return [...out].sort();
}
