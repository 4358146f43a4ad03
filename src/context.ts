// Everything a command needs, built once per run and passed in. Heavy or
// side-effecting pieces (keychain, HTTP, prompts) are created on first use.
import { join } from 'node:path';
import { resolvePaths, type Paths } from './paths.js';
import { trustRoots, checkFolders } from './store/trust.js';
import { sweep } from './store/sweep.js';
import { isWriteFailure } from './store/files.js';
import { AccountRepository } from './accounts/repository.js';
import { SecretStore, type StoreKind } from './store/store.js';
import { BundleState, BundleAccounts, BundleSecrets } from './accounts/bundle-mode.js';
import { Keychain, napiKeychain, type KeychainBackend } from './store/keychain.js';
import { Catalog } from './catalog/catalog.js';
import { terminalPrompter, type Prompter } from './ui/prompt.js';
import { createFetch, type Fetch } from './http.js';
import { usageError, AcctError, ExitCode } from './errors.js';
import { keychainAgent } from './agent/client.js';
import { VERSION } from './version.js';

export interface IO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  /** Text for stdout without setting up process.stdout's stream (a start-up cost); see run.ts. */
  writeOut?(text: string): void;
  /** Whether stdout is a terminal, answered without touching the stream. */
  readonly stdoutIsTTY?: boolean;
}

/** Where account metadata lives: the local store, or a bundle in CI. */
export type Accounts = Pick<AccountRepository, 'read' | 'update' | 'newId' | 'markUsed' | 'lastUsed' | 'lockPath' | 'assertWritable' | 'openList'>;
/** Where secrets live: the local store (keychain or passphrase), or a bundle in CI. */
export interface Secrets extends Pick<SecretStore, 'read' | 'readMany' | 'write' | 'remove' | 'warm' | 'ready'> {
  kind(): StoreKind | 'bundle';
}

export interface Context {
  env: NodeJS.ProcessEnv;
  io: IO;
  paths: Paths;
  now: () => Date;
  /** Pauses between retries (the clock's other half, for tests). */
  sleep: (ms: number) => Promise<void>;
  accounts: Accounts;
  secrets: Secrets;
  catalog: Catalog;
  /** Set when ACCT_BUNDLE is: accounts, secrets, user apps and clients come from the bundle, read-only. */
  bundle?: BundleState;
  prompter: Prompter;
  fetch: () => Promise<Fetch>;
  /** Progress and warnings on stderr. */
  warn: (message: string) => void;
  /**
   * Runs bookkeeping that must never fail the command (recording a use,
   * cleaning up): a file-system or store failure is one warning per run, at
   * most (SPEC "Reads never fail for bookkeeping"); any other error is a bug
   * and goes on.
   */
  housekeeping: (what: string, fn: () => void) => void;
  /** A warning that the store's files could not be written (a full disk, a read-only home): the first in a run is said, later ones add nothing. */
  writeWarning: (message: string) => void;
  info: (message: string) => void;
}

export interface ContextOverrides {
  keychainBackend?: KeychainBackend;
  prompter?: Prompter;
  fetch?: Fetch;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export function createContext(env: NodeJS.ProcessEnv, io: IO, overrides: ContextOverrides = {}): Context {
  const paths = resolvePaths(env);
  trustRoots(paths);
  const prompter = overrides.prompter ?? terminalPrompter(io);
  let fetchPromise: Promise<Fetch> | undefined;
  const warn = (message: string) => io.stderr.write(`acct: warning: ${message}\n`);
  let localSecrets: SecretStore | undefined;
  let writeWarned = false;
  const writeWarning = (message: string) => {
    if (!writeWarned) warn(message);
    writeWarned = true;
  };
  const housekeeping = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (!isFileFailure(err)) throw err;
      // A refusal's hint is the fix to run; a failed write's ("nothing was changed; …") is for commands that needed it.
      const hint = err instanceof AcctError && err.hint && !isWriteFailure(err) ? ` (${err.hint})` : '';
      writeWarning(`could not ${what}: ${(err as Error).message}${hint}`);
    }
  };
  const bundle = env.ACCT_BUNDLE ? new BundleState(env) : undefined;
  const ctx: Context = {
    env,
    io,
    paths,
    now: overrides.now ?? (() => new Date()),
    sleep: overrides.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    accounts: bundle
      ? new BundleAccounts(bundle)
      : new AccountRepository(paths, (m) => {
          // A metadata write (a delete, say) goes with secrets/: refused as a whole when that folder is not to be trusted.
          checkFolders(localSecrets!.secretsDir);
          housekeeping('clean up after an interrupted write', () => void sweep(paths, localSecrets!, m, Date.now()));
        }),
    catalog: new Catalog(paths, bundle),
    bundle,
    prompter,
    secrets: bundle ? new BundleSecrets(bundle, warn) : (localSecrets = new SecretStore({
      paths,
      requestedKind: env.ACCT_STORE || undefined,
      // Tests that hand in their own keychain talk to it alone.
      agent: overrides.keychainBackend ? undefined : keychainAgent(env, { entry: agentEntry(), version: VERSION }),
      keychain: async () =>
        new Keychain(overrides.keychainBackend ?? (await napiKeychain()), {
          timeoutMs: seconds(env.ACCT_KEYCHAIN_TIMEOUT, 'ACCT_KEYCHAIN_TIMEOUT', 10) * 1000,
          env,
        }),
      passphrase: async (confirm) => {
        if (env.ACCT_PASSPHRASE !== undefined) {
          if (!env.ACCT_PASSPHRASE) throw usageError('ACCT_PASSPHRASE is empty', 'set it to the store passphrase');
          return env.ACCT_PASSPHRASE;
        }
        const first = await prompter.secret('Passphrase for the acct store', 'ACCT_PASSPHRASE to give the passphrase');
        if (!first) throw usageError('the passphrase cannot be empty');
        if (confirm && (await prompter.secret('Repeat the passphrase', 'ACCT_PASSPHRASE')) !== first)
          throw usageError('the passphrases do not match', 'run the command again');
        return first;
      },
    })),
    fetch: () => (fetchPromise ??= overrides.fetch ? Promise.resolve(overrides.fetch) : createFetch({ timeoutMs: seconds(env.ACCT_HTTP_TIMEOUT, 'ACCT_HTTP_TIMEOUT', 30) * 1000, onSlow: (host) => io.stderr.write(`Waiting for ${host}…\n`) })),
    warn,
    housekeeping,
    writeWarning,
    info: (message) => io.stderr.write(`${message}\n`),
  };
  return ctx;
}

export function seconds(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${name} must be a positive number of seconds, not "${raw}"`);
  return n;
}

/** dist/agent.cjs, beside the bundle (running from src/, as unit tests do, there is none: starting it fails quietly). */
function agentEntry(): string {
  return typeof __dirname === 'string' ? join(__dirname, 'agent.cjs') : 'agent.cjs';
}

/** A failure of the file system (ENOSPC, EROFS, EACCES…) or of the store's checks, as opposed to a bug. */
function isFileFailure(err: unknown): boolean {
  return err instanceof AcctError ? err.exitCode === ExitCode.store : typeof (err as NodeJS.ErrnoException | undefined)?.code === 'string';
}
