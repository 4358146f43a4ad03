// git's credential helper protocol (gitcredentials(7), git-credential(1)):
// `key=value` lines up to a blank line or the end of input; keys ending in
// `[]` may repeat (capability[], wwwauth[]). Pure: no I/O, no storage.

/** What git asks about. Unknown keys are kept in `other` and otherwise ignored. */
export interface CredentialRequest {
  protocol?: string;
  host?: string;
  path?: string;
  username?: string;
  password?: string;
  /** capability[]: what git understands beyond the basics (authtype, state). */
  capabilities: string[];
  /** wwwauth[]: the server's WWW-Authenticate headers. */
  wwwauth: string[];
  other: Record<string, string>;
}

export type ParseResult = { ok: true; request: CredentialRequest } | { ok: false; reason: string };

/** Input larger than this is not a credential request: refuse rather than buffer it. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const SINGLE = new Set(['protocol', 'host', 'path', 'username', 'password']);

/**
 * Parses git's request. A value holding NUL or CR (or a line without `=`) is
 * refused as a whole: git itself never sends one, and a helper that reads it
 * differently from git is how credentials leak to another host
 * (CVE-2020-5260, CVE-2024-52006).
 */
export function parseRequest(input: string): ParseResult {
  if (Buffer.byteLength(input, 'utf8') > MAX_REQUEST_BYTES) return { ok: false, reason: 'the request is too large' };
  const request: CredentialRequest = { capabilities: [], wwwauth: [], other: {} };
  for (const line of input.split('\n')) {
    if (line === '') break; // a blank line ends the request
    if (/[\0\r]/.test(line)) return { ok: false, reason: 'a line holds a NUL or carriage return' };
    const eq = line.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'a line is not key=value' };
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'capability[]') request.capabilities.push(value);
    else if (key === 'wwwauth[]') request.wwwauth.push(value);
    else if (SINGLE.has(key)) (request as unknown as Record<string, string>)[key] = value;
    else request.other[key] = value;
  }
  return { ok: true, request };
}

export interface CredentialAnswer {
  username: string;
  password: string;
  /** Unix seconds; git (2.41+) does not use the password after it. */
  passwordExpiryUtc?: number;
}

/** The answer's lines, or undefined when a value could not be sent safely (git would misread it). */
export function formatAnswer(answer: CredentialAnswer): string | undefined {
  const lines: [string, string][] = [
    ['username', answer.username],
    ['password', answer.password],
  ];
  if (answer.passwordExpiryUtc !== undefined) lines.push(['password_expiry_utc', String(Math.floor(answer.passwordExpiryUtc))]);
  if (lines.some(([, v]) => v === '' || /[\0\r\n]/.test(v))) return undefined;
  return lines.map(([k, v]) => `${k}=${v}\n`).join('');
}

/** `host` as git sends it (host[:port]) in a form to compare: lower case, the protocol's default port dropped. */
export function normalizeHost(host: string, protocol: string): string {
  const h = host.toLowerCase();
  const defaultPort = protocol === 'https' ? ':443' : protocol === 'http' ? ':80' : undefined;
  return defaultPort && h.endsWith(defaultPort) ? h.slice(0, -defaultPort.length) : h;
}

/** Loopback hosts, where plain http is allowed (tests, local servers). */
export function isLoopback(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** The first segment of git's `path` (`acme/private.git` → `acme`), sent when credential.useHttpPath is set. */
export function pathOwner(path: string | undefined): string | undefined {
  const first = path?.replace(/^\/+/, '').split('/')[0];
  return first ? first : undefined;
}
