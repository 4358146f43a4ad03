// accounts.tsv (store/account-file.ts) and the repository on top of it: what
// a lookup finds is what resolving over every account finds, a damaged file
// is a store error naming it, and a store in the old accounts.json is read as
// it is and moved over by its first write with nothing lost.
import { describe, it, expect, beforeEach } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountFile, serializeAccounts, ACCOUNT_FILE_NAME } from '../../src/store/account-file.js';
import { AccountRepository } from '../../src/accounts/repository.js';
import { resolveReference } from '../../src/accounts/resolve.js';
import { AcctError, ExitCode } from '../../src/errors.js';
import type { Account, Metadata } from '../../src/accounts/model.js';
import { keyAccount } from '../support/accounts.js';

const account = keyAccount;

const ids = Array.from({ length: 12 }, (_, i) => `acc_${'abcdefghijkl'[i]!.repeat(10)}`);

/** A store with what references trip over: a nickname that is also an app, one nickname in two apps, odd characters. */
function sample(): Metadata {
  return {
    version: 1,
    accounts: [
      account('github', 'work', ids[0]!, { identity: 'octocat', settings: { 'app\tnickname': 'x\ny' } }),
      account('github', 'personal', ids[1]!),
      account('slack', 'work', ids[2]!),
      account('stripe', 'live', ids[3]!),
      // The nickname "github" on another app: `github` is the app, or this one.
      account('gitlab', 'github', ids[4]!),
      account('openai', 'me@example.com', ids[5]!, { identity: 'me@example.com' }),
      account('openai', 'a.b_c+d-e', ids[6]!),
      // An app whose nickname is the app itself (the tab before one is the tab after the other).
      account('linear', 'linear', ids[7]!),
      account('notion', 'ünïcödé', ids[8]!),
    ],
    defaults: { github: ids[0]! },
    retiredIds: ['acc_zzzzzzzzzz'],
  };
}

const parse = (m: Metadata, path = '/x/accounts.tsv') => AccountFile.parse(path, serializeAccounts(m));

function failure(f: () => unknown): AcctError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(AcctError);
    return err as AcctError;
  }
  throw new Error('expected an error');
}

describe('accounts.tsv', () => {
  it('round-trips every account, the defaults and the retired ids', () => {
    const m = sample();
    const file = parse(m);
    expect(file.metadata()).toEqual(m);
    expect(file.defaults).toEqual(m.defaults);
    expect(file.retiredIds).toEqual(m.retiredIds);
    expect(parse({ version: 1, accounts: [], defaults: {}, retiredIds: [] }).accounts()).toEqual([]);
  });

  it('keeps keys that hold a tab, a line break, a percent sign or a lone surrogate (a hand-edited old store) in their columns', () => {
    const odd = [account('we\tird', 'ni\nck%09', ids[0]!), account('plain', '100%', ids[1]!), account('we', 'ird', ids[2]!), account('lone', 'x\uD800y%uD800', ids[3]!)];
    const file = parse({ version: 1, accounts: odd, defaults: {}, retiredIds: [] });
    expect(file.accounts()).toEqual(odd);
    // Every account is one line of the index and one of the accounts: the header, four, the listing, four.
    expect(serializeAccounts({ version: 1, accounts: odd, defaults: {}, retiredIds: [] }).toString().split('\n')).toHaveLength(11);
    expect(file.listed().map((a) => `${a.app}/${a.nickname}`)).toEqual(odd.map((a) => `${a.app}/${a.nickname}`));
    expect(file.metadata(true).accounts).toEqual(odd);
    expect(file.candidates('we\tird/ni\nck%09').map((k) => k.id)).toEqual([ids[0]]);
    expect(file.candidates('100%').map((k) => k.id)).toEqual([ids[1]]);
    expect(file.candidates('we').map((k) => k.id)).toEqual([ids[2]]);
    expect(file.candidates('x\uD800y%uD800').map((k) => k.id)).toEqual([ids[3]]);
    expect(file.allKeys().map((k) => `${k.app}/${k.nickname}`)).toEqual(['we\tird/ni\nck%09', 'plain/100%', 'we/ird', 'lone/x\uD800y%uD800']);
  });

  it('finds the lines a reference names by their keys, in file order', () => {
    const file = parse(sample());
    const found = (ref: string) => file.candidates(ref).map((k) => `${k.app}/${k.nickname}`);
    expect(found(ids[3]!)).toEqual(['stripe/live']);
    expect(found('github/work')).toEqual(['github/work']);
    expect(found('work')).toEqual(['github/work', 'slack/work']);
    // The app's default names it, however many accounts it has; without one, all of them count.
    expect(found('github')).toEqual(['github/work', 'gitlab/github']);
    expect(parse({ ...sample(), defaults: {} }).candidates('github').map((k) => `${k.app}/${k.nickname}`)).toEqual(['github/work', 'github/personal', 'gitlab/github']);
    expect(parse({ ...sample(), defaults: { github: ids[3]! } }).candidates('github').map((k) => `${k.app}/${k.nickname}`)).toEqual(['github/work', 'github/personal', 'gitlab/github']);
    expect(found('linear')).toEqual(['linear/linear']);
    expect(found('linear/linear')).toEqual(['linear/linear']);
    expect(found('me@example.com')).toEqual(['openai/me@example.com']);
    expect(found('a.b_c+d-e')).toEqual(['openai/a.b_c+d-e']);
    expect(found('ünïcödé')).toEqual(['notion/ünïcödé']);
    // Parts of keys, and keys in the wrong column, are not hits.
    expect(found('git')).toEqual([]);
    expect(found('work/github')).toEqual([]);
    expect(found('octocat')).toEqual([]);
    expect(found('app')).toEqual([]);
    expect(file.appKeys('openai').map((k) => k.nickname)).toEqual(['me@example.com', 'a.b_c+d-e']);
    expect(file.get(ids[8]!)).toEqual(sample().accounts[8]);
    expect(file.get('acc_zzzzzzzzzz')).toBeUndefined();
    expect(file.get('acc_aaaaa')).toBeUndefined();
  });

  it('refuses a truncated, extended or damaged file with a store error naming it', () => {
    const path = '/home/u/.local/share/acct/accounts.tsv';
    const text = serializeAccounts(sample()).toString();
    const offsetOf = (id: string) => new RegExp(`\\n(\\d+)\\t${id}\\t`).exec(text)![1]!;
    const cases: [string, string, (f: AccountFile) => unknown][] = [
      [text.slice(0, text.length - 40), 'truncated', () => 0],
      [text.slice(0, 30), 'header', () => 0],
      [text + '{"id":"acc_x"}\n', 'more than its header', () => 0],
      ['', 'header', () => 0],
      ['not json\n', 'header', () => 0],
      ['{"version":3}\n', 'header', () => 0],
      ['{"version":"3","count":0,"index":0,"listing":3,"length":6,"defaults":{},"retiredIds":[]}\n[]\n[]\n', 'header', () => 0],
      // Version 3 without its listing's size, version 2 with one, a version older than 2.
      ['{"version":3,"count":0,"index":0,"length":3,"defaults":{},"retiredIds":[]}\n[]\n', 'header', () => 0],
      ['{"version":2,"count":0,"index":0,"listing":3,"length":6,"defaults":{},"retiredIds":[]}\n[]\n[]\n', 'header', () => 0],
      ['{"version":1,"count":0,"index":0,"length":3,"defaults":{},"retiredIds":[]}\n[]\n', 'header', () => 0],
      ['{"version":3,"count":0,"index":2,"listing":3,"length":6,"defaults":{},"retiredIds":[]}\n[]\n[]\n', 'do not line up', () => 0],
      ['{"version":3,"count":0,"index":0,"listing":2,"length":6,"defaults":{},"retiredIds":[]}\n[]\n[]\n', 'do not line up', () => 0],
      // A listing that is not what its accounts say: refused by the list that reads it (damaged JSON, or not one row an account), and by every write.
      [text.replace('["acc_dddddddddd","stripe","live"', '["acc_dddddddddd","stripe","live!'), 'listing is not valid JSON', (f) => f.listed()],
      [text.replace('["acc_dddddddddd","stripe","live","keys","ok",null]', '["acc_dddddddddd","stripe","live","keys","ok",1234]'), 'listing does not have the expected shape', (f) => f.listed()],
      [text.replace('["acc_dddddddddd","stripe","live","keys","ok",null]', '["acc_dddddddddd","stripe","live","keys","xx",null]'), 'listing does not match account 4 (acc_dddddddddd)', (f) => f.metadata(true)],
      // The same length, a byte changed inside one account's JSON: refused by a list, and by a lookup that parses it.
      [text.replace('"personal","auth"', '"personal","auth:'), 'accounts are not valid JSON', (f) => f.accounts()],
      [text.replace('"personal","auth"', '"personal","auth:'), 'line 3 is damaged: the account it points at is not valid JSON', (f) => f.get(ids[1]!)],
      // A key that does not match the account behind it: refused by the lookup that finds it, and by every write.
      [text.replace('\tstripe\tlive\n', '\tstripe\tLIVE\n'), 'line 5 is damaged: it does not match', (f) => f.candidates('LIVE').map((k) => f.accountAt(k.at))],
      [text.replace('\tstripe\tlive\n', '\tstripe\tLIVE\n'), 'line 5 is damaged: it does not match', (f) => f.metadata(true)],
      [text.replace('\tstripe\tlive\n', '\tstripe live\n'), 'line 5 is damaged: it does not have an offset', (f) => f.metadata(true)],
      // An offset that points elsewhere.
      [text.replace(`\n${offsetOf(ids[3]!)}\t`, `\n${Number(offsetOf(ids[3]!)) + 1}\t`), 'line 5 is damaged: its offset', (f) => f.get(ids[3]!)],
      [text.replace(`\n${offsetOf(ids[3]!)}\t`, `\n${Number(offsetOf(ids[3]!)) + 1}\t`), 'line 5 is damaged: its offset', (f) => f.metadata(true)],
      // The accounts without one of them, or not a list of accounts.
      [text.replace(/\[\{.*\},\n/, (line) => `[${' '.repeat(line.length - 2)}\n`), 'accounts', (f) => f.accounts()],
    ];
    for (const [content, why, use] of cases) {
      const err = failure(() => use(AccountFile.parse(path, Buffer.from(content))));
      expect(err.exitCode).toBe(ExitCode.store);
      expect(err.message).toContain(path);
      expect(err.message).toContain(why);
      expect(err.hint).toMatch(/left it untouched/);
    }
  });

  it('tells a file of a newer acct from a damaged one', () => {
    const err = failure(() => AccountFile.parse('/s/accounts.tsv', Buffer.from('{"version":4,"length":0,"defaults":{},"retiredIds":[]}\n')));
    expect(err.exitCode).toBe(ExitCode.store);
    expect(err.message).toContain('newer acct');
    expect(err.hint).toMatch(/upgrade acct/);
  });
});

describe('AccountRepository over accounts.tsv', () => {
  let dir: string;
  let repo: AccountRepository;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'acct-layout-'));
    repo = new AccountRepository({ config: dir, data: dir });
  });
  const writeTsv = (m: Metadata) => writeFileSync(join(dir, ACCOUNT_FILE_NAME), serializeAccounts(m), { mode: 0o600 });
  const writeJson = (m: Metadata) => writeFileSync(join(dir, 'accounts.json'), JSON.stringify(m, null, 2), { mode: 0o600 });

  /** What resolve gives, or the error it throws, comparable. */
  const outcome = (f: () => Account) => {
    try {
      return { account: f() };
    } catch (err) {
      if (!(err instanceof AcctError)) throw err;
      return { code: err.code, message: err.message, hint: err.hint };
    }
  };

  it('resolves every kind of reference exactly as resolving over every account does', () => {
    const apps = ['github', 'gitlab', 'slack', 'stripe', 'openai', 'linear', 'notion', 'jira'];
    const hints = { isApp: (s: string) => apps.includes(s), appSlugs: () => apps };
    const base = sample();
    const refs = [
      ...base.accounts.flatMap((a) => [a.id, a.nickname, `${a.app}/${a.nickname}`, a.app]),
      'work', 'githb', 'github/wrok', 'githb/work', 'slack/nope', 'jira', 'jira/x', 'stripe/', '/live', 'nothing', 'acc_zzzzzzzzzz', 'wor', 'openai',
      // Names of what every object has: never a default, never a crash.
      '__proto__', 'constructor', 'toString', 'github/__proto__', '__proto__/work',
    ];
    let ambiguous = 0;
    // Defaults as they come: set, none, stale (an account of another app, one that is gone), on an app whose nickname is the app.
    for (const defaults of [base.defaults, {}, { github: ids[3]!, slack: 'acc_gonegonegone' }, { linear: ids[7]!, openai: ids[6]! }]) {
      const m = { ...base, defaults };
      writeTsv(m);
      repo = new AccountRepository({ config: dir, data: dir });
      for (const ref of refs) {
        const expected = outcome(() => resolveReference(m, ref, hints.isApp, hints.appSlugs));
        if (expected.code === 'reference_ambiguous') ambiguous++;
        expect({ ref, defaults, ...outcome(() => repo.resolve(ref, hints)) }).toEqual({ ref, defaults, ...expected });
      }
    }
    expect(ambiguous).toBeGreaterThan(3);
  });

  it('an id with a "/" (a store edited by hand) is still found, though app/nickname references are not looked up as ids', () => {
    const m = sample();
    m.accounts[4] = { ...m.accounts[4]!, id: 'hand/made' };
    writeTsv(m);
    repo = new AccountRepository({ config: dir, data: dir });
    expect(repo.resolve('hand/made').id).toBe('hand/made');
    expect(repo.resolve(`${m.accounts[4]!.app}/${m.accounts[4]!.nickname}`).id).toBe('hand/made');
  });

  it('answers get, appAccounts and view from the file, and picks up a new version of it', () => {
    const m = sample();
    writeTsv(m);
    expect(repo.get(ids[5]!)).toEqual(m.accounts[5]);
    expect(repo.get('acc_nonenonenone')).toBeUndefined();
    expect(repo.appAccounts('github')).toEqual({ app: 'github', accounts: m.accounts.slice(0, 2), defaultId: ids[0] });
    expect(repo.appAccounts('jira')).toEqual({ app: 'jira', accounts: [], defaultId: undefined });
    expect(repo.appAccounts('__proto__')).toEqual({ app: '__proto__', accounts: [], defaultId: undefined });
    expect(repo.view()).toEqual({ accounts: m.accounts, defaults: m.defaults });
    expect(repo.read()).toEqual(m);
    const next = { ...m, accounts: m.accounts.slice(1) };
    writeTsv(next);
    expect(repo.get(ids[0]!)).toBeUndefined();
    expect(repo.read()).toEqual(next);
    const id = repo.newId();
    expect(id).toMatch(/^acc_[a-z2-7]{10}$/);
    expect([...m.accounts.map((a) => a.id), ...m.retiredIds]).not.toContain(id);
  });

  it('reads the file in parts, whatever the size of the header or of an account', () => {
    const m = sample();
    // A header past the first read (many retired ids), and accounts past the first read of a line.
    m.retiredIds = Array.from({ length: 6000 }, (_, i) => `acc_${i.toString(32).padStart(10, 'a')}`);
    m.accounts[1] = { ...m.accounts[1]!, settings: { big: 'x'.repeat(10_000) } };
    m.accounts[8] = { ...m.accounts[8]!, settings: { big: 'é'.repeat(20_000) } };
    writeTsv(m);
    expect(serializeAccounts(m).indexOf(10)).toBeGreaterThan(1 << 16);
    expect(repo.get(ids[1]!)).toEqual(m.accounts[1]);
    expect(repo.resolve('notion')).toEqual(m.accounts[8]);
    expect(repo.resolve('stripe/live')).toEqual(m.accounts[3]);
    expect(repo.read()).toEqual(m);
    expect(repo.get(ids[1]!)).toEqual(m.accounts[1]);
  });

  it('reads an old accounts.json as it is, and moves it to accounts.tsv at the first write, nothing lost', async () => {
    const m = sample();
    writeJson(m);
    const before = readFileSync(join(dir, 'accounts.json'), 'utf8');
    expect(repo.read()).toEqual(m);
    expect(repo.resolve('stripe')).toEqual(m.accounts[3]);
    expect(repo.get(ids[4]!)).toEqual(m.accounts[4]);
    expect(repo.appAccounts('openai').accounts).toEqual(m.accounts.slice(5, 7));
    // Reads change nothing.
    expect(readFileSync(join(dir, 'accounts.json'), 'utf8')).toBe(before);
    expect(existsSync(join(dir, ACCOUNT_FILE_NAME))).toBe(false);

    const seen = await repo.mutate((draft) => {
      draft.defaults.openai = ids[6]!;
      return draft.accounts.length;
    });
    expect(seen).toBe(m.accounts.length);
    expect(existsSync(join(dir, 'accounts.json'))).toBe(false);
    const after = AccountFile.parse(join(dir, ACCOUNT_FILE_NAME), readFileSync(join(dir, ACCOUNT_FILE_NAME))).metadata();
    expect(after).toEqual({ ...m, defaults: { ...m.defaults, openai: ids[6] } });
    expect(repo.resolve('openai')).toEqual(m.accounts[6]);
  });

  it('reads an accounts.tsv of version 2 (an earlier acct wrote test/fixtures/accounts-v2.tsv) as it is, and writes version 3 at the first change, nothing lost', async () => {
    const v2 = readFileSync(join(import.meta.dirname, '../fixtures/accounts-v2.tsv'));
    writeFileSync(join(dir, ACCOUNT_FILE_NAME), v2, { mode: 0o600 });
    const old = repo.read();
    expect(old.accounts.map((a) => `${a.app}/${a.nickname}`)).toEqual(['github/work', 'openai/me', 'slack/team']);
    expect(repo.resolve('github').identity).toBe('octocat');
    expect(repo.get('acc_cccccccccc')?.status).toBe('needs-reconnect');
    // Without a listing, what list shows comes from the accounts themselves.
    const shown = (view: ReturnType<typeof repo.listed>) => view.accounts.map((a) => [a.id, a.app, a.nickname, a.auth, a.status, a.expiresAt]);
    const listed = repo.listed();
    expect(shown(listed)).toEqual(old.accounts.map((a) => [a.id, a.app, a.nickname, a.auth, a.status, a.expiresAt]));
    expect(listed.defaults).toEqual({ github: 'acc_aaaaaaaaaa' });
    expect(readFileSync(join(dir, ACCOUNT_FILE_NAME))).toEqual(v2);

    await repo.mutate((draft) => void (draft.defaults.openai = 'acc_bbbbbbbbbb'));
    const now = readFileSync(join(dir, ACCOUNT_FILE_NAME), 'utf8');
    expect(JSON.parse(now.slice(0, now.indexOf('\n')))).toMatchObject({ version: 3, count: 3 });
    expect(repo.read()).toEqual({ ...old, defaults: { ...old.defaults, openai: 'acc_bbbbbbbbbb' } });
    expect(shown(repo.listed())).toEqual(shown(listed));
    expect(repo.listed().accounts[0]).toEqual({ id: 'acc_aaaaaaaaaa', app: 'github', nickname: 'work', auth: 'oauth2', status: 'ok', expiresAt: '2026-12-01T10:00:00.000Z' });
  });

  it('a change that throws writes nothing, and leaves an old store in accounts.json', async () => {
    writeJson(sample());
    await expect(repo.mutate(() => { throw new Error('refused'); })).rejects.toThrow('refused');
    expect(existsSync(join(dir, 'accounts.json'))).toBe(true);
    expect(existsSync(join(dir, ACCOUNT_FILE_NAME))).toBe(false);
  });

  it('with both files, reads accounts.tsv while accounts.json is the older (an interrupted migration), and removes it at the next write', async () => {
    const m = sample();
    writeJson({ ...m, accounts: [] });
    writeTsv(m);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'accounts.json'), old, old);
    expect(repo.read()).toEqual(m);
    await repo.mutate(() => undefined);
    expect(existsSync(join(dir, 'accounts.json'))).toBe(false);
    expect(repo.read()).toEqual(m);
  });

  it('refuses both files when accounts.json changed after accounts.tsv (an older acct wrote it), and writes nothing', async () => {
    const m = sample();
    writeTsv(m);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, ACCOUNT_FILE_NAME), old, old);
    writeJson({ ...m, accounts: m.accounts.slice(0, 1) });
    const tsv = readFileSync(join(dir, ACCOUNT_FILE_NAME), 'utf8');
    const err = failure(() => repo.read());
    expect(err.exitCode).toBe(ExitCode.store);
    expect(err.message).toContain(join(dir, 'accounts.json'));
    expect(err.hint).toMatch(/move one of the two aside/);
    await expect(repo.mutate(() => undefined)).rejects.toThrow(/changed after/);
    expect(readFileSync(join(dir, ACCOUNT_FILE_NAME), 'utf8')).toBe(tsv);
    expect(existsSync(join(dir, 'accounts.json'))).toBe(true);
  });

  it('a damaged accounts.tsv is never rewritten', async () => {
    const text = serializeAccounts(sample()).toString();
    writeFileSync(join(dir, ACCOUNT_FILE_NAME), text.slice(0, -10), { mode: 0o600 });
    expect(failure(() => repo.resolve('stripe')).exitCode).toBe(ExitCode.store);
    await expect(repo.mutate(() => undefined)).rejects.toThrow(/truncated/);
    expect(readFileSync(join(dir, ACCOUNT_FILE_NAME), 'utf8')).toBe(text.slice(0, -10));
  });
});
