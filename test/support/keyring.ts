// A private Secret Service for tests: a D-Bus session bus and an unlocked
// gnome-keyring-daemon, both in a temporary folder, stopped afterwards.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyringSession {
  /** Environment that points at this session's bus. */
  env: Record<string, string>;
  lock(): void;
  /** Deletes every item with these attributes through the Secret Service, as Seahorse or secret-tool clear would; returns how many. */
  deleteItems(attributes: Record<string, string>): number;
  stop(): Promise<void>;
}

export async function startKeyringSession(): Promise<KeyringSession> {
  const dir = mkdtempSync(join(tmpdir(), 'acct-keyring-'));
  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1', `--address=unix:path=${join(dir, 'bus')}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    bus.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
    bus.on('error', reject);
    bus.on('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  const env = {
    DBUS_SESSION_BUS_ADDRESS: address,
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_RUNTIME_DIR: dir,
  };
  const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  keyring.stdin!.end('acct-test-keyring');
  await waitFor(() => hasOwner(env) && defaultCollection(env) !== '/', 10_000, 'the Secret Service did not come up');
  return {
    env,
    lock() {
      dbus(env, ['/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', `array:objpath:${defaultCollection(env)}`]);
    },
    deleteItems(attributes) {
      const dict = Object.entries(attributes).flat().join(',');
      const out = dbus(env, ['/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.SearchItems', `dict:string:string:${dict}`]);
      const items = [...out.matchAll(/object path "([^"]+)"/g)].map((m) => m[1]!);
      for (const item of items) dbus(env, [item, 'org.freedesktop.Secret.Item.Delete']);
      return items.length;
    },
    async stop() {
      await kill(keyring);
      await kill(bus);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The keychain agent's socket in this session's runtime folder, once acct has started the agent. */
export async function agentSocket(session: KeyringSession, timeoutMs = 15_000): Promise<string> {
  const dir = join(session.env.XDG_RUNTIME_DIR!, 'acct');
  const find = () => (existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.sock')) : undefined);
  await waitFor(() => find() !== undefined, timeoutMs, 'no keychain agent socket appeared');
  return join(dir, find()!);
}

function dbus(env: Record<string, string>, args: string[], dest = 'org.freedesktop.secrets'): string {
  return execFileSync('dbus-send', ['--session', '--print-reply', `--dest=${dest}`, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

function hasOwner(env: Record<string, string>): boolean {
  try {
    return dbus(env, ['/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'], 'org.freedesktop.DBus').includes('true');
  } catch {
    return false;
  }
}

function defaultCollection(env: Record<string, string>): string {
  try {
    const out = dbus(env, ['/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.ReadAlias', 'string:default']);
    return /object path "([^"]+)"/.exec(out)?.[1] ?? '/';
  } catch {
    return '/';
  }
}

async function waitFor(check: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
