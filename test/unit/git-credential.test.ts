// git's credential protocol (parsing and answers), which account answers for
// a host, and the helper entries setup-git recognizes as its own.
import { describe, it, expect } from 'vitest';
import { formatAnswer, isLoopback, normalizeHost, parseRequest, pathOwner, MAX_REQUEST_BYTES } from '../../src/git/protocol.js';
import { selectAccount, type SelectDeps } from '../../src/git/select.js';
import { helperValue, isAcctHelper, shQuote } from '../../src/git/config.js';
import { appDefinition, type AppDefinition } from '../../src/catalog/schema.js';
import type { Account, Metadata } from '../../src/accounts/model.js';
import { acctPath } from '../../src/commands/git.js';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('parseRequest', () => {
  it('reads key=value lines up to a blank line, with capability[] and wwwauth[] repeated and unknown keys set aside', () => {
    const r = parseRequest(
      'capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=github.com\npath=acme/x.git\nwwwauth[]=Basic realm="GitHub"\nwwwauth[]=Bearer x=y\nusername=bot\npassword=a=b\nfuture_key=1\n\nhost=evil.example\n',
    );
    expect(r).toEqual({
      ok: true,
      request: {
        protocol: 'https',
        host: 'github.com',
        path: 'acme/x.git',
        username: 'bot',
        password: 'a=b',
        capabilities: ['authtype', 'state'],
        wwwauth: ['Basic realm="GitHub"', 'Bearer x=y'],
        other: { future_key: '1' },
      },
    });
  });

  it('takes the end of input as the end of the request', () => {
    expect(parseRequest('protocol=https\nhost=gitlab.com')).toMatchObject({ ok: true, request: { protocol: 'https', host: 'gitlab.com' } });
    expect(parseRequest('')).toMatchObject({ ok: true, request: { capabilities: [] } });
  });

  it('refuses CR, NUL, lines without a key, and oversized input', () => {
    expect(parseRequest('protocol=https\r\nhost=github.com\r\n\r\n')).toEqual({ ok: false, reason: 'a line holds a NUL or carriage return' });
    expect(parseRequest('protocol=https\nhost=github.com\0.evil.example\n\n')).toMatchObject({ ok: false });
    expect(parseRequest('protocol=https\nhost\n\n')).toEqual({ ok: false, reason: 'a line is not key=value' });
    expect(parseRequest('=https\n\n')).toMatchObject({ ok: false });
    expect(parseRequest(`path=${'a'.repeat(MAX_REQUEST_BYTES)}\n`)).toEqual({ ok: false, reason: 'the request is too large' });
  });
});

describe('formatAnswer', () => {
  it('writes username, password and the expiry in unix seconds', () => {
    expect(formatAnswer({ username: 'oauth2', password: 'tok', passwordExpiryUtc: 1700000000.9 })).toBe('username=oauth2\npassword=tok\npassword_expiry_utc=1700000000\n');
    expect(formatAnswer({ username: 'x-access-token', password: 'tok' })).toBe('username=x-access-token\npassword=tok\n');
  });
  it('answers nothing rather than a value git would read as more lines', () => {
    expect(formatAnswer({ username: 'u', password: 'tok\nhost=evil' })).toBeUndefined();
    expect(formatAnswer({ username: 'u', password: 'tok\r' })).toBeUndefined();
    expect(formatAnswer({ username: 'u', password: 'a\0b' })).toBeUndefined();
    expect(formatAnswer({ username: 'u', password: '' })).toBeUndefined();
  });
});

describe('hosts and paths', () => {
  it('normalizes hosts as git sends them', () => {
    expect(normalizeHost('GitHub.com:443', 'https')).toBe('github.com');
    expect(normalizeHost('github.com:8443', 'https')).toBe('github.com:8443');
    expect(normalizeHost('127.0.0.1:80', 'http')).toBe('127.0.0.1');
    expect(isLoopback('127.0.0.1:8080')).toBe(true);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('[::1]:9000')).toBe(true);
    expect(isLoopback('127.0.0.1.evil.example')).toBe(false);
    expect(isLoopback('localhost.evil.example:80')).toBe(false);
    expect(pathOwner('acme/private.git')).toBe('acme');
    expect(pathOwner('/acme/x')).toBe('acme');
    expect(pathOwner(undefined)).toBeUndefined();
    expect(pathOwner('')).toBeUndefined();
  });
});

const app = (slug: string, git: object, extra: object = {}): AppDefinition =>
  appDefinition.parse({
    slug,
    name: slug,
    auth: 'keys',
    fields: [{ name: 'token', label: 'Token' }, { name: 'host', label: 'Host', secret: false, default: 'gitlab.com' }],
    api: { baseUrl: 'https://api.example.com', auth: { type: 'header', name: 'Authorization', value: 'Bearer {token}' } },
    env: {},
    git,
    ...extra,
  });
const APPS: Record<string, AppDefinition> = {
  gh: app('gh', { hosts: ['github.com'], username: 'x-access-token' }),
  ghpat: app('ghpat', { hosts: ['github.com'], username: 'x-access-token' }),
  gl: app('gl', { hosts: ['{host}'], username: 'oauth2' }),
  ado: app('ado', { hosts: ['dev.azure.com'], username: 'azure-devops', anyUsername: true }),
};
let n = 0;
const account = (appSlug: string, nickname: string, identity: string | null = null): Account => ({
  id: `acc_${String(++n).padStart(10, 'a')}`,
  app: appSlug,
  nickname,
  auth: 'keys',
  status: 'ok',
  scopes: [],
  fields: ['token'],
  identity,
  expiresAt: null,
  createdAt: '',
  updatedAt: '',
});
function deps(accounts: Account[], defaults: Record<string, string> = {}, fields: Record<string, Record<string, string>> = {}) {
  const reads: string[] = [];
  const m: Metadata = { version: 1, accounts, defaults, retiredIds: [] };
  const d: SelectDeps = {
    metadata: m,
    app: (slug) => APPS[slug],
    gitApps: () => Object.values(APPS),
    readFields: async (id) => {
      reads.push(id);
      return fields[id] ?? {};
    },
  };
  return { d, reads };
}
const ask = (s: string) => {
  const r = parseRequest(s);
  if (!r.ok) throw new Error(r.reason);
  return r.request;
};
const picked = (s: Awaited<ReturnType<typeof selectAccount>>) => (s.kind === 'account' ? `${s.pick.account.app}/${s.pick.account.nickname} as ${s.username}` : s.kind);

describe('selectAccount', () => {
  it("answers with an account of an app that names the host, and reads no secret for literal hosts", async () => {
    const bot = account('gh', 'bot');
    const work = account('gl', 'work');
    const { d, reads } = deps([bot, work], {}, {});
    expect(picked(await selectAccount(ask('protocol=https\nhost=github.com\n'), d))).toBe('gh/bot as x-access-token');
    // Only the account whose host is one of its fields was read.
    expect(reads).toEqual([work.id]);
  });

  it('fills a {field} host from the account, so a self-managed token never goes to gitlab.com', async () => {
    const corp = account('gl', 'corp');
    const pub = account('gl', 'pub');
    const { d } = deps([corp, pub], {}, { [corp.id]: { host: 'Git.Corp.example' }, [pub.id]: {} });
    expect(picked(await selectAccount(ask('protocol=https\nhost=git.corp.example\n'), d))).toBe('gl/corp as oauth2');
    expect(picked(await selectAccount(ask('protocol=https\nhost=gitlab.com\n'), d))).toBe('gl/pub as oauth2');
    const { d: d2 } = deps([corp], {}, { [corp.id]: { host: 'https://gitlab.com/evil' } });
    expect(picked(await selectAccount(ask('protocol=https\nhost=gitlab.com\n'), d2))).toBe('none');
  });

  it('refuses plain http except to loopback, and other protocols', async () => {
    const { d } = deps([account('gh', 'bot')]);
    for (const p of ['http', 'ssh', 'ftp', '']) expect((await selectAccount(ask(`protocol=${p}\nhost=github.com\n`), d)).kind).toBe('none');
  });

  it('several accounts: the username, then the path owner, then the default; otherwise ambiguous', async () => {
    const alice = account('gh', 'alice', 'Alice');
    const bob = account('gh', 'bob');
    const { d } = deps([alice, bob]);
    expect((await selectAccount(ask('protocol=https\nhost=github.com\n'), d)).kind).toBe('ambiguous');
    expect(picked(await selectAccount(ask('protocol=https\nhost=github.com\nusername=alice\n'), d))).toBe('gh/alice as x-access-token');
    expect(picked(await selectAccount(ask('protocol=https\nhost=github.com\npath=Bob/x.git\n'), d))).toBe('gh/bob as x-access-token');
    expect((await selectAccount(ask('protocol=https\nhost=github.com\npath=acme/x.git\n'), d)).kind).toBe('ambiguous');
    // The provider's own token username names no account: it narrows nothing.
    expect((await selectAccount(ask('protocol=https\nhost=github.com\nusername=x-access-token\n'), d)).kind).toBe('ambiguous');
    expect((await selectAccount(ask('protocol=https\nhost=github.com\nusername=mallory\n'), d)).kind).toBe('none');
    const { d: withDefault } = deps([alice, bob], { gh: bob.id });
    expect(picked(await selectAccount(ask('protocol=https\nhost=github.com\npath=acme/x.git\n'), withDefault))).toBe('gh/bob as x-access-token');
  });

  it('accounts of two apps for one host are ambiguous even when each is its app\'s only one', async () => {
    const { d } = deps([account('gh', 'me'), account('ghpat', 'ci')]);
    const s = await selectAccount(ask('protocol=https\nhost=github.com\n'), d);
    expect(s.kind).toBe('ambiguous');
    expect(picked(await selectAccount(ask('protocol=https\nhost=github.com\nusername=ci\n'), d))).toBe('ghpat/ci as x-access-token');
  });

  it('an app that ignores the username passes the remote URL\'s back', async () => {
    const { d } = deps([account('ado', 'me@contoso.com')]);
    expect(picked(await selectAccount(ask('protocol=https\nhost=dev.azure.com\nusername=contoso\n'), d))).toBe('ado/me@contoso.com as contoso');
    expect(picked(await selectAccount(ask('protocol=https\nhost=dev.azure.com\n'), d))).toBe('ado/me@contoso.com as azure-devops');
  });

  it('a host with an app but no account says how to connect one', async () => {
    const { d } = deps([]);
    expect(await selectAccount(ask('protocol=https\nhost=dev.azure.com\n'), d)).toEqual({ kind: 'none', note: 'no account for dev.azure.com; connect one: acct connect ado' });
    expect(await selectAccount(ask('protocol=https\nhost=example.com\n'), d)).toEqual({ kind: 'none' });
  });
});

describe('helper entries', () => {
  it('quotes the path for sh and recognizes acct entries from any install path only', () => {
    expect(shQuote("/opt/it's/acct")).toBe(`'/opt/it'\\''s/acct'`);
    expect(helperValue('/usr/local/bin/acct')).toBe(`!'/usr/local/bin/acct' git-credential`);
    expect(isAcctHelper(helperValue('/usr/local/bin/acct'))).toBe(true);
    expect(isAcctHelper(helperValue("/home/o'brien/acct/bin/acct.cjs"))).toBe(true);
    expect(isAcctHelper('!/usr/bin/gh auth git-credential')).toBe(false);
    expect(isAcctHelper(`!'/usr/bin/other' git-credential`)).toBe(false);
    expect(isAcctHelper('')).toBe(false);
    expect(isAcctHelper('store')).toBe(false);
  });

  it('the schema takes hosts with ports and {field} hosts of key apps only', () => {
    expect(() => app('x', { hosts: ['GitHub.com'], username: 'u' })).toThrow();
    expect(() => app('x', { hosts: ['github.com/path'], username: 'u' })).toThrow();
    expect(() => app('x', { hosts: ['github.com'], username: 'has space' })).toThrow();
    expect(() => app('x', { hosts: ['{token}'], username: 'u' })).toThrow(/non-secret/);
    expect(app('x', { hosts: ['127.0.0.1:8080', '{host}'], username: 'u' }).git?.hosts).toEqual(['127.0.0.1:8080', '{host}']);
  });
});

describe('acctPath', () => {
  it('is acct on PATH when that is the running program, else the script itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'acct-path-'));
    const script = join(dir, 'acct.cjs');
    writeFileSync(script, '#!/bin/sh\n');
    chmodSync(script, 0o755);
    const bin = join(dir, 'bin');
    const other = join(dir, 'other');
    mkdirSync(bin);
    mkdirSync(other);
    symlinkSync(script, join(bin, 'acct'));
    writeFileSync(join(other, 'acct'), '#!/bin/sh\n');
    chmodSync(join(other, 'acct'), 0o755);
    // A different acct earlier on PATH is not this program: skipped.
    expect(acctPath({ PATH: `${other}:${bin}` }, script)).toBe(join(bin, 'acct'));
    expect(acctPath({ PATH: other }, script)).toBe(script);
    expect(acctPath({}, script)).toBe(script);
  });
});
