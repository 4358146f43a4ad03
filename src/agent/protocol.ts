// What acct and its keychain agent say to each other over the agent's unix
// socket: two request lines of JSON, one answer line, then the connection
// closes. The first line names the data key, and the agent starts reading it
// from the Secret Service at once; meanwhile acct finds the account and reads
// its sealed secret, which it sends as the second line. The two round trips
// overlap instead of following each other. The same lines go over a lane
// (lanes.ts), each after a conversation id and a tab.
import type { Sealed } from '../store/crypto.js';

/** 3: lanes. */
export const AGENT_PROTOCOL = 3;

/** First line: read the data key stored in the keychain under `keychainAccount`. */
export interface OpenRequest {
  v: typeof AGENT_PROTOCOL;
  op: 'open';
  /** The asker's D-Bus session: an agent of another session (a socket name collision) refuses. */
  bus: string;
  keychainAccount: string;
}

/** Second line: the sealed secret to open with that key. */
export interface OpenSecret {
  aad: string;
  sealed: Sealed;
}

/**
 * Or, as the second line, several sealed secrets opened with the same key in
 * one conversation (acct env, exec and run with several accounts): at most
 * MAX_SECRETS, answered with `plains` in the same order.
 */
export interface OpenSecrets {
  secrets: OpenSecret[];
}
export const MAX_SECRETS = 64;

/** `plain` (or each of `plains`) is base64. A refusal names its reason; acct then reads the keychain itself. */
export type OpenAnswer = { ok: true; plain: string } | { ok: true; plains: string[] } | { ok: false; reason: string };

/**
 * A control request, one line answered at once: `status` (what `acct agent
 * status` shows) or `stop` (the agent answers, then exits). Like `open` it
 * names the asker's D-Bus session, and an agent of another session refuses.
 */
export interface ControlRequest {
  v: typeof AGENT_PROTOCOL;
  op: 'status' | 'stop';
  bus: string;
}

export interface AgentStatus {
  pid: number;
  version: string;
  protocol: typeof AGENT_PROTOCOL;
  /** When the agent started listening (ISO 8601). */
  startedAt: string;
  /** Seconds without a request after which it exits (ACCT_AGENT_IDLE). */
  idleTimeoutSeconds: number;
  /** Seconds left before it exits if nothing asks it. */
  idleRemainingSeconds: number;
  /** Its lanes (lanes.ts): where, how many, how many held now; null when it serves on its socket only. */
  lanes?: { folder: string; count: number; held: number } | null;
}

export type ControlAnswer = { ok: true; status: AgentStatus } | { ok: true; stopping: true; pid: number } | { ok: false; reason: string };

/**
 * A statement for a team's PostgreSQL database, one line answered at once,
 * run on a connection the agent keeps open between commands (see
 * agent/databases.ts). `db` says where and as whom; the agent keeps one small
 * pool per URL, role and password, so a caller without the password cannot
 * use another member's connection. Only statements that are safe to run
 * twice come this way (acct runs one again itself when the agent gives no
 * answer): transactions and the refresh lock use acct's own connections.
 */
export interface QueryRequest {
  v: typeof AGENT_PROTOCOL;
  op: 'query';
  bus: string;
  db: { url: string; user: string; password: string; connectTimeoutMs: number };
  sql: string;
  params: unknown[];
}
/**
 * The rows (timestamp columns, named in `dates`, as ISO 8601 text); or the
 * database's error, which acct reports as its own; or a refusal (`reason`),
 * after which acct connects itself.
 */
export type QueryAnswer =
  | { ok: true; rows: Record<string, unknown>[]; dates: string[] }
  | { ok: false; error: { code?: string; message: string } }
  | { ok: false; reason: string };
export const MAX_QUERY_SQL = 16 * 1024;

/**
 * Team items to open with a member's key pair, one line answered at once:
 * the X25519 unwrap and AES-GCM open of team/seal.ts (openItems), done here
 * because loading node:crypto costs acct about 12% of a Node start and the
 * agent has it loaded. The member's private key is one the agent opened a
 * moment before (it is kept in the machine's store, as team.<name>); it is
 * forgotten with the answer. At most MAX_SECRETS items.
 */
export interface TeamOpenRequest {
  v: typeof AGENT_PROTOCOL;
  op: 'team-open';
  bus: string;
  keys: { publicKey: string; privateKey: string };
  items: { wrapped: unknown; wrapInfo: string; sealed: unknown; aad: string }[];
}
/** Per item, in order: its plaintext (base64), or which part failed. A refusal names its reason; acct then opens them itself. */
export type TeamOpenAnswer = { ok: true; opened: ({ plain: string } | { failed: 'key' | 'secret' })[] } | { ok: false; reason: string };

/** The keychain entries the agent may read: acct's data keys, nothing else in the keyring. */
export const DATA_KEY_ACCOUNT = /^data-key:st_[0-9a-f]{16}$/;
