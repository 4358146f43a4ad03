// Bundles for CI: export from a local store, then work from ACCT_BUNDLE in a
// fresh ACCT_HOME with no D-Bus session (so no keychain), including an OAuth
// account refreshed from the bundle against the test authorization server.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, fingerprint, revealed, sleep } from '../support/oauth-cli.js';
import { sealBundle, newBundleKey } from '../../src/store/bundle.js';

type Env = Record<string, string | undefined>;
const KEY_VALUE = 'lk_bundle "quoted" $value';

let server: AuthServer;
let source: Env;
let oauthId: string;
let keyId: string;
let bundle: string;
let bundleKey: string;
const work = mkdtempSync(join(tmpdir(), 'acct-bundle-'));

/** A CI step: a home of its own, no keychain, no local store. */
const ciEnv = (extra: Env = {}): Env => baseEnv({ ACCT_HOME: tempHome(), ACCT_BUNDLE: join(work, 'ci.acct'), ACCT_BUNDLE_KEY: bundleKey, ...extra });

beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300 });
  ({ env: source } = await oauthHome(server, 'confidential'));
  server.setAccessTokenTtl(2);
  const connected = await acct(['connect', 'local', '--nickname', 'bot'], source);
  server.setAccessTokenTtl(300);
  expect(connected.exitCode, connected.stderr).toBe(0);
  oauthId = connected.stdout.trim();
  expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile('http://127.0.0.1:9', { fields: [{ name: 'api_key', label: 'API key' }] })], source)).exitCode).toBe(0);
  const key = await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'deploy'], source, { input: KEY_VALUE, stdin: undefined });
  expect(key.exitCode, key.stderr).toBe(0);
  keyId = key.stdout.trim();

  const exported = await acct(['export', 'local/bot', 'svc', '-o', join(work, 'ci.acct')], source);
  expect(exported.exitCode, exported.stderr).toBe(0);
  bundleKey = exported.stderr.match(/^acctk1_[A-Za-z0-9_-]{43}$/m)![0];
  bundle = readFileSync(join(work, 'ci.acct'), 'utf8');
});
afterAll(async () => {
  await server?.close();
});

describe('export', () => {
  it('writes a sealed bundle (mode 0600) that holds no secret in plain text, and prints the key on stderr only', async () => {
    expect(readdirSync(work)).toContain('ci.acct');
    const fields = await revealed(oauthId, source);
    for (const value of [fields.oauth_access_token!, fields.oauth_refresh_token!, KEY_VALUE, server.clients.confidential.clientSecret!])
      expect(bundle.includes(value)).toBe(false);
    expect(JSON.parse(bundle)).toMatchObject({ format: 'acct-bundle', version: 1 });
    const toStdout = await acct(['export', 'svc'], source);
    expect(toStdout.exitCode).toBe(0);
    expect(toStdout.stdout).toMatch(/^\{"format":"acct-bundle"/);
    expect(toStdout.stdout).not.toContain('acctk1_');
    expect(toStdout.stderr).toMatch(/ACCT_BUNDLE_KEY/);
  });

  it('refuses to export nothing, and unknown references', async () => {
    expect((await acct(['export'], source)).exitCode).toBe(2);
    expect((await acct(['export', 'nosuch'], source)).exitCode).toBe(3);
  });
});

describe('working from ACCT_BUNDLE without a keychain', () => {
  it('lists the accounts and hands out key fields, touching no store', async () => {
    const env = ciEnv();
    const list = await acct(['list', '--json'], env);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((a: { id: string }) => a.id).sort()).toEqual([oauthId, keyId].sort());
    const token = await acct(['token', 'svc'], env);
    expect(token).toMatchObject({ exitCode: 0, stdout: `${KEY_VALUE}\n` });
    // The bundle itself can be the variable's value.
    const inline = await acct(['token', 'svc/deploy'], { ...env, ACCT_BUNDLE: bundle });
    expect(inline).toMatchObject({ exitCode: 0, stdout: `${KEY_VALUE}\n` });
    expect(readdirSync(env.ACCT_HOME!)).toEqual([]);
  });

  it('refreshes an expired OAuth token in memory with the bundled client, and keeps the store read-only', async () => {
    await sleep(2200); // the exported access token lived 2 seconds
    // Its refresh lock is private to the process, in the temporary folder: gone when acct exits.
    const tmp = mkdtempSync(join(tmpdir(), 'acct-bundle-tmp-'));
    const env = ciEnv({ TMPDIR: tmp });
    const before = server.tokenRequests.refresh;
    const r = await acct(['token', 'local/bot'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(server.tokenRequests.refresh).toBe(before + 1);
    expect(readdirSync(tmp)).toEqual([]);
    expect(await server.introspect(r.stdout.trim())).toBe(true);
    // The provider rotated the refresh token; a bundle cannot keep it, and says so.
    expect(r.stderr).toMatch(/rotated the refresh token/);
    expect(r.stderr).toMatch(/ACCT_BUNDLE_CACHE/);
    expect(readdirSync(env.ACCT_HOME!)).toEqual([]);

    const rename = await acct(['rename', 'local/bot', 'other'], env);
    expect(rename.exitCode).toBe(2);
    expect(rename.stderr).toMatch(/read-only/);
  });

  it('shares one refresh between CI steps through ACCT_BUNDLE_CACHE', async () => {
    // An account of its own: the earlier test rotated local/bot's refresh token out at the provider.
    const connected = await acct(['connect', 'local', '--nickname', 'cachebot'], source);
    expect(connected.exitCode, connected.stderr).toBe(0);
    const exported = await acct(['export', 'local/cachebot', '-o', join(work, 'cached.acct')], source);
    expect(exported.exitCode, exported.stderr).toBe(0);
    const key = exported.stderr.match(/^acctk1_\S+$/m)![0];
    const cache = join(work, 'steps.cache');
    const step = () => baseEnv({ ACCT_HOME: tempHome(), ACCT_BUNDLE: join(work, 'cached.acct'), ACCT_BUNDLE_KEY: key, ACCT_BUNDLE_CACHE: cache });
    const before = server.tokenRequests.refresh;
    const first = await acct(['token', 'local/cachebot', '--refresh'], step());
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/rotated/);
    expect(existsSync(cache)).toBe(true);
    expect(readFileSync(cache, 'utf8').includes(first.stdout.trim())).toBe(false);
    const second = await acct(['token', 'local/cachebot'], step());
    expect(second.exitCode, second.stderr).toBe(0);
    expect(fingerprint(second.stdout.trim())).toBe(fingerprint(first.stdout.trim()));
    // A forced refresh in a later step presents the rotated token from the cache, which the server accepts.
    const third = await acct(['token', 'local/cachebot', '--refresh'], step());
    expect(third.exitCode, third.stderr).toBe(0);
    expect(server.tokenRequests.refresh).toBe(before + 2);
  });

  it('rejects a wrong key or a tampered bundle as a wrong passphrase (exit 6), a truncated bundle with exit 2', async () => {
    const wrongKey = await acct(['token', 'svc', '--json'], ciEnv({ ACCT_BUNDLE_KEY: `acctk1_${Buffer.alloc(32, 7).toString('base64url')}` }));
    expect(wrongKey.exitCode).toBe(6);
    expect(JSON.parse(wrongKey.stderr)).toMatchObject({ code: 'wrong_passphrase', message: expect.stringMatching(/wrong key|altered/) });
    // A passphrase where the bundle wants its random key: the same.
    const passphrase = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE_KEY: 'some passphrase' }));
    expect(passphrase.exitCode).toBe(6);
    expect(passphrase.stderr).toMatch(/not a bundle key/);

    const truncated = join(work, 'truncated.acct');
    writeFileSync(truncated, bundle.slice(0, bundle.length / 2));
    const t = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE: truncated }));
    expect(t.exitCode).toBe(2);
    expect(t.stderr).toMatch(/truncated/);

    const parsed = JSON.parse(bundle);
    const ct = Buffer.from(parsed.sealed.ciphertext ?? parsed.sealed.ct ?? parsed.sealed.data, 'base64');
    expect(ct.length).toBeGreaterThan(0);
    ct[10] = ct[10]! ^ 1;
    const field = ['ciphertext', 'ct', 'data'].find((k) => k in parsed.sealed)!;
    parsed.sealed[field] = ct.toString('base64');
    const tampered = join(work, 'tampered.acct');
    writeFileSync(tampered, JSON.stringify(parsed));
    const x = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE: tampered }));
    expect(x.exitCode).toBe(6);
    expect(x.stderr).toMatch(/altered/);
    expect(x.stdout).toBe('');

    const missingKey = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE_KEY: undefined }));
    expect(missingKey.exitCode).toBe(2);
    expect(missingKey.stderr).toMatch(/ACCT_BUNDLE_KEY/);
  });

  it('works with a passphrase instead of a random key', async () => {
    const passphrase = 'a long ci passphrase';
    const exported = await acct(['export', 'svc', '-o', join(work, 'pass.acct'), '--passphrase-stdin'], source, { input: `${passphrase}\n`, stdin: undefined });
    expect(exported.exitCode, exported.stderr).toBe(0);
    expect(exported.stderr).not.toMatch(/acctk1_/);
    const env = ciEnv({ ACCT_BUNDLE: join(work, 'pass.acct'), ACCT_BUNDLE_KEY: passphrase });
    expect(await acct(['token', 'svc'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY_VALUE}\n` });
    expect((await acct(['token', 'svc'], { ...env, ACCT_BUNDLE_KEY: 'not the passphrase' })).exitCode).toBe(6);
  });
});

describe('a bundle that is not what it says', () => {
  it('an edited key-derivation parameter is refused at once, before any scrypt runs', async () => {
    const passphrase = 'a long ci passphrase';
    const exported = await acct(['export', 'svc', '-o', join(work, 'kdf.acct'), '--passphrase-stdin'], source, { input: `${passphrase}\n`, stdin: undefined });
    expect(exported.exitCode, exported.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(work, 'kdf.acct'), 'utf8'));
    for (const [name, kdf] of [
      ['N = 2^30', { ...file.kdf, N: 2 ** 30 }],
      ['r = 1024', { ...file.kdf, r: 1024 }],
      ['p = 64', { ...file.kdf, p: 64 }],
      ['N not a power of two', { ...file.kdf, N: 40000 }],
      ['an extra member', { ...file.kdf, maxmem: 1 }],
    ] as const) {
      const path = join(work, `kdf-${name.replace(/\W+/g, '-')}.acct`);
      writeFileSync(path, JSON.stringify({ ...file, kdf }));
      const started = Date.now();
      const r = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE: path, ACCT_BUNDLE_KEY: passphrase }));
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/altered/);
      expect(r.stderr).not.toMatch(/malloc|memory|bug in acct/i);
      expect(Date.now() - started, name).toBeLessThan(20_000); // a hang guard, not a timing assertion
    }
    // The unedited bundle still opens, so the check is not simply refusing everything.
    expect((await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE: join(work, 'kdf.acct'), ACCT_BUNDLE_KEY: passphrase }))).exitCode).toBe(0);
  });

  it('ACCT_BUNDLE naming a FIFO, a device, a folder or a huge file is refused at once', async () => {
    const fifo = join(work, 'bundle.fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = join(work, 'huge.acct');
    execFileSync('truncate', ['-s', '100M', huge]); // sparse: no disk used
    for (const [path, what] of [
      [fifo, /not a regular file \(a pipe\)/],
      ['/dev/zero', /not a regular file \(a device\)/],
      [work, /not a regular file \(a folder\)/],
      [huge, /too large/],
    ] as const) {
      const r = await acct(['token', 'svc'], ciEnv({ ACCT_BUNDLE: path }), { timeout: 20_000 });
      expect(r.exitCode, `${path}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(what);
      const imported = await acct(['import', path], baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'x-store-pass', ACCT_BUNDLE_KEY: bundleKey }), { timeout: 20_000 });
      expect(imported.exitCode, `import ${path}: ${imported.stderr}`).toBe(2);
      expect(imported.stderr).toMatch(what);
    }
  });
});

describe('an account whose refresh token rotates', () => {
  let home: Env;
  let rotId: string;

  beforeAll(async () => {
    ({ env: home } = await oauthHome(server, 'confidential', { slug: 'rot' }));
    server.setAccessTokenTtl(2);
    const connected = await acct(['connect', 'rot', '--nickname', 'laptop'], home);
    server.setAccessTokenTtl(300);
    expect(connected.exitCode, connected.stderr).toBe(0);
    rotId = connected.stdout.trim();
  });

  it('is recorded as rotating at its first refresh, and then export refuses to copy it', async () => {
    // Before any refresh, acct cannot know (the test server's app declares nothing).
    expect(JSON.parse((await acct(['show', 'rot', '--json'], home)).stdout)).toMatchObject({ refresh_token_rotates: false });
    await sleep(2500);
    const before = server.tokenRequests.refresh;
    expect((await acct(['token', 'rot'], home)).exitCode).toBe(0);
    expect(server.tokenRequests.refresh).toBe(before + 1);
    expect(JSON.parse((await acct(['show', 'rot', '--json'], home)).stdout)).toMatchObject({ refresh_token_rotates: true });

    const out = join(work, 'rot.acct');
    const r = await acct(['export', 'rot', '-o', out], home);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/rot\/laptop gets a new refresh token at every refresh/);
    expect(r.stderr).toMatch(/--move/);
    expect(r.stderr).toMatch(/--access-only/);
    expect(r.stderr).toMatch(/acct connect rot --nickname ci/);
    expect(existsSync(out)).toBe(false);
  });

  it('--access-only bundles the access token alone; CI uses it, and says what to do once it expires', async () => {
    const out = join(work, 'rot-access.acct');
    // The token is refreshed before export when it would not last 15 minutes: here it then lasts 3 s.
    server.setAccessTokenTtl(3);
    const r = await acct(['export', 'rot', '--access-only', '-o', out], home);
    server.setAccessTokenTtl(300);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/access token only, valid until/);
    const key = r.stderr.match(/^acctk1_[A-Za-z0-9_-]{43}$/m)![0];
    const ci = ciEnv({ ACCT_BUNDLE: out, ACCT_BUNDLE_KEY: key });
    const shown = JSON.parse((await acct(['show', 'rot', '--json', '--reveal'], ci)).stdout);
    expect(shown.fields.oauth_refresh_token).toBeUndefined();
    expect(shown.access_only).toBe(true);
    const local = await revealed('rot', home);
    expect(fingerprint((await acct(['token', 'rot'], ci)).stdout.trim())).toBe(fingerprint(local.oauth_access_token));
    // Asking for a refresh: there is no refresh token, so the token it has, with a warning.
    const before = server.tokenRequests.refresh;
    const forced = await acct(['token', 'rot', '--refresh'], ci);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/--access-only copy and cannot be refreshed/);
    // Once it has expired: exit 4, and what to do.
    await sleep(3500);
    const expired = await acct(['token', 'rot'], ci);
    expect(expired.exitCode, expired.stderr).toBe(4);
    expect(expired.stderr).toMatch(/exported with --access-only/);
    expect(expired.stderr).toMatch(/export a fresh bundle/);
    expect(server.tokenRequests.refresh).toBe(before);
    // The laptop keeps its account, refresh token and all.
    expect((await revealed('rot', home)).oauth_refresh_token).toBe(local.oauth_refresh_token);
  });

  it('--move hands the account over: the bundle refreshes it, and this machine no longer has it', async () => {
    const out = join(work, 'rot-move.acct');
    const r = await acct(['export', 'rot', '--move', '-o', out], home);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no longer on this machine/);
    expect((await acct(['list', '--json'], home)).stdout.trim()).toBe('[]');
    const key = r.stderr.match(/^acctk1_[A-Za-z0-9_-]{43}$/m)![0];
    const ci = ciEnv({ ACCT_BUNDLE: out, ACCT_BUNDLE_KEY: key });
    const before = server.tokenRequests.refresh;
    const refreshed = await acct(['token', 'rot', '--refresh'], ci);
    expect(refreshed.exitCode, refreshed.stderr).toBe(0);
    expect(server.tokenRequests.refresh).toBe(before + 1);
    expect(rotId).toMatch(/^acc_/);
  });

  it('an app that declares rotation is refused before any refresh, and --move with --access-only is a usage error', async () => {
    const { env } = await oauthHome(server, 'confidential', { slug: 'declared' });
    const def = JSON.parse((await acct(['apps', 'show', 'declared', '--json'], env)).stdout);
    def.oauth.rotatesRefreshToken = true;
    const file = join(work, 'declared.json');
    writeFileSync(file, JSON.stringify(def));
    expect((await acct(['apps', 'remove', 'declared'], env)).exitCode).toBe(0);
    const added = await acct(['apps', 'add', 'declared', '--file', file], env);
    expect(added.exitCode, added.stderr).toBe(0);
    expect((await acct(['connect', 'declared', '--nickname', 'a'], env)).exitCode).toBe(0);
    const r = await acct(['export', 'declared', '-o', join(work, 'declared.acct')], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/new refresh token at every refresh/);
    const both = await acct(['export', 'declared', '--move', '--access-only', '-o', join(work, 'declared.acct')], env);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/exclude each other/);
    expect((await acct(['list', '--json'], env)).stdout).toContain('"declared"');
  });
});

describe('import', () => {
  it('brings the accounts into a fresh local store with the same ids, app and client', async () => {
    const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'imported store', ACCT_BUNDLE_KEY: bundleKey });
    const r = await acct(['import', join(work, 'ci.acct'), '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).accounts.map((a: { id: string }) => a.id).sort()).toEqual([oauthId, keyId].sort());
    expect(await acct(['token', 'svc'], { ...env, ACCT_BUNDLE_KEY: undefined })).toMatchObject({ exitCode: 0, stdout: `${KEY_VALUE}\n` });
    const client = await acct(['client', 'show', 'local', '--json'], env);
    expect(JSON.parse(client.stdout)).toMatchObject({ client_id: server.clients.confidential.clientId });
    // Importing again updates in place instead of duplicating.
    const again = await acct(['import', join(work, 'ci.acct')], env);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Updated svc\/deploy/);
    expect(JSON.parse((await acct(['list', '--json'], env)).stdout)).toHaveLength(2);
  });

  it('changes nothing when the key is wrong', async () => {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'imported store', ACCT_BUNDLE_KEY: `acctk1_${Buffer.alloc(32).toString('base64url')}` });
    const r = await acct(['import', join(work, 'ci.acct')], env);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/wrong key/);
    expect(readdirSync(home)).toEqual([]);
  });
});

/**
 * A bundle made by hand, as anyone can make one (the sealing proves only that
 * they had its key): one account of a user-added keys app, carried in the
 * bundle, with `change` applied to the payload.
 */
function handMade(change: (p: { accounts: Record<string, unknown>[]; secrets: Record<string, Record<string, string>>; apps: Record<string, unknown>[]; clients: object; defaults: Record<string, string> }) => void): { path: string; key: string } {
  const id = 'acc_handmade22';
  const app = { ...JSON.parse(readFileSync(keyAppFile('http://127.0.0.1:9', { fields: [{ name: 'api_key', label: 'API key' }] }), 'utf8')), slug: 'crafted' };
  const time = '2024-01-01T00:00:00.000Z';
  const payload = {
    accounts: [{ id, app: 'crafted', nickname: 'main', auth: 'keys', status: 'ok', scopes: [], fields: ['api_key'], identity: null, expiresAt: null, createdAt: time, updatedAt: time }],
    secrets: { [id]: { api_key: 'lk_handmade' } } as Record<string, Record<string, string>>,
    apps: [app],
    clients: {},
    defaults: {} as Record<string, string>,
  };
  change(payload);
  const key = newBundleKey();
  const path = join(mkdtempSync(join(work, 'hand-')), 'b.acct');
  writeFileSync(path, sealBundle(payload as never, { key: key.key }, new Date()));
  return { path, key: key.printable };
}

describe('a bundle acct did not write', () => {
  const importEnv = (home: string, key: string): Env => baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'imported store', ACCT_BUNDLE_KEY: key });

  it('the hand-made bundle itself imports (so the refusals below are about what each changes)', async () => {
    const b = handMade(() => {});
    const r = await acct(['import', b.path], importEnv(tempHome(), b.key));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Imported crafted\/main \(acc_handmade22\)/);
  });

  it('an id that is a path is refused whole (exit 2, nothing written), on import and from ACCT_BUNDLE', async () => {
    const outside = mkdtempSync(join(work, 'victim-'));
    const home = join(outside, 'home');
    const victim = join(outside, 'victim.json'); // where secrets/../../victim.json lands
    writeFileSync(victim, 'keep me');
    const b = handMade((p) => {
      p.accounts[0]!.id = '../../victim';
      p.secrets = { '../../victim': { api_key: 'lk_x' } };
    });
    const r = await acct(['import', b.path, '--json'], importEnv(home, b.key));
    expect(r.exitCode, r.stderr).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ code: 'usage', message: expect.stringContaining('invalid account id'), hint: expect.any(String) });
    expect(r.stderr).toContain('../../victim');
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(existsSync(home)).toBe(false);
    const ci = await acct(['list'], baseEnv({ ACCT_HOME: tempHome(), ACCT_BUNDLE: b.path, ACCT_BUNDLE_KEY: b.key }));
    expect(ci.exitCode, ci.stderr).toBe(2);
    expect(ci.stderr).toMatch(/invalid account id/);
  });

  it('names the bad entry, escaped, and never a value: a nickname, an app, a field, a value, an env name', async () => {
    for (const [what, change, message] of [
      ['nickname with an escape', (p) => void (p.accounts[0]!.nickname = 'x\u001b]0;pwned\u0007'), /invalid nickname in account 1 \(id "acc_handmade22"\): "x\\u001b\]0;pwned\\u0007"/],
      ['auth kind', (p) => void (p.accounts[0]!.auth = 'magic'), /invalid auth kind/],
      ['app neither here nor carried', (p) => void (p.apps = []), /crafted\/main \(acc_handmade22\) is of the app "crafted", which is neither in this catalog nor in the bundle/],
      ['auth kind not the app\'s', (p) => void (p.accounts[0]!.auth = 'oauth2', (p.secrets.acc_handmade22!.oauth_access_token = 'at')), /is an OAuth account, but crafted is a keys app/],
      ['field the app lacks', (p) => void (p.secrets.acc_handmade22!.other = 'v'), /has a field "other" that crafted does not have/],
      ['field name that is a path', (p) => void (p.secrets.acc_handmade22!['../x'] = 'v'), /invalid field name/],
      ['value a header cannot carry', (p) => void (p.secrets.acc_handmade22!.api_key = 'lk_line\r\nX-Evil: 1'), /value of "api_key" that holds a line break/],
      ['secrets missing', (p) => void (p.secrets = {}), /no secrets for account 1/],
      ['a default that is no account', (p) => void (p.defaults.crafted = 'acc_aaaaaaaaaa'), /a default for "crafted"/],
      ['a carried app with a dangerous env name', (p) => void (p.apps[0]!.env = { api_key: 'NODE_OPTIONS' }), /env\.api_key: NODE_OPTIONS changes how programs start/],
      ['not a payload', (p) => void ((p as unknown as { accounts: unknown }).accounts = 'all'), /not a bundle payload/],
    ] as [string, Parameters<typeof handMade>[0], RegExp][]) {
      const home = tempHome();
      const b = handMade(change);
      const r = await acct(['import', b.path], importEnv(home, b.key));
      expect(r.exitCode, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).not.toMatch(/lk_line|lk_handmade|\u001b/);
      expect(r.stderr, what).toMatch(/^ {2}\S/m); // a hint
      expect(readdirSync(home), what).toEqual([]);
    }
  });

  it('an id that is already here imports over the same account only; another account keeps it, and nothing is written', async () => {
    const home = tempHome();
    const b = handMade(() => {});
    expect((await acct(['import', b.path], importEnv(home, b.key))).exitCode).toBe(0);
    // The same account again (same id, app, nickname): updated, as documented.
    const again = await acct(['import', b.path], importEnv(home, b.key));
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Updated crafted\/main/);
    // Another bundle whose account has that id but is another account: refused, the local one left as it was.
    const other = handMade((p) => {
      p.accounts[0]!.nickname = 'impostor';
      p.secrets.acc_handmade22!.api_key = 'lk_impostor';
    });
    const r = await acct(['import', other.path], importEnv(home, other.key));
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/crafted\/impostor \(acc_handmade22\) has the id of another account here, crafted\/main/);
    expect(r.stderr).toMatch(/acct rename acc_handmade22 impostor/);
    const env = { ...importEnv(home, other.key), ACCT_BUNDLE_KEY: undefined };
    expect(await acct(['token', 'acc_handmade22'], env)).toMatchObject({ exitCode: 0, stdout: 'lk_handmade\n' });
    expect(JSON.parse((await acct(['list', '--json'], env)).stdout).map((a: { nickname: string }) => a.nickname)).toEqual(['main']);
  });
});
