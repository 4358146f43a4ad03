// Account references, as the spec defines them: an account id, a nickname,
// app/nickname, or an app slug (that app's only account, or its default).
// Anything ambiguous is an error that lists the candidates.
import { AcctError, ExitCode } from '../errors.js';
import type { Account, Metadata } from './model.js';
import { closest, didYouMean } from '../suggest.js';

/**
 * `isApp` tells an app slug from a typo, and `appSlugs` lists the apps there
 * are (asked only when nothing matches), for the hint.
 */
export function resolveReference(m: Metadata, ref: string, isApp: (slug: string) => boolean = () => false, appSlugs: () => string[] = () => []): Account {
  const byId = m.accounts.find((a) => a.id === ref);
  if (byId) return byId;

  if (ref.includes('/')) {
    const [app, nickname] = splitOnce(ref, '/');
    const hit = m.accounts.find((a) => a.app === app && a.nickname === nickname);
    if (hit) return hit;
    const ofApp = m.accounts.filter((a) => a.app === app);
    // A typo in one half, measured on that half: github/wrok, githb/work.
    const near = [
      ...closest(nickname, ofApp.map((a) => a.nickname)).map((n) => `${app}/${n}`),
      // An app that exists (gitlab) is what the user meant, not a typo of another (github).
      ...(isApp(app) ? [] : closest(app, m.accounts.filter((a) => a.nickname === nickname).map((a) => a.app)).map((a) => `${a}/${nickname}`)),
    ];
    throw new AcctError('account_not_found', `no ${app} account is called "${nickname}"`, {
      hint: near.length
        ? didYouMean(near)
        : ofApp.length
          ? `${app} accounts: ${ofApp.map(label).join(', ')}`
          : `connect one: acct connect ${app}`,
    });
  }

  const candidates = new Map<string, Account>();
  for (const a of m.accounts) if (a.nickname === ref) candidates.set(a.id, a);
  const ofApp = m.accounts.filter((a) => a.app === ref);
  if (ofApp.length === 1) candidates.set(ofApp[0]!.id, ofApp[0]!);
  else if (ofApp.length > 1) {
    const def = ofApp.find((a) => a.id === m.defaults[ref]);
    if (def) candidates.set(def.id, def);
    else {
      // Without a default the app slug is ambiguous by itself; a nickname that also matches does not settle it.
      for (const a of ofApp) candidates.set(a.id, a);
      throw ambiguous(ref, [...candidates.values()], `or pick a default: acct default ${ofApp[0]!.app}/${ofApp[0]!.nickname}`);
    }
  }
  if (candidates.size === 1) return [...candidates.values()][0]!;
  if (candidates.size > 1) throw ambiguous(ref, [...candidates.values()]);
  // What a reference can name: app slugs, nicknames, app/nickname; else an app without accounts yet.
  const near = isApp(ref) ? [] : closest(ref, m.accounts.flatMap((a) => [a.app, a.nickname, `${a.app}/${a.nickname}`]));
  const apps = isApp(ref) || near.length ? [] : closest(ref, appSlugs());
  throw new AcctError('account_not_found', `no account matches "${ref}"`, {
    hint: isApp(ref)
      ? `connect one: acct connect ${ref}`
      : near.length
        ? `${didYouMean(near)} (see your accounts with: acct list)`
        : apps.length
          ? `${didYouMean(apps)} (${apps.length === 1 ? `no account of it yet: acct connect ${apps[0]}` : 'no account of them yet: acct connect <app>'})`
          : m.accounts.length
          ? 'see your accounts with: acct list'
          : 'connect an account first: acct connect <app> (find apps with: acct apps)',
  });
}

function ambiguous(ref: string, accounts: Account[], extra?: string) {
  return new AcctError('reference_ambiguous', `"${ref}" matches ${accounts.length} accounts: ${accounts.map(label).join(', ')}`, {
    hint: `name one of them as app/nickname or by id${extra ? `, ${extra}` : ''}`,
  });
}

export const label = (a: Account) => `${a.app}/${a.nickname} (${a.id})`;

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return [s.slice(0, i), s.slice(i + 1)];
}
