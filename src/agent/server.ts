// The keychain agent's answers: a pure request handler (given a way to read
// the keychain) and the unix socket around it.
import { createServer, type Server, type Socket } from 'node:net';
import { isObject } from '../store/files.js';
import { isSealed, open } from '../store/crypto.js';
import { KEYCHAIN_SERVICE } from '../store/keychain.js';
import { AGENT_PROTOCOL, DATA_KEY_ACCOUNT, type OpenAnswer, type OpenRequest } from './protocol.js';

/** Reads one keychain item afresh; undefined when it is missing, locked or ambiguous. */
export type ReadKeychain = (attributes: Record<string, string>) => Promise<Buffer | undefined>;

function isOpenRequest(v: unknown): v is OpenRequest {
  return (
    isObject(v) &&
    v.v === AGENT_PROTOCOL &&
    v.op === 'open' &&
    typeof v.bus === 'string' &&
    typeof v.keychainAccount === 'string' &&
    DATA_KEY_ACCOUNT.test(v.keychainAccount) &&
    typeof v.aad === 'string' &&
    isSealed(v.sealed)
  );
}

/** One request line in, one answer out. The data key is read for this request and not kept. */
export async function answer(line: string, bus: string, readKeychain: ReadKeychain): Promise<OpenAnswer> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'malformed request' };
  }
  if (!isOpenRequest(request)) return { ok: false, reason: 'unsupported request' };
  if (request.bus !== bus) return { ok: false, reason: 'this agent serves another D-Bus session' };
  const encoded = await readKeychain({ service: KEYCHAIN_SERVICE, username: request.keychainAccount });
  if (!encoded) return { ok: false, reason: 'the data key is not readable (missing, locked or ambiguous)' };
  const key = Buffer.from(encoded.toString('utf8'), 'base64');
  try {
    return { ok: true, plain: open(key, request.sealed, request.aad).toString('base64') };
  } catch {
    return { ok: false, reason: 'the data key does not open this secret' };
  } finally {
    key.fill(0);
    encoded.fill(0);
  }
}

const MAX_REQUEST = 64 * 1024;

/**
 * Serves requests on a unix socket. `onActivity` is called for each
 * connection (the idle timer), `onFailure` when reading the keychain throws
 * (the bus is gone: the agent should exit).
 */
export function agentServer(bus: string, readKeychain: ReadKeychain, hooks: { onActivity(): void; onFailure(err: unknown): void }): Server {
  return createServer((socket: Socket) => {
    hooks.onActivity();
    let buffered = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => socket.destroy());
    socket.on('error', () => socket.destroy()); // a client that went away: nothing to answer
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST) return socket.destroy();
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      socket.removeAllListeners('data');
      answer(buffered.slice(0, end), bus, readKeychain).then(
        (a) => socket.end(`${JSON.stringify(a)}\n`),
        (err) => {
          socket.end(`${JSON.stringify({ ok: false, reason: 'the keychain could not be read' })}\n`);
          hooks.onFailure(err);
        },
      );
    });
  });
}
