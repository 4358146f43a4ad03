// The local store's account metadata file, accounts.tsv (version 3): one
// file, replaced whole by an atomic rename, so a reader always sees one
// consistent version, laid out so that a reader finds the accounts a
// reference names without JSON-parsing, or even decoding, every account:
//
//   {"version":3,"count":N,"index":<bytes>,"listing":<bytes>,"length":<bytes>,"defaults":{…},"retiredIds":[…]}
//   <offset>\t<id>\t<app>\t<nickname>      the index: one line per account
//   …
//   [[<id>,<app>,<nickname>,<auth>,<status>,<expiresAt>],…]   the listing: one line, what `acct list` shows
//   [<account as JSON>,                   the accounts: a JSON array, one account a line,
//   <account as JSON>]                     in the index's order (the order they were added)
//
// `index` and `listing` are the sizes of the index and of the listing line in
// bytes, `length` that of everything
// after the header line (a truncated or appended-to file is refused at once),
// and `offset` where the account's line starts in the file, in bytes. The
// keys are escaped so that they never hold a tab, a line break, a lone "%"
// or a lone surrogate (%09 %0A %0D %25 %uD800; an id, an app slug and a
// nickname never need it, a hand-edited old store might): a tab is always a
// column boundary, and the nickname, last, is followed by the line break. A
// lookup decodes the index alone and searches it, in native code, for
// "\t<id>\t", "\t<nickname>\n" or "\t<app>\t<nickname>\n", then decodes
// and parses the one line its offset names; the account parsed must have the
// keys that led to it. `acct list` parses the listing alone: an array of
// short arrays of strings, which JSON.parse reads in a third of the time of
// the accounts (measured, 10,000 accounts like the bench's, first call in a
// fresh bare Node 20 process: 8-9 ms against 25-29 ms; the whole `acct list`
// went from 588M to 445M instructions), and which leaves far less for the
// garbage collector. Version 2 (the same without the listing) is read as it
// is, its listing taken from the accounts; the first write makes version 3.
// Everything else is one JSON.parse of the accounts array.
//
// A lookup reads the file in parts from one open descriptor (the header,
// the index, then the line an offset names); a list reads the rest in one go.
//
// Measured on bare Node 20.20 (no NODE_EXTRA_CA_CERTS), 10,000 accounts like
// the bench's, each figure the first call in a fresh process (code not yet
// optimized, as in every acct start), medians (minimums) of 11 runs on a
// machine shared with other work (load 10-15 on 2 cores), through
// AccountRepository: resolving app/nickname 9.3 (4.2) ms against 62.6 (37.8)
// ms for accounts.json; an app slug with a default 11.1 (6.7) ms; get(id)
// 5.7 (3.8) ms; ten references 18.6 (9.6) ms against 80.8 (62.3); read() of
// every account 81.2 (47.3) ms against 66.5 (50.8), the same JSON.parse of
// one array as accounts.json's. Parts of it, in one process: decoding the
// 400 KB index 1 ms, finding and parsing one account 0.3 ms. The first
// layout tried (the keys at the start of each account's JSON line, the whole
// 2.9 MB read, decoded and searched) took 3-8 ms to decode, 3-17 ms to find
// a nickname and 60-84 ms to parse every line on its own.
import { readSync, fstatSync, closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { corruptFile, isObject } from './files.js';
import { checkFile, checkFolders, isStorePath, symlinkOpenError, READ_FLAGS } from './trust.js';
import { AcctError, storeError } from '../errors.js';
import type { Account, Metadata } from '../accounts/model.js';
import type { ListedAccount } from './account-store.js';

export const ACCOUNT_FILE_NAME = 'accounts.tsv';
export const ACCOUNT_FILE_VERSION = 3;
/** The oldest version of the file this acct reads (and rewrites as ACCOUNT_FILE_VERSION at the next change). */
const OLDEST_READ_VERSION = 2;

/** What the listing holds of an account (ListedAccount: a local account has no team), in this order. */
const listingRow = (a: Account): unknown[] => [a.id, a.app, a.nickname, a.auth, a.status, a.expiresAt];

/** What a reference is matched against: an account's keys, and where its index line starts. */
export interface AccountKeys {
  id: string;
  app: string;
  nickname: string;
  at: number;
}

const NEEDS_ESCAPE = /[%\t\n\r]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const escapeKey = (s: string) =>
  s.replace(NEEDS_ESCAPE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : `%u${code.toString(16).toUpperCase()}`;
  });
const unescapeKey = (s: string) =>
  s.includes('%') ? s.replace(/%(25|09|0A|0D|u[0-9A-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h[0] === 'u' ? h.slice(1) : h, 16))) : s;

/** The file's contents for `m`: what a write renames into place. */
export function serializeAccounts(m: Metadata): Buffer {
  const lines = m.accounts.map((a) => JSON.stringify(a));
  const listing = `${JSON.stringify(m.accounts.map(listingRow))}\n`;
  const listingBytes = Buffer.byteLength(listing);
  // Offsets are known once the index's size is: its lines hold them. Offsets
  // relative to the listing first; the index's size settles in a few rounds
  // (each round can only make it larger, by a digit here and there).
  const relative: number[] = [];
  let at = listingBytes + 1; // after the listing and "["
  for (const line of lines) {
    relative.push(at);
    at += Buffer.byteLength(line) + 2; // ",\n" or "]\n"
  }
  const keys = m.accounts.map((a) => `\t${escapeKey(a.id)}\t${escapeKey(a.app)}\t${escapeKey(a.nickname)}\n`);
  const accounts = `[${lines.join(',\n')}]\n`;
  const head = (index: number) => {
    const length = index + listingBytes + Buffer.byteLength(accounts);
    return JSON.stringify({ version: ACCOUNT_FILE_VERSION, count: lines.length, index, listing: listingBytes, length, defaults: m.defaults, retiredIds: m.retiredIds }) + '\n';
  };
  let index = '';
  let indexBytes = 0;
  for (;;) {
    const base = Buffer.byteLength(head(indexBytes)) + indexBytes;
    index = keys.map((k, i) => `${base + relative[i]!}${k}`).join('');
    const bytes = Buffer.byteLength(index);
    if (bytes === indexBytes) return Buffer.from(head(indexBytes) + index + listing + accounts);
    indexBytes = bytes;
  }
}

interface Header {
  version: number;
  count: number;
  index: number;
  /** The listing line's size in bytes; absent in version 2, which has none. */
  listing?: number;
  length: number;
  defaults: Record<string, string>;
  retiredIds: string[];
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

function isHeader(v: unknown): v is Header {
  return (
    isObject(v) &&
    typeof v.version === 'number' &&
    isCount(v.count) &&
    isCount(v.index) &&
    (v.version === 2 ? v.listing === undefined : isCount(v.listing)) &&
    isCount(v.length) &&
    isObject(v.defaults) &&
    Object.values(v.defaults).every((x) => typeof x === 'string') &&
    Array.isArray(v.retiredIds) &&
    v.retiredIds.every((x) => typeof x === 'string')
  );
}

/**
 * The file at `path`, open to be read in parts (AccountFile.open), with the
 * checks of files.ts's readFileIfExists: in acct's folders, the folders
 * checked, no symlink followed, the file checked (trust.ts). undefined when
 * it does not exist.
 */
export function openAccountFile(path: string): AccountFile | undefined {
  const failure = (err: unknown) => (err instanceof AcctError ? err : storeError(`cannot read ${path}: ${(err as Error).message}`, 'check the file permissions', err));
  const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  const store = isStorePath(path);
  if (store && !checkFolders(dirname(path))) return undefined;
  let fd: number;
  try {
    fd = openSync(path, store ? READ_FLAGS : 'r');
  } catch (err) {
    if (missing(err)) return undefined;
    throw (store && symlinkOpenError(path, err)) || failure(err);
  }
  try {
    if (store) checkFile(path, fd);
  } catch (err) {
    closeSync(fd);
    throw failure(err);
  }
  try {
    return AccountFile.open(path, fd);
  } catch (err) {
    throw failure(err);
  }
}

/** Where a version of the file is read from: a buffer holding it whole, or an open file (parts read as they are needed). */
interface Bytes {
  readonly size: number;
  /** Bytes [start, end) (end clamped to the size). */
  read(start: number, end: number): Buffer;
  close(): void;
}

const inBuffer = (raw: Buffer): Bytes => ({ size: raw.length, read: (start, end) => raw.subarray(start, end), close() {} });

/**
 * An open file: writers replace the file by a rename and never change one in
 * place, so what an open descriptor reads is one version, whenever it is read.
 */
function inFile(fd: number): Bytes {
  let open = true;
  return {
    size: fstatSync(fd).size,
    read(start, end) {
      if (!open) throw new Error('read of a closed accounts file');
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(end, this.size) - start));
      let done = 0;
      while (done < buf.length) {
        const n = readSync(fd, buf, done, buf.length - done, start + done);
        if (n === 0) break;
        done += n;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** One version of the file, as read: lookups decode the index alone, and parse only the accounts they return. */
export class AccountFile {
  readonly defaults: Record<string, string>;
  readonly retiredIds: string[];
  readonly count: number;
  /** The index, from the header's line break on (every index line follows a "\n"), decoded at the first lookup: list needs none. */
  private get index(): string {
    return (this.decodedIndex ??= this.bytes.read(this.listingAt - this.indexBytes - 1, this.listingAt).toString('utf8'));
  }
  private decodedIndex?: string;
  private readonly indexBytes: number;
  /** Where the listing line starts (where the index ends), and where the accounts' JSON array starts, in bytes; in version 2 the two are one. */
  private readonly listingAt: number;
  private readonly accountsAt: number;
  private allBytes?: Buffer;

  private constructor(
    readonly path: string,
    private readonly bytes: Bytes,
    header: Header,
    nl: number,
  ) {
    this.defaults = header.defaults;
    this.retiredIds = header.retiredIds;
    this.count = header.count;
    this.listingAt = nl + 1 + header.index;
    this.accountsAt = this.listingAt + (header.listing ?? 0);
    this.indexBytes = header.index;
  }

  /** The file's contents checked as far as that is cheap (header, sizes): a store error naming the file otherwise. */
  static parse(path: string, raw: Buffer): AccountFile {
    return AccountFile.from(path, inBuffer(raw));
  }

  /**
   * The same from an open file, read in parts: the header and the index
   * (a lookup reads then the account it finds, a list the rest). The file
   * stays open until close(); its descriptor is the caller's no more.
   */
  static open(path: string, fd: number): AccountFile {
    let bytes: Bytes;
    try {
      bytes = inFile(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    try {
      return AccountFile.from(path, bytes);
    } catch (err) {
      bytes.close();
      throw err;
    }
  }

  close(): void {
    this.bytes.close();
  }

  private static from(path: string, bytes: Bytes): AccountFile {
    // The header line: in the first 64 KB unless the retired ids are very many.
    let head = bytes.read(0, 1 << 16);
    let nl = head.indexOf(10);
    while (nl < 0 && head.length < bytes.size) {
      head = bytes.read(0, head.length * 4);
      nl = head.indexOf(10);
    }
    if (nl < 0) throw corruptFile(path, 'its first line (the header) is incomplete');
    let header: unknown;
    try {
      header = JSON.parse(head.toString('utf8', 0, nl));
    } catch {
      throw corruptFile(path, 'its first line (the header) is not valid JSON');
    }
    if (!isObject(header) || typeof header.version !== 'number') throw corruptFile(path, 'its first line (the header) does not have the expected shape');
    if (header.version > ACCOUNT_FILE_VERSION)
      throw storeError(`${path} was written by a newer acct (format version ${header.version})`, 'upgrade acct to use this store; acct left the file untouched');
    if (header.version < OLDEST_READ_VERSION || !isHeader(header)) throw corruptFile(path, 'its first line (the header) does not have the expected shape');
    const rest = bytes.size - nl - 1;
    if (rest !== header.length)
      throw corruptFile(path, rest < header.length ? `it is truncated (${rest} of ${header.length} bytes after the header)` : `it has ${rest - header.length} bytes more than its header says`);
    const listingAt = nl + 1 + header.index;
    const accountsAt = listingAt + (header.listing ?? 0);
    const byte = (at: number) => bytes.read(at, at + 1)[0];
    if (
      header.index + (header.listing ?? 0) > rest ||
      byte(accountsAt) !== 0x5b ||
      byte(bytes.size - 1) !== 10 ||
      (accountsAt > nl + 1 && byte(accountsAt - 1) !== 10) ||
      (header.listing !== undefined && (header.listing < 3 || byte(listingAt) !== 0x5b || (header.index > 0 && byte(listingAt - 1) !== 10)))
    )
      throw corruptFile(path, 'its index, its listing and its accounts do not line up');
    return new AccountFile(path, bytes, header, nl);
  }

  /** The accounts' JSON array, read once. */
  private accountBytes(): Buffer {
    return (this.allBytes ??= this.bytes.read(this.accountsAt, this.bytes.size));
  }

  /** The account whose id is `id`, parsed; undefined when there is none. */
  get(id: string): Account | undefined {
    const keys = this.find(`\t${escapeKey(id)}\t`, 1, true);
    return keys.length ? this.accountAt(keys[0]!.at) : undefined;
  }

  /**
   * The keys of the accounts a reference can name, in file order: enough for
   * resolveReference (accounts/resolve.ts) to give, over them, the answer it
   * gives over every account when that answer is an account or an ambiguity
   * (its not-found errors want allKeys()). They are: the id `ref`; for
   * app/nickname the account with both; else the accounts whose nickname is
   * `ref`, and those of the app `ref`: its default alone when it has one (a
   * default of the app is the answer however many accounts the app has), all
   * of them otherwise.
   */
  candidates(ref: string): AccountKeys[] {
    const found = new Map<number, AccountKeys>();
    const add = (keys: AccountKeys[]) => keys.forEach((k) => found.set(k.at, k));
    // Each search is a pass over the whole index (0.3 ms for 10,000 accounts
    // here), so there are as few as the answer needs: `acct env` of 10
    // app/nickname references in such a store made 20, 6-7 ms of its run.
    const slash = ref.indexOf('/');
    if (slash >= 0) {
      // No id holds a "/" (acct makes them: ACCOUNT_ID_RE), so app/nickname is
      // not looked up as an id; a store edited by hand to hold one still
      // finds it when nothing else matches (resolve() then runs over every key).
      add(this.find(`\t${escapeKey(ref.slice(0, slash))}\t${escapeKey(ref.slice(slash + 1))}\n`, 2));
    } else {
      // One pass finds the id `ref` and the accounts of the app `ref`: the same needle, in columns 1 and 2.
      const idOrApp = this.hits(`\t${escapeKey(ref)}\t`);
      add(idOrApp.filter((h) => h.column === 1).map((h) => this.keysAt(h.at)));
      add(this.find(`\t${escapeKey(ref)}\n`, 3));
      // Own keys only: a reference like __proto__ or constructor names no default.
      const id = Object.hasOwn(this.defaults, ref) ? this.defaults[ref] : undefined;
      const def = id === undefined ? undefined : this.find(`\t${escapeKey(id)}\t`, 1, true)[0];
      add(def?.app === ref ? [def] : idOrApp.filter((h) => h.column === 2).map((h) => this.keysAt(h.at)));
    }
    return [...found.values()].sort((a, b) => a.at - b.at);
  }

  /** The keys of one app's accounts, in file order. */
  appKeys(app: string): AccountKeys[] {
    return this.find(`\t${escapeKey(app)}\t`, 2);
  }

  /** Every account's keys (for suggestions): no JSON parsed. */
  allKeys(): AccountKeys[] {
    const out: AccountKeys[] = [];
    for (let at = 1; at < this.index.length; at = this.index.indexOf('\n', at) + 1) out.push(this.keysAt(at));
    return out;
  }

  /** Every account, parsed: one JSON.parse of the accounts (list --json, status, a write). Each one's keys are checked against the index by checkedAccounts(). */
  accounts(): Account[] {
    let list: unknown;
    try {
      list = JSON.parse(this.accountBytes().toString('utf8'));
    } catch {
      throw corruptFile(this.path, 'its accounts are not valid JSON');
    }
    if (!Array.isArray(list) || list.length !== this.count || !list.every((a) => isObject(a) && typeof a.id === 'string' && typeof a.app === 'string' && typeof a.nickname === 'string'))
      throw corruptFile(this.path, `its accounts do not have the expected shape (the header counts ${this.count})`);
    return list as Account[];
  }

  /**
   * What `acct list` shows of every account, in file order: the listing
   * alone is parsed (version 3), or the accounts (version 2).
   */
  listed(): ListedAccount[] {
    if (this.listingAt === this.accountsAt) return this.accounts();
    let rows: unknown;
    try {
      rows = JSON.parse(this.bytes.read(this.listingAt, this.accountsAt).toString('utf8'));
    } catch {
      throw corruptFile(this.path, 'its listing is not valid JSON');
    }
    const str = (v: unknown) => typeof v === 'string';
    if (!Array.isArray(rows) || rows.length !== this.count || !rows.every((r) => Array.isArray(r) && r.length === 6 && str(r[0]) && str(r[1]) && str(r[2]) && str(r[3]) && str(r[4]) && (r[5] === null || str(r[5]))))
      throw corruptFile(this.path, `its listing does not have the expected shape (the header counts ${this.count})`);
    return (rows as string[][]).map((r) => ({ id: r[0]!, app: r[1]!, nickname: r[2]!, auth: r[3] as Account['auth'], status: r[4] as Account['status'], expiresAt: r[5] ?? null }));
  }

  /**
   * Every account, and the index checked against them (keys, and offsets
   * against where each line starts): what a write starts from, so a damaged
   * file is never rewritten. No account is parsed twice.
   */
  checkedAccounts(): Account[] {
    const accounts = this.accounts();
    const keys = this.allKeys();
    if (keys.length !== accounts.length) throw corruptFile(this.path, `its index has ${keys.length} accounts and its accounts ${accounts.length}`);
    const all = this.accountBytes();
    let line = this.accountsAt + 1;
    accounts.forEach((a, i) => {
      const k = keys[i]!;
      if (this.offsetAt(k.at) !== line) throw this.damaged(k.at, 'its offset does not point at an account');
      if (a.id !== k.id || a.app !== k.app || a.nickname !== k.nickname) throw this.damaged(k.at, 'it does not match the account it points at');
      line = this.accountsAt + all.indexOf(10, line - this.accountsAt) + 1;
    });
    // The listing says what the accounts say (version 3).
    if (this.listingAt !== this.accountsAt) {
      const listed = this.listed();
      accounts.forEach((a, i) => {
        const row = listingRow(a);
        if (Object.values(listed[i]!).some((v, c) => v !== row[c])) throw corruptFile(this.path, `its listing does not match account ${i + 1} (${a.id})`);
      });
    }
    return accounts;
  }

  metadata(checked = false): Metadata {
    return { version: 1, accounts: checked ? this.checkedAccounts() : this.accounts(), defaults: this.defaults, retiredIds: this.retiredIds };
  }

  /** The account the index line at `at` points at, checked against the line's keys. */
  accountAt(at: number): Account {
    const keys = this.keysAt(at);
    const start = this.offsetAt(at);
    if (!Number.isSafeInteger(start) || start <= this.accountsAt || start >= this.bytes.size) throw this.damaged(at, 'its offset does not point at an account');
    // From the byte before the line (a line break, or the array's "[") to the line's end; an account is rarely over 4 KB.
    const from = start - 1;
    let chunk = this.allBytes ? this.allBytes.subarray(from - this.accountsAt) : this.bytes.read(from, from + 4096);
    let end = chunk.indexOf(10, 1);
    while (end < 0 && from + chunk.length < this.bytes.size) {
      chunk = this.bytes.read(from, from + chunk.length * 4);
      end = chunk.indexOf(10, 1);
    }
    if (end < 0 || chunk[0] !== (start === this.accountsAt + 1 ? 0x5b : 10)) throw this.damaged(at, 'its offset does not point at an account');
    let a: unknown;
    try {
      a = JSON.parse(chunk.toString('utf8', 1, end - 1)); // without the "," or "]"
    } catch {
      throw this.damaged(at, 'the account it points at is not valid JSON');
    }
    if (!isObject(a) || a.id !== keys.id || a.app !== keys.app || a.nickname !== keys.nickname) throw this.damaged(at, 'it does not match the account it points at');
    return a as unknown as Account;
  }

  /**
   * Index lines holding `needle` starting at column `column` (1 id, 2 app, 3
   * nickname; the needle's tabs and line break pin it to whole keys).
   */
  private find(needle: string, column: 1 | 2 | 3, first = false): AccountKeys[] {
    return this.hits(needle, first ? column : undefined)
      .filter((h) => h.column === column)
      .map((h) => this.keysAt(h.at));
  }

  /**
   * Where `needle` (a key between a tab and a tab or line break) stands in
   * the index: each line it is in, and in which column (1 id, 2 app, 3
   * nickname; 0 when it is not a whole key there). With `until`, the search
   * ends at the first hit in that column (an id names one line).
   */
  private hits(needle: string, until?: 1 | 2 | 3): { at: number; column: number }[] {
    const out: { at: number; column: number }[] = [];
    const index = this.index;
    // From the tab a match starts with: overlapping matches (app and nickname alike) are all seen.
    for (let hit = index.indexOf(needle); hit >= 0; hit = index.indexOf(needle, hit + 1)) {
      const at = index.lastIndexOf('\n', hit) + 1;
      let column = 0;
      for (let c = 1, tab = index.indexOf('\t', at); c <= 3 && tab >= 0 && tab <= hit; c++, tab = index.indexOf('\t', tab + 1)) if (tab === hit) column = c;
      out.push({ at, column });
      if (column === until) break;
    }
    return out;
  }

  private offsetAt(at: number): number {
    return Number(this.index.slice(at, this.index.indexOf('\t', at)));
  }

  private keysAt(at: number): AccountKeys {
    const index = this.index;
    const t1 = index.indexOf('\t', at);
    const t2 = t1 < 0 ? -1 : index.indexOf('\t', t1 + 1);
    const t3 = t2 < 0 ? -1 : index.indexOf('\t', t2 + 1);
    const end = index.indexOf('\n', at);
    const t4 = t3 < 0 ? -1 : index.indexOf('\t', t3 + 1);
    if (t3 < 0 || end < 0 || t3 > end || (t4 >= 0 && t4 < end)) throw this.damaged(at, 'it does not have an offset, an id, an app and a nickname');
    return { id: unescapeKey(index.slice(t1 + 1, t2)), app: unescapeKey(index.slice(t2 + 1, t3)), nickname: unescapeKey(index.slice(t3 + 1, end)), at };
  }

  /** Line numbers are counted only here, on the way to an error. */
  private damaged(at: number, why: string) {
    let line = 1;
    for (let i = this.index.indexOf('\n'); i >= 0 && i < at; i = this.index.indexOf('\n', i + 1)) line++;
    return corruptFile(this.path, `line ${line} is damaged: ${why}`);
  }
}
