// What a new user trips over (issue 11, section 10), tried as they would:
// the built binary against a real authorization server (oidc-provider) and
// a local API server. Cheap checks before the secret; client changes; the old
// grant revoked on reconnect; defaults and identities; honest statuses; tables
// that fit a terminal and pipe cleanly; the same names everywhere; discovery.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { acct, baseEnv, tempHome, BIN } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { oauthHome, startAcct, revealed, listJson, fingerprint, BROWSER_COMMAND } from '../support/oauth-cli.js';
import { accountsFile } from '../support/accounts.js';

type Env = Record<string, string | undefined>;
const PASSPHRASE = 'new user passphrase';
const input = (text: string) => ({ input: text, stdin: undefined });

let server: AuthServer;
let api: ApiServer;
beforeAll(async () => {
  server = await startAuthServer({ accessTokenTtl: 300, discoveryExtras: { display_name: 'Local Identity' } });
  // The key app's API: a known key names its user, anything else is turned away.
  api = await startApiServer((req, res) => {
    if (req.path === '/revoke') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    const known = req.headers.authorization === 'Bearer lk_good_key_0123456789';
    res.writeHead(known ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(known ? { user: { login: 'kim' } } : { error: 'bad key' }));
  });
});
afterAll(async () => {
  await api?.close();
  await server?.close();
});

/** A home with the key app `svc` (test request on the API server) and, when given, a file store. */
async function keyHome(extra: Env = {}): Promise<{ home: string; env: Env }> {
  const home = tempHome();
  const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE, ...extra });
  const added = await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], env);
  expect(added.exitCode, added.stderr).toBe(0);
  return { home, env };
}

/**
 * Runs acct with stdin a pipe that stays open and empty: a command that read
 * stdin (or waited at a prompt) would never end. It must end at once.
 */
async function withOpenStdin(args: string[], env: Env) {
  const run = startAcct(args, env);
  const r = await run.done();
  run.process.stdin?.destroy();
  return r;
}

describe('cheap checks come before the secret', () => {
  it('key apps: a taken or invalid nickname, an unknown app, or no usable store fails before stdin is read or the API is called', async () => {
    const { home, env } = await keyHome();
    expect((await acct(['connect', 'svc', '--stdin', '--nickname', 'one', '--no-verify'], env, input('lk_one_0123456789'))).exitCode).toBe(0);
    const seen = api.seen.length;
    const fresh = tempHome();
    const cases: [string, string[], Env, number, RegExp][] = [
      ['taken nickname', ['connect', 'svc', '--stdin', '--nickname', 'one'], env, 2, /svc already has an account called "one"[\s\S]*acct reconnect svc\/one/],
      ['invalid nickname', ['connect', 'svc', '--stdin', '--nickname', 'a/b'], env, 2, /"a\/b" is not a valid nickname/],
      ['unknown app', ['connect', 'nosuch', '--stdin'], env, 3, /unknown app "nosuch"/],
      ['wrong passphrase', ['connect', 'svc', '--stdin'], { ...env, ACCT_PASSPHRASE: 'not it' }, 6, /wrong passphrase/],
      ['file store, no passphrase, no terminal', ['connect', 'svc', '--stdin'], { ...env, ACCT_HOME: fresh, ACCT_PASSPHRASE: undefined }, 2, /cannot prompt without a terminal[\s\S]*ACCT_PASSPHRASE/],
      ['ACCT_STORE=bogus', ['connect', 'svc', '--stdin'], { ...env, ACCT_STORE: 'bogus' }, 2, /ACCT_STORE must be "keychain" or "file"/],
      ['keychain store, no D-Bus session', ['connect', 'svc', '--stdin'], { ...env, ACCT_HOME: fresh, ACCT_STORE: undefined, ACCT_PASSPHRASE: undefined }, 6, /no D-Bus session/],
    ];
    // The fresh home needs the app too (the store is what is missing there).
    expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], { ...env, ACCT_HOME: fresh })).exitCode).toBe(0);
    for (const [what, args, caseEnv, code, message] of cases) {
      const r = await withOpenStdin(args, caseEnv);
      expect([what, r.exitCode], r.stderr).toEqual([what, code]);
      expect(r.stderr, what).toMatch(message);
      expect(r.stdout, what).toBe('');
    }
    expect(api.seen.length).toBe(seen);
    // Nothing was created where the store could not be used.
    expect(existsSync(join(fresh, 'store.json'))).toBe(false);
    expect((await listJson(env)).map((a) => a.nickname)).toEqual(['one']);
    expect(existsSync(accountsFile(home))).toBe(true);
  }, 60_000);

  it('OAuth apps: the same checks fail before the browser opens or the token endpoint is called', async () => {
    const { env, home } = await oauthHome(server, 'public');
    expect((await acct(['connect', 'local', '--nickname', 'taken'], env)).exitCode).toBe(0);
    const log = join(tmpdir(), `acct-browser-${randomBytes(4).toString('hex')}.log`);
    const watched = { ...env, ACCT_TEST_BROWSER_LOG: log, ACCT_TEST_BROWSER_MODE: 'never' };
    const fresh = await oauthHome(server, 'public');
    const tokenCalls = server.tokenRequests.grantTypes.length;
    const cases: [string, string[], Env, number, RegExp][] = [
      ['taken nickname', ['connect', 'local', '--nickname', 'taken'], watched, 2, /local already has an account called "taken"/],
      ['invalid nickname', ['connect', 'local', '--nickname', 'acc_x'], watched, 2, /not a valid nickname/],
      ['wrong passphrase', ['connect', 'local'], { ...watched, ACCT_PASSPHRASE: 'wrong' }, 6, /wrong passphrase/],
      ['no passphrase', ['connect', 'local'], { ...watched, ACCT_HOME: fresh.home, ACCT_PASSPHRASE: undefined }, 2, /ACCT_PASSPHRASE/],
      ['no D-Bus', ['connect', 'local'], { ...watched, ACCT_HOME: fresh.home, ACCT_STORE: undefined, ACCT_PASSPHRASE: undefined }, 6, /no D-Bus session/],
    ];
    for (const [what, args, caseEnv, code, message] of cases) {
      const r = await withOpenStdin(args, caseEnv);
      expect([what, r.exitCode], r.stderr).toEqual([what, code]);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).not.toMatch(/Opening|Open this URL/);
    }
    expect(existsSync(log)).toBe(false);
    expect(server.tokenRequests.grantTypes.length).toBe(tokenCalls);
    expect(existsSync(accountsFile(home))).toBe(true);
  }, 60_000);
});

describe('acct client set', () => {
  it('without a terminal, a secret is never dropped: --secret-stdin or --no-secret must say which', async () => {
    const { env } = await oauthHome(server, 'confidential');
    const before = await acct(['client', 'show', 'local', '--json'], env);
    // A secret waiting on a pipe, no flag: a usage error naming the flag, nothing changed.
    const piped = await acct(['client', 'set', 'local', '--client-id', 'other'], env, input('s3cret-on-the-pipe'));
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toMatch(/stdin is not a terminal, so acct cannot ask for the Local OAuth client secret\n  pass it on stdin with --secret-stdin/);
    expect(piped.stderr).not.toContain('s3cret-on-the-pipe');
    expect((await acct(['client', 'show', 'local', '--json'], env)).stdout).toBe(before.stdout);

    // An app whose clients may be public: the hint offers --no-secret too, and --no-secret stores one.
    const optional = await acct(['apps', 'add', 'disc', '--issuer', server.issuer], env);
    expect(optional.exitCode, optional.stderr).toBe(0);
    const noFlag = await acct(['client', 'set', 'disc', '--client-id', 'acct-public'], env, input('x'));
    expect(noFlag.exitCode).toBe(2);
    expect(noFlag.stderr).toMatch(/--secret-stdin .*, or --no-secret for a public client/);
    expect((await acct(['client', 'set', 'disc', '--client-id', 'acct-public', '--no-secret'], env)).exitCode).toBe(0);
    expect(JSON.parse((await acct(['client', 'show', 'disc', '--json'], env)).stdout)).toMatchObject({ client_id: 'acct-public', has_secret: false });
  });

  it('apps whose clients have no secret ask for none, and refuse --secret-stdin', async () => {
    const { env } = await oauthHome(server, 'public');
    const r = await acct(['client', 'set', 'local', '--client-id', 'acct-public'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const refused = await acct(['client', 'set', 'local', '--client-id', 'acct-public', '--secret-stdin'], env, input('x'));
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/clients have no secret; drop --secret-stdin/);
  });

  it('a new client for an app with accounts warns and names them; a refresh it refuses says which client issued the grant', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = (await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'cleo' })).stdout.trim();
    expect((await listJson(env))[0]).toMatchObject({ id, client_id: 'acct-public' });

    const changed = await acct(['client', 'set', 'local', '--client-id', 'no-such-client'], env);
    expect(changed.exitCode, changed.stderr).toBe(0);
    expect(changed.stderr).toContain(`warning: this account was connected with the client acct-public, and Local OAuth may refuse to refresh it with no-such-client: local/cleo (${id})`);
    expect(changed.stderr).toContain('acct client set local --client-id acct-public');

    const refused = await acct(['token', 'local', '--refresh'], env);
    expect(refused.exitCode, refused.stderr).toBe(4);
    expect(refused.stderr).toMatch(/invalid_client/);
    expect(refused.stderr).toContain('it was connected with the OAuth client acct-public, and the client set for local is now no-such-client');
    expect(refused.stderr).toContain(`acct client set local --client-id acct-public; or connect it with the new client: acct reconnect ${id}`);
    // Not a rejected grant: the account is failing, not needs-reconnect, and setting the client back heals it.
    expect((await listJson(env))[0]!.status).toBe('failing');
    const back = await acct(['client', 'set', 'local', '--client-id', 'acct-public'], env);
    expect(back.stderr).not.toMatch(/warning/);
    const healed = await acct(['token', 'local', '--refresh'], env);
    expect(healed.exitCode, healed.stderr).toBe(0);
    expect((await listJson(env))[0]!.status).toBe('ok');
  });
});

describe('reconnect revokes the grant it replaces', () => {
  it('after the new one is stored; the old refresh token is dead, the new one works', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = (await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'rita' })).stdout.trim();
    const old = await revealed(id, env);
    const revocations = server.revocations.length;
    const r = await acct(['reconnect', id], { ...env, ACCT_TEST_BROWSER_LOGIN: 'rita' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('Revoked the previous grant of local/rita at Local OAuth.');
    const now = await revealed(id, env);
    expect(fingerprint(now.oauth_refresh_token)).not.toBe(fingerprint(old.oauth_refresh_token));
    const sent = server.revocations.slice(revocations).map((x) => [fingerprint(x.token), x.hint]);
    expect(sent).toEqual([
      [fingerprint(old.oauth_refresh_token), 'refresh_token'],
      [fingerprint(old.oauth_access_token), 'access_token'],
    ]);
    expect(await server.introspect(old.oauth_refresh_token!)).toBe(false);
    expect(await server.introspect(now.oauth_refresh_token!)).toBe(true);
    expect((await acct(['token', id, '--refresh'], env)).exitCode).toBe(0);
  });

  it('a revocation that fails is a warning: the new credentials are stored, exit 0', async () => {
    const file = server.appFile('public');
    const def = JSON.parse(readFileSync(file, 'utf8'));
    def.oauth.revocationUrl = `${api.url}/revoke`;
    writeFileSync(file, JSON.stringify(def));
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE, ACCT_BROWSER: BROWSER_COMMAND });
    expect((await acct(['apps', 'add', 'local', '--file', file], env)).exitCode).toBe(0);
    expect((await acct(['client', 'set', 'local', '--client-id', 'acct-public'], env)).exitCode).toBe(0);
    const id = (await acct(['connect', 'local'], env)).stdout.trim();
    const old = await revealed(id, env);
    const r = await acct(['reconnect', id], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: the new credentials of local\/alice are stored, but the previous grant could not be revoked at Local OAuth \(.*503.*\): revoke it in your Local OAuth settings/);
    expect(fingerprint((await revealed(id, env)).oauth_refresh_token)).not.toBe(fingerprint(old.oauth_refresh_token));
    expect(r.stderr).not.toContain(old.oauth_refresh_token!);
  });
});

describe('defaults and identities', () => {
  it('the first account is the default; the same identity again updates it; --nickname adds another', async () => {
    const { env } = await oauthHome(server, 'public');
    const first = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'octocat' });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = first.stdout.trim();
    expect(first.stderr).toContain(`Connected local/octocat (${id})`);
    expect(await acct(['default', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `local/octocat (${id})\n` });
    const before = await revealed(id, env);

    const again = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'octocat' });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(id);
    expect(again.stderr).toContain(`Updated local/octocat (${id}): already connected`);
    expect(fingerprint((await revealed(id, env)).oauth_access_token)).not.toBe(fingerprint(before.oauth_access_token));
    // It replaced a grant, as reconnect does.
    expect(await server.introspect(before.oauth_refresh_token!)).toBe(false);
    expect((await listJson(env)).map((a) => [a.id, a.nickname, a.default])).toEqual([[id, 'octocat', true]]);

    const ci = await acct(['connect', 'local', '--nickname', 'ci'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'octocat' });
    expect(ci.exitCode, ci.stderr).toBe(0);
    const other = await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'hubot' });
    expect((await listJson(env)).map((a) => [a.nickname, a.identity, a.default])).toEqual([
      ['ci', 'octocat', false],
      ['hubot', 'hubot', false],
      ['octocat', 'octocat', true],
    ]);
    // The app slug means the default; --unset makes it ambiguous again.
    expect((await acct(['token', 'local', '--json'], env)).stdout).toContain(`"id": "${id}"`);
    expect((await acct(['default', 'local', '--unset'], env)).exitCode).toBe(0);
    const ambiguous = await acct(['token', 'local'], env);
    expect(ambiguous.exitCode).toBe(3);
    expect(ambiguous.stderr).toMatch(/"local" matches 3 accounts/);
    expect((await acct(['default', other.stdout.trim()], env)).exitCode).toBe(0);
    expect(await acct(['default', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `local/hubot (${other.stdout.trim()})\n` });
  });

  it('without an identity the nickname is the app slug and a number, never "default"', async () => {
    const { env } = await keyHome();
    const a = await acct(['connect', 'svc', '--stdin', '--no-verify'], env, input('lk_first_0123456789'));
    const b = await acct(['connect', 'svc', '--stdin', '--no-verify'], env, input('lk_second_0123456789'));
    expect([a.stderr, b.stderr].join('')).toMatch(/Connected svc\/svc-1 [\s\S]*Connected svc\/svc-2 /);
    // The bare nickname is a reference on its own.
    expect(await acct(['token', 'svc-2'], env)).toMatchObject({ exitCode: 0, stdout: 'lk_second_0123456789\n' });
  });
});

describe('honest status', () => {
  it('unverified: a key stored without a passing test, until acct test passes', async () => {
    const { env } = await keyHome();
    const id = (await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', 'k'], env, input('lk_good_key_0123456789'))).stdout.trim();
    expect((await listJson(env))[0]).toMatchObject({ id, status: 'unverified' });
    expect((await acct(['list'], env)).stdout).toMatch(new RegExp(`^${id}\\s+svc\\s+k\\s+\\*\\s+keys\\s+unverified\\s`, 'm'));
    expect((await acct(['show', id], env)).stdout).toMatch(new RegExp(`^status\\s+unverified \\(stored without a passing test request; check it: acct test ${id}\\)$`, 'm'));
    const st = JSON.parse((await acct(['status', '--json'], env)).stdout);
    expect(st).toEqual([{ id, ref: 'svc/k', status: 'unverified', detail: `stored without a passing test request; check it: acct test ${id}`, identity: null, result: null }]);

    const tested = await acct(['test', id, '--json'], env);
    expect(tested.exitCode, tested.stderr).toBe(0);
    expect(JSON.parse(tested.stdout)).toEqual({ id, ref: 'svc/k', result: 'ok', identity: 'kim', detail: null });
    expect((await listJson(env))[0]!.status).toBe('ok');
    // status --check reports the same outcome under the same key.
    const checked = JSON.parse((await acct(['status', '--check', '--json'], env)).stdout);
    expect(checked[0]).toMatchObject({ id, status: 'ok', result: 'ok' });
  });

  it('unverified too when the service was unreachable at connect', async () => {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['apps', 'add', 'down', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    const r = await acct(['connect', 'down', '--stdin'], env, input('lk_down_0123456789'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await listJson(env))[0]!.status).toBe('unverified');
  });

  it('failing: refreshes that fail for a transient reason, until one succeeds', async () => {
    const { env } = await oauthHome(server, 'public');
    const id = (await acct(['connect', 'local'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'fay' })).stdout.trim();
    server.setTokenFault('500');
    try {
      const r = await acct(['token', id, '--refresh'], { ...env, ACCT_REFRESH_DEADLINE: '1' });
      // The cached token is still valid: used, with a warning.
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: could not refresh local\/fay/);
    } finally {
      server.setTokenFault('none');
    }
    expect((await listJson(env))[0]).toMatchObject({ id, status: 'failing' });
    expect((await acct(['list'], env)).stdout).toMatch(/\soauth2\s+failing\s/);
    expect((await acct(['show', id], env)).stdout).toMatch(/^status\s+failing \(the last refresh failed; it is retried on next use\)$/m);
    const st = await acct(['status', '--json'], env);
    expect(st.exitCode).toBe(5);
    expect(JSON.parse(st.stdout)[0]).toMatchObject({ status: 'failing', result: null });

    expect((await acct(['token', id, '--refresh'], env)).exitCode).toBe(0);
    expect((await listJson(env))[0]!.status).toBe('ok');
    expect((await acct(['status'], env)).exitCode).toBe(0);
  });
});

describe('tables', () => {
  /** acct on a pseudo-terminal of `cols` columns (util-linux script). */
  async function onTerminal(args: string[], env: Env, cols: number): Promise<string> {
    const command = `stty cols ${cols} rows 40; ${['node', BIN, ...args].map((a) => `'${a}'`).join(' ')}`;
    const r = await execa('script', ['-qfec', command, '/dev/null'], { env: { ...env, SHELL: '/bin/sh', TERM: 'dumb' }, extendEnv: false, reject: false, stdin: 'ignore', timeout: 30_000 });
    return String(r.stdout).replace(/\r/g, '');
  }

  it.skipIf(!existsSync('/usr/bin/script'))('fit the terminal, cutting nicknames with an ellipsis; piped output is whole and one word a cell', async () => {
    const { env } = await keyHome();
    const long = `a-very-long-nickname-${'x'.repeat(40)}`;
    const id = (await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', long], env, input('lk_long_0123456789'))).stdout.trim();
    const narrow = await onTerminal(['list'], env, 80);
    const lines = narrow.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+APP\s+NICKNAME\s+DEFAULT\s+AUTH\s+STATUS\s+EXPIRES\s+LAST USED$/);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(narrow).toMatch(new RegExp(`^${id}\\s+svc\\s+a-very-long[a-z-]*…\\s+\\*\\s+keys\\s+unverified\\s`, 'm'));
    // Wider: more of the nickname, still cut, still within the width.
    const wide = await onTerminal(['list'], env, 110);
    for (const l of wide.trimEnd().split('\n')) expect(l.length, l).toBeLessThanOrEqual(110);
    expect(wide).toMatch(/\sa-very-long-nickname-x{10,}…\s/);
    // Wide enough: nothing is cut.
    expect(await onTerminal(['list'], env, 200)).toContain(` ${long} `);

    // Piped: nothing is cut, and awk finds each column in its place.
    const piped = await acct(['list'], { ...env, COLUMNS: '40' });
    const row = piped.stdout.split('\n').find((l) => l.startsWith(id))!;
    expect(row.split(/\s+/).slice(0, 6)).toEqual([id, 'svc', long, '*', 'keys', 'unverified']);
  });

  /** A home whose rows are as wide as they get: OAuth (one expiring, used, and one needs-reconnect), and an unverified key with a long nickname. */
  async function wideHome(): Promise<{ env: Env; ids: Record<string, string> }> {
    const { env } = await oauthHome(server, 'public');
    expect((await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], env)).exitCode).toBe(0);
    const ids: Record<string, string> = {};
    for (const login of ['ivy', 'jon']) ids[login] = (await acct(['connect', 'local', '--nickname', login], { ...env, ACCT_TEST_BROWSER_LOGIN: login })).stdout.trim();
    ids.key = (await acct(['connect', 'svc', '--stdin', '--no-verify', '--nickname', `key-with-a-long-nickname-${'y'.repeat(20)}`], env, input('lk_wide_0123456789'))).stdout.trim();
    expect(await server.revokeAllGrants('jon')).toBeGreaterThan(0);
    expect((await acct(['token', ids.jon!, '--refresh'], env)).exitCode).toBe(4);
    expect((await acct(['token', ids.ivy!], env)).exitCode).toBe(0);
    return { env, ids };
  }

  it.skipIf(!existsSync('/usr/bin/script'))('piped: every cell of list and status is one word, headings included, and times are the instants of --json', async () => {
    const { env, ids } = await wideHome();
    const listed = await listJson(env);
    const ivy = listed.find((a) => a.id === ids.ivy)!;
    expect(ivy.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(ivy.last_used_at).toMatch(/^\d{4}-/);

    const list = await acct(['list'], env);
    expect(list.exitCode, list.stderr).toBe(0);
    const rows = list.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    expect(rows[0]).toEqual(['ID', 'APP', 'NICKNAME', 'DEFAULT', 'AUTH', 'STATUS', 'EXPIRES', 'LAST_USED']);
    // As awk counts them: as many fields on every row as there are headings.
    for (const r of rows) expect(r, r.join(' ')).toHaveLength(8);
    const row = (id: string) => rows.find((r) => r[0] === id)!;
    expect(row(ids.ivy!)).toEqual([ids.ivy, 'local', 'ivy', '*', 'oauth2', 'ok', ivy.expires_at, ivy.last_used_at]);
    expect(row(ids.jon!).slice(5)).toEqual(['needs-reconnect', expect.stringMatching(/^\d{4}-.*Z$/), 'never']);
    expect(row(ids.key!).slice(4)).toEqual(['keys', 'unverified', '-', 'never']);
    expect(list.stdout).not.toMatch(/ ago|in \d|just now/);

    const status = await acct(['status'], env);
    expect(status.exitCode).toBe(4);
    const srows = status.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    expect(srows[0]).toEqual(['ID', 'ACCOUNT', 'STATUS', 'DETAIL']);
    for (const r of srows) expect(r, r.join(' ')).toHaveLength(4);
    expect(srows.find((r) => r[0] === ids.ivy)).toEqual([ids.ivy, 'local/ivy', 'ok', `expires_${ivy.expires_at}`]);
    expect(srows.find((r) => r[0] === ids.jon)).toEqual([ids.jon, 'local/jon', 'needs-reconnect', `run:_acct_reconnect_${ids.jon}`]);

    // show says when, without a relative time, too.
    expect((await acct(['show', ids.ivy!], env)).stdout).toMatch(new RegExp(`^expires\\s+${ivy.expires_at!.replace(/\./g, '\\.')}$`, 'm'));
    // On a terminal the same table says how long ago, and how soon.
    const shown = await onTerminal(['list'], env, 200);
    expect(shown).toMatch(/\sLAST USED\n/);
    expect(shown).toMatch(new RegExp(`^${ids.ivy}\\s.*\\sok\\s+in [45]m\\s+(just now|\\d+s ago)$`, 'm'));
  });

  it.skipIf(!existsSync('/usr/bin/script'))('fit 80 and 60 columns: nicknames cut first, then the least important columns left out, never ID, APP or NICKNAME', async () => {
    const { env, ids } = await wideHome();
    const at = async (args: string[], cols: number) => {
      const lines = (await onTerminal(args, env, cols)).trimEnd().split('\n');
      for (const l of lines) expect(l.length, `${cols} columns: ${l}`).toBeLessThanOrEqual(cols);
      return lines;
    };
    // 80: AUTH goes, the rest stays.
    const eighty = await at(['list'], 80);
    expect(eighty[0]).toMatch(/^ID\s+APP\s+NICKNAME\s+DEFAULT\s+STATUS\s+EXPIRES\s+LAST USED$/);
    expect(eighty.find((l) => l.startsWith(ids.jon!))).toMatch(/^acc_\w+\s+local\s+jon\s+-\s+needs-reconnect\s/);
    expect(eighty.find((l) => l.startsWith(ids.key!))).toMatch(/^acc_\w+\s+svc\s+key-with-a[\w-]*…\s+\*\s+unverified\s/);
    // 60: then LAST USED and DEFAULT.
    const sixty = await at(['list'], 60);
    expect(sixty[0]).toMatch(/^ID\s+APP\s+NICKNAME\s+STATUS\s+EXPIRES$/);
    expect(sixty.find((l) => l.startsWith(ids.ivy!))).toMatch(/^acc_\w+\s+local\s+ivy\s+ok\s+in [45]m$/);
    // status and apps fit too.
    for (const cols of [80, 60]) {
      const status = await at(['status'], cols);
      expect(status[0]).toMatch(/^ID\s+ACCOUNT\s+STATUS\s+DETAIL$/);
      const apps = await at(['apps', 'google'], cols);
      expect(apps[0]).toMatch(/^APP\s+NAME\s+/);
    }
  });
});

describe('the same names everywhere', () => {
  it('oauth2 in list and apps tables, as in JSON', async () => {
    const { env } = await oauthHome(server, 'public');
    await acct(['connect', 'local'], env);
    const list = await acct(['list'], env);
    expect(list.stdout).toMatch(/\salice\s+\*\s+oauth2\s+ok\s/);
    expect((await listJson(env))[0]!.auth).toBe('oauth2');
    const apps = await acct(['apps', 'github'], env);
    expect(apps.stdout).toMatch(/^github\s+GitHub\s+oauth2\s/m);
    expect(apps.stdout).not.toMatch(/\soauth\s/);
  });
});

describe('apps add --issuer', () => {
  it("takes the provider's name from its metadata and the userinfo endpoint as the test request", async () => {
    const { env } = await oauthHome(server, 'public');
    const added = await acct(['apps', 'add', 'idp', '--issuer', server.issuer], env);
    expect(added.exitCode, added.stderr).toBe(0);
    const app = JSON.parse((await acct(['apps', 'show', 'idp', '--json'], env)).stdout);
    expect(app.name).toBe('Local Identity');
    expect(app.test).toEqual({ method: 'GET', path: '/userinfo', identity: ['preferred_username', 'email', 'sub'] });

    expect((await acct(['client', 'set', 'idp', '--client-id', 'acct-public', '--no-secret'], env)).exitCode).toBe(0);
    const c = await acct(['connect', 'idp'], { ...env, ACCT_TEST_BROWSER_LOGIN: 'ursula' });
    expect(c.exitCode, c.stderr).toBe(0);
    expect(c.stderr).toContain('Connected idp/ursula (');
    const t = await acct(['test', 'idp'], env);
    expect(t).toMatchObject({ exitCode: 0, stdout: 'ok: idp/ursula — authenticated as ursula\n' });
  });

  it('without a name in the metadata, the name comes from the host', async () => {
    const bare = await startAuthServer();
    try {
      const { env } = await oauthHome(bare, 'public');
      expect((await acct(['apps', 'add', 'idp', '--issuer', bare.issuer], env)).exitCode).toBe(0);
      expect(JSON.parse((await acct(['apps', 'show', 'idp', '--json'], env)).stdout).name).toBe('127.0.0.1');
    } finally {
      await bare.close();
    }
  });
});
