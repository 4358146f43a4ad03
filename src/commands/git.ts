// `acct git-credential get|store|erase` (git's credential helper) and
// `acct setup-git` (the git config that makes acct that helper). The
// protocol is in src/git/protocol.ts, which account answers in
// src/git/select.ts; tokens come through the shared refresh path.
import { execFile } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { Context } from '../context.js';
import { freshCredentials, primaryFieldName, readSecrets } from '../accounts/credentials.js';
import { label } from '../accounts/resolve.js';
import { AcctError, errorMessage, notFound, usageError } from '../errors.js';
import { out, printJson } from '../output/format.js';
import { formatAnswer, MAX_REQUEST_BYTES, normalizeHost, parseRequest } from '../git/protocol.js';
import { accountHosts, selectAccount, type SelectDeps } from '../git/select.js';
import { isRejected, setRejected } from '../git/rejected.js';
import { configureHost, helperValue, unconfigure, type GitRunner } from '../git/config.js';
import type { AppDefinition } from '../catalog/schema.js';
import { timingSafeEqual, createHash } from 'node:crypto';

/** Refresh a token that expires within this many seconds before handing it to git (a clone can take a while). */
const GIT_MIN_TTL_SECONDS = 300;

export async function gitCredential(ctx: Context, operation: string): Promise<void> {
  if (!['get', 'store', 'erase'].includes(operation))
    throw usageError(`acct git-credential takes get, store or erase, not "${operation}"`, 'git runs it for you once configured: acct setup-git');
  const input = await readRequest(ctx.io.stdin);
  // acct's accounts are connected with acct, never by git: what git offers to store is read and dropped.
  if (operation === 'store') return;
  const parsed = parseRequest(input);
  if (!parsed.ok) {
    ctx.info(`acct: not answering git: ${parsed.reason}`);
    return;
  }
  const selection = await selectAccount(parsed.request, await selectDeps(ctx));
  if (selection.kind === 'none') {
    if (selection.note && operation === 'get') ctx.info(`acct: ${selection.note}`);
    return;
  }
  if (selection.kind === 'ambiguous') {
    if (operation === 'erase') return;
    const { host, candidates } = selection;
    const first = candidates[0]!.account;
    throw new AcctError('reference_ambiguous', `${host} matches ${candidates.length} accounts: ${candidates.map((c) => label(c.account)).join(', ')}`, {
      hint: `pick a default: acct default ${first.app}/${first.nickname}, or name the account in the remote URL: https://${first.nickname}@${host}/…`,
    });
  }
  const { pick, username } = selection;
  const { account, app } = pick;
  const name = `${account.app}/${account.nickname}`;

  if (operation === 'erase') {
    // git says the password it used was rejected. Only what acct handed out concerns acct; nothing is deleted.
    const offered = parsed.request.password;
    if (!offered) return;
    const stored = (await readSecrets(ctx, account))[primaryFieldName(app)];
    if (stored === undefined || !sameSecret(stored, offered)) return;
    if (account.auth !== 'oauth2') {
      ctx.info(`acct: git rejected the key of ${name}; acct keeps it: check it with acct test ${name}, or replace it with acct reconnect ${name}`);
      return;
    }
    await setRejected(ctx.paths, account.id, ctx.now());
    ctx.info(`acct: git rejected the token for ${name}; the next request refreshes it`);
    return;
  }

  ctx.store.warm();
  let force = false;
  try {
    force = account.auth === 'oauth2' && isRejected(ctx.paths, account.id);
  } catch (err) {
    ctx.warn(`cannot read which tokens git rejected (${errorMessage(err)}); answering without a forced refresh`);
  }
  const fields = await freshCredentials(ctx, account, app, { minTtlSeconds: GIT_MIN_TTL_SECONDS, force });
  if (force) {
    try {
      await setRejected(ctx.paths, account.id, null);
    } catch (err) {
      ctx.warn(`refreshed ${name}, but could not record it (${errorMessage(err)}); the next request refreshes it again`);
    }
  }
  const password = fields[primaryFieldName(app)];
  const expiresAt = account.auth === 'oauth2' && fields.expires_at ? Date.parse(fields.expires_at) : NaN;
  const answer =
    password === undefined
      ? undefined
      : formatAnswer({ username, password, passwordExpiryUtc: Number.isFinite(expiresAt) ? expiresAt / 1000 : undefined });
  if (!answer) {
    ctx.info(`acct: not answering git: the credential of ${name} is empty or holds a line break`);
    return;
  }
  out(ctx.io, answer);
}

/** Equal secrets, compared without an early exit (hashes of equal length). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

/** git is answered from this machine's store (a team account is named to git through a local one, or acct token in a credential helper of your own). */
async function selectDeps(ctx: Context): Promise<SelectDeps> {
  let gitApps: AppDefinition[] | undefined;
  return {
    metadata: await ctx.store.view(),
    app: (slug) => ctx.catalog.find(slug)?.app,
    gitApps: () => (gitApps ??= ctx.catalog.all().map((e) => e.app).filter((a) => a.git)),
    readFields: async (id) => (await ctx.store.readSecrets([id])).get(id)!,
  };
}

/** git's request: up to a blank line or the end of input, at most MAX_REQUEST_BYTES (more is refused by the parser). */
async function readRequest(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(buf);
    size += buf.length;
    const text = Buffer.concat(chunks).toString('utf8');
    if (size > MAX_REQUEST_BYTES || text.startsWith('\n') || text.includes('\n\n')) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface SetupGitOptions {
  host: string[];
  unset?: boolean;
  /** Empty each host's helper list before adding acct, instead of adding acct after the helpers there. */
  replace?: boolean;
  json?: boolean;
}

export async function setupGit(ctx: Context, opts: SetupGitOptions, deps: { git?: GitRunner; self?: string } = {}): Promise<void> {
  const git = deps.git ?? gitRunner(ctx.env);
  const named = opts.host.map((h) => {
    const host = normalizeHost(h.replace(/^https?:\/\//, '').replace(/\/+$/, ''), 'https');
    if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/.test(host))
      throw usageError(`"${h}" is not a git host`, 'name it as git does: github.com, or git.example.com:8443');
    return host;
  });

  if (opts.unset && opts.replace) throw usageError('--unset and --replace exclude each other', '--unset removes acct; --replace makes acct the only helper');
  if (opts.unset) {
    const removed = await unconfigure(git, named.length ? named : undefined);
    if (opts.json) printJson(ctx.io, removed);
    else if (!removed.length) ctx.info(`acct is not git's credential helper for ${named.length ? named.join(', ') : 'any host'}; nothing to remove`);
    else
      for (const r of removed)
        ctx.info(r.kept.length ? `Removed acct from ${r.key} (other helpers there stay: ${r.kept.map((v) => JSON.stringify(v)).join(', ')})` : `Removed ${r.key} (acct and the empty reset before it)`);
    return;
  }

  const served = await servedHosts(ctx);
  let hosts: string[];
  if (named.length) {
    const known = new Set(ctx.catalog.all().flatMap((e) => e.app.git?.hosts ?? []));
    for (const host of named) {
      if (served.has(host)) continue;
      if (!known.has(host))
        throw notFound(`no app in the catalog names the git host ${host}`, "add one with git.hosts in its definition: acct apps add <slug> --file app.json (see acct apps show github --json)", 'app_not_found');
      const apps = ctx.catalog.all().filter((e) => e.app.git?.hosts.includes(host)).map((e) => e.app.slug);
      ctx.warn(`no account for ${host} yet; connect one: acct connect ${apps[0]}`);
    }
    hosts = named;
  } else {
    hosts = [...served.keys()].sort();
    if (!hosts.length)
      throw notFound('none of your accounts is for a git host', 'connect one first, e.g. acct connect github (apps with git hosts: acct apps show <app>)', 'account_not_found');
  }

  const self = deps.self ?? acctPath(ctx.env);
  const done: { host: string; keys: string[]; apps: string[] }[] = [];
  for (const host of hosts) {
    const { keys, kept, replaced } = await configureHost(git, host, self, { replace: opts.replace });
    done.push({ host, keys, apps: [...(served.get(host) ?? [])] });
    const list = (vs: string[]) => vs.map((v) => JSON.stringify(v)).join(', ');
    if (kept.length)
      ctx.info(`Configured git for ${host}: acct is added to ${keys.join(' and ')} after the helpers already there (${list(kept)}), which git asks first; acct answers when they give nothing. To make acct the only one: acct setup-git --host ${host} --replace`);
    else ctx.info(`Configured git for ${host}: ${keys.join(' and ')} is acct (after an empty value that resets other helpers for it)`);
    if (replaced.length) ctx.warn(`removed the helpers ${host} had in your global git config (--replace): ${list(replaced)}`);
  }
  if (opts.json) printJson(ctx.io, done.map((d) => ({ host: d.host, config: d.keys, apps: d.apps, helper: helperValue(self) })));
}

/** host → the apps of your accounts that serve it. */
async function servedHosts(ctx: Context): Promise<Map<string, Set<string>>> {
  const served = new Map<string, Set<string>>();
  const deps = await selectDeps(ctx);
  for (const account of deps.metadata.accounts) {
    const app = ctx.catalog.find(account.app)?.app;
    if (!app?.git) continue;
    for (const host of await accountHosts(app, app.git, account, deps.readFields)) {
      served.set(host, (served.get(host) ?? new Set()).add(app.slug));
    }
  }
  return served;
}

/**
 * The path git should run: `acct` as found on PATH when that is this very
 * program (an npm link or global install: the link survives upgrades), else
 * the running script itself.
 */
export function acctPath(env: NodeJS.ProcessEnv, script = process.argv[1] ?? 'acct'): string {
  const self = resolve(script);
  let real: string;
  try {
    real = realpathSync(self);
  } catch {
    return self;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !dir.startsWith('/')) continue;
    const candidate = join(dir, 'acct');
    try {
      accessSync(candidate, constants.X_OK);
      if (realpathSync(candidate) === real) return candidate;
    } catch {
      // not here
    }
  }
  return self;
}

function gitRunner(env: NodeJS.ProcessEnv): GitRunner {
  return (args) =>
    new Promise((resolveRun, reject) => {
      execFile('git', args, { env, encoding: 'utf8', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (err as NodeJS.ErrnoException & { code?: unknown }).code : 0;
        if (code === 'ENOENT') return reject(new AcctError('command_not_found', 'git is not installed (or not on PATH)', { hint: 'install git, then run acct setup-git again' }));
        if (err && typeof code !== 'number') return reject(new AcctError('unexpected', `cannot run git: ${err.message}`));
        resolveRun({ code: typeof code === 'number' ? code : 0, stdout, stderr });
      });
    });
}
