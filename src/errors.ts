// Every failure that reaches the user is an AcctError: a stable code, a
// message, and the next step to take (the hint). The exit code, and the HTTP
// status a local credentials server answers with, are derived from the code
// in ERRORS below, the one table of them; src/run.ts is the one place that
// turns errors into output.

export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  notFound: 3,
  reconnect: 4,
  unavailable: 5,
  store: 6,
  cancelled: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** code → [exit code, HTTP status]. Codes are part of acct's interface (--json errors, the credentials server): never rename one. */
export const ERRORS = {
  unexpected: [ExitCode.unexpected, 500],
  /** A request acct made answered with an error status (`acct request` without --fail-ok). */
  http_error: [ExitCode.unexpected, 502],
  usage: [ExitCode.usage, 400],
  bad_input: [ExitCode.usage, 400],
  read_only: [ExitCode.usage, 409],
  not_found: [ExitCode.notFound, 404],
  account_not_found: [ExitCode.notFound, 404],
  app_not_found: [ExitCode.notFound, 404],
  reference_ambiguous: [ExitCode.notFound, 409],
  needs_reconnect: [ExitCode.reconnect, 409],
  access_denied: [ExitCode.reconnect, 403],
  /** A team store: this member was removed from the team, or the account is no longer shared with it. */
  access_removed: [ExitCode.reconnect, 403],
  /** A team's signed roster (team/roster.ts) in its database does not verify from what this machine accepted: changed by someone who is not an admin. Nothing is wrapped. */
  roster_untrusted: [ExitCode.unavailable, 502],
  /** A team's database serves an older version of an account's key than this machine has seen (team/seal.ts, wrapInfo): a rollback. Nothing is read or stored with it. */
  key_rolled_back: [ExitCode.unavailable, 502],
  /** A team from before signed rosters: keys are wrapped for no other member until an admin makes one. */
  roster_missing: [ExitCode.usage, 409],
  /** A machine without a pin for a team's signed roster (it joined before rosters): nothing is wrapped until `acct team trust <team> <fingerprint>`. */
  roster_unpinned: [ExitCode.usage, 409],
  /** A member who joined a team but whom no admin confirmed yet: nothing is wrapped for its key. */
  member_unconfirmed: [ExitCode.usage, 409],
  provider_unavailable: [ExitCode.unavailable, 502],
  timeout: [ExitCode.unavailable, 504],
  /** A team store's database could not be reached (the message names its host). */
  team_unreachable: [ExitCode.unavailable, 503],
  store_unavailable: [ExitCode.store, 503],
  store_locked: [ExitCode.store, 503],
  store_key_missing: [ExitCode.store, 503],
  wrong_passphrase: [ExitCode.store, 403],
  store_untrusted: [ExitCode.store, 503],
  cancelled: [ExitCode.cancelled, 499],
  /** The credentials server: a request without the right bearer token, or from a page that is not on this machine. */
  unauthorized: [ExitCode.usage, 401],
  forbidden: [ExitCode.usage, 403],
  method_not_allowed: [ExitCode.usage, 405],
  busy: [ExitCode.unavailable, 429],
  /** exec/run: the command could not be started, as a shell reports it. */
  command_not_found: [127, 500],
  command_not_executable: [126, 500],
  /** exec/run: the command's environment and arguments are more than the system starts a program with (E2BIG); 126 as shells give. */
  command_too_large: [126, 500],
} as const satisfies Record<string, readonly [number, number]>;
export type ErrorCode = keyof typeof ERRORS;

export class AcctError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  override readonly cause?: unknown;
  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message);
    this.name = 'AcctError';
    this.code = code;
    this.hint = options.hint;
    this.cause = options.cause;
  }
  get exitCode(): number {
    return ERRORS[this.code][0];
  }
  get httpStatus(): number {
    return ERRORS[this.code][1];
  }
}

export const usageError = (message: string, hint?: string, code: ErrorCode = 'usage') => new AcctError(code, message, { hint });
export const notFound = (message: string, hint?: string, code: ErrorCode = 'not_found') => new AcctError(code, message, { hint });
export const storeError = (message: string, hint?: string, cause?: unknown, code: ErrorCode = 'store_unavailable') =>
  new AcctError(code, message, { hint, cause });
export const unavailable = (message: string, hint?: string, cause?: unknown, code: ErrorCode = 'provider_unavailable') =>
  new AcctError(code, message, { hint, cause });
export const needsReconnect = (message: string, hint?: string, code: ErrorCode = 'needs_reconnect') => new AcctError(code, message, { hint });
export const cancelled = () => new AcctError('cancelled', 'cancelled');

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Text a provider or a remote server wrote (error_description, a status
 * text), fit for one line on a terminal: control characters (escape
 * sequences, line breaks) become spaces, and it is cut at 200 characters.
 */
export function providerText(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * Text for stderr with every control character but the line break and the
 * tab shown as an escape (\x1b), so that a value quoted in a message (a
 * nickname or an id as typed, a file's line) cannot move the cursor, recolour
 * the terminal or overwrite the line before it with a carriage return.
 */
export function visibleControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Text from elsewhere (a team database) shown as data: every control
 * character visible as \xNN, line breaks and tabs included (a table cell or a
 * line of `show` is one line).
 */
export function visibleData(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(text) ? text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : text;
}

/** visibleData on every string in a value (an account's metadata, a row). */
export function visibleDeep<T>(value: T): T {
  if (typeof value === 'string') return visibleData(value) as T;
  if (Array.isArray(value)) return value.map(visibleDeep) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [visibleData(k), visibleDeep(v)])) as T;
  return value;
}

/**
 * A library's error message with what it may quote taken out: anything in
 * quotes (undici quotes a header value it refuses, JSON.parse the text it
 * could not read) and long token-like runs become "…".
 */
export function scrubLibraryText(text: string): string {
  return providerText(
    text
      .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '"…"')
      .replace(/[A-Za-z0-9_\-.~+/=]{20,}/g, '…'),
    300,
  );
}
