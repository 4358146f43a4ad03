import { nodeCrypto } from '../store/node-crypto.js';
import { providerText } from '../errors.js';
export type AuthKind = 'oauth2' | 'keys';
/**
 * `ok`; `needs-reconnect` (the provider refused the grant or key: invalid_grant
 * at a refresh, or a key's test request rejected, see accounts/check.ts; a
 * reconnect clears it, and a key's passing test); `unverified`
 * (a key stored without its test request passing: --no-verify, or the service
 * was unreachable; a passing `acct test` clears it); `failing` (the last
 * refresh failed for another reason than invalid_grant, e.g. the provider was
 * down; the next successful refresh clears it).
 */
export type AccountStatus = 'ok' | 'needs-reconnect' | 'unverified' | 'failing';

/** Account metadata: everything about an account except its secrets. */
export interface Account {
  id: string;
  app: string;
  nickname: string;
  auth: AuthKind;
  status: AccountStatus;
  scopes: string[];
  /** Names of the stored credential fields (values live in the sealed secret file). */
  fields: string[];
  /** Who the credentials belong to, as the test request or userinfo named it. */
  identity: string | null;
  /** OAuth: the client id that issued the grant (absent on accounts connected before acct recorded it). */
  clientId?: string;
  /** ISO time the access token expires; null when it does not expire. */
  expiresAt: string | null;
  /** The app's connection settings for this account (subdomain, tenant, cloud id): not secret. Absent when the app has none. */
  settings?: Record<string, string>;
  /** How the account was connected when not by a user's sign-in: client_credentials is renewed by asking again. */
  grant?: 'client_credentials';
  createdAt: string;
  updatedAt: string;
  /**
   * The provider hands out a new refresh token at each refresh and retires the
   * old one (seen at a refresh here, or declared by the app): two copies of the
   * account would fight over it, so `acct export` refuses to make a second one.
   */
  rotatesRefreshToken?: boolean;
  /** A bundled copy that holds the access token alone (`acct export --access-only`): it cannot be refreshed. */
  accessOnly?: boolean;
  /** The team store it came from (set by that store as it reads; never written to the local store). Absent: this machine's store. */
  team?: string;
}

export interface Metadata {
  version: 1;
  accounts: Account[];
  /** app slug → default account id */
  defaults: Record<string, string>;
  /** Ids of deleted accounts, never handed out again. */
  retiredIds: string[];
}

/**
 * An identity as acct stores it: the provider's text (a login, an email, a
 * display name) on one line, control characters (escape sequences, line
 * breaks) made spaces and cut at 200 characters; null when nothing is left.
 * Made so where it comes in (test request, userinfo, a bundle) rather than
 * refused: a stray control character in a display name should not fail a
 * connect, and the identity is a label, compared only with identities made
 * the same way.
 */
export function identityText(identity: string | null): string | null {
  return identity === null ? null : providerText(identity) || null;
}

export const emptyMetadata = (): Metadata => ({ version: 1, accounts: [], defaults: {}, retiredIds: [] });

/** Nicknames are what people type: letters, digits, dot, dash, underscore, @; no slash. */
export const NICKNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
export const ACCOUNT_ID_RE = /^acc_[a-z2-7]{10}$/;
/** An app's slug (the catalog's schema holds apps to it). */
export const APP_SLUG_RE = /^[a-z0-9][a-z0-9-]{0,38}$/;
export const ACCOUNT_STATUSES: readonly AccountStatus[] = ['ok', 'needs-reconnect', 'unverified', 'failing'];

/** A new account id, random (every store checks it is free, as it adds the account): `acc_` and ten base32 letters. */
export function newAccountId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of nodeCrypto().randomBytes(7)) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `acc_${out.slice(0, 10)}`;
}
