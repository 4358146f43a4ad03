// Applies an app's declared request authorization to a URL and headers.
import { renderTemplate } from '../catalog/template.js';
import { fieldBaseUrl } from '../catalog/resolve-app.js';
import { isSecureUrl, templateFields, type AppDefinition } from '../catalog/schema.js';
import { AcctError, ExitCode, usageError } from '../errors.js';

export interface PreparedRequest {
  url: URL;
  headers: Record<string, string>;
}

/**
 * The app's base URL with {field} placeholders filled in; refused unless it is
 * an https URL (or plain http on loopback). One that starts with a field
 * ("{instance_url}/services/data") takes that field as an https origin.
 */
export function baseUrl(app: AppDefinition, fields: Record<string, string>): string {
  const values = withDefaults(app, fields);
  const url = fieldBaseUrl(app.api.baseUrl, values, isSecureUrl) ?? renderTemplate(app.api.baseUrl, values);
  if (!isSecureUrl(url))
    throw new AcctError(ExitCode.unexpected, `the API base URL of this ${app.slug} account, ${url}, is not an https URL`, {
      hint: `it comes from the account's fields (${templateFields(app.api.baseUrl).join(', ')}): reconnect the account, or check the app definition`,
    });
  return url;
}

/** Joins a path to the base URL, or takes an absolute URL as is. */
export function resolveUrl(app: AppDefinition, fields: Record<string, string>, pathOrUrl: string): URL {
  if (/^https?:\/\//i.test(pathOrUrl)) return new URL(pathOrUrl);
  const base = baseUrl(app, fields).replace(/\/+$/, '');
  const path = pathOrUrl.startsWith('/') ? pathOrUrl : `/${pathOrUrl}`;
  try {
    return new URL(base + path);
  } catch {
    throw usageError(`"${pathOrUrl}" does not make a valid URL with ${base}`);
  }
}

export function authorize(app: AppDefinition, fields: Record<string, string>, url: URL): PreparedRequest {
  const values = withDefaults(app, fields);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(app.api.headers)) headers[name] = renderTemplate(value, values);
  const auth = app.api.auth;
  const target = new URL(url);
  if (auth.type === 'header') headers[auth.name] = renderTemplate(auth.value, values);
  else if (auth.type === 'query') target.searchParams.set(auth.name, renderTemplate(auth.value, values));
  else {
    const user = renderTemplate(auth.username, values);
    const pass = renderTemplate(auth.password, values);
    headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  return { url: target, headers };
}

/** Non-secret fields with a default (a region, a site) count as set when absent. */
function withDefaults(app: AppDefinition, fields: Record<string, string>): Record<string, string> {
  if (app.auth !== 'keys') return fields;
  const out = { ...fields };
  for (const f of app.fields) if (out[f.name] === undefined && f.default !== undefined) out[f.name] = f.default;
  return out;
}
