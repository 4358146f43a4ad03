// Every failure that reaches the user is an AcctError: a message, the next step
// to take, and the exit code from the spec. src/cli.ts is the one place that
// turns them into output and an exit status.

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

export class AcctError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  override readonly cause?: unknown;
  constructor(exitCode: number, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message);
    this.name = 'AcctError';
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.cause = options.cause;
  }
}

export const usageError = (message: string, hint?: string) => new AcctError(ExitCode.usage, message, { hint });
export const notFound = (message: string, hint?: string) => new AcctError(ExitCode.notFound, message, { hint });
export const storeError = (message: string, hint?: string, cause?: unknown) =>
  new AcctError(ExitCode.store, message, { hint, cause });
export const unavailable = (message: string, hint?: string, cause?: unknown) =>
  new AcctError(ExitCode.unavailable, message, { hint, cause });
export const needsReconnect = (message: string, hint?: string) => new AcctError(ExitCode.reconnect, message, { hint });
export const cancelled = () => new AcctError(ExitCode.cancelled, 'cancelled');

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
