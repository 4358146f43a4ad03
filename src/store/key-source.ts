// Where the local store's data key comes from. The store (store.ts) keeps the
// store file, the sealed secret files and the sealing; a key source gives it
// what opens them. Three sources, chosen in one place (keySource()):
//
// - the passphrase store (ACCT_STORE=file): the data key wrapped in the store
//   file, unwrapped with a key derived from the passphrase;
// - the OS keychain: the data key as a keychain item;
// - the keychain agent (Linux, see agent/client.ts), in front of the
//   keychain: it never hands out the key, it opens the sealed secrets itself,
//   and when it cannot help (not running, too slow, a refusal) the keychain is
//   read directly, with that path's errors.
//
// So a source either opens sealed secrets for the store (open()) or gives it
// the key (key()); the store asks open() first and key() when it declines.
import { storeError } from '../errors.js';
import { open as unseal, seal, deriveKey, newScryptParams, isOurScrypt, type Sealed, type ScryptParams } from './crypto.js';
import { keychainCheckCommand, type Keychain } from './keychain.js';
import type { KeychainAgent } from '../agent/client.js';
import { MAX_SECRETS } from '../agent/protocol.js';
import type { StoreKind } from './store.js';

/** A sealed secret and the additional data it was sealed with (the account id). */
export interface SealedSecret {
  aad: string;
  sealed: Sealed;
}

export interface KeySource {
  /**
   * Secrets will be read soon: start unlocking now, while the caller does
   * other work. Only a head start (only the agent does anything); never
   * fails, and returns at once.
   */
  warm(): void;
  /**
   * The plaintexts of these secrets, in order, opened without handing out the
   * key; undefined when this source cannot (the store then asks key()).
   */
  open(secrets: SealedSecret[]): Promise<Buffer[] | undefined>;
  /** The data key, proven to open the store; a wrong key is this source's error (a wrong passphrase, a replaced keychain item). */
  key(): Promise<Buffer>;
}

export interface KeySourceDeps {
  keychain: () => Promise<Keychain>;
  /** Asks for (or reads) the passphrase of the file store. `confirm` when creating it. */
  passphrase: (confirm: boolean) => Promise<string>;
  /** A shortcut to the keychain for reads (Linux; see agent/client.ts). */
  agent?: KeychainAgent;
}

/** What the store file says about its data key. */
export interface StoreKey {
  kind: StoreKind;
  /** The store's id: names its keychain item, and binds the wrapped key to it. */
  id: string;
  /** File store only: the data key sealed with a key derived from the passphrase. */
  scrypt?: ScryptParams;
  wrappedKey?: Sealed;
}

/** Where the store is, for messages, and how to tell its key from another. */
export interface StoreInfo {
  /** The store's folder (ACCT_HOME's data folder). */
  dir: string;
  /** Its store file. */
  file: string;
  /** Whether a key opens the store (its sealed check value). */
  opens(key: Buffer): boolean;
}

/** The one place that decides where a store's data key comes from. */
export function keySource(sk: StoreKey, store: StoreInfo, deps: KeySourceDeps): KeySource {
  if (sk.kind === 'file') return passphraseKeySource(sk, store, deps.passphrase);
  const keychain = keychainKeySource(sk, store, deps.keychain);
  return deps.agent ? agentKeySource(deps.agent, keychainAccount(sk.id), keychain) : keychain;
}

/**
 * Keeps a new store's data key where its kind keeps it: in the keychain, or
 * wrapped with the passphrase (asked twice). Returns what the store file
 * records of it.
 */
export async function keepNewKey(kind: StoreKind, id: string, key: Buffer, deps: KeySourceDeps): Promise<Pick<StoreKey, 'scrypt' | 'wrappedKey'>> {
  if (kind === 'keychain') {
    const keychain = await deps.keychain();
    await keychain.set(keychainAccount(id), key.toString('base64'));
    return {};
  }
  const scrypt = newScryptParams();
  const kek = await deriveKey(await deps.passphrase(true), scrypt);
  return { scrypt, wrappedKey: seal(kek, key, wrapAad(id)) };
}

const keychainAccount = (storeId: string) => `data-key:${storeId}`;
const wrapAad = (storeId: string) => `acct-data-key:${storeId}`;

const wrongPassphrase = () => storeError('wrong passphrase for the acct store', 'check ACCT_PASSPHRASE, or type the passphrase again', undefined, 'wrong_passphrase');

export function passphraseKeySource(sk: StoreKey, store: StoreInfo, passphrase: KeySourceDeps['passphrase']): KeySource {
  return {
    warm() {},
    async open() {
      return undefined;
    },
    async key() {
      if (!isOurScrypt(sk.scrypt))
        throw storeError(
          `${store.file} is damaged or was altered (its key derivation parameters are not ones acct writes)`,
          'restore it from a backup; acct leaves it as it is',
        );
      const kek = await deriveKey(await passphrase(false), sk.scrypt);
      let key: Buffer;
      try {
        key = unseal(kek, sk.wrappedKey!, wrapAad(sk.id));
      } catch {
        throw wrongPassphrase();
      }
      if (!store.opens(key)) throw wrongPassphrase();
      return key;
    },
  };
}

export function keychainKeySource(sk: StoreKey, store: StoreInfo, keychain: KeySourceDeps['keychain']): KeySource {
  const account = keychainAccount(sk.id);
  return {
    warm() {},
    async open() {
      return undefined;
    },
    async key() {
      const encoded = await (await keychain()).getKey(account, store.dir);
      const key = Buffer.from(encoded, 'base64');
      if (key.length !== 32)
        throw storeError(
          'the data key in the keychain is malformed',
          `check the item: ${keychainCheckCommand(account)}; restore it from a backup of your keyring if you have one. Without it the secrets in ${store.dir} cannot be opened, and moving that folder aside to reconnect every account loses the accounts stored there`,
        );
      if (!store.opens(key))
        throw storeError(
          `the data key in the keychain does not open the store in ${store.dir}`,
          `the keychain item (${keychainCheckCommand(account)}) was replaced, or this folder was copied from another machine; restore the item from a backup of your keyring. Moving ${store.dir} aside to reconnect every account loses the accounts stored there`,
        );
      return key;
    },
  };
}

/**
 * The agent opens the secrets itself, reading the key named `account` from
 * the keychain for each conversation; whenever it cannot, `keychain` gives
 * the key, and the agent is started in the background for the next run.
 */
export function agentKeySource(agent: KeychainAgent, account: string, keychain: KeySource): KeySource {
  return {
    warm() {
      agent.prepare(account);
    },
    async open(secrets) {
      if (secrets.length === 0) return [];
      if (secrets.length === 1) {
        const plain = await agent.open(account, secrets[0]!.aad, secrets[0]!.sealed);
        return plain && [plain];
      }
      // More than one conversation can carry: the key, once, is cheaper than several.
      return secrets.length <= MAX_SECRETS ? agent.openMany(account, secrets) : undefined;
    },
    async key() {
      const key = await keychain.key();
      agent.startIfAbsent();
      return key;
    },
  };
}
