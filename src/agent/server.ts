// The keychain agent's answers: pure request handlers (given a way to read
// the keychain) and the unix socket around them.
import { createServer, type Server, type Socket } from 'node:net';
import { isObject } from '../store/files.js';
import { isSealed, open } from '../store/crypto.js';
import { KEYCHAIN_SERVICE } from '../store/keychain.js';
import {
  AGENT_PROTOCOL,
  DATA_KEY_ACCOUNT,
  MAX_QUERY_SQL,
  MAX_SECRETS,
  type AgentStatus,
  type ControlAnswer,
  type ControlRequest,
  type OpenAnswer,
  type OpenRequest,
  type OpenSecret,
  type OpenSecrets,
  type QueryAnswer,
  type QueryRequest,
  type TeamOpenAnswer,
  type TeamOpenRequest,
} from './protocol.js';
import { openItems } from '../team/seal.js';

/** Reads one keychain item afresh; undefined when it is missing, locked or ambiguous. */
export type ReadKeychain = (attributes: Record<string, string>) => Promise<Buffer | undefined>;

/** A data key being read for one conversation; undefined when it is not readable. */
export type PendingKey = Promise<Buffer | undefined>;

function isOpenRequest(v: unknown): v is OpenRequest {
  return (
    isObject(v) &&
    v.v === AGENT_PROTOCOL &&
    v.op === 'open' &&
    typeof v.bus === 'string' &&
    typeof v.keychainAccount === 'string' &&
    DATA_KEY_ACCOUNT.test(v.keychainAccount)
  );
}

function isControlRequest(v: unknown): v is ControlRequest {
  return isObject(v) && v.v === AGENT_PROTOCOL && (v.op === 'status' || v.op === 'stop') && typeof v.bus === 'string';
}

function isQueryRequest(v: unknown): v is QueryRequest {
  if (!isObject(v) || v.v !== AGENT_PROTOCOL || v.op !== 'query' || typeof v.bus !== 'string') return false;
  const db = v.db;
  return (
    isObject(db) &&
    typeof db.url === 'string' &&
    /^postgres(ql)?:\/\//.test(db.url) &&
    typeof db.user === 'string' &&
    typeof db.password === 'string' &&
    typeof db.connectTimeoutMs === 'number' &&
    db.connectTimeoutMs > 0 &&
    db.connectTimeoutMs <= 120_000 &&
    typeof v.sql === 'string' &&
    v.sql.length <= MAX_QUERY_SQL &&
    Array.isArray(v.params)
  );
}

function isTeamOpenRequest(v: unknown): v is TeamOpenRequest {
  if (!isObject(v) || v.v !== AGENT_PROTOCOL || v.op !== 'team-open' || typeof v.bus !== 'string') return false;
  const keys = v.keys;
  return (
    isObject(keys) &&
    typeof keys.publicKey === 'string' &&
    typeof keys.privateKey === 'string' &&
    Array.isArray(v.items) &&
    v.items.length > 0 &&
    v.items.length <= MAX_SECRETS &&
    v.items.every((i) => isObject(i) && typeof i.wrapInfo === 'string' && typeof i.aad === 'string')
  );
}

/** Opens team items (team/seal.ts); a malformed item is that item's failure, as it would be in acct. */
export function teamOpen(request: TeamOpenRequest): TeamOpenAnswer {
  return { ok: true, opened: openItems(request.items, request.keys).map((o) => ('plain' in o ? { plain: o.plain.toString('base64') } : o)) };
}

function isOpenSecret(v: unknown): v is OpenSecret {
  return isObject(v) && typeof v.aad === 'string' && isSealed(v.sealed);
}

function isOpenSecrets(v: unknown): v is OpenSecrets {
  return isObject(v) && Array.isArray(v.secrets) && v.secrets.length > 0 && v.secrets.length <= MAX_SECRETS && v.secrets.every(isOpenSecret);
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** What a first line asks for. */
export type Begun =
  | { ok: true; kind: 'open'; keychainAccount: string }
  | { ok: true; kind: 'control'; control: ControlRequest['op'] }
  | { ok: true; kind: 'query'; query: QueryRequest }
  | { ok: true; kind: 'team-open'; teamOpen: TeamOpenRequest }
  | (OpenAnswer & { ok: false });

/** The first line: the data key it names, a control request, a team request, or a refusal. */
export function begin(line: string, bus: string): Begun {
  const request = parse(line);
  if (request === undefined) return { ok: false, reason: 'malformed request' };
  const begun: Begun | undefined = isControlRequest(request)
    ? { ok: true, kind: 'control', control: request.op }
    : isQueryRequest(request)
      ? { ok: true, kind: 'query', query: request }
      : isTeamOpenRequest(request)
        ? { ok: true, kind: 'team-open', teamOpen: request }
        : isOpenRequest(request)
          ? { ok: true, kind: 'open', keychainAccount: request.keychainAccount }
          : undefined;
  if (!begun) return { ok: false, reason: 'unsupported request' };
  if ((request as { bus: string }).bus !== bus) return { ok: false, reason: 'this agent serves another D-Bus session' };
  return begun;
}

/** Starts reading one data key from the keychain. */
export function readKey(keychainAccount: string, readKeychain: ReadKeychain): PendingKey {
  return readKeychain({ service: KEYCHAIN_SERVICE, username: keychainAccount }).then((encoded) => {
    if (!encoded) return undefined;
    const decoded = Buffer.from(encoded.toString('utf8'), 'base64');
    encoded.fill(0);
    return decoded;
  });
}

/** The second line: opens the secret (or secrets) it carries with the key, which is then forgotten. Rejects when the keychain read failed. */
export async function finish(line: string, pending: PendingKey): Promise<OpenAnswer> {
  const secret = parse(line);
  const key = await pending;
  try {
    if (!isOpenSecret(secret) && !isOpenSecrets(secret)) return { ok: false, reason: 'malformed request' };
    if (!key) return { ok: false, reason: 'the data key is not readable (missing, locked or ambiguous)' };
    if (isOpenSecrets(secret)) return { ok: true, plains: secret.secrets.map((s) => open(key, s.sealed, s.aad).toString('base64')) };
    return { ok: true, plain: open(key, secret.sealed, secret.aad).toString('base64') };
  } catch {
    return { ok: false, reason: 'the data key does not open this secret' };
  } finally {
    key?.fill(0);
  }
}

/** A key read that will not be used: forgotten once it arrives. */
function discard(pending: PendingKey): void {
  pending.then(
    (key) => key?.fill(0),
    () => {}, // a failed read is reported through onFailure, where it began
  );
}

export const MAX_REQUEST = 64 * 1024;

export interface AgentHooks {
  /** Each connection that asks for a secret (the idle timer; a status request does not keep the agent alive). */
  onActivity(): void;
  /** Reading the keychain threw (the bus is gone: the agent should exit). */
  onFailure(err: unknown): void;
  status(): AgentStatus;
  /** Called once the answer to a stop request is sent. */
  onStop(): void;
  /** Runs a team database statement (agent/databases.ts); absent, such requests are refused. */
  query?(request: QueryRequest): Promise<QueryAnswer>;
}

/** An answer the agent sends; `then` runs once it is written. */
type Reply = (answer: OpenAnswer | ControlAnswer | QueryAnswer | TeamOpenAnswer, then?: () => void) => void;

/**
 * One conversation, whatever carries it (a socket connection, or a lane:
 * lanes.ts): request lines in, one answer out. line() takes each line and
 * says what comes next: 'more' (it wants another line), 'answering' (the
 * answer is on its way, within the idle limit) or 'statement' (a team
 * database statement runs, bounded by the time acct allowed it). A
 * conversation that ends unanswered forgets the key it was reading (drop()).
 */
export interface Conversation {
  line(text: string): 'more' | 'answering' | 'statement';
  drop(): void;
}

/** The answers of this agent: a factory of conversations for its transports. */
export type Conversations = (reply: Reply) => Conversation;

export function agentConversations(bus: string, readKeychain: ReadKeychain, hooks: AgentHooks): Conversations {
  const read = (keychainAccount: string) => {
    const key = readKey(keychainAccount, readKeychain);
    key.catch(hooks.onFailure);
    return key;
  };
  // The data key is read when the first line names it. It was read as each
  // connection came in (for the key the last conversation named), but acct
  // sends its first line as it connects, so that was no earlier, and every
  // connection that asks for no key paid a Secret Service read: a team
  // account's acct token makes four, and the agent spent 19-22 ms of CPU on
  // one such token instead of 12-15 (50 runs, three times each).
  return (send) => {
    let key: PendingKey | undefined;
    let answered = false;
    const reply: Reply = (a, then) => {
      answered = true;
      send(a, then);
    };
    return {
      drop() {
        if (key && !answered) discard(key);
        answered = true;
      },
      line(line) {
        if (answered) return 'answering';
        if (key) {
          answered = true;
          finish(line, key).then(reply, () => reply({ ok: false, reason: 'the keychain could not be read' }));
          return 'answering';
        }
        const begun = begin(line, bus);
        if (!begun.ok) return reply(begun), 'answering';
        if (begun.kind === 'control') {
          if (begun.control === 'status') reply({ ok: true, status: hooks.status() });
          else reply({ ok: true, stopping: true, pid: process.pid }, () => hooks.onStop());
          return 'answering';
        }
        if (begun.kind === 'team-open') {
          hooks.onActivity();
          return reply(teamOpen(begun.teamOpen)), 'answering';
        }
        if (begun.kind === 'query') {
          if (!hooks.query) return reply({ ok: false, reason: 'unsupported request' }), 'answering';
          hooks.onActivity();
          answered = true;
          hooks.query(begun.query).then(reply, () => reply({ ok: false, reason: 'the statement could not be run' }));
          return 'statement';
        }
        hooks.onActivity();
        key = read(begun.keychainAccount);
        return 'more';
      },
    };
  };
}

/** How long a conversation may wait for its next line (a statement, once sent, takes the time acct allowed it). */
export const CONVERSATION_IDLE_MS = 5_000;

/** Serves conversations on a unix socket, one a connection. */
export function agentServer(conversations: Conversations): Server {
  return createServer((socket: Socket) => {
    let buffered = '';
    const conversation = conversations((a, then) => {
      socket.removeAllListeners('data');
      socket.end(`${JSON.stringify(a)}\n`, then);
    });
    socket.setEncoding('utf8');
    socket.setTimeout(CONVERSATION_IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy()); // a client that went away: nothing to answer
    socket.on('close', () => conversation.drop());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST) return socket.destroy();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        const next = conversation.line(line);
        // The statement's own bound is the connection timeout acct sent; a socket timeout would cut its answer off.
        if (next === 'statement') socket.setTimeout(0);
        if (next !== 'more') return;
      }
    });
  });
}
