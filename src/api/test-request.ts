// Runs an app's test request: proves the credentials work and names the
// identity behind them.
import type { AppDefinition } from '../catalog/schema.js';
import type { Fetch } from '../http.js';
import { authorize, resolveUrl } from './authorize.js';
import { send, redact } from './send.js';
import { providerText } from '../errors.js';
import { identityText } from '../accounts/model.js';
import { AcctError, ExitCode } from '../errors.js';

export type TestOutcome =
  | { kind: 'ok'; identity: string | null; status: number }
  | { kind: 'rejected'; status: number; detail: string }
  | { kind: 'unreachable'; detail: string }
  | { kind: 'untested'; detail: string };

export async function runTestRequest(app: AppDefinition, fields: Record<string, string>, fetch: Fetch): Promise<TestOutcome> {
  const test = app.test;
  if (!test) return { kind: 'untested', detail: `${app.slug} declares no test request` };
  const { url, headers, credentials } = authorize(app, fields, resolveUrl(app, fields, test.path));
  const all: Record<string, string> = { Accept: 'application/json', ...headers };
  if (test.body) all['Content-Type'] = 'application/json';
  let res: Response;
  try {
    // Redirects within the origin are followed with the credentials; one to another origin is not followed at all.
    const sent = await send(fetch, { url, method: test.method, headers: all, body: test.body ? Buffer.from(JSON.stringify(test.body)) : undefined, credentials }, { redirects: 'same-origin' });
    res = sent.response;
    if (sent.notFollowed) {
      await res.body?.cancel();
      const where = sent.notFollowed.location ? redact(sent.notFollowed.location.origin, credentials.values) : 'nowhere';
      return {
        kind: 'untested',
        detail:
          sent.notFollowed.reason === 'other-origin' || sent.notFollowed.reason === 'credential-in-location'
            ? `the test request was redirected to ${where}, another origin; acct sends ${app.slug} credentials only to ${url.origin}`
            : `the test request answered ${res.status} (a redirect acct did not follow${sent.notFollowed.reason === 'limit' ? `: more than ${sent.redirects} in a row` : ''})`,
      };
    }
  } catch (err) {
    if (err instanceof AcctError && err.exitCode === ExitCode.unavailable) return { kind: 'unreachable', detail: err.message };
    throw err;
  }
  const secrets = Object.values(fields);
  const errorText = (body: unknown) => redact(providerError(body), secrets);
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status === 400 || res.status === 401 || res.status === 403)
    return { kind: 'rejected', status: res.status, detail: `${url.host} answered ${res.status}${errorText(body)}` };
  if (res.status >= 500 || res.status === 429)
    return { kind: 'unreachable', detail: `${url.host} answered ${res.status}` };
  if (!res.ok) return { kind: 'untested', detail: `the test request answered ${res.status}${errorText(body)}` };
  if (test.okField && getPath(body, test.okField) !== true)
    return { kind: 'rejected', status: res.status, detail: `${url.host} answered ${test.okField}=false${errorText(body)}` };
  for (const path of test.identity) {
    const v = getPath(body, path);
    if ((typeof v === 'string' && v) || typeof v === 'number') return { kind: 'ok', identity: identityText(String(v)), status: res.status };
  }
  return { kind: 'ok', identity: null, status: res.status };
}

export function getPath(value: unknown, path: string): unknown {
  let cur = value;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[Number(part)] : (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A provider's short error text (the caller takes the account's values out of it). */
function providerError(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as Record<string, unknown>;
  const err = b.error;
  const msg =
    typeof b.error_description === 'string' ? b.error_description
    : typeof err === 'string' ? err
    : err && typeof err === 'object' && typeof (err as Record<string, unknown>).message === 'string' ? (err as Record<string, string>).message
    : typeof b.message === 'string' ? b.message
    : '';
  return msg ? `: ${providerText(msg)}` : '';
}
