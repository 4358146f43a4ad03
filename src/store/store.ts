// The local store: account metadata in plain JSON (no secrets) and one
// AES-256-GCM sealed file of credential fields per account. The data key comes
// from a key source (key-source.ts): the OS keychain, through the keychain
// agent when there is one, or a passphrase when ACCT_STORE=file.
import { nodeCrypto } from './node-crypto.js';
import { join } from 'node:path';
import { linkSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { storeError, usageError, AcctError } from '../errors.js';
import { seal, open, isSealed, type Sealed, type ScryptParams } from './crypto.js';
import { readJsonIfExists, writeJsonAtomic, removeIfExists, isObject, corruptFile, ensurePrivateDir, writeFailure } from './files.js';
import { withLock } from './lock.js';
import { checkFolders } from './trust.js';
import { keySource, keepNewKey, type KeySource, type KeySourceDeps } from './key-source.js';
import { ACCOUNT_ID_RE, APP_SLUG_RE } from '../accounts/model.js';
import { TEAM_NAME_RE } from '../team/config.js';
import type { Paths } from '../paths.js';

export type StoreKind = 'keychain' | 'file';

interface StoreFile {
  version: 1;
  id: string;
  kind: StoreKind;
  /** A sealed known value: tells a wrong key from a tampered secret file. */
  check: Sealed;
  /** File store only: the data key sealed with a key derived from the passphrase. */
  scrypt?: ScryptParams;
  wrappedKey?: Sealed;
}

function isStoreFile(v: unknown): v is StoreFile {
  return (
    isObject(v) &&
    v.version === 1 &&
    typeof v.id === 'string' &&
    (v.kind === 'keychain' || v.kind === 'file') &&
    isSealed(v.check) &&
    (v.kind === 'keychain' || (isObject(v.scrypt) && isSealed(v.wrappedKey)))
  );
}

export type Fields = Record<string, string>;

export interface StoreDeps extends KeySourceDeps {
  paths: Paths;
  /** ACCT_STORE as given by the user, if any. */
  requestedKind?: string;
}

const CHECK_AAD = 'acct-store-check';

/** A secret written by SecretStore.replace: done() once the change it belongs to is stored, undo() when it is not. */
export interface SecretReplaced {
  done(): void;
  undo(): void;
}

export class SecretStore {
  private key?: Buffer;
  private storeFile?: StoreFile;
  private source?: { sf: StoreFile; source: KeySource };

  constructor(private readonly deps: StoreDeps) {
    const requested = deps.requestedKind;
    if (requested !== undefined && requested !== 'keychain' && requested !== 'file')
      throw usageError(`ACCT_STORE must be "keychain" or "file", not "${requested}"`);
  }

  get storeFilePath() {
    return join(this.deps.paths.data, 'store.json');
  }
  get secretsDir() {
    return join(this.deps.paths.data, 'secrets');
  }
  secretPath(id: string) {
    return join(this.secretsDir, `${checkSecretId(id)}.json`);
  }

  /** The kind of store in use: the existing store's, or the requested one for a new store. */
  kind(): StoreKind {
    return this.readStoreFile()?.kind ?? ((this.deps.requestedKind as StoreKind | undefined) ?? 'keychain');
  }

  private readStoreFile(): StoreFile | undefined {
    if (!this.storeFile) this.storeFile = readJsonIfExists(this.storeFilePath, isStoreFile);
    if (this.storeFile && this.deps.requestedKind && this.deps.requestedKind !== this.storeFile.kind)
      throw storeError(
        `ACCT_STORE=${this.deps.requestedKind} but the store in ${this.deps.paths.data} uses the ${this.storeFile.kind === 'file' ? 'passphrase file' : 'OS keychain'} store`,
        `unset ACCT_STORE, or point ACCT_HOME at another folder for a ${this.deps.requestedKind} store`,
      );
    return this.storeFile;
  }

  /** The data key; creates the store (and its key) on first use when `create` is set. */
  async dataKey(create: boolean): Promise<Buffer> {
    if (this.key) return this.key;
    let sf = this.readStoreFile();
    if (!sf) {
      if (!create) throw storeError(`there is no store in ${this.deps.paths.data} yet`, 'connect an account first: acct connect <app>');
      sf = await withLock(join(this.deps.paths.data, 'locks', 'store'), async () => {
        this.storeFile = undefined;
        return this.readStoreFile() ?? (await this.createStore());
      });
      if (this.key) return this.key;
    }
    const key = await this.keySource(sf).key();
    this.key = key;
    return key;
  }

  /** Where the data key of the store in this file comes from (see key-source.ts). */
  private keySource(sf: StoreFile): KeySource {
    if (this.source?.sf !== sf) this.source = { sf, source: keySource(sf, { dir: this.deps.paths.data, file: this.storeFilePath, opens: (key) => opensCheck(key, sf.check) }, this.deps) };
    return this.source.source;
  }

  private async createStore(): Promise<StoreFile> {
    const kind: StoreKind = (this.deps.requestedKind as StoreKind | undefined) ?? 'keychain';
    const id = `st_${nodeCrypto().randomBytes(8).toString('hex')}`;
    const key = nodeCrypto().randomBytes(32);
    const sf: StoreFile = { version: 1, id, kind, check: seal(key, Buffer.from('acct'), CHECK_AAD) };
    Object.assign(sf, await keepNewKey(kind, id, key, this.deps));
    ensurePrivateDir(this.deps.paths.data);
    writeJsonAtomic(this.storeFilePath, sf);
    this.storeFile = sf;
    this.key = key;
    return sf;
  }

  /**
   * Before acct asks for a secret or calls a provider: proves the store can
   * take one. Opens the store (keychain read, or the passphrase), creating it
   * when there is none yet, so no passphrase, no keychain or a wrong
   * passphrase fails here, before the user typed a key or approved a grant.
   */
  async ready(): Promise<void> {
    await this.dataKey(true);
  }

  async read(id: string): Promise<Fields> {
    return (await this.readMany([id])).get(id)!;
  }

  /**
   * Several accounts' secrets with the data key fetched once: the key source
   * opens them all at once (one agent conversation), or gives the key once
   * (one keychain read, then the key in hand), instead of once per account.
   * Measured: acct env of 10 accounts held 10 agent conversations, each a
   * connection, a keychain read in the agent and a round trip.
   */
  async readMany(ids: string[]): Promise<Map<string, Fields>> {
    const sealed = ids.map((id) => {
      const path = this.secretPath(id);
      const s = readJsonIfExists(path, isSealed);
      if (!s) throw storeError(`the secrets of account ${id} are missing (${path})`, `reconnect it: acct reconnect ${id}`);
      return { id, path, sealed: s };
    });
    const source = this.key ? undefined : this.existingKeySource();
    const plains = sealed.length ? await source?.open(sealed.map((s) => ({ aad: s.id, sealed: s.sealed }))) : undefined;
    const out = new Map<string, Fields>();
    for (const [i, s] of sealed.entries()) {
      let plain = plains?.[i];
      if (!plain) {
        const key = await this.dataKey(false);
        try {
          plain = open(key, s.sealed, s.id);
        } catch {
          throw corruptFile(s.path, 'it fails authentication (tampered with, or copied from another account)');
        }
      }
      const fields = JSON.parse(plain.toString('utf8')) as unknown;
      if (!isObject(fields) || !Object.values(fields).every((v) => typeof v === 'string'))
        throw corruptFile(s.path, 'its decrypted contents are not a set of fields');
      out.set(s.id, fields as Fields);
    }
    return out;
  }

  /**
   * Secrets will be read soon: the key source starts unlocking now, while
   * the caller finds the account (KeySource.warm). Only a head start: it
   * returns at once and never fails; with the key in hand, or a source that
   * has nothing to start, it does nothing.
   */
  warm(): void {
    if (this.key) return;
    let source: KeySource | undefined;
    try {
      source = this.existingKeySource();
    } catch {
      return; // an unreadable store file: the read itself reports it, in its place among the command's errors
    }
    source?.warm();
  }

  /** The key source of the store there is; undefined when there is none yet. */
  private existingKeySource(): KeySource | undefined {
    const sf = this.readStoreFile();
    return sf && this.keySource(sf);
  }

  async write(id: string, fields: Fields): Promise<void> {
    const key = await this.dataKey(true);
    ensurePrivateDir(this.secretsDir);
    writeJsonAtomic(this.secretPath(id), seal(key, Buffer.from(JSON.stringify(fields)), id));
  }

  /**
   * Writes `fields` as the secret of `id` like write(), keeping what was
   * there so that it can be put back: for a change whose metadata write comes
   * after and may fail (a full disk, a lost lock), which must then leave every
   * file as it was. The old file is kept as a hard link (no room needed on a
   * full disk, and putting it back is one rename) named like a temporary
   * file, which the sweep removes if its process dies before done() or
   * undo().
   */
  async replace(id: string, fields: Fields): Promise<SecretReplaced> {
    const path = this.secretPath(id);
    await this.dataKey(true);
    ensurePrivateDir(this.secretsDir);
    const kept = `${path}.${process.pid}.${nodeCrypto().randomBytes(4).toString('hex')}.tmp`;
    let had = true;
    try {
      linkSync(path, kept);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeFailure(path, err);
      had = false;
    }
    try {
      await this.write(id, fields);
    } catch (err) {
      if (had) rmSync(kept, { force: true });
      throw err;
    }
    return {
      done: () => {
        if (had) rmSync(kept, { force: true });
      },
      undo: () => {
        if (had) renameSync(kept, path);
        else removeIfExists(path);
      },
    };
  }

  remove(id: string): void {
    removeIfExists(this.secretPath(id));
  }

  /** Ids that have a secret file (for consistency checks). */
  storedIds(): string[] {
    try {
      if (!checkFolders(this.secretsDir)) return [];
      return readdirSync(this.secretsDir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}

/**
 * The names of secrets acct keeps: an account's id, `client.<app slug>`
 * (store/local-store.ts), `team.<team>` and `team-token.<team>.<account id>`
 * (team/config.ts, team/offline.ts). A secret's name becomes a file name, so
 * anything else (an id "../../x" from a hand-made bundle) is a bug that must
 * stop here, before a path outside secrets/ is made.
 */
const inner = (re: RegExp) => re.source.slice(1, -1);
const SECRET_ID_RE = new RegExp(
  `^(?:${inner(ACCOUNT_ID_RE)}|client\\.${inner(APP_SLUG_RE)}|team\\.${inner(TEAM_NAME_RE)}|team-token\\.${inner(TEAM_NAME_RE)}\\.${inner(ACCOUNT_ID_RE)})$`,
);

/** `id` as is, or an internal error when it is not one acct makes (`pattern`: every secret's name, or fewer). */
export function checkSecretId(id: string, pattern: RegExp = SECRET_ID_RE): string {
  if (!pattern.test(id)) throw new AcctError('unexpected', `refusing to make a file name of the secret id ${JSON.stringify(id)}`, { hint: 'this is a bug in acct; please report it with the command you ran' });
  return id;
}

function opensCheck(key: Buffer, check: Sealed): boolean {
  try {
    open(key, check, CHECK_AAD);
    return true;
  } catch {
    return false;
  }
}

export function isStoreError(err: unknown): err is AcctError {
  return err instanceof AcctError && err.exitCode === 6;
}
