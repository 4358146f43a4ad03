// The data key's home in the OS keychain, through @napi-rs/keyring (Secret
// Service on Linux, Keychain on macOS, Credential Manager on Windows).
// Every call has a deadline: a hung D-Bus must not hang acct.
import { storeError, AcctError } from '../errors.js';

export interface KeychainBackend {
  /** Linux: whether a Secret Service answers on the session bus (the library would otherwise write to the kernel keyring). */
  secretServicePresent?(): Promise<boolean>;
  get(service: string, account: string, signal: AbortSignal): Promise<string | undefined>;
  set(service: string, account: string, value: string, signal: AbortSignal): Promise<void>;
  delete(service: string, account: string, signal: AbortSignal): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'acct';

/** The real backend. Loaded lazily so commands that read no secrets never load the native module. */
export async function napiKeychain(): Promise<KeychainBackend> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  return {
    secretServicePresent: async () => (await import('./secret-service.js')).secretServiceOnBus(),
    get: async (service, account, signal) => (await new AsyncEntry(service, account).getPassword(signal)) ?? undefined,
    set: (service, account, value, signal) => new AsyncEntry(service, account).setPassword(value, signal),
    delete: async (service, account, signal) => new AsyncEntry(service, account).deleteCredential(signal),
  };
}

export interface KeychainOptions {
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

/** Wraps a backend with a deadline per call and errors that say what is wrong and what to do. */
export class Keychain {
  constructor(
    private readonly backend: KeychainBackend,
    private readonly options: KeychainOptions,
  ) {}

  get(account: string) {
    return this.call('read the data key from', (s) => this.backend.get(KEYCHAIN_SERVICE, account, s));
  }
  async set(account: string, value: string) {
    await this.requireSecretService('store the data key in');
    return this.call('store the data key in', (s) => this.backend.set(KEYCHAIN_SERVICE, account, value, s));
  }
  delete(account: string) {
    return this.call('delete the data key from', (s) => this.backend.delete(KEYCHAIN_SERVICE, account, s));
  }

  /** Throws (as any call would) when the keychain cannot be written, e.g. because it is locked. */
  async probeWritable(): Promise<void> {
    await this.requireSecretService('write to');
    await this.call('write to', (s) => this.backend.set(KEYCHAIN_SERVICE, 'probe', 'acct', s));
    await this.call('write to', (s) => this.backend.delete(KEYCHAIN_SERVICE, 'probe', s));
  }

  /** Never lets a write land in a weaker store than the Secret Service (see secret-service.ts). */
  private async requireSecretService(what: string): Promise<void> {
    const platform = this.options.platform ?? process.platform;
    if (platform !== 'linux' || !this.backend.secretServicePresent) return;
    const present = await this.call(what, () => this.backend.secretServicePresent!());
    if (!present)
      throw storeError(
        `cannot ${what} the keychain: no Secret Service answered on this D-Bus session (nothing owns org.freedesktop.secrets)`,
        'start gnome-keyring-daemon (or KeePassXC with its Secret Service on) in this session, or choose the passphrase store with ACCT_STORE=file',
      );
  }

  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const platform = this.options.platform ?? process.platform;
    if (platform === 'linux' && !this.options.env.DBUS_SESSION_BUS_ADDRESS) {
      throw storeError(
        `cannot ${what} the keychain: there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set), so the Secret Service cannot be reached`,
        'run acct inside a desktop or D-Bus session with gnome-keyring or KeePassXC unlocked, or choose the passphrase store with ACCT_STORE=file',
      );
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          storeError(
            `the keychain did not answer within ${this.options.timeoutMs / 1000}s while trying to ${what} it`,
            'the keyring may be locked and waiting for an unlock prompt: unlock it and retry, set ACCT_KEYCHAIN_TIMEOUT (seconds) higher, or use ACCT_STORE=file',
          ),
        );
      }, this.options.timeoutMs);
    });
    try {
      return await Promise.race([fn(controller.signal), deadline]);
    } catch (err) {
      if (err instanceof AcctError) throw err;
      throw describeKeychainError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }
}

function describeKeychainError(err: unknown, what: string): AcctError {
  const detail = String((err as Error)?.message ?? err).split('\n')[0]!.trim();
  let hint = 'make sure the OS keychain is running and unlocked, or choose the passphrase store with ACCT_STORE=file';
  if (/locked|dismiss|cancel|prompt/i.test(detail))
    hint = 'unlock the keyring (or accept the unlock prompt) and retry, or use ACCT_STORE=file';
  else if (/no result|not found|ServiceUnknown|NameHasNoOwner|AccessDenied|org\.freedesktop\.secrets/i.test(detail))
    hint =
      'no Secret Service answered on this D-Bus session, or it refused access: start gnome-keyring-daemon (or KeePassXC with its Secret Service on), or use ACCT_STORE=file';
  return storeError(`cannot ${what} the keychain: ${detail}`, hint, err);
}
