// The local store: account metadata in plain JSON (no secrets) and one
// AES-256-GCM sealed file of credential fields per account. The data key comes
// from the OS keychain, or from a passphrase when ACCT_STORE=file.
import { nodeCrypto } from './node-crypto.js';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { storeError, usageError, AcctError } from '../errors.js';
import { seal, open, isSealed, deriveKey, newScryptParams, isOurScrypt, type Sealed, type ScryptParams } from './crypto.js';
import { readJsonIfExists, writeJsonAtomic, removeIfExists, isObject, corruptFile, ensurePrivateDir } from './files.js';
import { withLock } from './lock.js';
import { checkFolders } from './trust.js';
import { keychainCheckCommand, type Keychain } from './keychain.js';
import type { KeychainAgent } from '../agent/client.js';
import { MAX_SECRETS } from '../agent/protocol.js';
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

export interface StoreDeps {
  paths: Paths;
  /** ACCT_STORE as given by the user, if any. */
  requestedKind?: string;
  keychain: () => Promise<Keychain>;
  /** Asks for (or reads) the passphrase of the file store. `confirm` when creating it. */
  passphrase: (confirm: boolean) => Promise<string>;
  /** A shortcut to the keychain for reads (Linux; see agent/client.ts). */
  agent?: KeychainAgent;
}

const CHECK_AAD = 'acct-store-check';

export class SecretStore {
  private key?: Buffer;
  private storeFile?: StoreFile;

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
    return join(this.secretsDir, `${id}.json`);
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
    const key = sf.kind === 'keychain' ? await this.keychainKey(sf) : await this.fileKey(sf);
    try {
      open(key, sf.check, CHECK_AAD);
    } catch {
      throw sf.kind === 'file'
        ? storeError('wrong passphrase for the acct store', 'check ACCT_PASSPHRASE, or type the passphrase again', undefined, 'wrong_passphrase')
        : storeError(
            `the data key in the keychain does not open the store in ${this.deps.paths.data}`,
            `the keychain item (${keychainCheckCommand(keychainAccount(sf.id))}) was replaced, or this folder was copied from another machine; restore the item from a backup of your keyring. Moving ${this.deps.paths.data} aside to reconnect every account loses the accounts stored there`,
          );
    }
    this.key = key;
    return key;
  }

  private async keychainKey(sf: StoreFile): Promise<Buffer> {
    const keychain = await this.deps.keychain();
    const encoded = await keychain.getKey(keychainAccount(sf.id), this.deps.paths.data);
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== 32)
      throw storeError(
        'the data key in the keychain is malformed',
        `check the item: ${keychainCheckCommand(keychainAccount(sf.id))}; restore it from a backup of your keyring if you have one. Without it the secrets in ${this.deps.paths.data} cannot be opened, and moving that folder aside to reconnect every account loses the accounts stored there`,
      );
    this.deps.agent?.startIfAbsent();
    return key;
  }

  private async fileKey(sf: StoreFile): Promise<Buffer> {
    if (!isOurScrypt(sf.scrypt))
      throw storeError(
        `${this.storeFilePath} is damaged or was altered (its key derivation parameters are not ones acct writes)`,
        'restore it from a backup; acct leaves it as it is',
      );
    const kek = await deriveKey(await this.deps.passphrase(false), sf.scrypt!);
    try {
      return open(kek, sf.wrappedKey!, `acct-data-key:${sf.id}`);
    } catch {
      throw storeError('wrong passphrase for the acct store', 'check ACCT_PASSPHRASE, or type the passphrase again', undefined, 'wrong_passphrase');
    }
  }

  private async createStore(): Promise<StoreFile> {
    const kind: StoreKind = (this.deps.requestedKind as StoreKind | undefined) ?? 'keychain';
    const id = `st_${nodeCrypto().randomBytes(8).toString('hex')}`;
    const key = nodeCrypto().randomBytes(32);
    const sf: StoreFile = { version: 1, id, kind, check: seal(key, Buffer.from('acct'), CHECK_AAD) };
    if (kind === 'keychain') {
      const keychain = await this.deps.keychain();
      await keychain.set(keychainAccount(id), key.toString('base64'));
    } else {
      sf.scrypt = newScryptParams();
      const kek = await deriveKey(await this.deps.passphrase(true), sf.scrypt);
      sf.wrappedKey = seal(kek, key, `acct-data-key:${id}`);
    }
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
   * Several accounts' secrets with the data key fetched once: one agent
   * conversation for all of them (or one keychain read, then the key in hand),
   * instead of one per account. Measured: acct env of 10 accounts held 10
   * agent conversations, each a connection, a keychain read in the agent and a
   * round trip.
   */
  async readMany(ids: string[]): Promise<Map<string, Fields>> {
    const sealed = ids.map((id) => {
      const path = this.secretPath(id);
      const s = readJsonIfExists(path, isSealed);
      if (!s) throw storeError(`the secrets of account ${id} are missing (${path})`, `reconnect it: acct reconnect ${id}`);
      return { id, path, sealed: s };
    });
    const entry = this.agentKeyEntry();
    let plains: (Buffer | undefined)[] | undefined;
    if (entry && sealed.length === 1) plains = [await this.deps.agent!.open(entry, sealed[0]!.id, sealed[0]!.sealed)];
    else if (entry && sealed.length <= MAX_SECRETS) plains = await this.deps.agent!.openMany(entry, sealed.map((s) => ({ aad: s.id, sealed: s.sealed })));
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
   * A read is coming: the keychain agent, if there is one, starts reading the
   * data key now, while the caller finds the account (see agent/protocol.ts).
   * Only a head start: with no agent, or no keychain store, it does nothing.
   */
  async prepareRead(): Promise<void> {
    let entry: string | undefined;
    try {
      entry = this.agentKeyEntry();
    } catch {
      return; // an unreadable store file: the read itself reports it, in its place among the command's errors
    }
    if (entry) await this.deps.agent!.prepare(entry);
  }

  /** Undefined whenever the agent cannot help: the caller then reads the keychain itself, with that path's errors. */
  private async openThroughAgent(sealed: Sealed, id: string): Promise<Buffer | undefined> {
    const entry = this.agentKeyEntry();
    return entry ? this.deps.agent!.open(entry, id, sealed) : undefined;
  }

  /** The keychain entry the agent would read the data key from, when it can help: an agent, a keychain store, and no key in hand yet. */
  private agentKeyEntry(): string | undefined {
    if (this.key || !this.deps.agent) return undefined;
    const sf = this.readStoreFile();
    return sf?.kind === 'keychain' ? keychainAccount(sf.id) : undefined;
  }

  async write(id: string, fields: Fields): Promise<void> {
    const key = await this.dataKey(true);
    ensurePrivateDir(this.secretsDir);
    writeJsonAtomic(this.secretPath(id), seal(key, Buffer.from(JSON.stringify(fields)), id));
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

const keychainAccount = (storeId: string) => `data-key:${storeId}`;

export function isStoreError(err: unknown): err is AcctError {
  return err instanceof AcctError && err.exitCode === 6;
}
