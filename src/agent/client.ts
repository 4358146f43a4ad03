// acct's side of the keychain agent (Linux only).
//
// Reading the data key through @napi-rs/keyring loads a native addon and
// opens a D-Bus connection and Secret Service session on every run: about
// 16 ms of a `acct token` that Node itself starts in 60 ms. The agent is a
// small background process, one per user and D-Bus session, that keeps that
// connection open. It holds no key: for each request it reads the data key
// from the Secret Service again, opens the one sealed secret it was sent, and
// forgets the key, so a locked keyring or a deleted entry is seen at once.
// acct names the key first and sends the secret once it has found it (see
// protocol.ts), so the agent's read and acct's own work run side by side.
//
// The agent is only ever a shortcut. When it is not running, is too slow,
// or refuses (locked keyring, missing entry, anything unexpected), acct reads
// the keychain itself, with that path's errors; then it starts the agent in
// the background for the next run. ACCT_AGENT=0 turns it off.
//
// Its socket lives in $XDG_RUNTIME_DIR/acct (a folder only the user can
// enter; no XDG_RUNTIME_DIR, no agent), so only the user's own processes,
// which may ask the Secret Service for the key anyway, can reach it; so do
// its lanes (lanes.ts), the way in that acct takes first because it costs
// no node:net.
import { join } from 'node:path';
import { isPrivateDir } from './folder.js';
import type { Sealed } from '../store/crypto.js';
import { Lane, laneDir } from './lanes.js';
import { AGENT_PROTOCOL, type OpenAnswer, type OpenRequest, type OpenSecret, type OpenSecrets, type QueryAnswer, type QueryRequest, type TeamOpenAnswer, type TeamOpenRequest } from './protocol.js';
import type { MemberKeys, OpenedItem, TeamItem } from '../team/seal.js';

export interface KeychainAgent {
  /**
   * Tells the agent which data key a coming open() needs, so that it reads it
   * from the Secret Service while acct does its own work. Optional: open()
   * without it asks for the key and the secret together. Returns at once (the
   * connection is under way; open() waits for it) and never fails.
   */
  prepare(keychainAccount: string): void;
  /** The plaintext of a sealed secret, or undefined when the agent cannot give it (acct then reads the keychain itself). */
  open(keychainAccount: string, aad: string, sealed: Sealed): Promise<Buffer | undefined>;
  /** Several sealed secrets in one conversation (at most MAX_SECRETS), in order; undefined as for open(). */
  openMany(keychainAccount: string, secrets: OpenSecret[]): Promise<Buffer[] | undefined>;
  /** Starts the agent in the background if the last conversation found none running. */
  startIfAbsent(): void;
}

/** The agent as a team store uses it: connections to team databases that outlive a command, and node:crypto loaded. */
export interface TeamAgent {
  /**
   * Runs a statement on a team database connection the agent keeps
   * (agent/databases.ts). The database's answer, rows or error; undefined
   * when the agent cannot (not running, too slow, a refusal): acct then
   * connects itself and runs the statement there, so only statements that
   * are safe to run twice may come this way.
   */
  query(request: Omit<QueryRequest, 'v' | 'op' | 'bus'>): Promise<QueryAnswer | undefined>;
  /** team/seal.ts openItems, run in the agent; undefined when it cannot (acct then opens them itself). */
  openTeamItems(keys: MemberKeys, items: readonly TeamItem[]): Promise<OpenedItem[] | undefined>;
}

export interface AgentOptions {
  /** The agent's script (dist/agent.cjs). */
  entry: string;
  version: string;
  platform?: NodeJS.Platform;
  /** How long to wait for an answer before reading the keychain directly. */
  timeoutMs?: number;
}

export function agentSocketPath(env: NodeJS.ProcessEnv, version: string): string | undefined {
  if (!env.XDG_RUNTIME_DIR || !env.DBUS_SESSION_BUS_ADDRESS) return undefined;
  // One agent per D-Bus session (it reads that session's Secret Service), acct version and protocol.
  return join(env.XDG_RUNTIME_DIR, 'acct', `agent-${fnv1a(`${version}\n${AGENT_PROTOCOL}\n${env.DBUS_SESSION_BUS_ADDRESS}`)}.sock`);
}

export function keychainAgent(env: NodeJS.ProcessEnv, options: AgentOptions): (KeychainAgent & TeamAgent) | undefined {
  if ((options.platform ?? process.platform) !== 'linux' || env.ACCT_AGENT === '0') return undefined;
  const socketPath = agentSocketPath(env, options.version);
  if (!socketPath) return undefined;
  const timeoutMs = options.timeoutMs ?? 2_000;
  let absent = false;
  let prepared: { keychainAccount: string; conversation: Promise<Conversation | undefined> } | undefined;
  const drop = (conversation: Promise<Conversation | undefined>) => void conversation.then((c) => c?.close());

  /** Whether the socket's folder is the user's own and closed to others (only then does acct talk to what listens there). */
  const privateFolder = (): boolean => {
    let dir: boolean | 'missing';
    try {
      dir = isPrivateDir(join(socketPath, '..'));
    } catch {
      return false; // a folder acct cannot look at (not a folder, no permission): no shortcut; the keychain read says what is wrong, if anything
    }
    if (dir !== true) absent = dir === 'missing';
    return dir === true;
  };

  /**
   * A conversation that has sent its first line; undefined when there is no
   * agent to talk to. Never rejects. What goes out may hold secrets (a
   * member's database password, its private key): it goes only to a socket
   * in the user's private folder.
   */
  const connect = async (firstLine: object, wait: number): Promise<Conversation | undefined> => {
    if (!privateFolder()) return undefined;
    const line = `${JSON.stringify(firstLine)}\n`;
    // A lane when one is free (lanes.ts: no node:net to load), the socket otherwise.
    const lane = Lane.claim(laneDir(socketPath));
    if (lane?.send(line, wait)) {
      absent = false;
      return new LaneConversation(lane, wait);
    }
    lane?.release();
    const conversation = new SocketConversation(socketPath, line, wait);
    const connected = await conversation.connected;
    absent = connected === 'absent';
    return connected === true ? conversation : undefined;
  };

  /** A one-line request and the agent's answer; undefined when there is no agent to ask, or no answer. */
  const ask = async <A>(request: object, wait: number): Promise<A | undefined> => {
    if (absent) return undefined;
    return parseAnswer<A>(await (await connect(request, wait))?.reply());
  };

  /**
   * A conversation that has named its data key. The connection starts before
   * it returns, so the agent, which starts reading the key as the first line
   * comes in (server.ts), is at work while acct carries on.
   */
  const begin = (keychainAccount: string): Promise<Conversation | undefined> =>
    connect({ v: AGENT_PROTOCOL, op: 'open', bus: env.DBUS_SESSION_BUS_ADDRESS!, keychainAccount } satisfies OpenRequest, timeoutMs);

  /** The second line of a conversation (prepared for this key, or begun now) and the agent's answer; undefined when it cannot help. */
  const converse = async (keychainAccount: string, second: OpenSecret | OpenSecrets): Promise<OpenAnswer | undefined> => {
    const ready = prepared?.keychainAccount === keychainAccount ? prepared.conversation : undefined;
    if (prepared && !ready) drop(prepared.conversation); // prepared for another key
    prepared = undefined;
    if (!ready && absent) return undefined; // prepare() found no agent a moment ago
    const conversation = await (ready ?? begin(keychainAccount));
    if (!conversation) return undefined;
    // Not an answer: read the keychain directly.
    return parseAnswer<OpenAnswer>(await conversation.finish(`${JSON.stringify(second)}\n`));
  };

  return {
    prepare(keychainAccount) {
      if (prepared) drop(prepared.conversation);
      prepared = { keychainAccount, conversation: begin(keychainAccount) };
    },
    async open(keychainAccount, aad, sealed) {
      const a = await converse(keychainAccount, { aad, sealed } satisfies OpenSecret);
      return a?.ok && 'plain' in a && typeof a.plain === 'string' ? Buffer.from(a.plain, 'base64') : undefined;
    },
    async openMany(keychainAccount, secrets) {
      const a = await converse(keychainAccount, { secrets } satisfies OpenSecrets);
      if (!a?.ok || !('plains' in a) || !Array.isArray(a.plains) || a.plains.length !== secrets.length || !a.plains.every((p) => typeof p === 'string')) return undefined;
      return a.plains.map((p) => Buffer.from(p, 'base64'));
    },
    async query(request) {
      const line: QueryRequest = { v: AGENT_PROTOCOL, op: 'query', bus: env.DBUS_SESSION_BUS_ADDRESS!, ...request };
      // The database may take its connection timeout to answer, and the statement its time.
      const a = await ask<QueryAnswer>(line, request.db.connectTimeoutMs + 30_000);
      if (a?.ok && Array.isArray(a.rows) && Array.isArray(a.dates)) return a;
      if (a && !a.ok && 'error' in a && typeof a.error?.message === 'string') return a;
      return undefined; // a refusal, or not an answer: acct connects itself
    },
    async openTeamItems(keys, items) {
      const line: TeamOpenRequest = { v: AGENT_PROTOCOL, op: 'team-open', bus: env.DBUS_SESSION_BUS_ADDRESS!, keys, items: [...items] };
      const a = await ask<TeamOpenAnswer>(line, timeoutMs);
      if (!a?.ok || !Array.isArray(a.opened) || a.opened.length !== items.length) return undefined;
      const opened: OpenedItem[] = [];
      for (const o of a.opened) {
        if (o && typeof (o as { plain?: unknown }).plain === 'string') opened.push({ plain: Buffer.from((o as { plain: string }).plain, 'base64') });
        else if (o && ((o as { failed?: unknown }).failed === 'key' || (o as { failed?: unknown }).failed === 'secret')) opened.push({ failed: (o as { failed: 'key' | 'secret' }).failed });
        else return undefined;
      }
      return opened;
    },
    startIfAbsent() {
      if (!absent) return;
      absent = false;
      const { spawn } = process.getBuiltinModule('node:child_process');
      // --lite-mode: V8 without its optimizing compilers (and so without
      // WebAssembly, which the agent does not use), trading speed it does not
      // need for memory. Measured in Node 20 after 300 requests: 58.5-59.8 MiB
      // resident without it, 46.5 MiB with it (a bare `node -e
      // "setInterval(()=>{},1e9)"`: 39.4 MiB, 33 MiB of it the node binary's
      // own pages). --max-semi-space-size=1, --expose-gc with a collection
      // once idle, --v8-pool-size=0 and --single-threaded-gc saved nothing
      // more. (V8 warns on stderr that it disables --expose-wasm; the agent's
      // stderr goes nowhere.)
      const child = spawn(process.execPath, ['--lite-mode', options.entry, socketPath], {
        detached: true,
        stdio: 'ignore',
        cwd: '/',
        // Only what it needs to reach the session bus: none of this run's secrets or settings.
        env: pick(env, ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'HOME', 'ACCT_AGENT_IDLE']),
      });
      // A failed start costs nothing but the shortcut: this run already has its secret, and the next one reads the keychain too.
      child.on('error', () => {});
      child.unref();
    },
  };
}

/**
 * One conversation with the agent, its first line sent: finish() sends the
 * second and waits for the answer, reply() only waits. Between the two
 * nothing keeps acct running: a command that fails before it needs the
 * secret exits at once, and the agent forgets the key it read.
 */
interface Conversation {
  /** The agent's answer line; undefined on a timeout, a closed connection or a broken answer. */
  finish(secondLine: string): Promise<string | undefined>;
  reply(): Promise<string | undefined>;
  close(): void;
}

/** A conversation on a lane (lanes.ts). */
class LaneConversation implements Conversation {
  constructor(
    private readonly lane: Lane,
    private readonly timeoutMs: number,
  ) {}

  async finish(secondLine: string): Promise<string | undefined> {
    if (!this.lane.send(secondLine, this.timeoutMs)) return this.close(), undefined;
    return this.reply();
  }

  reply(): Promise<string | undefined> {
    return this.lane.reply(this.timeoutMs);
  }

  close(): void {
    this.lane.release();
  }
}

/** A conversation on a connection to the agent's socket; the first line goes out as soon as it connects. */
class SocketConversation implements Conversation {
  /** true once the first line is sent; 'absent' when no agent listens; false on any other failure. */
  readonly connected: Promise<boolean | 'absent'>;
  private readonly socket;
  private readonly answer: Promise<string | undefined>;
  private timer: NodeJS.Timeout | undefined;

  constructor(socketPath: string, firstLine: string, private readonly timeoutMs: number) {
    const { createConnection } = process.getBuiltinModule('node:net');
    // Half-open allowed: the agent's end of the answer does not close acct's side (see finish()).
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    this.socket = socket;
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    this.answer = new Promise((resolve) => {
      socket.on('end', () => resolve(reply.endsWith('\n') ? reply.slice(0, -1) : undefined));
      socket.on('close', () => resolve(undefined));
    });
    this.connected = new Promise((resolve) => {
      socket.on('connect', () => {
        socket.write(firstLine);
        socket.unref();
        resolve(true);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'absent' : false);
      });
      socket.on('close', () => resolve(false)); // timed out before connecting
    });
    this.arm();
    void this.connected.then(() => this.disarm());
  }

  /** The agent's answer line; undefined on a timeout, a closed connection or a broken answer. */
  async finish(secondLine: string): Promise<string | undefined> {
    this.socket.write(secondLine);
    return this.reply();
  }

  /** The agent's answer to what was sent; undefined as for finish(). */
  async reply(): Promise<string | undefined> {
    this.socket.ref();
    this.arm();
    const answer = await this.answer;
    this.disarm();
    // Left for the exit to close: closing a socket makes Node build
    // process.stderr (about 0.7 ms), which acct token does not otherwise need.
    this.socket.unref();
    return answer;
  }

  close(): void {
    this.disarm();
    this.socket.destroy();
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
  }
}

/** An answer line as JSON; undefined for none, or one that is not JSON. */
function parseAnswer<A>(reply: string | undefined): A | undefined {
  if (reply === undefined) return undefined;
  try {
    return JSON.parse(reply) as A;
  } catch {
    return undefined;
  }
}

function pick(env: NodeJS.ProcessEnv, names: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(names.filter((n) => env[n] !== undefined).map((n) => [n, env[n]]));
}

/** FNV-1a, 32 bits: a short stable name for the bus address (node:crypto costs start-up time). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
