// Files acct trusts (SPEC "Files acct trusts"): a folder or file of acct's
// that is a symlink, owned by another user, or open to others is refused
// with exit 6, naming the path and the command that fixes it, and nothing is
// changed. The tests run as root, so "another user" is uid 65534.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { accountsFile } from '../support/accounts.js';

const PASSPHRASE = 'trusted files passphrase';
const input = (text: string) => ({ input: text, stdin: undefined });
const NOBODY = 65534;
// Each case runs a dozen acct processes: a generous bound for a loaded machine, to catch hangs only.
const SLOW = 240_000;

/** Everything under dir, without following symlinks: what each entry is, its mode, owner and contents. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string, rel: string) => {
    const st = lstatSync(path);
    const kind = st.isSymbolicLink() ? `link→${readlinkSync(path)}` : st.isDirectory() ? 'dir' : `file:${readFileSync(path, 'base64')}`;
    out[rel || '.'] = `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}`;
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), rel ? `${rel}/${name}` : name);
  };
  walk(dir, '');
  return out;
}

describe('files acct trusts', () => {
  const KEY = `lk_${randomBytes(12).toString('hex')}`;
  let appFile: string;

  beforeAll(() => {
    appFile = keyAppFile('http://127.0.0.1:9');
  });

  async function store() {
    const home = tempHome();
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['apps', 'add', 'local', '--file', appFile], env)).exitCode).toBe(0);
    const r = await acct(['connect', 'local', '--stdin', '--nickname', 'main', '--no-verify'], env, input(KEY));
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim();
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
    return { home, env, id, secret: join(home, 'secrets', `${id}.json`) };
  }

  /** Every command refuses (exit 6) naming the path and the fix, and leaves everything as it was. */
  async function refused(home: string, env: Record<string, string | undefined>, path: string, fix: string, commands = [['token', 'local/main'], ['list'], ['env', 'local/main'], ['connect', 'local', '--stdin', '--nickname', 'other', '--no-verify']]) {
    const before = snapshot(home);
    for (const args of commands) {
      const r = await acct(args, env, args[0] === 'connect' ? input(`lk_${randomBytes(12).toString('hex')}`) : {});
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(6);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(path);
      expect(r.stderr).toContain(fix);
      expect(r.stderr).not.toContain(KEY);
      // No hint moves a file into acct's folders from wherever a link points.
      expect(r.stderr).not.toMatch(/\bmv /);
    }
    expect(snapshot(home)).toEqual(before);
  }

  it('refuses a home writable by others or by its group, naming chmod 700', async () => {
    const { home, env } = await store();
    chmodSync(home, 0o777);
    await refused(home, env, home, `chmod 700 ${home}`);
    chmodSync(home, 0o770);
    await refused(home, env, home, `chmod 700 ${home}`);
    chmodSync(home, 0o700);
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
  }, SLOW);

  it('refuses a shared folder (sticky, like /tmp) as the home, suggesting a folder of your own rather than chmod', async () => {
    const shared = join(tempHome(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const env = baseEnv({ ACCT_HOME: shared, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    const r = await acct(['apps', 'add', 'local', '--file', appFile], env);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toContain(`${shared} is writable by its group and others`);
    expect(r.stderr).toContain('point ACCT_HOME at a folder of your own');
    expect(r.stderr).not.toContain('chmod 700');
    expect(readdirSync(shared)).toEqual([]);
    expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
  }, SLOW);

  it('refuses a group-writable secrets/ or locks/ folder', async () => {
    const { home, env } = await store();
    const secrets = join(home, 'secrets');
    chmodSync(secrets, 0o770);
    await refused(home, env, secrets, `chmod 700 ${secrets}`, [['token', 'local/main'], ['env', 'local/main'], ['connect', 'local', '--stdin', '--no-verify']]);
    chmodSync(secrets, 0o700);
    const locks = join(home, 'locks');
    chmodSync(locks, 0o707);
    await refused(home, env, locks, `chmod 700 ${locks}`, [['rename', 'local/main', 'renamed']]);
  }, SLOW);

  it('refuses store files that others may read or write, naming chmod 600', async () => {
    const { home, env, secret } = await store();
    for (const [file, mode] of [
      [accountsFile(home), 0o644],
      [join(home, 'store.json'), 0o604],
      [join(home, 'apps.json'), 0o666],
      [secret, 0o640],
    ] as const) {
      chmodSync(file, mode);
      await refused(home, env, file, `chmod 600 ${file}`, [['token', 'local/main'], ['env', 'local/main']]);
      chmodSync(file, 0o600);
    }
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
  }, SLOW);

  it('refuses a folder or file owned by another user, naming chown', async () => {
    const { home, env, secret } = await store();
    chownSync(home, NOBODY, NOBODY);
    await refused(home, env, home, `chown -R root ${home}`);
    chownSync(home, 0, 0);
    for (const file of [accountsFile(home), join(home, 'apps.json'), secret]) {
      chownSync(file, NOBODY, NOBODY);
      await refused(home, env, file, `chown root ${file}`, [['token', 'local/main'], ['env', 'local/main']]);
      chownSync(file, 0, 0);
    }
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
  }, SLOW);

  it('refuses symlinked folders and files inside the home, and never follows them to chmod or write', async () => {
    const { home, env, id, secret } = await store();
    // secrets/ moved elsewhere (a folder others may read) and linked back.
    const elsewhere = join(tempHome(), 'secrets');
    renameSync(join(home, 'secrets'), elsewhere);
    chmodSync(elsewhere, 0o755);
    symlinkSync(elsewhere, join(home, 'secrets'));
    const outside = snapshot(elsewhere);
    // Copied back, never moved: the link could point at anything.
    await refused(home, env, join(home, 'secrets'), `put a copy of it in place of the link (rm ${join(home, 'secrets')} && cp -Rp ${elsewhere} ${join(home, 'secrets')}); if it is not, remove the link`, [['token', 'local/main'], ['connect', 'local', '--stdin', '--no-verify'], ['delete', id, '--yes', '--keep-remote']]);
    expect(snapshot(elsewhere)).toEqual(outside); // still 0755: acct did not chmod through the link
    rmSync(join(home, 'secrets'));
    renameSync(elsewhere, join(home, 'secrets'));
    chmodSync(join(home, 'secrets'), 0o700);

    for (const file of [accountsFile(home), join(home, 'apps.json'), secret]) {
      const target = join(tempHome(), 'target.json');
      renameSync(file, target);
      symlinkSync(target, file);
      await refused(home, env, file, `put a copy of it in place of the link (rm ${file} && cp -p ${target} ${file})`, [['token', 'local/main'], ['env', 'local/main']]);
      rmSync(file);
      renameSync(target, file);
    }
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
  }, SLOW);

  it('takes a home that is a symlink of the user own to a private folder, and checks the folder it points to', async () => {
    const { home, env } = await store();
    const link = join(tempHome(), 'acct-link');
    symlinkSync(home, link);
    const linked = { ...env, ACCT_HOME: link };
    expect(await acct(['token', 'local/main'], linked)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
    const r = await acct(['connect', 'local', '--stdin', '--nickname', 'via-link', '--no-verify'], linked, input(`lk_${randomBytes(12).toString('hex')}`));
    expect(r.exitCode).toBe(0);

    // The folder it points to open to others: refused, with the fix.
    chmodSync(home, 0o777);
    await refused(home, linked, link, `chmod 700 ${link}`, [['token', 'local/main']]);
    chmodSync(home, 0o700);

    // A link someone else made: refused.
    lchownSync(link, NOBODY, NOBODY);
    await refused(home, linked, link, `check what ${home} is`, [['token', 'local/main'], ['list']]);
  }, SLOW);

  it('takes a home only others may read (mkdir under umask 022) and makes it private on the first write', async () => {
    const home = join(tempHome(), 'made-by-hand');
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    const env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['list'], env)).exitCode).toBe(0);
    expect(lstatSync(home).mode & 0o777).toBe(0o755); // a read changes nothing
    expect((await acct(['apps', 'add', 'local', '--file', appFile], env)).exitCode).toBe(0);
    expect(lstatSync(home).mode & 0o777).toBe(0o700);
  }, SLOW);

  it("leaves the modes of the user's own folders alone (export -o writes there)", async () => {
    const { env } = await store();
    const out = join(tempHome(), 'shared-with-the-team');
    mkdirSync(out);
    chmodSync(out, 0o755);
    const r = await acct(['export', 'local/main', '-o', join(out, 'ci.acct')], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['ci.acct']);
    expect(lstatSync(out).mode & 0o777).toBe(0o755); // was chmodded to 0700
    expect(lstatSync(join(out, 'ci.acct')).mode & 0o777).toBe(0o600);
  }, SLOW);

  it('checks the XDG folders as it checks ACCT_HOME', async () => {
    const home = tempHome();
    const env = baseEnv({ HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE, ACCT_CODE_CACHE: '0' });
    expect((await acct(['apps', 'add', 'local', '--file', appFile], env)).exitCode).toBe(0);
    expect((await acct(['connect', 'local', '--stdin', '--nickname', 'main', '--no-verify'], env, input(KEY))).exitCode).toBe(0);
    const config = join(home, '.config', 'acct');
    const data = join(home, '.local', 'share', 'acct');
    expect(readdirSync(config)).toContain('apps.json');
    expect(readdirSync(data)).toContain('accounts.tsv');
    chmodSync(config, 0o777);
    await refused(home, env, config, `chmod 700 ${config}`, [['token', 'local/main'], ['apps', 'show', 'local']]);
    chmodSync(config, 0o700);
    chmodSync(accountsFile(data), 0o644);
    await refused(home, env, accountsFile(data), `chmod 600 ${accountsFile(data)}`, [['token', 'local/main'], ['list']]);
    chmodSync(accountsFile(data), 0o600);
    expect((await acct(['token', 'local/main'], env)).stdout).toBe(`${KEY}\n`);
  }, SLOW);
});
