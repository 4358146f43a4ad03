// What acct and its keychain agent say to each other over the agent's unix
// socket: one request line of JSON, one answer line, then the connection closes.
import type { Sealed } from '../store/crypto.js';

export const AGENT_PROTOCOL = 1;

/** Open a sealed secret with the data key stored in the keychain under `keychainAccount`. */
export interface OpenRequest {
  v: typeof AGENT_PROTOCOL;
  op: 'open';
  /** The asker's D-Bus session: an agent of another session (a socket name collision) refuses. */
  bus: string;
  keychainAccount: string;
  aad: string;
  sealed: Sealed;
}

/** `plain` is base64. A refusal names its reason; acct then reads the keychain itself. */
export type OpenAnswer = { ok: true; plain: string } | { ok: false; reason: string };

/** The keychain entries the agent may read: acct's data keys, nothing else in the keyring. */
export const DATA_KEY_ACCOUNT = /^data-key:st_[0-9a-f]{16}$/;
