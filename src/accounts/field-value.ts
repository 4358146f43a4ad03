// What every credential value must be to be stored, whatever it came in by
// (stdin, --from-env, a prompt, `acct client set`): checked once, when it
// comes in, so that a value no request or command could use is refused then
// (exit 2, nothing stored) rather than at its first use. No message quotes
// the value.
import { CONTROL_CHARACTER, headerCanCarry, templateFields } from '../catalog/template.js';
import type { AppDefinition } from '../catalog/schema.js';

/**
 * The most bytes (UTF-8) one field value may hold. `acct exec` hands each
 * field to its command as one environment variable, NAME=value, and Linux
 * refuses any single such string over MAX_ARG_STRLEN (32 pages: 128 KiB)
 * with E2BIG, so a larger value could be stored but never used. 64 KiB leaves
 * room for the name and for a few such values together, and is far above any
 * real credential (an RSA-4096 private key in PEM is about 3.3 KiB).
 */
export const MAX_FIELD_BYTES = 64 * 1024;

/** How the limit reads in messages. */
export const MAX_FIELD_TEXT = `64 KiB (${MAX_FIELD_BYTES} bytes)`;

/**
 * Where a value goes: in a request header as is; elsewhere in a request (the
 * URL, basic auth), still one line; only to programs (environment
 * variables); or percent-encoded into a form (a client secret).
 */
export type Placement = 'header' | 'request' | 'program' | 'encoded';

/**
 * Where an app puts each of its fields: as is in a header (api.headers, a header auth), elsewhere
 * in its requests (the base URL, a query auth, basic auth, which is base64 and carries anything,
 * the test request's path), or nowhere but in programs' environments.
 */
export function fieldPlacement(app: AppDefinition): (field: string) => Placement {
  const auth = app.api.auth;
  const inHeader = new Set([...Object.values(app.api.headers), ...(auth.type === 'header' ? [auth.value] : [])].flatMap((t) => templateFields(t)));
  const inRequest = new Set(templateFields(JSON.stringify([app.api, app.test ?? null])));
  return (field) => (inHeader.has(field) ? 'header' : inRequest.has(field) ? 'request' : 'program');
}

export interface ValueProblem {
  /** Follows the value's label: "API key holds …". */
  problem: string;
  /** Why acct refuses it. */
  why: string;
}

/** What keeps `value` from being stored, or undefined. `service` names who gets it in its requests. */
export function valueProblem(value: string, placement: Placement, service: string): ValueProblem | undefined {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_FIELD_BYTES)
    return {
      problem: `is too large: ${bytes} bytes, where a value holds at most ${MAX_FIELD_TEXT}`,
      why: 'acct exec passes each value to a command as one environment variable, and the system refuses larger ones',
    };
  // What a decoder makes of bytes that are not UTF-8 (an environment variable, a terminal in another encoding):
  // the value is no longer the one the service issued.
  if (value.includes('\ufffd'))
    return {
      problem: 'holds U+FFFD, the replacement character that bytes which are not valid UTF-8 turn into',
      why: 'acct stores a value exactly as given or not at all; give it as UTF-8 text',
    };
  if (placement === 'encoded') return undefined;
  if (placement === 'program')
    return value.includes('\u0000') ? { problem: 'holds a NUL character', why: 'no environment variable can carry a NUL' } : undefined;
  if (CONTROL_CHARACTER.test(value))
    return { problem: 'holds a line break, a NUL or another control character', why: `${service} gets it in its requests, so it is one line of printable characters` };
  if (placement === 'header' && !headerCanCarry(value))
    return {
      problem: 'holds a character outside Latin-1 (such as a byte order mark, a Unicode line separator or a typographic quote)',
      why: `${service} gets it in a request header, which cannot carry such a character`,
    };
  return undefined;
}
