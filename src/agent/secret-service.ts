// The keychain agent's own Secret Service connection (Linux). @napi-rs/keyring
// opens a new D-Bus connection and session for every call, which is most of
// what a keychain read costs; the agent keeps one connection open and reads
// the item again on every request, so a locked keyring or a deleted item is
// seen at once, exactly as a direct read would see it. dbus-next speaks the
// D-Bus protocol; no library speaks the Secret Service over it, so the three
// calls used here (OpenSession, SearchItems, GetSecrets) are written out.
//
// The session uses the spec's encrypted transfer
// (dh-ietf1024-sha256-aes128-cbc-pkcs7), as libsecret does: the secret never
// crosses the bus in the clear.
import { nodeCrypto } from '../store/node-crypto.js';
import { connectSessionBus, SECRETS } from '../store/secret-service.js';
const ALGORITHM = 'dh-ietf1024-sha256-aes128-cbc-pkcs7';
/** The 1024-bit MODP group of RFC 2409 (Node's "modp2"), as the Secret Service spec names it. */
const PRIME_BYTES = 128;

type Secret = [session: string, parameters: Buffer, value: Buffer, contentType: string];

interface SecretServiceInterface {
  OpenSession(algorithm: string, input: unknown): Promise<[{ value: Buffer }, string]>;
  SearchItems(attributes: Record<string, string>): Promise<[string[], string[]]>;
  GetSecrets(items: string[], session: string): Promise<Record<string, Secret>>;
}

/** What one search for an item found. */
export type ItemLookup =
  | { state: 'found'; secret: Buffer }
  | { state: 'missing' }
  | { state: 'locked' }
  | { state: 'ambiguous'; count: number };

export interface SecretServiceReader {
  /** The secret of the one unlocked item with these attributes; undefined when there is none, several, or it is locked. */
  read(attributes: Record<string, string>): Promise<Buffer | undefined>;
  /** As read, but says which of those it was. */
  lookup(attributes: Record<string, string>): Promise<ItemLookup>;
  /** Throws when the bus connection is gone. */
  ping(): Promise<void>;
  /** Rejects when the bus connection fails. */
  readonly failed: Promise<never>;
  close(): void;
}

const PING_TIMEOUT_MS = 3000;

export async function connectSecretService(): Promise<SecretServiceReader> {
  const { dbus, bus, failed, withBus } = await connectSessionBus();

  // The bus daemon's proxy first: dbus-next's first getProxyObject on a
  // connection also sends its AddMatch and awaits the answer before it hands
  // back the introspection's promise, so when that introspection fails first
  // (no Secret Service on the bus: ServiceUnknown) the failure sat unhandled
  // for a moment and Node ended acct with exit 1 instead of exit 6 (about one
  // run in three of keychain.test.ts). The daemon always answers.
  const dbusDaemon = (await withBus(bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus'))).getInterface(
    'org.freedesktop.DBus',
  ) as unknown as { GetId(): Promise<string> };
  const service = (await withBus(bus.getProxyObject(SECRETS, '/org/freedesktop/secrets'))).getInterface(
    'org.freedesktop.Secret.Service',
  ) as unknown as SecretServiceInterface;

  const crypto = nodeCrypto();
  const dh = crypto.getDiffieHellman('modp2');
  dh.generateKeys();
  const [output, session] = await withBus(service.OpenSession(ALGORITHM, new dbus.Variant('ay', dh.getPublicKey())));
  const shared = dh.computeSecret(Buffer.from(output.value));
  // The shared secret is a number of the prime's size, with its leading zero bytes kept.
  const padded = Buffer.concat([Buffer.alloc(Math.max(0, PRIME_BYTES - shared.length)), shared]);
  const aesKey = Buffer.from(crypto.hkdfSync('sha256', padded, Buffer.alloc(0), Buffer.alloc(0), 16));

  // The item each search found last. Its secret is asked for together with
  // the next search, so a read takes one trip through the bus instead of two;
  // it is used only when the search finds that same item, alone and unlocked.
  const lastItem = new Map<string, string>();
  const getSecret = async (item: string) => (await withBus(service.GetSecrets([item], session)))[item];

  const lookup = async (attributes: Record<string, string>): Promise<ItemLookup> => {
    const query = JSON.stringify(attributes);
    const guess = lastItem.get(query);
    // A guess that fails (the item was deleted or locked since) is simply not used.
    const early = guess === undefined ? undefined : getSecret(guess).catch(() => undefined);
    const [unlocked, locked] = await withBus(service.SearchItems(attributes));
    if (unlocked.length + locked.length > 1) return { state: 'ambiguous', count: unlocked.length + locked.length };
    if (locked.length) return { state: 'locked' };
    if (!unlocked.length) return { state: 'missing' };
    const item = unlocked[0]!;
    lastItem.set(query, item);
    const secret = item === guess ? await early : await getSecret(item);
    // Found a moment ago and unreadable now: locked or deleted in between; the caller looks again.
    if (!secret) return { state: 'locked' };
    const decipher = crypto.createDecipheriv('aes-128-cbc', aesKey, Buffer.from(secret[1]));
    return { state: 'found', secret: Buffer.concat([decipher.update(Buffer.from(secret[2])), decipher.final()]) };
  };

  return {
    failed,
    lookup,
    async read(attributes) {
      const found = await lookup(attributes);
      return found.state === 'found' ? found.secret : undefined;
    },
    async ping() {
      // A bus that went away may leave the call queued forever rather than failing it: no answer in time is a failure too.
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the session bus did not answer')), PING_TIMEOUT_MS);
      });
      try {
        await Promise.race([withBus(dbusDaemon.GetId()), silent]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => bus.disconnect(),
  };
}

/**
 * One search on a connection of its own (neither the agent's nor the keyring
 * addon's): what the Secret Service holds right now. 'absent' when nothing
 * owns org.freedesktop.secrets on this bus and nothing can start it. The
 * connection closes when the search ends or `signal` aborts.
 */
export async function lookupOnFreshSession(attributes: Record<string, string>, signal: AbortSignal): Promise<ItemLookup | { state: 'absent' }> {
  let reader: SecretServiceReader;
  try {
    reader = await connectSecretService();
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner') return { state: 'absent' };
    throw err;
  }
  const close = () => reader.close();
  signal.addEventListener('abort', close, { once: true });
  try {
    return await reader.lookup(attributes);
  } finally {
    signal.removeEventListener('abort', close);
    close();
  }
}
