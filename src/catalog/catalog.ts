// App lookup: the built-in catalog (validated and normalized at build time) and
// the apps the user added (validated when added, and again when read).
import { join } from 'node:path';
import { builtinAppsJson, builtinAppJson } from './builtin.generated.js';
import { readJsonIfExists, writeJsonAtomic, isObject, ensurePrivateDir } from '../store/files.js';
import { withLock } from '../store/lock.js';
import { AcctError, ExitCode, usageError, notFound } from '../errors.js';
import { closest, didYouMean } from '../suggest.js';
import type { AppDefinition } from './schema.js';
import { resolveApp, type Settings } from './resolve-app.js';
import type { Paths } from '../paths.js';

let builtinMap: Map<string, AppDefinition> | undefined;
const builtins = () => (builtinMap ??= new Map((JSON.parse(builtinAppsJson()) as AppDefinition[]).map((a) => [a.slug, a])));
/** One built-in app, without reading the others. Slugs are [a-z0-9-], so anything else cannot name one (nor a path). */
function builtin(slug: string): AppDefinition | undefined {
  if (builtinMap) return builtinMap.get(slug);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(slug)) return undefined;
  const json = builtinAppJson(slug);
  return json === undefined ? undefined : (JSON.parse(json) as AppDefinition);
}

interface UserAppsFile {
  version: 1;
  apps: unknown[];
}
const isUserAppsFile = (v: unknown): v is UserAppsFile => isObject(v) && v.version === 1 && Array.isArray(v.apps);

export type AppSource = 'built-in' | 'user';
export interface CatalogEntry {
  app: AppDefinition;
  source: AppSource;
}

export class Catalog {
  private userApps?: Map<string, AppDefinition>;
  /** With a bundle (CI), the user-added apps are the ones the bundle carries. */
  constructor(
    private readonly paths: Paths,
    private readonly bundle?: { apps(): unknown[] },
  ) {}

  get userFile() {
    return join(this.paths.config, 'apps.json');
  }

  find(slug: string): CatalogEntry | undefined {
    const app = builtin(slug);
    if (app) return { app, source: 'built-in' };
    const user = this.loadUserApps().get(slug);
    return user ? { app: user, source: 'user' } : undefined;
  }

  get(slug: string): AppDefinition {
    const hit = this.find(slug);
    if (hit) return hit.app;
    // Slugs a typo away first ("gihub"), then what a search finds ("loc" → local, …).
    const typos = closest(slug, this.all().map((e) => e.app.slug));
    const near = [...new Set([...typos, ...this.search(slug).map((e) => e.app.slug)])].slice(0, 5);
    throw notFound(`unknown app "${slug}"`, didYouMean(near) ?? 'search the catalog with: acct apps <query>, or add it: acct apps add', 'app_not_found');
  }

  all(): CatalogEntry[] {
    return [
      ...[...builtins().values()].map((app) => ({ app, source: 'built-in' as const })),
      ...[...this.loadUserApps().values()].map((app) => ({ app, source: 'user' as const })),
    ].sort((a, b) => a.app.slug.localeCompare(b.app.slug));
  }

  /**
   * Apps matching a query, best first: an exact slug, name or alias; then one
   * that starts with the query; then one that contains it; then the apps of a
   * category of that name; then a description that contains it.
   */
  search(query?: string, category?: string): CatalogEntry[] {
    const all = this.all().filter((e) => !category || e.app.category === category);
    if (!query) return all;
    const q = query.trim().toLowerCase();
    const score = ({ app }: CatalogEntry) => {
      const names = [app.slug, app.name.toLowerCase(), ...(app.aliases ?? []).map((a) => a.toLowerCase())];
      if (names.includes(q)) return 0;
      if (names.some((n) => n.startsWith(q))) return 1;
      if (names.some((n) => n.includes(q))) return 2;
      if (app.category === q) return 3;
      if (app.description.toLowerCase().includes(q)) return 4;
      return 9;
    };
    return all
      .map((e) => [score(e), e] as const)
      .filter(([s]) => s < 9)
      .sort((a, b) => a[0] - b[0])
      .map(([, e]) => e);
  }

  /** The app as one account uses it: its connection settings filled in (catalog/resolve-app.ts). */
  forAccount(account: { app: string; settings?: Settings }): AppDefinition {
    return resolveApp(this.get(account.app), account.settings);
  }

  isBuiltin(slug: string) {
    return builtin(slug) !== undefined;
  }

  async add(app: AppDefinition, replace: boolean): Promise<void> {
    if (builtins().has(app.slug))
      throw usageError(`"${app.slug}" is a built-in app`, 'pick another slug for your own definition');
    await withLock(join(this.paths.config, 'apps'), () => {
      const file = this.readUserFile();
      const existing = file.apps.findIndex((a) => isObject(a) && a.slug === app.slug);
      if (existing >= 0 && !replace)
        throw usageError(`an app called "${app.slug}" exists already`, 'pass --force to replace it, or remove it first: acct apps remove ' + app.slug);
      if (existing >= 0) file.apps[existing] = app;
      else file.apps.push(app);
      ensurePrivateDir(this.paths.config);
      writeJsonAtomic(this.userFile, file);
      this.userApps = undefined;
    });
  }

  async remove(slug: string): Promise<void> {
    if (builtins().has(slug)) throw usageError(`"${slug}" is a built-in app and cannot be removed`);
    await withLock(join(this.paths.config, 'apps'), () => {
      const file = this.readUserFile();
      const kept = file.apps.filter((a) => !(isObject(a) && a.slug === slug));
      if (kept.length === file.apps.length) throw notFound(`there is no user-added app "${slug}"`, 'see them with: acct apps --user', 'app_not_found');
      writeJsonAtomic(this.userFile, { ...file, apps: kept });
      this.userApps = undefined;
    });
  }

  private readUserFile(): UserAppsFile {
    if (this.bundle) return { version: 1, apps: this.bundle.apps() };
    return readJsonIfExists(this.userFile, isUserAppsFile) ?? { version: 1, apps: [] };
  }

  private loadUserApps(): Map<string, AppDefinition> {
    if (this.userApps) return this.userApps;
    const map = new Map<string, AppDefinition>();
    for (const raw of this.readUserFile().apps) {
      const slug = isObject(raw) && typeof raw.slug === 'string' ? raw.slug : '?';
      // Stored definitions were validated when added; a hand edit that broke one is named here.
      if (!isObject(raw) || typeof raw.slug !== 'string' || typeof raw.auth !== 'string' || !isObject(raw.api))
        throw new AcctError('usage', `the app "${slug}" in ${this.userFile} is malformed`, {
          hint: `fix the file, or remove the app: acct apps remove ${slug}`,
        });
      map.set(raw.slug, raw as unknown as AppDefinition);
    }
    this.userApps = map;
    return map;
  }
}

/** The app declares that its provider rotates refresh tokens on every refresh (oauth.rotatesRefreshToken). */
export const appRotatesRefreshToken = (app: AppDefinition): boolean => app.auth === 'oauth2' && app.oauth.rotatesRefreshToken === true;
