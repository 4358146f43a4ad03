// Account metadata: accounts.tsv (store/account-file.ts), where one
// reference is resolved without parsing every account, or the accounts.json
// of stores written before it (version 1, one JSON document), read as it is
// until the first write moves it to accounts.tsv. Read without locks (writes
// are atomic renames); changed only under the metadata lock on a fresh read.
import { join } from 'node:path';
import { openSync, fstatSync, closeSync, statSync, type Stats } from 'node:fs';
import { parseJsonFile, isObject, readFileIfExists, ensurePrivateDir, writeFileAtomic, writeAll, writeFailure, removeIfExists } from '../store/files.js';
import { checkFile, checkFolders, APPEND_FLAGS, symlinkOpenError } from '../store/trust.js';
import { withLock } from '../store/lock.js';
import { AccountFile, ACCOUNT_FILE_NAME, openAccountFile, serializeAccounts, type AccountKeys } from '../store/account-file.js';
import { resolveReference } from './resolve.js';
import { emptyMetadata, newAccountId, type Account, type Metadata } from './model.js';
import type { AccountView, AppAccounts, ListedView, ResolveHints } from '../store/account-store.js';
import type { Paths } from '../paths.js';
import { AcctError, storeError } from '../errors.js';
import { isoTime } from '../time.js';

function isMetadata(v: unknown): v is Metadata {
  return (
    isObject(v) &&
    v.version === 1 &&
    Array.isArray(v.accounts) &&
    v.accounts.every((a) => isObject(a) && typeof a.id === 'string' && typeof a.app === 'string' && typeof a.nickname === 'string') &&
    isObject(v.defaults) &&
    Array.isArray(v.retiredIds)
  );
}

/** The metadata as one version of the files holds it: accounts.tsv (looked up in place), accounts.json (parsed whole), or nothing yet. */
type Snapshot = { file: AccountFile; metadata?: Metadata } | { file?: undefined; metadata: Metadata };

export class AccountRepository {
  /**
   * `beforeWrite` runs under the metadata lock with the metadata as it is, before
   * the change: the store's checks and sweep (store/sweep.ts), so a write that
   * the store refuses changes nothing.
   */
  constructor(
    private readonly paths: Paths,
    private readonly beforeWrite?: (m: Metadata) => void,
  ) {}

  /** The metadata file as acct writes it (accounts.tsv). */
  get file() {
    return join(this.paths.data, ACCOUNT_FILE_NAME);
  }
  /** The file of stores written before accounts.tsv: read while it is the only one, removed by the first write. */
  get legacyFile() {
    return join(this.paths.data, 'accounts.json');
  }
  private get usedLog() {
    return join(this.paths.data, 'last-used.log');
  }
  /** The local store takes changes (a bundle does not: see BundleAccounts). */
  assertWritable(): void {}
  /** Whether the accounts can be listed without opening anything secret (the completer asks). */
  get openList(): boolean {
    return true;
  }
  lockPath(name: string) {
    return join(this.paths.data, 'locks', name);
  }

  /**
   * The metadata as it is on disk, every account parsed (list, status, the
   * callers not yet on the account-level operations below). While the file is
   * the same one, unchanged (inode, size, modification and change times), it
   * is parsed once: a command that resolves ten references reads it ten times.
   * Writes are atomic renames, so a change is always a new inode. Callers
   * treat the result as read-only; update() parses afresh, under the lock,
   * the copy it changes. Measured: acct env of 10 accounts in a store of
   * 10,000 parsed 2.3 MB of JSON ten times (about 25 ms each on Node 20).
   */
  read(): Metadata {
    const snap = this.snapshot();
    return (snap.metadata ??= snap.file!.metadata());
  }

  /** All accounts and the defaults (list, status, completion). */
  view(): AccountView {
    const m = this.read();
    return { accounts: m.accounts, defaults: m.defaults };
  }

  /** What `acct list` shows of every account (accounts.tsv: its listing alone is parsed), and the defaults. */
  listed(): ListedView {
    const snap = this.snapshot();
    return snap.file ? { accounts: snap.file.listed(), defaults: snap.file.defaults } : { accounts: snap.metadata.accounts, defaults: snap.metadata.defaults };
  }

  /** The account with this id as it is now; undefined when there is none. accounts.tsv: that account's line alone is parsed. */
  get(id: string): Account | undefined {
    const snap = this.snapshot();
    return snap.file ? snap.file.get(id) : snap.metadata.accounts.find((a) => a.id === id);
  }

  /**
   * The account a reference names, or resolve.ts's not-found and ambiguous
   * errors, exactly as resolveReference over every account would give them.
   * accounts.tsv: resolveReference runs over the keys of the lines the
   * reference can name (AccountFile.candidates: enough for the same answer),
   * and only the account it picks is parsed; when that finds nothing, it runs
   * again over every account's keys (no JSON parsed), for the suggestions its
   * error makes. Sync, like read(): the files are local and small to read.
   * It sees keys, not accounts: resolve.ts reads only id, app and nickname of
   * an account (and the defaults), which a test checks against the whole
   * metadata (test/unit/account-file.test.ts).
   */
  resolve(ref: string, hints: ResolveHints = {}): Account {
    const snap = this.snapshot();
    if (!snap.file) return resolveReference(snap.metadata, ref, hints.isApp, hints.appSlugs);
    const file = snap.file;
    const over = (keys: AccountKeys[]) =>
      resolveReference({ version: 1, accounts: keys as unknown as Account[], defaults: file.defaults, retiredIds: file.retiredIds }, ref, hints.isApp, hints.appSlugs) as unknown as AccountKeys;
    let hit: AccountKeys;
    try {
      hit = over(file.candidates(ref));
    } catch (err) {
      if (!(err instanceof AcctError && err.code === 'account_not_found')) throw err;
      hit = over(file.allKeys());
    }
    return file.accountAt(hit.at);
  }

  /** One app's accounts and its default. accounts.tsv: only that app's lines are parsed. */
  appAccounts(app: string): AppAccounts {
    const snap = this.snapshot();
    const accounts = snap.file ? snap.file.appKeys(app).map((k) => snap.file.accountAt(k.at)) : snap.metadata.accounts.filter((a) => a.app === app);
    const defaults = snap.file ? snap.file.defaults : snap.metadata.defaults;
    return { app, accounts, defaultId: Object.hasOwn(defaults, app) ? defaults[app] : undefined };
  }

  /**
   * Read-modify-write under the metadata lock: `change` gets every account,
   * parsed afresh, and may throw to abort without writing; it may be
   * asynchronous (a secret written with its metadata, LocalStore.update), and
   * what it awaits is awaited under the lock. The result is
   * written to accounts.tsv; a store still in accounts.json is moved over by
   * this first write, the old file removed only once the new one is in place.
   */
  async mutate<T>(change: (m: Metadata) => T | Promise<T>): Promise<T> {
    return withLock(this.lockPath('metadata'), async () => {
      const m = this.fresh();
      this.beforeWrite?.(m);
      const result = await change(m);
      ensurePrivateDir(this.paths.data);
      writeFileAtomic(this.file, serializeAccounts(m));
      try {
        removeIfExists(this.legacyFile);
      } catch (err) {
        throw writeFailure(this.legacyFile, err);
      }
      return result;
    });
  }

  private cached?: { key: string; snap: Snapshot };

  /** The files as they are now, cached while they are unchanged. */
  private snapshot(): Snapshot {
    const found = this.locate();
    if (found?.key !== undefined && this.cached?.key === found.key) return this.cached.snap;
    // Read in parts (a lookup reads the index and the account it finds) only what is cached, and so closed when it is replaced.
    const snap = this.load(found, found?.key !== undefined);
    this.cached?.snap.file?.close();
    // Cached under the key of the file looked at first: when load() had to look again, not at all.
    this.cached = found?.key !== undefined && (snap.file === undefined) === found.legacy ? { key: found.key, snap } : undefined;
    if (!this.cached) snap.file?.close();
    return snap;
  }

  /** Parsed now, not cached: what a write changes. */
  private fresh(): Metadata {
    const snap = this.load(this.locate());
    // Every offset and key checked too: a damaged file is refused, never rewritten.
    return snap.metadata ?? snap.file!.metadata(true);
  }

  private load(found: Located | undefined, inParts = false): Snapshot {
    // A file gone between the look and the read was replaced (a migration
    // removes accounts.json once accounts.tsv is there): look again, rather
    // than take a store being moved for an empty one.
    for (let attempt = 0; ; attempt++) {
      if (!found) return { metadata: emptyMetadata() };
      const path = found.legacy ? this.legacyFile : this.file;
      if (inParts && !found.legacy) {
        const file = openAccountFile(path);
        if (file) return { file };
      } else {
        const raw = readFileIfExists(path);
        if (raw) return found.legacy ? { metadata: parseLegacy(path, raw) } : { file: AccountFile.parse(path, raw) };
      }
      if (attempt === 3) return { metadata: emptyMetadata() };
      found = this.locate();
    }
  }

  /**
   * Which file holds the metadata: accounts.tsv when it exists. An
   * accounts.json beside it is what a migration interrupted before its last
   * step left (older than accounts.tsv), and goes at the next write; one
   * changed after accounts.tsv was written (an older acct, a restored backup)
   * is refused rather than ignored or removed.
   */
  private locate(): Located | undefined {
    const tsv = statIfExists(this.file);
    const json = tsv ? statIfExists(this.legacyFile) : undefined;
    if (typeof tsv === 'object' && typeof json === 'object' && json.mtimeMs > tsv.mtimeMs)
      throw storeError(
        `${this.legacyFile} was changed after acct moved the accounts to ${this.file}`,
        `acct changed neither; it reads ${ACCOUNT_FILE_NAME} only, so move one of the two aside (an older acct may have written accounts.json)`,
      );
    if (tsv) return { legacy: false, key: tsv === 'there' ? undefined : statKey(tsv) };
    const legacy = statIfExists(this.legacyFile);
    if (legacy) return { legacy: true, key: legacy === 'there' ? undefined : `json:${statKey(legacy)}` };
    return undefined;
  }

  /** An id no account has or had. Without `m`, looked up in the files as they are (create checks it again under the lock). */
  newId(m?: Metadata): string {
    const taken = m ? new Set([...m.accounts.map((a) => a.id), ...m.retiredIds]) : undefined;
    const snap = m ? undefined : this.snapshot();
    const retired = snap ? new Set(snap.file ? snap.file.retiredIds : snap.metadata.retiredIds) : undefined;
    for (;;) {
      const id = newAccountId();
      if (taken ? !taken.has(id) : !retired!.has(id) && this.get(id) === undefined) return id;
    }
  }

  /**
   * Records a use without taking the metadata lock: appends are atomic for
   * one short line. On the path of every `acct token`, so it opens the log
   * once, and creates the folder only when it is missing. Bookkeeping: callers
   * run it through ctx.housekeeping, so a failure here never fails a read.
   */
  markUsed(id: string, at: Date): void {
    try {
      this.appendUse(id, at);
    } catch (err) {
      throw writeFailure(this.usedLog, err);
    }
  }

  private appendUse(id: string, at: Date): void {
    let fd: number;
    try {
      checkFolders(this.paths.data);
      fd = openSync(this.usedLog, APPEND_FLAGS, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw symlinkOpenError(this.usedLog, err) ?? err;
      ensurePrivateDir(this.paths.data);
      fd = openSync(this.usedLog, APPEND_FLAGS, 0o600);
    }
    let size: number;
    try {
      checkFile(this.usedLog, fd);
      writeAll(fd, Buffer.from(`${id} ${isoTime(at)}\n`));
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    if (size > 256 * 1024) this.compactUsed();
  }

  lastUsed(): Map<string, string> {
    const raw = readFileIfExists(this.usedLog);
    const map = new Map<string, string>();
    if (!raw) return map;
    for (const line of raw.toString('utf8').split('\n')) {
      const [id, at] = line.split(' ');
      if (id && at) map.set(id, at);
    }
    return map;
  }

  private compactUsed(): void {
    const lines = [...this.lastUsed()].map(([id, at]) => `${id} ${at}\n`).join('');
    writeFileAtomic(this.usedLog, lines);
  }
}

interface Located {
  legacy: boolean;
  /** Same key, same file version (undefined: not cached). */
  key: string | undefined;
}

const statKey = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

const parseLegacy = (path: string, raw: Buffer): Metadata => parseJsonFile(path, raw, isMetadata);

/** undefined when there is no file there. Another failure (a folder acct may not search) is the read's to report: "there". */
function statIfExists(path: string): Stats | 'there' | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : 'there';
  }
}


export type { Account };
