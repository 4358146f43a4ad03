// `acct export` and `acct import`: accounts, their secrets, and what they need
// to refresh elsewhere (user-added apps, OAuth clients), in one sealed bundle.
import type { Context } from '../context.js';
import { findAccount, removeAccount, importAccount } from '../accounts/service.js';
import { readSecrets } from '../accounts/credentials.js';
import { resolveClient, saveClient, checkClient, envSuffix } from '../accounts/clients.js';
import { fieldPlacement, valueProblem } from '../accounts/field-value.js';
import { settingValueProblem } from '../catalog/resolve-app.js';
import type { AppDefinition } from '../catalog/schema.js';
import { newBundleKey, sealBundle, openBundle, MAX_BUNDLE_BYTES, type BundlePayload } from '../store/bundle.js';
import { writeFileAtomic } from '../store/files.js';
import { parseApp } from '../catalog/validate.js';
import { readStdin, readStdinValue, readInputText } from '../ui/stdin.js';
import { printJson } from '../output/format.js';
import { usageError, AcctError } from '../errors.js';
import type { Account } from '../accounts/model.js';

const MIN_PASSPHRASE = 12;

export interface ExportOptions {
  all?: boolean;
  output?: string;
  passphraseStdin?: boolean;
  /** This machine hands the accounts over: they are deleted here (not revoked) once the bundle is written. */
  move?: boolean;
  /** Access tokens only, no refresh tokens: the bundle works until they expire. */
  accessOnly?: boolean;
  json?: boolean;
}

/** How long an --access-only bundle should at least last: a token expiring sooner is refreshed here first. */
const ACCESS_ONLY_MIN_TTL = 15 * 60;

export async function exportBundle(ctx: Context, refs: string[], opts: ExportOptions): Promise<void> {
  if (!refs.length && !opts.all) throw usageError('name the accounts to export', 'acct export github slack, or acct export --all');
  if (refs.length && opts.all) throw usageError('--all exports every account; leave out the references, or --all');
  if (!opts.output && ctx.io.stdout.isTTY)
    throw usageError('the bundle goes to stdout, which is a terminal', 'redirect it: acct export … > bundle.acct, or give -o bundle.acct');

  const m = await ctx.store.view();
  const chosen = new Map<string, Account>();
  for (const a of opts.all ? m.accounts : await Promise.all(refs.map((r) => findAccount(ctx, r)))) {
    if (a.team)
      throw usageError(`${a.team}:${a.app}/${a.nickname} is a team account; bundles carry this machine's accounts`, `give CI a member of the team instead: acct team add-ci ${a.team} --name ci`);
    chosen.set(a.id, a);
  }
  if (!chosen.size) throw usageError('there are no accounts to export', 'connect one first: acct connect <app>');
  if (opts.move && opts.accessOnly) throw usageError('--move and --access-only exclude each other', '--move hands the whole account over; --access-only copies its access token alone');
  refuseSecondHolder(ctx, [...chosen.values()], opts);

  let passphrase: string | undefined;
  if (opts.passphraseStdin) {
    passphrase = await readStdinValue(ctx.io.stdin, '--passphrase-stdin');
    if (passphrase.length < MIN_PASSPHRASE)
      throw usageError(`the passphrase is too short (at least ${MIN_PASSPHRASE} characters)`, 'or leave out --passphrase-stdin and acct makes a random key');
  }

  const payload: BundlePayload = { accounts: [], secrets: {}, apps: [], clients: {}, defaults: {} };
  for (const a of chosen.values()) {
    if (opts.accessOnly && a.auth === 'oauth2') {
      const app = ctx.catalog.get(a.app);
      const { ensureFresh } = await import('../accounts/refresh.js');
      const fresh = await ensureFresh(ctx, a, app, { minTtlSeconds: ACCESS_ONLY_MIN_TTL });
      const { oauth_refresh_token: _kept, ...rest } = fresh.fields;
      payload.accounts.push({ ...a, expiresAt: fresh.expiresAt, fields: Object.keys(rest).sort(), accessOnly: true });
      payload.secrets[a.id] = rest;
    } else {
      payload.accounts.push(a);
      payload.secrets[a.id] = await readSecrets(ctx, a);
    }
    if (m.defaults[a.app] === a.id) payload.defaults[a.app] = a.id;
  }
  for (const slug of new Set([...chosen.values()].map((a) => a.app))) {
    const entry = ctx.catalog.find(slug);
    if (!entry) throw usageError(`the app "${slug}" is no longer in the catalog`, `add it again (acct apps add ${slug}) or delete its accounts`);
    if (entry.source === 'user') payload.apps.push(entry.app);
    if (entry.app.auth !== 'oauth2') continue;
    const client = await resolveClient(ctx, ctx.store, entry.app);
    if (client) payload.clients[slug] = { clientId: client.clientId, ...(client.clientSecret ? { clientSecret: client.clientSecret } : {}) };
    else
      ctx.warn(`no OAuth client is set for ${slug}, so ${slug} tokens from this bundle cannot be refreshed; set one first (acct client set ${slug}) or give ACCT_CLIENT_ID_${envSuffix(slug)} where the bundle is used`);
  }

  const key = passphrase === undefined ? newBundleKey() : undefined;
  const text = sealBundle(payload, key ? { key: key.key } : { passphrase: passphrase! }, ctx.now());
  if (opts.output) writeFileAtomic(opts.output, text);
  else await new Promise<void>((resolve, reject) => ctx.io.stdout.write(text, (err) => (err ? reject(err) : resolve())));
  // Only once the bundle is safely out: from now on the bundle is the account's one holder.
  if (opts.move) for (const a of payload.accounts) await removeAccount(ctx, a);

  const names = payload.accounts.map((a) => `${a.app}/${a.nickname}`).join(', ');
  if (opts.json) {
    // stdout carries the bundle unless -o; the summary goes where it does not mix with it.
    const summary = { accounts: payload.accounts.map((a) => a.id), output: opts.output ?? null, key: key?.printable ?? null };
    if (opts.output) printJson(ctx.io, summary);
    // On stderr, the one JSON object there: the run's warnings go in it (taken, so run.ts writes no second object).
    else ctx.io.stderr.write(`${JSON.stringify({ ...summary, ...(ctx.warnings?.length ? { warnings: ctx.warnings.splice(0) } : {}) })}\n`);
    return;
  }
  ctx.info(`Exported ${payload.accounts.length} account${payload.accounts.length === 1 ? '' : 's'} (${names})${opts.output ? ` to ${opts.output}` : ''}.`);
  if (opts.move) ctx.info(`Moved: ${names} ${payload.accounts.length === 1 ? 'is' : 'are'} no longer on this machine (nothing was revoked; the bundle holds the only copy).`);
  for (const a of payload.accounts)
    if (a.accessOnly) ctx.info(`${a.app}/${a.nickname}: access token only, valid until ${a.expiresAt ?? 'it is revoked'}; the bundle cannot refresh it.`);
  if (key) {
    ctx.info('Bundle key (store it as the secret ACCT_BUNDLE_KEY where the bundle is used; acct keeps no copy):');
    ctx.info(key.printable);
  } else ctx.info('Give the same passphrase as ACCT_BUNDLE_KEY where the bundle is used.');
}

/**
 * One holder per refresh token: where the provider rotates refresh tokens, a
 * copy that refreshes (in CI) retires this machine's refresh token, and
 * replaying an older copy trips the provider's reuse detection, which revokes
 * the grant for both. Such an account leaves only whole (--move) or without
 * its refresh token (--access-only).
 */
function refuseSecondHolder(ctx: Context, accounts: Account[], opts: ExportOptions): void {
  if (opts.move || opts.accessOnly) return;
  const rotating = accounts.filter((a) => {
    if (a.auth !== 'oauth2' || !a.fields.includes('oauth_refresh_token')) return false;
    const app = ctx.catalog.find(a.app)?.app;
    return a.rotatesRefreshToken || (app?.auth === 'oauth2' && app.oauth.rotatesRefreshToken);
  });
  if (!rotating.length) return;
  const names = rotating.map((a) => `${a.app}/${a.nickname}`).join(', ');
  const first = rotating[0]!;
  throw usageError(
    `${names} ${rotating.length === 1 ? 'gets a new refresh token at every refresh' : 'get a new refresh token at every refresh'}: a copy in a bundle would retire this machine's refresh token the first time CI refreshes it, and replaying an older bundle can make the provider revoke the grant for both`,
    `export with --move (this machine hands the account over and deletes its copy) or --access-only (the current access token, no refresh token). ` +
      `Better, give CI an account of its own, so a revoked CI copy never breaks yours: acct connect ${first.app} --nickname ci, then acct export ${first.app}/ci --move`,
  );
}

export interface ImportOptions {
  passphraseStdin?: boolean;
  json?: boolean;
}

export async function importBundle(ctx: Context, file: string | undefined, opts: ImportOptions): Promise<void> {
  const fromStdin = !file || file === '-';
  if (fromStdin && opts.passphraseStdin) throw usageError('stdin cannot carry both the bundle and the passphrase', 'give the bundle as a file: acct import bundle.acct --passphrase-stdin');
  const text = fromStdin
    ? await readStdin(ctx.io.stdin, 'acct import (without a file)')
    : readInputText(file, 'give the path of a bundle written by acct export', { regularFile: true, maxBytes: MAX_BUNDLE_BYTES });
  const key = opts.passphraseStdin
    ? await readStdinValue(ctx.io.stdin, '--passphrase-stdin')
    : ctx.env.ACCT_BUNDLE_KEY || (await ctx.prompter.secret('Bundle key (or passphrase)', 'ACCT_BUNDLE_KEY or --passphrase-stdin to give it'));
  const { payload } = openBundle(text, key, fromStdin ? 'the bundle on stdin' : file);

  // Everything is checked before anything is written.
  const apps = payload.apps.map((raw) => parseApp(raw, 'the bundle'));
  const newApps = apps.filter((app) => !ctx.catalog.find(app.slug));
  for (const app of apps) {
    const local = ctx.catalog.find(app.slug);
    if (local && JSON.stringify(local.app) !== JSON.stringify(app)) ctx.warn(`keeping your own definition of the app "${app.slug}"; the bundle's differs`);
  }
  ctx.store.assertWritable();
  const local = await ctx.store.view();
  checkAgainstApps(ctx, payload, new Map(newApps.map((a) => [a.slug, a])), local.accounts);
  const conflicts = payload.accounts.filter((a) => local.accounts.some((o) => o.app === a.app && o.nickname === a.nickname && o.id !== a.id));
  if (conflicts.length)
    throw usageError(
      `these accounts clash with local accounts of the same name: ${conflicts.map((a) => `${a.app}/${a.nickname}`).join(', ')}`,
      'rename or delete the local ones (acct rename …), then import again',
    );

  for (const app of newApps) await ctx.catalog.add(app, false);
  for (const [slug, c] of Object.entries(payload.clients)) {
    const app = ctx.catalog.get(slug);
    if (app.auth === 'oauth2' && !(await ctx.store.clients.peek(slug))) await saveClient(ctx.store, app, c.clientId, c.clientSecret);
  }

  const results: { id: string; ref: string; action: 'added' | 'updated' }[] = [];
  for (const incoming of payload.accounts) {
    const fields = payload.secrets[incoming.id];
    if (!fields) throw usageError(`the bundle has no secrets for ${incoming.id}`, 'export it again');
    const { id, action } = await importAccount(ctx, incoming, fields, payload.defaults[incoming.app] === incoming.id);
    results.push({ id, ref: `${incoming.app}/${incoming.nickname}`, action });
  }
  if (opts.json) printJson(ctx.io, { accounts: results, apps: newApps.map((a) => a.slug) });
  else for (const r of results) ctx.info(`${r.action === 'added' ? 'Imported' : 'Updated'} ${r.ref} (${r.id})`);
}

/**
 * What `acct import` checks of a bundle's accounts besides their shape
 * (store/bundle.ts checkPayload), before it writes anything: each account's
 * app is in this catalog or carried in the bundle, with the same auth kind;
 * its nickname is no app's slug; its fields are the app's, and every value
 * is one that acct would have stored (valueProblem); its settings are the
 * app's, with values a URL can carry; each OAuth client is one saveClient
 * would store. An id that is already here is the same account imported
 * again (same app and nickname) and is updated; an id that names another
 * account here is refused, never replaced. Messages name accounts and
 * fields, never a value.
 */
function checkAgainstApps(ctx: Context, payload: BundlePayload, carried: ReadonlyMap<string, AppDefinition>, here: readonly Account[]): void {
  const appOf = (slug: string) => ctx.catalog.find(slug)?.app ?? carried.get(slug);
  for (const a of payload.accounts) {
    const ref = `${a.app}/${a.nickname} (${a.id})`;
    const refuse = (problem: string, hint = 'nothing was imported; export the bundle again on the machine that has the account') =>
      usageError(`the bundle's account ${ref} ${problem}`, hint);
    const app = appOf(a.app);
    if (!app) throw refuse(`is of the app "${a.app}", which is neither in this catalog nor in the bundle`, `nothing was imported; add the app first (acct apps add ${a.app} --file …), then import again`);
    if (app.auth !== a.auth) throw refuse(`is a${a.auth === 'oauth2' ? 'n OAuth' : ' keys'} account, but ${a.app} is a${app.auth === 'oauth2' ? 'n OAuth' : ' keys'} app`);
    if (appOf(a.nickname)) throw refuse(`has a nickname that is the name of an app`, 'nothing was imported; rename it on the machine that exported it, then export it again');
    const fields = payload.secrets[a.id]!;
    const placement = fieldPlacement(app);
    for (const [name, value] of Object.entries(fields)) {
      if (app.auth === 'keys' && !app.fields.some((f) => f.name === name)) throw refuse(`has a field "${name}" that ${a.app} does not have`);
      const bad = valueProblem(value, placement(name), app.name);
      if (bad) throw refuse(`has a value of "${name}" that ${bad.problem}`, `nothing was imported; ${bad.why}`);
    }
    for (const [name, value] of Object.entries(a.settings ?? {})) {
      const spec = app.settings.find((s) => s.name === name);
      const bad = spec ? settingValueProblem(spec, value) : `${a.app} has no setting "${name}"`;
      if (bad) throw refuse(`has an unusable setting: ${bad}`);
    }
    const same = here.find((o) => o.id === a.id);
    if (same && (same.app !== a.app || same.nickname !== a.nickname))
      throw usageError(
        `the bundle's account ${ref} has the id of another account here, ${same.app}/${same.nickname}`,
        `nothing was imported; an import updates only the same account (same id, app and nickname). If ${same.app}/${same.nickname} was renamed here, rename it back (acct rename ${same.id} ${a.nickname}); otherwise this bundle is not a copy of it: delete one of them first`,
      );
  }
  for (const [slug, c] of Object.entries(payload.clients)) {
    const app = appOf(slug);
    if (app?.auth !== 'oauth2') throw usageError(`the bundle holds an OAuth client for "${slug}", which is ${app ? 'not an OAuth app' : 'neither in this catalog nor in the bundle'}`, 'nothing was imported; export the bundle again');
    try {
      checkClient(app, c.clientId, c.clientSecret);
    } catch (err) {
      if (err instanceof AcctError) throw usageError(`the bundle's OAuth client for ${slug} cannot be stored: ${err.message}`, 'nothing was imported; set the client right on the machine that exported it, then export again');
      throw err;
    }
  }
}
