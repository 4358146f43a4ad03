// Which account answers git for a host: only accounts of apps whose catalog
// entry names that host (`git.hosts`), then, among several, the one git's
// username or the remote's owner (`path`) names, else the app's only or
// default account. Anything else is ambiguous: never a guess, never a token
// for a host its app does not name.
import type { Account } from '../accounts/model.js';
import type { AccountView } from '../store/account-store.js';
import type { AppDefinition, GitSpec } from '../catalog/schema.js';
import type { Fields } from '../store/store.js';
import { type CredentialRequest, isLoopback, normalizeHost, pathOwner } from './protocol.js';

export interface GitAccount {
  account: Account;
  app: AppDefinition;
  git: GitSpec;
}

export type Selection =
  /** Nothing to answer; `note` (if any) says why on stderr. */
  | { kind: 'none'; note?: string }
  | { kind: 'account'; pick: GitAccount; username: string }
  | { kind: 'ambiguous'; host: string; candidates: GitAccount[] };

export interface SelectDeps {
  metadata: AccountView;
  app: (slug: string) => AppDefinition | undefined;
  /** Every app with git hosts (for "no account for this host" notes). */
  gitApps: () => AppDefinition[];
  /** The stored fields of an account: only read for apps whose host is a {field}. */
  readFields: (id: string) => Promise<Fields>;
}

const HOST_TEMPLATE = /^\{([a-z][a-z0-9_]*)\}$/;
const HOST_VALUE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;

/** The hosts an account serves: its app's literal hosts, and {field} hosts filled from the account's fields. */
export async function accountHosts(app: AppDefinition, git: GitSpec, account: Account, readFields: SelectDeps['readFields']): Promise<string[]> {
  const hosts: string[] = [];
  let fields: Fields | undefined;
  for (const host of git.hosts) {
    const ref = HOST_TEMPLATE.exec(host)?.[1];
    if (!ref) {
      hosts.push(host);
      continue;
    }
    fields ??= await readFields(account.id);
    const fallback = app.auth === 'keys' ? app.fields.find((f) => f.name === ref)?.default : undefined;
    const value = (fields[ref] ?? fallback ?? '').toLowerCase();
    // A value that is not a bare host (a scheme, a path, a user@) names no host.
    if (HOST_VALUE.test(value)) hosts.push(normalizeHost(value, 'https'));
  }
  return hosts;
}

/** The accounts whose app serves `host` (normalized). */
export async function accountsForHost(host: string, deps: SelectDeps): Promise<GitAccount[]> {
  const out: GitAccount[] = [];
  for (const account of deps.metadata.accounts) {
    const app = deps.app(account.app);
    const git = app?.git;
    if (!app || !git) continue;
    // Accounts of apps with only literal hosts are decided without reading a secret.
    if (git.hosts.every((h) => !HOST_TEMPLATE.test(h)) && !git.hosts.includes(host)) continue;
    if ((await accountHosts(app, git, account, deps.readFields)).includes(host)) out.push({ account, app, git });
  }
  return out;
}

export async function selectAccount(req: CredentialRequest, deps: SelectDeps): Promise<Selection> {
  const protocol = req.protocol;
  if (!protocol || !req.host) return { kind: 'none' };
  const host = normalizeHost(req.host, protocol);
  // https only; plain http only to this machine (local servers, tests). A token never travels in the clear.
  if (!(protocol === 'https' || (protocol === 'http' && isLoopback(host)))) return { kind: 'none' };

  let candidates = await accountsForHost(host, deps);
  if (!candidates.length) {
    const apps = deps.gitApps().filter((a) => a.git!.hosts.includes(host));
    return apps.length ? { kind: 'none', note: `no account for ${host}; connect one: acct connect ${apps[0]!.slug}` } : { kind: 'none' };
  }

  // A username in the remote URL (https://bot@github.com/…) names an account, or is the provider's own token username.
  const wanted = req.username;
  if (wanted) {
    const named = candidates.filter((c) => same(c.account.nickname, wanted) || (c.account.identity !== null && same(c.account.identity, wanted)));
    if (named.length) candidates = named;
    else {
      candidates = candidates.filter((c) => c.git.anyUsername || c.git.username === wanted);
      if (!candidates.length) return { kind: 'none', note: `no account for ${host} is called ${JSON.stringify(wanted)} (the username in the remote URL); see them with: acct list` };
    }
  }

  // The remote's owner (acme in https://github.com/acme/private.git, sent with credential.useHttpPath) names an account.
  const owner = pathOwner(req.path);
  if (candidates.length > 1 && owner) {
    const named = candidates.filter((c) => same(c.account.nickname, owner));
    if (named.length) candidates = named;
  }

  if (candidates.length > 1) {
    // As an app slug means its only account or its default, so does a host, when all the candidates are one app's.
    const apps = new Set(candidates.map((c) => c.account.app));
    const slug = candidates[0]!.account.app;
    const def = apps.size === 1 ? candidates.find((c) => deps.metadata.defaults[slug] === c.account.id) : undefined;
    if (!def) return { kind: 'ambiguous', host, candidates };
    candidates = [def];
  }

  const pick = candidates[0]!;
  const username = wanted && pick.git.anyUsername ? wanted : pick.git.username;
  return { kind: 'account', pick, username };
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
