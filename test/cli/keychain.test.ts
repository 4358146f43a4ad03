// The keychain store against a real Secret Service (gnome-keyring on a private D-Bus session).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { acct, allFiles, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

const SECRET = 'lk_keychain_secret_value_0123456789';

describe('keychain store (Secret Service)', () => {
  let session: KeyringSession;
  let home: string;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    session = await startKeyringSession();
    home = tempHome();
    env = baseEnv({ ...session.env, ACCT_HOME: home });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  });
  afterAll(async () => {
    await session?.stop();
  });

  it('stores the data key in the Secret Service and the secret sealed on disk', async () => {
    const r = await acct(['connect', 'local', '--stdin', '--nickname', 'main', '--no-verify'], env, { input: SECRET, stdin: undefined });
    expect(r.stderr).toContain('Connected local/main');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^acc_[a-z2-7]{10}$/);

    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    expect(store.kind).toBe('keychain');
    // The key sits in the keyring as an item of service "acct".
    const items = execFileSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.SearchItems', 'dict:string:string:service,acct'], { env: { ...process.env, ...session.env }, encoding: 'utf8' });
    expect(items).toMatch(/object path "\/org\/freedesktop\/secrets\/collection\/[^"]+\/\d+"/);

    for (const f of allFiles(home)) expect(f.content.includes(SECRET), f.path).toBe(false);
    const token = await acct(['token', 'local'], env);
    expect(token).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n` });
  });

  it('list and show never print the secret without --reveal', async () => {
    for (const args of [['list'], ['list', '--json'], ['show', 'local/main'], ['show', 'main', '--json']]) {
      const r = await acct(args, env);
      expect(r.exitCode).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    }
    const revealed = await acct(['show', 'main', '--reveal', '--json'], env);
    expect(JSON.parse(revealed.stdout).fields.api_key).toBe(SECRET);
  });

  it('fails with exit 6 and says why when there is no D-Bus session', async () => {
    const before = allFiles(home);
    const r = await acct(['token', 'local'], { ...env, DBUS_SESSION_BUS_ADDRESS: undefined });
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/no D-Bus session/);
    expect(r.stderr).toMatch(/ACCT_STORE=file/);
    expect(r.stdout).toBe('');
    expect(allFiles(home)).toEqual(before);
  });

  it('fails with exit 6 when the bus has no Secret Service', async () => {
    const other = await startBareBus();
    try {
      const r = await acct(['token', 'local'], { ...env, DBUS_SESSION_BUS_ADDRESS: other.address });
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/keychain/);
      expect(r.stderr).toMatch(/no Secret Service answered/);
      expect(r.stderr).not.toMatch(/not found|no account|missing/i);
    } finally {
      other.stop();
    }
  });

  it('creating a store on a bus without a Secret Service fails (exit 6) instead of falling back to the kernel keyring', async () => {
    // @napi-rs/keyring quietly writes to keyutils when no Secret Service answers; acct must refuse.
    const other = await startBareBus();
    const fresh = tempHome();
    try {
      const freshEnv = { ...env, ACCT_HOME: fresh, DBUS_SESSION_BUS_ADDRESS: other.address };
      expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], freshEnv)).exitCode).toBe(0);
      const r = await acct(['connect', 'local', '--stdin', '--no-verify'], freshEnv, { input: SECRET, stdin: undefined });
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/no Secret Service answered/);
      expect(r.stderr).toMatch(/ACCT_STORE=file/);
      expect(allFiles(fresh).map((f) => f.path.slice(fresh.length + 1)).sort()).toEqual(['apps.json']);
    } finally {
      other.stop();
    }
  });

  it('a locked keyring gives exit 6 within the deadline instead of hanging', async () => {
    session.lock();
    const started = Date.now();
    const r = await acct(['token', 'local'], { ...env, ACCT_KEYCHAIN_TIMEOUT: '3' });
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/unlock/);
    expect(r.stderr).not.toMatch(/missing|not found/i);
    
    expect(r.stdout).toBe('');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

async function startBareBus(): Promise<{ address: string; stop: () => void }> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'acct-bus-'));
  const config = join(import.meta.dirname, '../support/bare-bus.conf');
  const bus = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1', `--address=unix:path=${join(dir, 'bus')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  bus.on('exit', (code) => code && console.error(`bare dbus-daemon exited with ${code}`));
  const address = await new Promise<string>((resolve) => bus.stdout!.once('data', (d: Buffer) => resolve(d.toString().split('\n')[0]!.trim())));
  return { address, stop: () => bus.kill() };
}
