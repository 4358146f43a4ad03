// Account references as the spec defines them: an id, app/nickname, a nickname,
// or an app slug (its only account, or its default); anything ambiguous is an
// error listing the candidates, never a guess.
import { describe, it, expect } from 'vitest';
import { resolveReference, label } from '../../src/accounts/resolve.js';
import { AcctError, ExitCode } from '../../src/errors.js';
import type { Account, Metadata } from '../../src/accounts/model.js';
import { keyAccount } from '../support/accounts.js';

const account = keyAccount;

function metadata(accounts: Account[], defaults: Record<string, string> = {}): Metadata {
  return { version: 1, accounts, defaults, retiredIds: [] };
}

/** The error resolveReference throws, checked to be an AcctError. */
function failure(m: Metadata, ref: string, isApp?: (slug: string) => boolean, appSlugs?: () => string[]): AcctError {
  try {
    const hit = resolveReference(m, ref, isApp, appSlugs);
    throw new Error(`expected "${ref}" to fail, but it resolved to ${label(hit)}`);
  } catch (err) {
    expect(err).toBeInstanceOf(AcctError);
    return err as AcctError;
  }
}

describe('resolveReference', () => {
  const ghWork = account('github', 'work', 'acc_aaaaaaaaaa');
  const ghHome = account('github', 'home', 'acc_bbbbbbbbbb');
  const slack = account('slack', 'team', 'acc_cccccccccc');
  const openaiWork = account('openai', 'work', 'acc_dddddddddd');
  const m = metadata([ghWork, ghHome, slack, openaiWork]);

  it('an account id', () => {
    for (const a of [ghWork, ghHome, slack, openaiWork]) expect(resolveReference(m, a.id)).toBe(a);
  });

  it('app/nickname', () => {
    expect(resolveReference(m, 'github/work')).toBe(ghWork);
    expect(resolveReference(m, 'openai/work')).toBe(openaiWork);
    expect(resolveReference(m, 'github/home')).toBe(ghHome);
  });

  it('app/nickname that does not exist: not found, naming the accounts the app has', () => {
    const err = failure(m, 'github/nope');
    expect(err.exitCode).toBe(ExitCode.notFound);
    expect(err.message).toBe('no github account is called "nope"');
    expect(err.hint).toContain(label(ghWork));
    expect(err.hint).toContain(label(ghHome));
    expect(err.hint).not.toContain(slack.id);

    // gitlab is an app of its own, not a typo of github.
    const none = failure(m, 'gitlab/work', (slug) => slug === 'gitlab');
    expect(none.exitCode).toBe(ExitCode.notFound);
    expect(none.hint).toBe('connect one: acct connect gitlab');
  });

  it('a typo in a reference suggests the references a few edits away, never resolves to them', () => {
    expect(failure(m, 'githb/work').hint).toBe('did you mean github/work?');
    expect(failure(m, 'github/wrok').hint).toBe('did you mean github/work?');
    expect(failure(m, 'githb').hint).toBe('did you mean github? (see your accounts with: acct list)');
    const far = failure(m, 'zzzzzz');
    expect(far.hint).toBe('see your accounts with: acct list');
    // An app of the catalog without accounts yet, asked only when no account is close.
    const apps = () => ['github', 'gitlab', 'stripe'];
    expect(failure(m, 'stirpe', () => false, apps).hint).toBe('did you mean stripe? (no account of it yet: acct connect stripe)');
    expect(failure(m, 'githb', () => false, apps).hint).toBe('did you mean github? (see your accounts with: acct list)');
  });

  it('a nickname used once', () => {
    expect(resolveReference(m, 'home')).toBe(ghHome);
    expect(resolveReference(m, 'team')).toBe(slack);
  });

  it('a nickname two apps use is ambiguous and lists both', () => {
    const err = failure(m, 'work');
    expect(err.exitCode).toBe(ExitCode.notFound);
    expect(err.message).toBe(`"work" matches 2 accounts: ${label(ghWork)}, ${label(openaiWork)}`);
    expect(err.hint).toMatch(/app\/nickname or by id/);
  });

  it("an app slug means the app's only account", () => {
    expect(resolveReference(m, 'slack')).toBe(slack);
    expect(resolveReference(m, 'openai')).toBe(openaiWork);
  });

  it('an app slug with several accounts means its default', () => {
    expect(resolveReference(metadata(m.accounts, { github: ghHome.id }), 'github')).toBe(ghHome);
    expect(resolveReference(metadata(m.accounts, { github: ghWork.id }), 'github')).toBe(ghWork);
  });

  it('an app slug with several accounts and no default is ambiguous and says how to pick one', () => {
    const err = failure(m, 'github');
    expect(err.exitCode).toBe(ExitCode.notFound);
    expect(err.message).toBe(`"github" matches 2 accounts: ${label(ghWork)}, ${label(ghHome)}`);
    // The command in the hint can be pasted as is.
    expect(err.hint).toMatch(/acct default github\/work$/);
  });

  it('a default that points at a deleted account does not count', () => {
    const err = failure(metadata(m.accounts, { github: 'acc_zzzzzzzzzz' }), 'github');
    expect(err.message).toMatch(/"github" matches 2 accounts/);
  });

  it('a default of another app is not used for this one', () => {
    const err = failure(metadata(m.accounts, { slack: ghWork.id }), 'github');
    expect(err.message).toMatch(/"github" matches 2 accounts/);
  });

  it('a reference that is both an app slug and a nickname is ambiguous', () => {
    // "slack" is the slack app's only account, and a github account's nickname.
    const nickedSlack = account('github', 'slack', 'acc_eeeeeeeeee');
    const both = metadata([...m.accounts, nickedSlack]);
    const err = failure(both, 'slack');
    expect(err.message).toMatch(/"slack" matches 2 accounts/);
    expect(err.message).toContain(label(slack));
    expect(err.message).toContain(label(nickedSlack));
    // The unambiguous forms still work.
    expect(resolveReference(both, 'slack/team')).toBe(slack);
    expect(resolveReference(both, 'github/slack')).toBe(nickedSlack);
  });

  it('an app default and a nickname that names another account are ambiguous', () => {
    const nickedGithub = account('slack', 'github', 'acc_ffffffffff');
    const both = metadata([...m.accounts, nickedGithub], { github: ghWork.id });
    const err = failure(both, 'github');
    expect(err.message).toMatch(/"github" matches 2 accounts/);
    expect(err.message).toContain(label(ghWork));
    expect(err.message).toContain(label(nickedGithub));
  });

  it('an app slug without a default is ambiguous even when a nickname also matches', () => {
    // "github" could mean either github account (no default) or slack/github: a guess either way.
    const nickedGithub = account('slack', 'github', 'acc_gggggggggg');
    const err = failure(metadata([...m.accounts, nickedGithub]), 'github');
    expect(err.exitCode).toBe(ExitCode.notFound);
    for (const a of [ghWork, ghHome, nickedGithub]) expect(err.message).toContain(label(a));
    expect(err.hint).toMatch(/acct default github\//);
  });

  it('an app account whose nickname is the app slug counts once', () => {
    const gh = account('github', 'github', 'acc_hhhhhhhhhh');
    expect(resolveReference(metadata([gh, slack]), 'github')).toBe(gh);
  });

  it('nothing matches: not found, with a next step', () => {
    const err = failure(m, 'nobody');
    expect(err.exitCode).toBe(ExitCode.notFound);
    expect(err.message).toBe('no account matches "nobody"');
    expect(err.hint).toBe('see your accounts with: acct list');

    // An app with no accounts: connect one. A name that is no app either: where to look.
    const isApp = (slug: string) => slug === 'github';
    expect(failure(metadata([]), 'github', isApp).hint).toBe('connect one: acct connect github');
    expect(failure(m, 'github-typo', isApp).hint).toBe('see your accounts with: acct list');
    expect(failure(metadata([]), 'github-typo', isApp).hint).toBe('connect an account first: acct connect <app> (find apps with: acct apps)');
  });

  it('an id-shaped reference that is no account is not found', () => {
    expect(failure(m, 'acc_zzzzzzzzzz').exitCode).toBe(ExitCode.notFound);
  });

  it('matching is exact: no prefixes, no case folding', () => {
    for (const ref of ['Github', 'git', 'GITHUB/work', 'github/Work', 'acc_aaaaaaaaa', 'wor']) expect(failure(m, ref).exitCode).toBe(ExitCode.notFound);
  });

  it('only the first slash splits app from nickname', () => {
    // Nicknames cannot hold a slash, so "a/b/c" names nothing rather than something else.
    expect(failure(m, 'github/work/x').message).toBe('no github account is called "work/x"');
  });

  it('does not change the metadata it reads', () => {
    const copy = structuredClone(m);
    for (const ref of ['github', 'work', 'slack', 'nobody', 'github/work']) {
      try {
        resolveReference(m, ref);
      } catch {
        /* only the metadata matters here */
      }
    }
    expect(m).toEqual(copy);
  });
});
