// The one place an app's per-account templates become concrete: the account's
// connection settings (a subdomain, a tenant, an instance host, a cloud id)
// are checked and put into the app's endpoints, parameters, base URL, headers
// and test path, and a base URL that starts with a token-response field
// ("{instance_url}", "{api_domain}/api/v1") is checked to be an https origin
// before a path is joined to it. The token endpoint's HTTP quirks (JSON
// bodies, nested tokens, expiry units) are applied in oauth/quirks.ts.
//
// No zod and no I/O here: `acct token` reaches this module on every run.
import type { AppDefinition } from './schema.js';
import { AcctError, ExitCode, usageError } from '../errors.js';

/** An account's connection settings: setting name → value. Non-secret, kept in the account's metadata. */
export type Settings = Record<string, string>;

interface SettingLike {
  name: string;
  label: string;
  pattern?: string;
  example?: string;
}

/**
 * Characters a setting may hold. Settings go into hosts and paths, so none of
 * / ? # @ : % \ or whitespace, which could move a request (and the token in
 * it) to another host, port or path.
 */
const SAFE_SETTING = /^[A-Za-z0-9._~-]{1,253}$/;

/** Why a value cannot be this setting, or undefined when it can. */
export function settingValueProblem(spec: SettingLike, value: string): string | undefined {
  if (!SAFE_SETTING.test(value))
    return `${spec.label} may hold only letters, digits, ".", "-", "_" and "~" (no "/", "?", "#", "@", ":" or spaces)`;
  if (value.startsWith('.') || value.endsWith('.') || value.includes('..')) return `${spec.label} cannot start or end with a dot, or hold two in a row`;
  if (spec.pattern && !new RegExp(`^(?:${spec.pattern})$`).test(value))
    return `${spec.label} does not have the expected form${spec.example ? ` (for example ${spec.example})` : ''}`;
  return undefined;
}

/** Checks a setting's value; a usage error naming --setting otherwise. */
export function checkSetting(spec: SettingLike, value: string): string {
  const problem = settingValueProblem(spec, value);
  if (problem) throw usageError(`"${value}" cannot be the ${spec.name} setting: ${problem}`, `pass another: --setting ${spec.name}=${spec.example ?? '…'}`);
  return value;
}

/**
 * The app as one account sees it: every {setting} in its OAuth endpoints and
 * parameters, API base URL, headers, authorization and test path replaced by
 * the account's value (or the setting's default). A setting looked up after
 * connect that is not known yet stays a template; request code then reports
 * the missing field. Values are checked again here: metadata can be edited.
 */
export function resolveApp<T extends AppDefinition>(app: T, settings: Settings | undefined): T {
  const specs = app.settings ?? [];
  if (!specs.length) return app;
  const values: Settings = {};
  for (const spec of specs) {
    const value = settings?.[spec.name] ?? spec.default;
    if (value === undefined) {
      if (spec.lookup) continue;
      throw usageError(`this ${app.slug} account has no "${spec.name}" setting (${spec.label})`, `reconnect it with: --setting ${spec.name}=${spec.example ?? '…'}`);
    }
    values[spec.name] = checkSetting(spec, value);
  }
  const fill = (text: string) => text.replace(/\{([a-z][a-z0-9_]*)\}/g, (whole, name: string) => values[name] ?? whole);
  const deep = <V>(value: V): V => {
    if (typeof value === 'string') return fill(value) as V;
    if (Array.isArray(value)) return value.map(deep) as V;
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deep(v)])) as V;
    return value;
  };
  const resolved = { ...app, api: deep(app.api), test: app.test && { ...app.test, path: fill(app.test.path) } };
  if (app.auth === 'oauth2') (resolved as { oauth: unknown }).oauth = deep(app.oauth);
  return resolved;
}

/** The settings of an app that are asked at connect time, and those looked up afterwards. */
export function askedSettings(app: AppDefinition) {
  return (app.settings ?? []).filter((s) => !s.lookup);
}

const LEADING_FIELD = /^\{([a-z][a-z0-9_]*)\}(\/.*)?$/;

/**
 * A base URL of the form "{field}" or "{field}/path": the field (a token
 * response's instance_url or api_domain) must be an https URL (plain http
 * only on loopback), with no credentials, query or fragment; the path is
 * joined to it. Undefined when the base URL does not start with a field.
 */
export function fieldBaseUrl(template: string, fields: Record<string, string | undefined>, isSecure: (url: string) => boolean): string | undefined {
  const m = LEADING_FIELD.exec(template);
  if (!m) return undefined;
  const name = m[1]!;
  const value = fields[name];
  if (value === undefined)
    throw new AcctError('unexpected', `the account has no field "${name}" that the app's base URL needs`, { hint: 'reconnect the account to store it' });
  let origin: URL;
  try {
    origin = new URL(value);
  } catch {
    throw notHttps(name, value);
  }
  if (!isSecure(value) || origin.username || origin.password || origin.search || origin.hash || /[\s\\]/.test(value)) throw notHttps(name, value);
  return origin.origin + origin.pathname.replace(/\/+$/, '') + (m[2] ?? '');
}

function notHttps(name: string, value: string) {
  return new AcctError('unexpected', `the API base URL of this account, ${value}, is not an https URL`, {
    hint: `it is the account's ${name}, from the provider's token response: reconnect the account, or check the app definition`,
  });
}
