// Everything a command needs, built once per run and passed in. Heavy or
// side-effecting pieces (keychain, HTTP, prompts) are created on first use.
import { join } from 'node:path';
import { resolvePaths, type Paths } from './paths.js';
import { trustRoots, checkFolders } from './store/trust.js';
import { sweep } from './store/sweep.js';
import { isWriteFailure } from './store/files.js';
import { AccountRepository } from './accounts/repository.js';
import { SecretStore } from './store/store.js';
import { BundleState, BundleStore } from './accounts/bundle-mode.js';
import { LocalStore } from './store/local-store.js';
import type { AccountStore } from './store/account-store.js';
import { teamStores, type TeamStores } from './accounts/stores.js';
import { Keychain, napiKeychain, type KeychainBackend } from './store/keychain.js';
import { Catalog } from './catalog/catalog.js';
import { terminalPrompter, type Prompter } from './ui/prompt.js';
import { createFetch, type Fetch } from './http.js';
import { usageError, AcctError, ExitCode, visibleControls } from './errors.js';
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

export interface Context {
  env: NodeJS.ProcessEnv;
  io: IO;
  paths: Paths;
  now: () => Date;
  /** Pauses between retries (the clock's other half, for tests). */
  sleep: (ms: number) => Promise<void>;
  /**
   * This machine's accounts: the local store, or the bundle when ACCT_BUNDLE
   * is set (accounts, secrets, user apps and clients come from it, read-only).
   */
  store: AccountStore;
  /** The team stores this machine has joined (accounts/stores.ts routes references to them). */
  teams: TeamStores;
  /**
   * This machine's own secret store, for what is not an account's: a team's
   * member credentials. Undefined with ACCT_BUNDLE (no local store is opened).
   */
  machineSecrets?: SecretStore;
  catalog: Catalog;
  prompter: Prompter;
  fetch: () => Promise<Fetch>;
  /** A warning: on stderr as it comes, or, under --json, held for the one JSON object that ends the run (warnings below). */
  warn: (message: string) => void;
  /**
   * Under --json, the run's warnings so far: run.ts folds them into the
   * error object, or writes them as one {"warnings": […]} object when the
   * command succeeds, so a script finds one JSON object on stderr, never text
   * before it. Undefined without --json (each is written as it comes).
   */
  readonly warnings?: string[];
  /** From now on warnings are written as they come, the held ones first: for a command whose stderr is a log while it runs (acct serve). */
  logWarnings: () => void;
  /**
   * Runs bookkeeping that must never fail the command (recording a use,
   * cleaning up): a file-system or store failure is one warning per run, at
   * most (SPEC "Reads never fail for bookkeeping"); any other error is a bug
   * and goes on. A synchronous `fn` is done when housekeeping returns; an
   * asynchronous one when the promise it returns settles.
   */
  housekeeping: (what: string, fn: () => void | Promise<void>) => Promise<void>;
  /** The command being run ("token", "env"…), for the uses a store records. */
  command: string;
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

export interface RunOptions {
  /** The command line asks for JSON: warnings are held (Context.warnings), progress is not shown. */
  json?: boolean;
}

export function createContext(env: NodeJS.ProcessEnv, io: IO, overrides: ContextOverrides = {}, run: RunOptions = {}): Context {
  const paths = resolvePaths(env);
  trustRoots(paths);
  const prompter = overrides.prompter ?? terminalPrompter(io);
  let fetchPromise: Promise<Fetch> | undefined;
  let held: string[] | undefined = run.json ? [] : undefined;
  const write = (message: string) => io.stderr.write(`acct: warning: ${visibleControls(message)}\n`);
  const warn = (message: string) => {
    if (held) held.push(message);
    else write(message);
  };
  let writeWarned = false;
  const writeWarning = (message: string) => {
    if (!writeWarned) warn(message);
    writeWarned = true;
  };
  const housekeeping = (what: string, fn: () => void | Promise<void>): Promise<void> => {
    const failed = (err: unknown) => {
      if (!isBookkeepingFailure(err)) throw err;
      // A refusal's hint is the fix to run; a failed write's ("nothing was changed; …") is for commands that needed it.
      const hint = err instanceof AcctError && err.hint && !isWriteFailure(err) ? ` (${err.hint})` : '';
      writeWarning(`could not ${what}: ${(err as Error).message}${hint}`);
    };
    try {
      const done = fn();
      if (done) return done.catch(failed);
    } catch (err) {
      failed(err);
    }
    return Promise.resolve();
  };
  const bundle = env.ACCT_BUNDLE ? new BundleState(env) : undefined;
  const now = overrides.now ?? (() => new Date());
  // Tests that hand in their own keychain talk to it alone.
  const agent = overrides.keychainBackend ? undefined : keychainAgent(env, { entry: agentEntry(), version: VERSION });
  // No local store is opened with a bundle.
  const machineSecrets = bundle
    ? undefined
    : new SecretStore({
      paths,
      requestedKind: env.ACCT_STORE || undefined,
      agent,
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
    });
  const localStore = (secrets: SecretStore) => {
    const repository = new AccountRepository(paths, (m) => {
      // A metadata write (a delete, say) goes with secrets/: refused as a whole when that folder is not to be trusted.
      checkFolders(secrets.secretsDir);
      housekeeping('clean up after an interrupted write', () => void sweep(paths, secrets, m, Date.now()));
    });
    return new LocalStore({ paths, repository, secrets, now, housekeeping });
  };
  const ctx: Context = {
    env,
    io,
    paths,
    now,
    sleep: overrides.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    store: machineSecrets ? localStore(machineSecrets) : new BundleStore(bundle!, warn),
    machineSecrets,
    teams: teamStores(paths, env, () => ({ paths, env, warn, secrets: teamSecrets(machineSecrets), agent })),
    catalog: new Catalog(paths, bundle),
    prompter,
    fetch: () => (fetchPromise ??= overrides.fetch ? Promise.resolve(overrides.fetch) : createFetch({ timeoutMs: seconds(env.ACCT_HTTP_TIMEOUT, 'ACCT_HTTP_TIMEOUT', 30) * 1000, onSlow: run.json ? undefined : (host) => io.stderr.write(`Waiting for ${host}…\n`) })),
    warn,
    get warnings() {
      return held;
    },
    logWarnings: () => {
      const earlier = held ?? [];
      held = undefined;
      for (const m of earlier) write(m);
    },
    housekeeping,
    command: '',
    writeWarning,
    info: (message) => io.stderr.write(`${visibleControls(message)}\n`),
  };
  return ctx;
}

/** The machine's secret store for team credentials; with a bundle there is none, and a team given in ACCT_TEAM/ACCT_TEAM_KEY needs none. */
export function teamSecrets(secrets: SecretStore | undefined): Pick<SecretStore, 'read' | 'write' | 'ready' | 'remove'> {
  if (secrets) return secrets;
  const refusal = () => usageError("a team's member credentials are kept in this machine's store, and ACCT_BUNDLE is set", 'unset ACCT_BUNDLE, or give the team with ACCT_TEAM and ACCT_TEAM_KEY');
  const refuse = async (): Promise<never> => {
    throw refusal();
  };
  return {
    read: refuse,
    write: refuse,
    ready: refuse,
    remove: () => {
      throw refusal();
    },
  };
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

/** A failure of the file system (ENOSPC, EROFS, EACCES…), of the store's checks, or of a team store's connection, as opposed to a bug. */
function isBookkeepingFailure(err: unknown): boolean {
  return err instanceof AcctError
    ? err.exitCode === ExitCode.store || err.exitCode === ExitCode.unavailable
    : typeof (err as NodeJS.ErrnoException | undefined)?.code === 'string';
}
