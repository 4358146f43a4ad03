// The passphrase-protected file store (ACCT_STORE=file): key accounts end to end,
// secrets sealed on disk, private permissions, and a wrong passphrase.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile, duoAppFile } from '../support/apps.js';
import { storedMetadata } from '../support/accounts.js';

const PASSPHRASE = 'correct horse battery staple';
const input = (text: string) => ({ input: text, stdin: undefined });

function entries(dir: string): { path: string; dir: boolean; mode: number }[] {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    out.push({ path, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) out.push(...entries(path));
  }
  return out;
}

describe('file store (ACCT_STORE=file)', () => {
  let home: string;
  let env: Record<string, string | undefined>;
  // Fresh every run, so no assertion can pass on a remembered value.
  const KEY = `lk_${randomBytes(16).toString('hex')}`;
  const SID = `AC${randomBytes(8).toString('hex')}`;
  const TOKEN = randomBytes(20).toString('hex');
  const SID2 = `AC${randomBytes(8).toString('hex')}`;
  const TOKEN2 = randomBytes(20).toString('hex');
  const SECRETS = [KEY, TOKEN, TOKEN2];
  let keyId: string;
  let duoId: string;
  let ciId: string;

  const expectNoPlaintext = () => {
    for (const f of allFiles(home)) for (const s of SECRETS) expect(f.content.includes(s), `${s.slice(0, 4)}… in ${f.path}`).toBe(false);
  };

  beforeAll(async () => {
    home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: PASSPHRASE });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['apps', 'add', 'duo', '--file', duoAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  });

  it('connects a key from --stdin (bare value) and keeps it sealed on disk', async () => {
    const r = await acct(['connect', 'local', '--stdin', '--nickname', 'main', '--no-verify'], env, input(`${KEY}\n`));
    expect(r.stderr).toContain('Connected local/main');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^acc_[a-z2-7]{10}\n$/);
    keyId = r.stdout.trim();

    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    expect(store.kind).toBe('file');
    expect(store.scrypt).toMatchObject({ N: expect.any(Number), salt: expect.any(String) });
    const sealed = JSON.parse(readFileSync(join(home, 'secrets', `${keyId}.json`), 'utf8'));
    expect(sealed).toMatchObject({ alg: 'A256GCM', iv: expect.any(String), tag: expect.any(String), ct: expect.any(String) });
    const meta = storedMetadata(home);
    expect(meta.accounts).toEqual([expect.objectContaining({ id: keyId, app: 'local', nickname: 'main', auth: 'keys', fields: ['api_key'] })]);
    expectNoPlaintext();

    // The trailing newline of the pipe is not part of the key.
    expect(await acct(['token', keyId], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
  });

  it('connects a two-field app from --stdin JSON and from --from-env', async () => {
    const json = await acct(['connect', 'duo', '--stdin', '--nickname', 'prod', '--no-verify'], env, input(JSON.stringify({ account_sid: SID, auth_token: TOKEN })));
    expect(json.exitCode).toBe(0);
    duoId = json.stdout.trim();
    expect(duoId).toMatch(/^acc_[a-z2-7]{10}$/);

    const fromEnv = await acct(
      ['connect', 'duo', '--from-env', 'account_sid=MY_SID', '--from-env', 'auth_token=MY_TOKEN', '--nickname', 'ci', '--no-verify', '--json'],
      { ...env, MY_SID: SID2, MY_TOKEN: TOKEN2 },
    );
    expect(fromEnv.exitCode).toBe(0);
    const created = JSON.parse(fromEnv.stdout);
    expect(created).toMatchObject({ app: 'duo', nickname: 'ci', id: expect.stringMatching(/^acc_/) });
    ciId = created.id;
    expect(fromEnv.stdout + fromEnv.stderr).not.toContain(TOKEN2);

    expect(await acct(['token', 'duo/prod'], env)).toMatchObject({ exitCode: 0, stdout: `${TOKEN}\n` });
    expect(await acct(['token', 'duo/ci', '--field', 'account_sid'], env)).toMatchObject({ exitCode: 0, stdout: `${SID2}\n` });
    expectNoPlaintext();
  });

  it('lists accounts as a table and as JSON without any secret, and without the passphrase', async () => {
    // list reads no secrets: it works with no passphrase at all.
    const noPass = { ...env, ACCT_PASSPHRASE: undefined };
    const table = await acct(['list'], noPass);
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+APP\s+NICKNAME\s+DEFAULT\s+AUTH\s+STATUS\s+EXPIRES\s+LAST_USED$/);
    expect(lines).toHaveLength(4);
    // Sorted by app, then nickname. Each app's first account is its default. duo has no test request, so
    // --no-verify left nothing unverified; local has one.
    expect(lines[1]).toMatch(new RegExp(`^${ciId}\\s+duo\\s+ci\\s+-\\s+keys\\s+ok\\s+-\\s+`));
    expect(lines[2]).toMatch(new RegExp(`^${duoId}\\s+duo\\s+prod\\s+\\*\\s+keys\\s+ok\\s+`));
    expect(lines[3]).toMatch(new RegExp(`^${keyId}\\s+local\\s+main\\s+\\*\\s+keys\\s+unverified\\s+`));

    const json = await acct(['list', '--json'], noPass);
    expect(json.exitCode).toBe(0);
    const listed = JSON.parse(json.stdout) as { id: string; app: string; nickname: string; auth: string; status: string; default: boolean }[];
    expect(listed.map((a) => [a.id, a.app, a.nickname, a.auth, a.status])).toEqual([
      [ciId, 'duo', 'ci', 'keys', 'ok'],
      [duoId, 'duo', 'prod', 'keys', 'ok'],
      [keyId, 'local', 'main', 'keys', 'unverified'],
    ]);
    const filtered = JSON.parse((await acct(['list', '--app', 'local', '--json'], noPass)).stdout);
    expect(filtered.map((a: { id: string }) => a.id)).toEqual([keyId]);
    for (const s of SECRETS) expect(table.stdout + table.stderr + json.stdout + json.stderr).not.toContain(s);
  });

  it('show masks secret values; --reveal prints them', async () => {
    const shown = await acct(['show', 'duo/prod'], env);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id\\s+${duoId}$`, 'm'));
    expect(shown.stdout).toMatch(/^nickname\s+prod$/m);
    // Not secret: shown. Secret: only its last four characters, after the mask.
    expect(shown.stdout).toMatch(new RegExp(`^\\s+account_sid\\s+${SID}$`, 'm'));
    expect(shown.stdout).toMatch(new RegExp(`^\\s+auth_token\\s+•{8}${TOKEN.slice(-4)}$`, 'm'));
    expect(shown.stdout).toContain('--reveal');
    expect(shown.stdout + shown.stderr).not.toContain(TOKEN);

    const short = await acct(['show', 'main', '--json'], env);
    expect(short.exitCode).toBe(0);
    const shortJson = JSON.parse(short.stdout);
    expect(shortJson).toMatchObject({ id: keyId, app: 'local', nickname: 'main', auth: 'keys' });
    expect(shortJson.fields.api_key).toMatch(/^•+/);
    expect(short.stdout).not.toContain(KEY);

    const revealed = await acct(['show', 'duo/prod', '--reveal'], env);
    expect(revealed.exitCode).toBe(0);
    expect(revealed.stdout).toMatch(new RegExp(`^\\s+auth_token\\s+${TOKEN}$`, 'm'));
    const revealedJson = JSON.parse((await acct(['show', duoId, '--reveal', '--json'], env)).stdout);
    expect(revealedJson.fields).toEqual({ account_sid: SID, auth_token: TOKEN });
  });

  it('token prints the primary field, --field another, --json the details', async () => {
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n`, stderr: '' });
    expect(await acct(['token', duoId], env)).toMatchObject({ exitCode: 0, stdout: `${TOKEN}\n` });
    expect(await acct(['token', 'prod', '--field', 'account_sid'], env)).toMatchObject({ exitCode: 0, stdout: `${SID}\n` });
    const json = await acct(['token', 'duo/ci', '--json'], env);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ id: ciId, field: 'auth_token', token: TOKEN2, expires_at: null, scopes: [] });

    const missing = await acct(['token', 'local', '--field', 'nope'], env);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/has no field "nope"/);
    expect(missing.stderr).toContain('api_key');
    expect(missing.stdout).toBe('');

    // Each use is recorded, and list shows it.
    const used = JSON.parse((await acct(['list', '--json'], env)).stdout) as { id: string; last_used_at: string | null }[];
    const at = used.find((a) => a.id === keyId)?.last_used_at;
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.now() - Date.parse(at!))).toBeLessThan(60_000);
  });

  it('rename changes the nickname and keeps the id and the secret', async () => {
    const r = await acct(['rename', 'local/main', 'work', '--json'], env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: keyId, app: 'local', nickname: 'work' });
    expect(await acct(['token', 'local/work'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
    const old = await acct(['token', 'local/main'], env);
    expect(old.exitCode).toBe(3);
    expect(old.stderr).toMatch(/no local account is called "main"/);
    expect(old.stderr).toContain(`local/work (${keyId})`);

    // Another account of the same app already has that nickname.
    const taken = await acct(['rename', 'duo/ci', 'prod'], env);
    expect(taken.exitCode).toBe(2);
    expect(taken.stderr).toMatch(/duo already has an account called "prod"/);
  });

  it('default picks the account an app slug means', async () => {
    // The first duo account is the default; acct default <app> says so, and --unset clears it.
    expect(await acct(['token', 'duo'], env)).toMatchObject({ exitCode: 0, stdout: `${TOKEN}\n` });
    expect(await acct(['default', 'duo'], env)).toMatchObject({ exitCode: 0, stdout: `duo/prod (${duoId})\n` });
    expect(JSON.parse((await acct(['default', 'duo', '--json'], env)).stdout)).toEqual({ app: 'duo', default: { id: duoId, nickname: 'prod' } });
    const unset = await acct(['default', 'duo', '--unset'], env);
    expect(unset.exitCode, unset.stderr).toBe(0);
    expect(unset.stderr).toBe(`duo has no default account now (it was duo/prod (${duoId}))\n`);
    const none = await acct(['default', 'duo'], env);
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toMatch(/duo has no default account\n  pick one: acct default duo\//);
    expect(JSON.parse((await acct(['default', 'duo', '--json'], env)).stdout)).toEqual({ app: 'duo', default: null });

    const ambiguous = await acct(['token', 'duo'], env);
    expect(ambiguous.exitCode).toBe(3);
    expect(ambiguous.stderr).toContain(duoId);
    expect(ambiguous.stderr).toContain(ciId);
    expect(ambiguous.stdout).toBe('');

    const r = await acct(['default', 'duo/ci'], env);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/duo\/ci .* is now the default duo account/);
    expect(await acct(['token', 'duo'], env)).toMatchObject({ exitCode: 0, stdout: `${TOKEN2}\n` });
    const listed = JSON.parse((await acct(['list', '--json'], env)).stdout) as { id: string; app: string; default: boolean }[];
    expect(listed.filter((a) => a.default).map((a) => [a.app, a.id])).toEqual([['duo', ciId], ['local', keyId]]);
    expect((await acct(['list'], env)).stdout).toMatch(new RegExp(`^${ciId}\\s+duo\\s+ci\\s+\\*\\s`, 'm'));
  });

  it('delete --yes removes the account, its secret file and its default', async () => {
    const r = await acct(['delete', 'duo/ci', '--yes'], env);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`Deleted duo/ci (${ciId})`);
    expect(existsSync(join(home, 'secrets', `${ciId}.json`))).toBe(false);
    const meta = storedMetadata(home);
    expect(meta.accounts.map((a: { id: string }) => a.id).sort()).toEqual([duoId, keyId].sort());
    // duo's default (ci) is gone with it; local keeps its first account as its default.
    expect(meta.defaults).toEqual({ local: keyId });
    expect(meta.retiredIds).toContain(ciId);

    const gone = await acct(['token', ciId], env);
    expect(gone.exitCode).toBe(3);
    // With one duo account left, the app slug means it again.
    expect(await acct(['token', 'duo'], env)).toMatchObject({ exitCode: 0, stdout: `${TOKEN}\n` });
    expect(readdirSync(join(home, 'secrets')).sort()).toEqual([`${duoId}.json`, `${keyId}.json`].sort());
    expectNoPlaintext();
  });

  it('keeps folders 0700 and files 0600', () => {
    expect(statSync(home).mode & 0o777).toBe(0o700);
    const all = entries(home);
    expect(all.some((e) => e.path.endsWith('secrets') && e.dir)).toBe(true);
    for (const e of all) expect([e.path, e.mode.toString(8)]).toEqual([e.path, e.dir ? '700' : '600']);
    // No temporary or lock files are left behind.
    expect(all.filter((e) => /\.tmp$|\.lock$/.test(e.path))).toEqual([]);
  });

  it('a wrong passphrase exits 6 with a clear message and changes nothing', async () => {
    const before = allFiles(home);
    const wrong = { ...env, ACCT_PASSPHRASE: 'not the passphrase' };
    for (const [args, opts] of [
      [['token', 'local'], {}],
      [['show', 'duo', '--reveal'], {}],
      [['connect', 'local', '--stdin', '--nickname', 'other', '--no-verify'], input(`lk_${randomBytes(8).toString('hex')}`)],
    ] as const) {
      const r = await acct([...args], wrong, opts);
      expect(r.exitCode, args.join(' ')).toBe(6);
      expect(r.stderr).toMatch(/wrong passphrase/);
      expect(r.stderr).toMatch(/ACCT_PASSPHRASE/);
      expect(r.stdout).toBe('');
      for (const s of SECRETS) expect(r.stderr).not.toContain(s);
    }
    expect(allFiles(home)).toEqual(before);
    // The right passphrase still opens it.
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
  });

  it('never falls back silently: ACCT_STORE=keychain on a file store is refused', async () => {
    const before = allFiles(home);
    const r = await acct(['token', 'local'], { ...env, ACCT_STORE: 'keychain' });
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/passphrase file/);
    expect(r.stdout).toBe('');
    expect(allFiles(home)).toEqual(before);
  });

  it('an edited key-derivation parameter in store.json is exit 6 at once, and the file is left as it is', async () => {
    const storeFile = allFiles(home).find((f) => f.path.endsWith('store.json'))!.path;
    const original = readFileSync(storeFile, 'utf8');
    const edited = JSON.parse(original);
    edited.scrypt.N = 2 ** 30;
    writeFileSync(storeFile, JSON.stringify(edited));
    try {
      const r = await acct(['token', 'local'], env, { timeout: 20_000 });
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stderr).toContain(storeFile);
      expect(r.stderr).toMatch(/altered/);
      expect(r.stderr).not.toMatch(/malloc|bug in acct/);
      expect(JSON.parse(readFileSync(storeFile, 'utf8')).scrypt.N).toBe(2 ** 30);
    } finally {
      writeFileSync(storeFile, original);
    }
    expect(await acct(['token', 'local'], env)).toMatchObject({ exitCode: 0, stdout: `${KEY}\n` });
  });
});
