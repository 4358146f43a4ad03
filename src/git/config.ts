// `acct setup-git`: acct as git's credential helper for chosen hosts, in the
// global git config, the way `gh auth setup-git` does it: for each host an
// empty helper first (it resets the helpers configured for that host
// elsewhere), then acct. `--unset` removes those entries and no others.
import { isLoopback } from './protocol.js';
import { AcctError } from '../errors.js';

/** Runs git with these arguments; the environment (HOME, GIT_CONFIG_GLOBAL) is the caller's. */
export type GitRunner = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** A single-quoted word for sh, which git runs `!…` helpers with. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const helperValue = (acctPath: string) => `!${shQuote(acctPath)} git-credential`;

/** Whether a configured helper is one acct wrote (from any install path). */
export function isAcctHelper(value: string): boolean {
  const m = /^!'((?:[^']|'\\'')*)' git-credential$/.exec(value);
  return m !== null && /(?:^|\/)acct(?:\.cjs)?$/.test(m[1]!.replace(/'\\''/g, "'"));
}

/** The URLs git matches a host's remotes with: https, and plain http for loopback hosts only. */
export const hostUrls = (host: string) => (isLoopback(host) ? [`https://${host}`, `http://${host}`] : [`https://${host}`]);
const keyOf = (url: string) => `credential.${url}.helper`;

/**
 * acct as a helper for the host's URLs. A URL with no helper of its own gets
 * an empty value (resetting the helpers configured elsewhere, credential.helper
 * among them) and then acct. A URL that has other helpers (`!gh auth
 * git-credential`) keeps them, and acct is added after them: git asks each in
 * order, so acct answers when they give nothing. `replace` (setup-git
 * --replace) empties the URL's list first and reports what it took out.
 * Running it again changes nothing.
 */
export async function configureHost(git: GitRunner, host: string, acctPath: string, opts: { replace?: boolean } = {}): Promise<{ keys: string[]; kept: string[]; replaced: string[] }> {
  const keys: string[] = [];
  const kept: string[] = [];
  const replaced: string[] = [];
  for (const url of hostUrls(host)) {
    const key = keyOf(url);
    const listed = await git(['config', '--global', '--get-all', key]);
    if (listed.code !== 0 && listed.code !== 1) throw gitFailed(['config', '--get-all'], listed);
    const existing = listed.code === 0 ? listed.stdout.replace(/\n$/, '').split('\n') : [];
    const others = existing.filter((v) => v !== '' && !isAcctHelper(v));
    keys.push(key);
    if (others.length && !opts.replace) {
      kept.push(...others);
      if (!existing.some(isAcctHelper)) await must(git, ['config', '--global', '--add', key, helperValue(acctPath)]);
      continue;
    }
    replaced.push(...others);
    // replace-all leaves exactly one (empty) value whatever was there, so running this again changes nothing.
    await must(git, ['config', '--global', '--replace-all', key, '']);
    await must(git, ['config', '--global', '--add', key, helperValue(acctPath)]);
  }
  return { keys, kept: [...new Set(kept)], replaced: [...new Set(replaced)] };
}

/** Removes acct's helper entries (and the empty reset before them) for these hosts, or for every host when none are named. */
export async function unconfigure(git: GitRunner, hosts: string[] | undefined): Promise<{ key: string; host: string; kept: string[] }[]> {
  const listed = await git(['config', '--global', '--null', '--get-regexp', '^credential\\..*\\.helper$']);
  // Exit 1: no such entries at all.
  if (listed.code !== 0 && listed.code !== 1) throw gitFailed(['config', '--get-regexp'], listed);
  const values = new Map<string, string[]>();
  for (const entry of listed.stdout.split('\0')) {
    if (!entry) continue;
    const nl = entry.indexOf('\n');
    const key = nl < 0 ? entry : entry.slice(0, nl);
    const value = nl < 0 ? '' : entry.slice(nl + 1);
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  const wanted = hosts && new Set(hosts.flatMap(hostUrls).map(keyOf).map((k) => k.toLowerCase()));
  const removed: { key: string; host: string; kept: string[] }[] = [];
  for (const [key, vals] of values) {
    if (wanted && !wanted.has(key.toLowerCase())) continue;
    if (!vals.some(isAcctHelper)) continue;
    const rest = vals.filter((v) => !isAcctHelper(v));
    const whole = rest.every((v) => v === '');
    if (whole) await must(git, ['config', '--global', '--unset-all', key]);
    else for (const v of new Set(vals.filter(isAcctHelper))) await must(git, ['config', '--global', '--fixed-value', '--unset-all', key, v]);
    removed.push({ key, host: key.replace(/^credential\.https?:\/\//, '').replace(/\.helper$/, ''), kept: whole ? [] : rest });
  }
  return removed;
}

async function must(git: GitRunner, args: string[]): Promise<void> {
  const r = await git(args);
  if (r.code !== 0) throw gitFailed(args, r);
}

const gitFailed = (args: string[], r: { code: number; stderr: string }) =>
  new AcctError('unexpected', `git ${args.filter((a) => a.startsWith('-') || a === 'config').join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`, {
    hint: 'check your global git config: git config --global --list --show-origin',
  });
