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
  /**
   * Linux: looks for the item on a new connection to the Secret Service of
   * its own. get() answers "no such item" whenever the library could not
   * reach the Secret Service when it loaded (it then reads the kernel
   * keyring instead), which a busy daemon makes happen; this is the check.
   */
  lookup?(service: string, account: string, signal: AbortSignal): Promise<KeychainLookup>;
}

export type KeychainLookup =
  | { state: 'found'; value: string }
  | { state: 'missing' }
  | { state: 'locked' }
  | { state: 'ambiguous'; count: number }
  /** Nothing owns org.freedesktop.secrets on the bus, and nothing can start it. */
  | { state: 'absent' };

export const KEYCHAIN_SERVICE = 'acct';

/** The real backend. Loaded lazily so commands that read no secrets never load the native module. */
export async function napiKeychain(): Promise<KeychainBackend> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  return {
    secretServicePresent: async () => (await import('./secret-service.js')).secretServiceOnBus(),
    get: async (service, account, signal) => (await new AsyncEntry(service, account).getPassword(signal)) ?? undefined,
    set: (service, account, value, signal) => new AsyncEntry(service, account).setPassword(value, signal),
    delete: async (service, account, signal) => new AsyncEntry(service, account).deleteCredential(signal),
    lookup: async (service, account, signal) => {
      const found = await (await import('../agent/secret-service.js')).lookupOnFreshSession({ service, username: account }, signal);
      if (found.state !== 'found') return found;
      const value = found.secret.toString('utf8');
      found.secret.fill(0);
      return { state: 'found', value };
    },
  };
}

/** The command that shows the keychain item holding a data key: what to run before believing it is gone. */
export function keychainCheckCommand(account: string): string {
  return `secret-tool search service ${KEYCHAIN_SERVICE} username ${account}`;
}

export interface KeychainOptions {
  /** The keychain deadline (ACCT_KEYCHAIN_TIMEOUT): every read, retries included, ends within it. */
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** The clock and the pause between retries, for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A failure of one keychain call, and whether trying again may help (a busy daemon) or not (no Secret Service, a refused prompt). */
class KeychainCallError extends AcctError {
  constructor(
    err: AcctError,
    readonly transient: boolean,
    readonly timedOut = false,
  ) {
    super(err.code, err.message, { hint: err.hint, cause: err.cause });
  }
}

// Pauses between retries: short at first (a busy daemon usually answers the
// next call), growing so that dozens of waiting processes do not keep it busy.
const FIRST_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1_000;

/** Wraps a backend with a deadline per call and errors that say what is wrong and what to do. */
export class Keychain {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly backend: KeychainBackend,
    private readonly options: KeychainOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * The data key stored under `account`, or a store error. A transient
   * failure is retried within the keychain deadline, and "missing" is said
   * only after a search on a fresh Secret Service session (twice) found
   * nothing: a busy keychain is not a lost key.
   */
  async getKey(account: string, storeDir: string): Promise<string> {
    const started = this.now();
    const deadline = started + this.options.timeoutMs;
    const what = 'read the data key from';
    const platform = this.options.platform ?? process.platform;
    const lookup = platform === 'linux' ? this.backend.lookup?.bind(this.backend) : undefined;
    // The keyring addon first (it may show an unlock prompt, so a hung call is
    // not started again); with a third of the deadline kept for the search on a
    // fresh session, which shows no prompt and tells a locked item from a missing one.
    // Whatever the addon failed with, the fresh session has the last word on
    // what is there (a busy bus has answered AccessDenied too); a refusal the
    // user gave (a dismissed prompt) stands when that session finds the item locked.
    let value: string | undefined;
    let refused: KeychainCallError | undefined;
    try {
      const addonDeadline = lookup ? started + (this.options.timeoutMs * 2) / 3 : deadline;
      value = await this.retrying(what, addonDeadline, (s) => this.backend.get(KEYCHAIN_SERVICE, account, s), false);
    } catch (err) {
      if (!lookup || !(err instanceof KeychainCallError)) throw err;
      if (!err.transient) refused = err;
    }
    if (value) return value;
    if (lookup) {
      let missing = 0;
      let pause = FIRST_PAUSE_MS;
      for (;;) {
        const found = await this.retrying(what, deadline, (s) => lookup(KEYCHAIN_SERVICE, account, s), true);
        if (found.state === 'found') return found.value;
        if (found.state === 'absent') throw noSecretService(what);
        if (found.state === 'ambiguous')
          throw storeError(
            `the keychain holds ${found.count} items for the data key of the store in ${storeDir}, so acct cannot tell which is its own`,
            `look at them: ${keychainCheckCommand(account)}; keep the one that was there first and delete the others (in Seahorse, or with secret-tool clear), then retry`,
          );
        if (found.state === 'missing' && ++missing >= 2) throw missingKey(account, storeDir);
        if (found.state === 'locked' && refused) throw refused;
        // Locked (it may be unlocked any moment: a prompt, another program), or missing once: look again while there is time.
        if (this.now() + pause >= deadline) {
          if (found.state === 'missing') throw missingKey(account, storeDir);
          throw storeError(
            `the keychain item holding the data key of the store in ${storeDir} is locked`,
            'unlock the keyring (in Seahorse, or accept the unlock prompt) and retry, or use ACCT_STORE=file',
          );
        }
        await this.sleep(pause);
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      }
    }
    // Elsewhere (macOS, Windows) the keychain answers "no such item" only when there is none.
    throw missingKey(account, storeDir);
  }

  async set(account: string, value: string): Promise<void> {
    const what = 'store the data key in';
    await this.requireSecretService(what);
    await this.call(what, (s) => this.backend.set(KEYCHAIN_SERVICE, account, value, s));
    // The addon writes to the kernel keyring when it could not reach the
    // Secret Service as it loaded (a busy bus): a key there is gone at logout.
    // Only a key read back from the Secret Service itself counts as stored.
    const lookup = (this.options.platform ?? process.platform) === 'linux' ? this.backend.lookup?.bind(this.backend) : undefined;
    if (!lookup) return;
    const found = await this.retrying(what, this.now() + this.options.timeoutMs, (s) => lookup(KEYCHAIN_SERVICE, account, s), true);
    if (found.state !== 'found' || found.value !== value)
      throw storeError(
        `cannot ${what} the keychain: the Secret Service does not hold it after the write (${found.state === 'found' ? 'it holds another value' : found.state})`,
        'the keyring was busy or locked; unlock it if it is locked and retry (nothing was stored), or use ACCT_STORE=file',
      );
  }
  delete(account: string) {
    return this.call('delete the data key from', (s) => this.backend.delete(KEYCHAIN_SERVICE, account, s));
  }

  /** Never lets a write land in a weaker store than the Secret Service (see secret-service.ts). */
  private async requireSecretService(what: string): Promise<void> {
    const platform = this.options.platform ?? process.platform;
    if (platform !== 'linux' || !this.backend.secretServicePresent) return;
    const present = await this.call(what, () => this.backend.secretServicePresent!());
    if (!present) throw noSecretService(what);
  }

  /**
   * `fn` until it succeeds, fails for good, or the deadline passes. With
   * `split`, each try gets at most half the time left (at least a second), so
   * a hung call leaves time for another; without, one try may take it all.
   */
  private async retrying<T>(what: string, deadline: number, fn: (signal: AbortSignal) => Promise<T>, split: boolean): Promise<T> {
    let pause = FIRST_PAUSE_MS;
    for (;;) {
      const left = deadline - this.now();
      try {
        return await this.call(what, fn, split ? Math.min(left, Math.max(1_000, left / 2)) : left);
      } catch (err) {
        if (!(err instanceof KeychainCallError) || !err.transient) throw err;
        if (err.timedOut && !split) throw err; // it had all the time there was
        if (this.now() + pause >= deadline) {
          if (err.timedOut) throw new KeychainCallError(timedOut(what, this.options.timeoutMs), true, true);
          throw err;
        }
        await this.sleep(pause);
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      }
    }
  }

  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, timeoutMs = this.options.timeoutMs): Promise<T> {
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
        // The deadline first: a call that rejects when aborted must not race it with its own error.
        reject(new KeychainCallError(timedOut(what, timeoutMs), true, true));
        controller.abort();
      }, Math.max(0, timeoutMs));
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

function timedOut(what: string, ms: number): AcctError {
  return storeError(
    `the keychain did not answer within ${Math.round(ms / 100) / 10}s while trying to ${what} it`,
    'the keyring may be locked and waiting for an unlock prompt, or very busy: unlock it and retry, set ACCT_KEYCHAIN_TIMEOUT (seconds) higher, or use ACCT_STORE=file',
  );
}

function noSecretService(what: string): AcctError {
  return storeError(
    `cannot ${what} the keychain: no Secret Service answered on this D-Bus session (nothing owns org.freedesktop.secrets)`,
    'start gnome-keyring-daemon (or KeePassXC with its Secret Service on) in this session, or choose the passphrase store with ACCT_STORE=file',
  );
}

/** A data key confirmed gone. The hint says how to check first, and what starting over costs. */
function missingKey(account: string, storeDir: string): AcctError {
  return storeError(
    `the data key for the store in ${storeDir} is missing from the keychain: no item with service "${KEYCHAIN_SERVICE}" and username "${account}" in this session's Secret Service`,
    `check first: ${keychainCheckCommand(account)} (or look for it in Seahorse), in the session that created the store: over ssh or in a container, DBUS_SESSION_BUS_ADDRESS may lead to another session's keyring. ` +
      `If you have a backup of your keyring, restore it and retry. Only when the key is gone for good: the secrets in ${storeDir} cannot be opened without it, and moving that folder aside and reconnecting every account starts over, losing the accounts stored there`,
    undefined,
    'store_key_missing',
  );
}

// What a keychain call's failure means. Permanent: no Secret Service (or it
// refused access), a prompt the user dismissed, several items where one was
// expected. Anything else (a D-Bus timeout or NoReply, a dropped connection,
// a session or prompt that failed, an item that vanished between the search
// and the read) is what a busy or restarting daemon answers: tried again.
const PERMANENT = /ServiceUnknown|NameHasNoOwner|AccessDenied|dismiss|cancel|ambiguous|Ambiguous/;

function describeKeychainError(err: unknown, what: string): KeychainCallError {
  const detail = String((err as Error)?.message ?? err).split('\n')[0]!.trim();
  let hint = 'make sure the OS keychain is running and unlocked, or choose the passphrase store with ACCT_STORE=file';
  if (/locked|dismiss|cancel|prompt/i.test(detail))
    hint = 'unlock the keyring (or accept the unlock prompt) and retry, or use ACCT_STORE=file';
  else if (/no result|not found|ServiceUnknown|NameHasNoOwner|AccessDenied|org\.freedesktop\.secrets/i.test(detail))
    hint =
      'no Secret Service answered on this D-Bus session, or it refused access: start gnome-keyring-daemon (or KeePassXC with its Secret Service on), or use ACCT_STORE=file';
  return new KeychainCallError(storeError(`cannot ${what} the keychain: ${detail}`, hint, err), !PERMANENT.test(detail));
}
