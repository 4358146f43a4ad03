// The local store's account metadata file, accounts.tsv (version 2): one
// file, replaced whole by an atomic rename, so a reader always sees one
// consistent version, and laid out so that a reader finds the accounts a
// reference names without JSON-parsing every account.
//
//   {"version":2,"length":<bytes after this line>,"defaults":{…},"retiredIds":[…]}
//   <id>\t<app>\t<nickname>\t<the account as JSON>
//   …one line per account, in the order they were added
//
// The three keys come first on each line, escaped so that they never hold a
// tab, a line break or a lone "%" (%09 %0A %0D %25; an id, an app slug and a
// nickname never need it, an old store edited by hand might). JSON.stringify
// never writes a raw tab or line break either, so a tab is always a column
// boundary and a line break always ends an account. A lookup is then a
// substring search of the whole text for "\n<id>\t" or "\t<key>\t", done by
// V8's string search in native code, and only the lines it hits are parsed.
// The JSON holds the whole account, keys included: the columns are an index,
// checked against it whenever a line is parsed.
//
// The header's `length` is the size of the rest of the file in bytes: a
// truncated (or appended to) file is refused at once, not when the missing
// account is asked for. A damaged line is refused when it is parsed; listing
// and every write parse them all, so a damaged file is never rewritten.
//
// Measured on bare Node 20.20 (no NODE_EXTRA_CA_CERTS), 10,000 accounts like
// the bench's, first call in a fresh process (code not yet optimized, as in
// every acct start): reading the 2.8 MB file and decoding it 2.4–2.6 ms; one
// search of the whole text for a nickname 1.6 ms; parsing every account line
// 24 ms (the same as JSON.parse of the 2.5 MB accounts.json it replaces,
// 25 ms warm, so `list` costs what it did); a loop that splits every line
// into its keys, in JS, 8–13 ms, which is why lookups search instead and only
// the not-found error (which suggests names from all of them) walks lines.
import { corruptFile, isObject } from './files.js';
import { storeError } from '../errors.js';
import type { Account, Metadata } from '../accounts/model.js';

export const ACCOUNT_FILE_NAME = 'accounts.tsv';
export const ACCOUNT_FILE_VERSION = 2;

/** What a reference is matched against: an account's keys, where its line starts (-1 when it comes from another layout). */
export interface AccountKeys {
  id: string;
  app: string;
  nickname: string;
  at: number;
}

const escapeKey = (s: string) => (/[%\t\n\r]/.test(s) ? s.replace(/[%\t\n\r]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`) : s);
const unescapeKey = (s: string) => (s.includes('%') ? s.replace(/%(25|09|0A|0D)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : s);

/** The file's text for `m`: what a write renames into place. */
export function serializeAccounts(m: Metadata): string {
  let body = '';
  for (const a of m.accounts) body += `${escapeKey(a.id)}\t${escapeKey(a.app)}\t${escapeKey(a.nickname)}\t${JSON.stringify(a)}\n`;
  const header = JSON.stringify({ version: ACCOUNT_FILE_VERSION, length: Buffer.byteLength(body), defaults: m.defaults, retiredIds: m.retiredIds });
  return `${header}\n${body}`;
}

interface Header {
  version: number;
  length: number;
  defaults: Record<string, string>;
  retiredIds: string[];
}

function isHeader(v: unknown): v is Header {
  return (
    isObject(v) &&
    typeof v.version === 'number' &&
    Number.isSafeInteger(v.length) &&
    (v.length as number) >= 0 &&
    isObject(v.defaults) &&
    Object.values(v.defaults).every((x) => typeof x === 'string') &&
    Array.isArray(v.retiredIds) &&
    v.retiredIds.every((x) => typeof x === 'string')
  );
}

/** One version of the file, as read: lookups parse only the lines they return. */
export class AccountFile {
  readonly defaults: Record<string, string>;
  readonly retiredIds: string[];
  /** Where the first account line starts (just after the header's line break). */
  private readonly start: number;

  private constructor(
    readonly path: string,
    private readonly text: string,
    header: Header,
    start: number,
  ) {
    this.defaults = header.defaults;
    this.retiredIds = header.retiredIds;
    this.start = start;
  }

  /** The file's contents checked as far as that is cheap (header, length): a store error naming the file otherwise. */
  static parse(path: string, raw: Buffer): AccountFile {
    const nl = raw.indexOf(10);
    if (nl < 0) throw corruptFile(path, 'its first line (the header) is incomplete');
    let header: unknown;
    try {
      header = JSON.parse(raw.toString('utf8', 0, nl));
    } catch {
      throw corruptFile(path, 'its first line (the header) is not valid JSON');
    }
    if (!isHeader(header)) throw corruptFile(path, 'its first line (the header) does not have the expected shape');
    if (header.version > ACCOUNT_FILE_VERSION)
      throw storeError(`${path} was written by a newer acct (format version ${header.version})`, 'upgrade acct to use this store; acct left the file untouched');
    if (header.version !== ACCOUNT_FILE_VERSION) throw corruptFile(path, `its format version (${header.version}) is not one acct knows`);
    const body = raw.length - nl - 1;
    if (body !== header.length)
      throw corruptFile(path, body < header.length ? `it is truncated (${body} of ${header.length} bytes of accounts)` : `it has ${body - header.length} bytes more than its header says`);
    if (body > 0 && raw[raw.length - 1] !== 10) throw corruptFile(path, 'its last line is incomplete');
    // Decoded once, whole: a search then runs over the string in native code.
    const text = raw.toString('utf8');
    return new AccountFile(path, text, header, text.indexOf('\n') + 1);
  }

  /** The account whose id is `id`, parsed; undefined when there is none. */
  get(id: string): Account | undefined {
    const at = this.text.indexOf(`\n${escapeKey(id)}\t`, this.start - 1);
    return at < 0 ? undefined : this.accountAt(at + 1);
  }

  /**
   * The keys of the accounts a reference can name, in file order: the id
   * `ref`; for app/nickname the account with both; else the accounts whose
   * app or nickname is `ref`. A superset of what any match needs
   * (accounts/resolve.ts); its not-found errors want allKeys().
   */
  candidates(ref: string): AccountKeys[] {
    const found = new Map<number, AccountKeys>();
    const id = this.text.indexOf(`\n${escapeKey(ref)}\t`, this.start - 1);
    if (id >= 0) found.set(id + 1, this.keysAt(id + 1));
    const slash = ref.indexOf('/');
    if (slash >= 0) {
      for (const k of this.search(`${escapeKey(ref.slice(0, slash))}\t${escapeKey(ref.slice(slash + 1))}`, 'app')) found.set(k.at, k);
    } else {
      for (const k of this.search(escapeKey(ref), 'app')) found.set(k.at, k);
      for (const k of this.search(escapeKey(ref), 'nickname')) found.set(k.at, k);
    }
    return [...found.values()].sort((a, b) => a.at - b.at);
  }

  /** The keys of one app's accounts, in file order. */
  appKeys(app: string): AccountKeys[] {
    return this.search(escapeKey(app), 'app');
  }

  /** Every account's keys (for suggestions): no JSON parsed. */
  allKeys(): AccountKeys[] {
    const out: AccountKeys[] = [];
    for (let at = this.start; at < this.text.length; at = this.text.indexOf('\n', at) + 1) out.push(this.keysAt(at));
    return out;
  }

  /** Every account, parsed (list, and every write). */
  accounts(): Account[] {
    const out: Account[] = [];
    for (let at = this.start; at < this.text.length; at = this.text.indexOf('\n', at) + 1) out.push(this.accountAt(at));
    return out;
  }

  metadata(): Metadata {
    return { version: 1, accounts: this.accounts(), defaults: this.defaults, retiredIds: this.retiredIds };
  }

  /** The account on the line starting at `at`, checked against the line's keys. */
  accountAt(at: number): Account {
    const keys = this.keysAt(at);
    const end = this.text.indexOf('\n', at);
    let a: unknown;
    try {
      a = JSON.parse(this.text.slice(this.jsonStart(at), end));
    } catch {
      throw this.damaged(at, 'the account on it is not valid JSON');
    }
    if (!isObject(a) || a.id !== keys.id || a.app !== keys.app || a.nickname !== keys.nickname)
      throw this.damaged(at, 'the account on it does not match its keys');
    return a as unknown as Account;
  }

  /**
   * Lines whose app column (or nickname column) is `needle` (escaped; for
   * the app column it may go on into the nickname column, "app\tnickname").
   */
  private search(needle: string, column: 'app' | 'nickname'): AccountKeys[] {
    const out: AccountKeys[] = [];
    const text = this.text;
    const pattern = `\t${needle}\t`;
    // From the tab before a match: overlapping matches ("x\tx\t": app x, nickname x) are all seen.
    for (let hit = text.indexOf(pattern, this.start); hit >= 0; hit = text.indexOf(pattern, hit + 1)) {
      const at = text.lastIndexOf('\n', hit) + 1;
      const t1 = text.indexOf('\t', at);
      if (hit === (column === 'app' ? t1 : text.indexOf('\t', t1 + 1))) out.push(this.keysAt(at));
    }
    return out;
  }

  private keysAt(at: number): AccountKeys {
    const t1 = this.text.indexOf('\t', at);
    const t2 = t1 < 0 ? -1 : this.text.indexOf('\t', t1 + 1);
    const t3 = t2 < 0 ? -1 : this.text.indexOf('\t', t2 + 1);
    const end = this.text.indexOf('\n', at);
    if (t3 < 0 || t3 > end) throw this.damaged(at, 'it does not have an id, an app, a nickname and an account');
    return { id: unescapeKey(this.text.slice(at, t1)), app: unescapeKey(this.text.slice(t1 + 1, t2)), nickname: unescapeKey(this.text.slice(t2 + 1, t3)), at };
  }

  private jsonStart(at: number): number {
    return this.text.indexOf('\t', this.text.indexOf('\t', this.text.indexOf('\t', at) + 1) + 1) + 1;
  }

  /** Line numbers are counted only here, on the way to an error. */
  private damaged(at: number, why: string) {
    let line = 1;
    for (let i = this.text.indexOf('\n'); i >= 0 && i < at; i = this.text.indexOf('\n', i + 1)) line++;
    return corruptFile(this.path, `line ${line} is damaged: ${why}`);
  }
}
