// Bookkeeping never breaks a read (SPEC "Reads never fail for bookkeeping"),
// and writes that fail or are killed leave the previous state whole (SPEC
// "Nothing lost"): a full disk (a small tmpfs), a read-only home (a read-only
// bind mount), an unusable usage log, and kill -9 during connect followed by
// the write that cleans up.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, writeSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, BIN, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome } from '../support/oauth-cli.js';
import { accountsFile } from '../support/accounts.js';

const PASSPHRASE = 'housekeeping passphrase';
const input = (text: string) => ({ input: text, stdin: undefined });
// Each case runs a dozen acct processes: a generous bound for a loaded machine, to catch hangs only.
const SLOW = 240_000;
const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes('warning:'));

/** Whether this machine lets the tests mount a tmpfs (root in a container that allows it). */
async function canMount(): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'acct-mount-probe-'));
  const r = await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { reject: false });
  if (r.exitCode !== 0) return `cannot mount a tmpfs here (${r.stderr.trim() || r.exitCode})`;
  await execa('umount', [dir]);
  rmSync(dir, { recursive: true });
  return undefined;
}
const noMount = await canMount();
if (noMount) console.warn(`skipping the full-disk and read-only cases: ${noMount}`);

/** Every file under dir (relative path → contents), temporary files included. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else out[rel] = readFileSync(join(dir, rel), 'base64');
    }
  };
  walk('');
  return out;
}
const tempFiles = (dir: string) => Object.keys(snapshot(dir)).filter((f) => f.endsWith('.tmp'));

describe('housekeeping never breaks a read', () => {
  let api: ApiServer;
  let appFile: string;
  const KEY1 = `lk_${randomBytes(12).toString('hex')}`;
  const KEY2 = `lk_${randomBytes(12).toString('hex')}`;
  const mounts: string[] = [];

  beforeAll(async () => {
    api = await startApiServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ user: { login: 'octo' } }));
    });
    appFile = keyAppFile(api.url);
  });
  afterAll(async () => {
    for (const m of mounts.reverse()) await execa('umount', [m], { reject: false });
    await api.close();
  });

  /** A home with two key accounts of the local app, in the passphrase store. */
  async function homeWithAccounts(home: string) {
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['apps', 'add', 'local', '--file', appFile], env)).exitCode).toBe(0);
    for (const [nickname, key] of [['one', KEY1], ['two', KEY2]] as const) {
      const r = await acct(['connect', 'local', '--stdin', '--nickname', nickname], env, input(key));
      expect(r.stderr).toContain(`Connected local/${nickname}`);
    }
    return env;
  }

  /** Every read command works, with one warning at most, on stderr only. */
  async function readsWork(env: Record<string, string | undefined>, expectWarning: RegExp | undefined) {
    const runs = {
      token: await acct(['token', 'local/one'], env),
      env: await acct(['env', 'A=local/one', 'B=local/two'], env),
      exec: await acct(['exec', 'local/one', '--no-mask', '--', 'node', '-e', 'process.stdout.write(process.env.LOCAL_API_KEY)'], env),
      request: await acct(['request', 'local/two', '/me'], env),
      show: await acct(['show', 'local/one', '--reveal'], env),
      list: await acct(['list', '--json'], env),
      test: await acct(['test', 'local/one'], env),
    };
    expect(runs.token.stdout).toBe(`${KEY1}\n`);
    expect(runs.env.stdout).toBe(`A='${KEY1}'\nB='${KEY2}'\n`);
    expect(runs.exec.stdout).toBe(KEY1);
    expect(JSON.parse(runs.request.stdout)).toEqual({ user: { login: 'octo' } });
    expect(runs.show.stdout).toContain(KEY1);
    expect(JSON.parse(runs.list.stdout).map((a: { nickname: string }) => a.nickname)).toEqual(['one', 'two']);
    expect(runs.test.stdout + runs.test.stderr).toContain('octo');
    for (const [name, r] of Object.entries(runs)) {
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout, name).not.toContain('warning');
      const w = warnings(r.stderr);
      expect(w.length, `${name}: ${r.stderr}`).toBeLessThanOrEqual(1);
      if (!expectWarning) expect(w, name).toEqual([]);
      else for (const line of w) expect(line, name).toMatch(expectWarning);
    }
    // token and env record a use: each says once that it could not.
    if (expectWarning) for (const name of ['token', 'env'] as const) expect(warnings(runs[name].stderr), name).toHaveLength(1);
  }

  /** A small tmpfs holding a home with two key accounts (homeWithAccounts). */
  async function smallDisk() {
    const disk = mkdtempSync(join(tmpdir(), 'acct-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', disk]);
    mounts.push(disk);
    const home = join(disk, 'home');
    mkdirSync(home, { mode: 0o700 });
    return { disk, home, env: await homeWithAccounts(home) };
  }

  /** Fills the disk to the last byte, with disk/filler. */
  function fill(disk: string) {
    const fd = openSync(join(disk, 'filler'), 'w');
    const block = Buffer.alloc(4096);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    closeSync(fd);
  }

  it.skipIf(noMount)('on a full disk, every read works with one warning, and a write fails whole', async () => {
    const { disk, home, env } = await smallDisk();
    fill(disk);
    const before = snapshot(home);

    await readsWork(env, /could not record the use of the account: cannot write .*last-used\.log: the disk is full/);

    // Writes fail with the reason, change nothing, and leave no temporary file.
    const connect = await acct(['connect', 'local', '--stdin', '--nickname', 'three', '--no-verify'], env, input(`lk_${randomBytes(12).toString('hex')}`));
    expect(connect.exitCode).toBe(6);
    expect(connect.stderr).toMatch(/cannot write .*: the disk is full/);
    const rename = await acct(['rename', 'local/one', 'uno'], env);
    expect(rename.exitCode).toBe(6);
    // The lock (which names its holder in a file) or the metadata itself: whichever the full disk stops first.
    expect(rename.stderr).toMatch(new RegExp(`cannot write ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(accounts\\.json|locks/metadata\\.lock): the disk is full`));
    const after = snapshot(home);
    // The only change the reads may leave is an empty usage log (creating it takes no block).
    expect(after['last-used.log'] ?? '').toBe('');
    delete after['last-used.log'];
    expect(after).toEqual(before);
    expect(tempFiles(home)).toEqual([]);

    // With room again, uses are recorded without a warning.
    unlinkSync(join(disk, 'filler'));
    const token = await acct(['token', 'local/one'], env);
    expect(token).toMatchObject({ exitCode: 0, stdout: `${KEY1}\n`, stderr: '' });
    expect(readFileSync(join(home, 'last-used.log'), 'utf8')).toMatch(/^acc_[a-z2-7]{10} \d{4}-/);
  }, SLOW);

  it.skipIf(noMount)('a reconnect or a client change that fails for want of room leaves the old secret in place, as it says', async () => {
    const { disk, home, env } = await smallDisk();
    expect((await acct(['client', 'set', 'gitlab', '--client-id', 'first-client', '--secret-stdin'], env, input('first-client-secret'))).exitCode).toBe(0);
    // Full but for one block: room for a new secret, none for the metadata (or its lock) after it.
    const spare = join(disk, 'spare');
    writeFileSync(spare, Buffer.alloc(4096));
    fill(disk);
    const NEW = `lk_${randomBytes(12).toString('hex')}`;
    for (const [args, stdin] of [
      [['reconnect', 'local/one', '--stdin', '--no-verify'], NEW],
      [['client', 'set', 'gitlab', '--client-id', 'second-client', '--secret-stdin'], 'second-client-secret'],
    ] as const) {
      unlinkSync(spare);
      const before = snapshot(home);
      const r = await acct([...args], env, input(stdin));
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(6);
      expect(r.stderr).toMatch(/the disk is full/);
      expect(r.stderr).not.toContain(NEW);
      expect(snapshot(home), args.join(' ')).toEqual(before);
      writeFileSync(spare, Buffer.alloc(4096));
    }
    unlinkSync(join(disk, 'filler'));
    expect((await acct(['token', 'local/one'], env)).stdout).toBe(`${KEY1}\n`);
    expect(JSON.parse((await acct(['client', 'show', 'gitlab', '--json'], env)).stdout)).toMatchObject({ client_id: 'first-client' });
  }, SLOW);

  it('a delete whose secret cannot be removed (secrets/ not writable) deletes the account, says so once, and the next write removes the secret', async () => {
    const home = tempHome();
    const env = await homeWithAccounts(home);
    const id = (await acct(['show', 'local/two', '--json'], env)).stdout.match(/acc_[a-z2-7]{10}/)![0];
    const secret = join(home, 'secrets', `${id}.json`);
    // A folder's mode does not stop root; for root the secret is a folder instead, which unlink refuses just the same.
    if (process.getuid!() === 0) {
      rmSync(secret);
      mkdirSync(secret);
      writeFileSync(join(secret, 'x'), 'x');
    } else chmodSync(join(home, 'secrets'), 0o500);
    const r = await acct(['delete', 'local/two', '--yes', '--keep-remote', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/unexpected|this is a bug/);
    expect(r.stderr).toMatch(/could not remove the secret of the deleted account/);
    expect((await acct(['token', 'local/two'], env)).exitCode).toBe(3);
    expect((await acct(['token', 'local/one'], env)).stdout).toBe(`${KEY1}\n`);
  }, SLOW);

  it('a client remove or a switch to a public client whose old secret cannot be removed does the change and says so once', async () => {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    for (const slug of ['gitlab', 'dropbox']) expect((await acct(['client', 'set', slug, '--client-id', `${slug}-client`, '--secret-stdin'], env, input(`${slug}-client-secret`))).exitCode).toBe(0);
    // As for the delete above: for root the secret file is a folder, which unlink refuses as a read-only folder would.
    const stuck = (slug: string) => {
      const secret = join(home, 'secrets', `client.${slug}.json`);
      rmSync(secret);
      mkdirSync(secret);
      writeFileSync(join(secret, 'x'), 'x');
    };
    stuck('gitlab');
    const removed = await acct(['client', 'remove', 'gitlab'], env);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stderr).not.toMatch(/unexpected|this is a bug/);
    expect(warnings(removed.stderr)).toEqual([expect.stringMatching(/could not remove the secret of the client removed/)]);
    expect(JSON.parse((await acct(['client', 'show', 'gitlab', '--json'], env)).stdout)).toMatchObject({ client_id: null, has_secret: false });

    stuck('dropbox');
    const switched = await acct(['client', 'set', 'dropbox', '--client-id', 'dropbox-public', '--no-secret'], env);
    expect(switched.exitCode, switched.stderr).toBe(0);
    expect(warnings(switched.stderr)).toEqual([expect.stringMatching(/could not remove the secret of the client replaced/)]);
    expect(JSON.parse((await acct(['client', 'show', 'dropbox', '--json'], env)).stdout)).toMatchObject({ client_id: 'dropbox-public', has_secret: false });
  }, SLOW);

  it.skipIf(noMount)('with a read-only home, every read works with one warning', async () => {
    const home = tempHome();
    const env = await homeWithAccounts(home);
    const ro = mkdtempSync(join(tmpdir(), 'acct-ro-'));
    await execa('mount', ['--bind', home, ro]);
    mounts.push(ro);
    await execa('mount', ['-o', 'remount,bind,ro', ro]);
    expect(() => writeFileSync(join(ro, 'probe'), 'x')).toThrow(/read-only/);
    const roEnv = { ...env, ACCT_HOME: ro };
    const before = snapshot(home);

    await readsWork(roEnv, /could not record the use of the account: cannot write .*last-used\.log: the file system is read-only/);

    const connect = await acct(['connect', 'local', '--stdin', '--nickname', 'three', '--no-verify'], roEnv, input(`lk_${randomBytes(12).toString('hex')}`));
    expect(connect.exitCode).toBe(6);
    expect(connect.stderr).toContain('the file system is read-only');
    expect(snapshot(home)).toEqual(before);
  }, SLOW);

  it('with a usage log acct must not write (a symlink, a folder), reads work with one warning and nothing is written through it', async () => {
    const home = tempHome();
    const env = await homeWithAccounts(home);
    const elsewhere = join(tempHome(), 'not-the-log');
    writeFileSync(elsewhere, 'untouched\n');
    symlinkSync(elsewhere, join(home, 'last-used.log'));
    await readsWork(env, /could not (record the use of the account|read when the accounts? w(as|ere) last used): .*last-used\.log is a symlink/);
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched\n');

    unlinkSync(join(home, 'last-used.log'));
    mkdirSync(join(home, 'last-used.log'));
    await readsWork(env, /could not (record the use of the account|read when the accounts? w(as|ere) last used): .*last-used\.log/);
  }, SLOW);

  it('kill -9 during connect leaves the store whole, and a later write removes what it left', async () => {
    const home = tempHome();
    const env = await homeWithAccounts(home);
    const secretsDir = join(home, 'secrets');
    const accountsBefore = readFileSync(accountsFile(home), 'utf8');
    const secretsBefore = readdirSync(secretsDir).sort();

    // Another process holds the metadata lock, so connect stops between writing
    // the new account's secret and the metadata that points at it: kill it there.
    mkdirSync(join(home, 'locks', 'metadata.lock'));
    const sub = execa('node', [BIN, 'connect', 'local', '--stdin', '--nickname', 'killed', '--no-verify'], {
      env,
      extendEnv: false,
      reject: false,
      input: `lk_${randomBytes(12).toString('hex')}`,
    });
    const deadline = Date.now() + 30_000;
    const written = () => readdirSync(secretsDir).filter((f) => f.endsWith('.json') && !secretsBefore.includes(f));
    while (written().length === 0) {
      expect(Date.now(), 'connect to write its secret').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    sub.kill('SIGKILL');
    expect((await sub).signal).toBe('SIGKILL');
    rmSync(join(home, 'locks', 'metadata.lock'), { recursive: true });

    const [orphan] = written() as [string];
    expect(orphan).toMatch(/^acc_[a-z2-7]{10}\.json$/);
    // Nothing existing was lost: the metadata is as it was, both accounts read.
    expect(readFileSync(accountsFile(home), 'utf8')).toBe(accountsBefore);
    expect((await acct(['token', 'local/one'], env)).stdout).toBe(`${KEY1}\n`);
    expect((await acct(['list', '--json'], env)).stdout).not.toContain(orphan.slice(0, -5));

    // Temporary files of writers that died (the pid in the name is gone), and one of a live writer (this test).
    const dead = execa('node', ['-e', '0']);
    await dead;
    const deadTemps = [join(home, `accounts.tsv.${dead.pid}.0badf00d.tmp`), join(secretsDir, `acc_aaaaaaaaaa.json.${dead.pid}.deadbeef.tmp`)];
    const liveTemp = join(home, `accounts.tsv.${process.pid}.12345678.tmp`);
    for (const f of [...deadTemps, liveTemp]) writeFileSync(f, 'partial', { mode: 0o600 });

    // The next write: the dead writers' temporary files go; the orphan is young
    // enough to be a connect whose metadata is on its way, so it stays.
    expect((await acct(['rename', 'local/two', 'deux'], env)).exitCode).toBe(0);
    for (const f of deadTemps) expect(existsSync(f), f).toBe(false);
    expect(existsSync(liveTemp)).toBe(true);
    expect(existsSync(join(secretsDir, orphan))).toBe(true);

    // Once it is older than any writer could be (10 minutes), the next write removes it, and only it:
    // an old client secret (not an account's; clients.json says whether it is used) stays.
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(secretsDir, orphan), old, old);
    const clientSecret = join(secretsDir, 'client.other.json');
    cpSync(join(secretsDir, orphan), clientSecret);
    utimesSync(clientSecret, old, old);
    expect((await acct(['rename', 'local/deux', 'two'], env)).exitCode).toBe(0);
    expect(existsSync(clientSecret)).toBe(true);
    unlinkSync(clientSecret);
    expect(readdirSync(secretsDir).sort()).toEqual(secretsBefore);
    expect((await acct(['token', 'local/one'], env)).stdout).toBe(`${KEY1}\n`);
    expect((await acct(['token', 'local/two'], env)).stdout).toBe(`${KEY2}\n`);
    unlinkSync(liveTemp);
  }, SLOW);

  it('a delete stopped between its metadata and its secret leaves a secret the next write removes at once', async () => {
    const home = tempHome();
    const env = await homeWithAccounts(home);
    const id = (await acct(['list', '--json'], env)).stdout.match(/"id": "(acc_[a-z2-7]{10})"/)![1]!;
    const secret = join(home, 'secrets', `${id}.json`);
    const kept = join(tempHome(), 'kept.json');
    cpSync(secret, kept);
    expect((await acct(['delete', id, '--yes', '--keep-remote'], env)).exitCode).toBe(0);
    cpSync(kept, secret); // as if acct had died after writing the metadata
    expect((await acct(['rename', 'local/two', 'deux'], env)).exitCode).toBe(0);
    expect(existsSync(secret)).toBe(false);
    expect((await acct(['token', 'local/deux'], env)).stdout).toBe(`${KEY2}\n`);
  }, SLOW);
});

describe.skipIf(noMount)('a refresh on a read-only home', () => {
  let server: AuthServer;
  beforeAll(async () => {
    server = await startAuthServer({ accessTokenTtl: 300 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('uses a token that is still valid, with one warning, and says why it cannot refresh an expired one', async () => {
    const { home, env } = await oauthHome(server, 'public');
    const connect = async (nickname: string, ttl: number) => {
      server.setAccessTokenTtl(ttl);
      const r = await acct(['connect', 'local', '--nickname', nickname], { ...env, ACCT_TEST_BROWSER_LOGIN: nickname });
      server.setAccessTokenTtl(300);
      expect(r.exitCode, r.stderr).toBe(0);
    };
    await connect('soon', 120);
    await connect('gone', 1);
    const cached = JSON.parse((await acct(['show', 'local/soon', '--reveal', '--json'], env)).stdout).fields.oauth_access_token;
    await new Promise((r) => setTimeout(r, 1500));

    const ro = mkdtempSync(join(tmpdir(), 'acct-ro-'));
    await execa('mount', ['--bind', home, ro]);
    try {
      await execa('mount', ['-o', 'remount,bind,ro', ro]);
      const roEnv = { ...env, ACCT_HOME: ro };
      const requests = server.tokenRequests.refresh;
      // Expiring within --min-ttl: no lock can be taken to refresh it, and the token still works.
      const soon = await acct(['token', 'local/soon', '--min-ttl', '300'], roEnv);
      expect(soon.exitCode, soon.stderr).toBe(0);
      expect(soon.stdout).toBe(`${cached}\n`);
      expect(warnings(soon.stderr)).toHaveLength(1);
      expect(soon.stderr).toMatch(/could not refresh local\/soon \(cannot write .*: the file system is read-only\); using the cached token, valid until/);
      // --refresh asks for a new token: one that cannot be stored is an error, not the old token.
      const forced = await acct(['token', 'local/soon', '--refresh'], roEnv);
      expect(forced.exitCode).toBe(6);
      expect(forced.stdout).toBe('');
      expect(forced.stderr).toContain('the file system is read-only');
      // Expired: nothing to fall back on.
      const gone = await acct(['token', 'local/gone'], roEnv);
      expect(gone.exitCode).toBe(6);
      expect(gone.stderr).toContain('the file system is read-only');
      expect(server.tokenRequests.refresh).toBe(requests); // no refresh token was spent that could not be stored
    } finally {
      await execa('umount', [ro]);
    }
  }, SLOW);
});
