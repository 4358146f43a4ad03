// acct apps: search, show, add and remove app definitions.
import type { Context } from '../context.js';
import { printJson, printTable, style, out } from '../output/format.js';
import { parseApp } from '../catalog/validate.js';
import { readStdin, readInputText } from '../ui/stdin.js';
import { usageError, visibleData, visibleDeep } from '../errors.js';
import { CATEGORIES, type AppDefinition } from '../catalog/schema.js';

export async function listApps(ctx: Context, query: string | undefined, opts: { user?: boolean; auth?: string; category?: string; json?: boolean }) {
  if (opts.auth && opts.auth !== 'oauth2' && opts.auth !== 'keys') throw usageError('--auth takes oauth2 or keys');
  if (opts.category !== undefined && !(CATEGORIES as readonly string[]).includes(opts.category))
    throw usageError(`there is no category "${opts.category}"`, `the categories are: ${CATEGORIES.join(', ')}`);
  const entries = ctx.catalog.search(query, opts.category).filter((e) => (!opts.user || e.source === 'user') && (!opts.auth || e.app.auth === opts.auth));
  if (opts.json) {
    printJson(ctx.io, entries.map(({ app, source }) => ({ slug: app.slug, name: app.name, auth: app.auth, category: app.category ?? null, source, description: app.description })));
    return;
  }
  if (!entries.length) {
    ctx.info(`No app matches "${query ?? ''}"${opts.category ? ` in ${opts.category}` : ''}. Add your own: acct apps add <slug> --file app.json (or --issuer URL)`);
    return 3;
  }
  const s = await style(ctx.io, ctx.env);
  await printTable(
    ctx,
    [
      { head: 'APP' },
      { head: 'NAME', text: true, flexible: true, drop: 3 },
      { head: 'AUTH', drop: 2 },
      { head: 'CATEGORY', drop: 1 },
      { head: 'DESCRIPTION', text: true, flexible: true },
    ],
    entries.map(({ app, source }) => [app.slug, visibleData(app.name) + (source === 'user' ? s.dim(' (yours)') : ''), app.auth, app.category ?? '-', visibleData(app.description)]),
    s,
  );
}

export async function showApp(ctx: Context, slug: string, opts: { json?: boolean }) {
  const entry = ctx.catalog.find(slug) ?? { app: ctx.catalog.get(slug), source: 'built-in' as const };
  if (opts.json) {
    printJson(ctx.io, entry.app);
    return;
  }
  // A user-added app's text (or one a bundle carried) is data: no control character reaches the terminal as is.
  const app = visibleDeep(entry.app);
  const s = await style(ctx.io, ctx.env);
  const lines = [`${s.bold(app.name)} (${app.slug}, ${entry.source})`, app.description, ''];
  lines.push(`auth        ${app.auth === 'oauth2' ? 'OAuth 2.0' : 'API keys'}`);
  lines.push(`api         ${app.api.baseUrl}`);
  const a = app.api.auth;
  lines.push(`authorized  ${a.type === 'basic' ? `basic auth ${a.username}:${a.password}` : a.type === 'header' ? `header ${a.name}: ${a.value}` : `query ?${a.name}=${a.value}`}`);
  if (app.test) lines.push(`test        ${app.test.method} ${app.test.path}`);
  if (app.git) lines.push(`git         ${app.git.hosts.join(', ')} (username ${app.git.username}${app.git.anyUsername ? ' or any' : ''}; acct setup-git)`);
  if (app.auth === 'oauth2') {
    const o = app.oauth;
    if (o.authorizationUrl) lines.push(`authorize   ${o.authorizationUrl}`);
    lines.push(`token       ${o.tokenUrl}`);
    if (o.refreshUrl) lines.push(`refresh     ${o.refreshUrl}`);
    if (o.grants.includes('client_credentials')) lines.push(`grants      ${o.grants.join(', ')} (acct connect ${app.slug} --client-credentials)`);
    if (o.revocationUrl) lines.push(`revoke      ${o.revocationUrl}`);
    if (o.deviceAuthorizationUrl) lines.push(`device      ${o.deviceAuthorizationUrl}`);
    lines.push(`scopes      ${o.scopes.join(o.scopeSeparator) || '-'}`);
    lines.push(`client      register one at ${o.createClientUrl}`);
    if (o.notes) lines.push(`notes       ${o.notes}`);
  } else {
    lines.push('fields');
    for (const f of app.fields)
      lines.push(`  ${f.name.padEnd(18)} ${f.label}${f.secret ? '' : s.dim(' (not secret)')}${f.optional ? s.dim(' (optional)') : ''}${f.createUrl ? s.dim(`  ${f.createUrl}`) : ''}`);
  }
  if (app.settings.length) {
    lines.push('settings');
    for (const st of app.settings)
      lines.push(`  ${st.name.padEnd(18)} ${st.label}${st.lookup ? s.dim(' (looked up after connect)') : ''}${st.default ? s.dim(` (default ${st.default})`) : ''}${st.example ? s.dim(`  e.g. --setting ${st.name}=${st.example}`) : ''}`);
  }
  lines.push('env');
  for (const [field, name] of Object.entries(app.env)) lines.push(`  ${name.padEnd(18)} ${field}`);
  if (app.docs) lines.push(`docs        ${app.docs}`);
  out(ctx.io, lines.join('\n') + '\n');
}

interface AddOptions {
  file?: string;
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  revocationUrl?: string;
  deviceUrl?: string;
  scope: string[];
  field: string[];
  baseUrl?: string;
  header?: string;
  testPath?: string;
  identity: string[];
  name?: string;
  force?: boolean;
  json?: boolean;
}

export async function addApp(ctx: Context, slug: string, opts: AddOptions) {
  let app: AppDefinition;
  if (opts.file) {
    const text = opts.file === '-' ? await readStdin(ctx.io.stdin, '--file -') : readInputText(opts.file);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw usageError(`${opts.file} is not valid JSON: ${(err as Error).message}`, 'fix the file; `acct apps show github --json` prints a complete example');
    }
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      const given = (raw as Record<string, unknown>).slug;
      if (given !== undefined && given !== slug) throw usageError(`the file defines "${String(given)}", not "${slug}"`);
      raw = { ...(raw as object), slug };
    }
    app = parseApp(raw, opts.file);
  } else if (opts.issuer) {
    const { discoverApp } = await import('./discover.js');
    app = await discoverApp(ctx, slug, opts);
  } else {
    app = parseApp(explicitDefinition(slug, opts), 'the command line');
  }
  await ctx.catalog.add(app, Boolean(opts.force));
  if (opts.json) printJson(ctx.io, app);
  else ctx.info(`Added ${app.slug} (${app.auth === 'oauth2' ? 'OAuth 2.0' : 'API keys'}). Connect an account: acct connect ${app.slug}`);
}

/** Builds a definition from flags; parseApp validates it like any other. */
export function explicitDefinition(slug: string, opts: AddOptions): unknown {
  if (!opts.baseUrl) throw usageError('an app needs an API base URL', 'pass --base-url https://api.example.com (or use --file / --issuer)');
  const oauth = Boolean(opts.authorizationUrl || opts.tokenUrl);
  const fields = opts.field.length ? opts.field : ['api_key'];
  const primary = oauth ? 'oauth_access_token' : fields[0]!;
  const header = parseHeader(opts.header ?? `Authorization: Bearer {${primary}}`);
  const base = {
    slug,
    name: opts.name ?? slug,
    description: 'added by you',
    api: { baseUrl: opts.baseUrl, auth: { type: 'header', ...header } },
    test: opts.testPath ? { path: opts.testPath, identity: opts.identity } : undefined,
    env: { [primary]: `${slug.toUpperCase().replace(/-/g, '_')}_${oauth ? 'TOKEN' : 'API_KEY'}` },
  };
  if (!oauth)
    return { ...base, auth: 'keys', fields: fields.map((name) => ({ name, label: name.replace(/_/g, ' '), secret: true })) };
  if (!opts.authorizationUrl || !opts.tokenUrl)
    throw usageError('an OAuth app needs both --authorization-url and --token-url', 'or discover them: --issuer https://…');
  return {
    ...base,
    auth: 'oauth2',
    oauth: {
      authorizationUrl: opts.authorizationUrl,
      tokenUrl: opts.tokenUrl,
      revocationUrl: opts.revocationUrl,
      deviceAuthorizationUrl: opts.deviceUrl,
      scopes: opts.scope,
      createClientUrl: new URL(opts.authorizationUrl).origin,
    },
  };
}

function parseHeader(template: string): { name: string; value: string } {
  const i = template.indexOf(':');
  if (i <= 0) throw usageError(`--header takes "Name: value template", not "${template}"`);
  return { name: template.slice(0, i).trim(), value: template.slice(i + 1).trim() };
}

export async function removeApp(ctx: Context, slug: string) {
  const used = (await ctx.store.view()).accounts.filter((a) => a.app === slug);
  if (used.length) throw usageError(`${used.length} account(s) still use ${slug}`, `delete them first: acct delete ${used[0]!.id}`);
  await ctx.catalog.remove(slug);
  ctx.info(`Removed ${slug}`);
}
