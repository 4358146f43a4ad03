// Applies an app's declared request authorization to a URL and headers, and
// says which parts of the request are credentials, so that send.ts can keep
// them from every other origin.
import { renderTemplate, CONTROL_CHARACTER } from '../catalog/template.js';
import { fieldBaseUrl } from '../catalog/resolve-app.js';
import { isSecureUrl, templateFields, type AppDefinition } from '../catalog/schema.js';
import { AcctError, ExitCode, usageError } from '../errors.js';

/** What the app's auth placed in a request: taken out on a hop to another origin. */
export interface Credentials {
  /** Header names (as written), from api.auth and from api.headers entries that name a field. */
  headers: string[];
  /** Query parameter names (an auth of type query). */
  query: string[];
  /** The field values the templates used, to keep them out of redirect targets and messages. */
  values: string[];
}

export interface PreparedRequest {
  url: URL;
  headers: Record<string, string>;
  credentials: Credentials;
}

/** A field a request template needs holds a control character: exit 2, naming the field, never the value. */
function checkPlaceable(app: AppDefinition, fields: Record<string, string | undefined>, template: string): void {
  for (const name of templateFields(template)) {
    const value = fields[name];
    if (value !== undefined && CONTROL_CHARACTER.test(value))
      throw new AcctError('usage', `the "${name}" field of this ${app.slug} account holds a line break or another control character, which cannot go in a request`, {
        hint: `reconnect the account with the value as the service issued it: acct reconnect <ref> (the value was not sent anywhere)`,
      });
  }
}

/**
 * The app's base URL with {field} placeholders filled in; refused unless it is
 * an https URL (or plain http on loopback). One that starts with a field
 * ("{instance_url}/services/data") takes that field as an https origin.
 */
export function baseUrl(app: AppDefinition, fields: Record<string, string>): string {
  const values = withDefaults(app, fields);
  checkPlaceable(app, values, app.api.baseUrl);
  const url = fieldBaseUrl(app.api.baseUrl, values, isSecureUrl) ?? renderTemplate(app.api.baseUrl, values);
  if (!isSecureUrl(url))
    throw new AcctError('unexpected', `the API base URL of this ${app.slug} account, ${url}, is not an https URL`, {
      hint: `it comes from the account's fields (${templateFields(app.api.baseUrl).join(', ')}): reconnect the account, or check the app definition`,
    });
  return url;
}

/** Joins a path to the base URL, or takes an absolute URL as is. */
export function resolveUrl(app: AppDefinition, fields: Record<string, string>, pathOrUrl: string): URL {
  // The URL parser drops tabs and line breaks silently; a path with them is a mistake, not a request to make.
  if (CONTROL_CHARACTER.test(pathOrUrl)) throw usageError('the path or URL holds a line break or another control character', 'percent-encode it (%0A for a line feed) if the service really wants one');
  if (/^https?:\/\//i.test(pathOrUrl)) {
    let url: URL;
    try {
      url = new URL(pathOrUrl);
    } catch {
      throw usageError('the URL does not parse', `give a path under the app's base URL, or a whole URL such as ${baseUrl(app, fields)}/…`);
    }
    if (url.username || url.password) throw usageError('the URL holds a user name or password', "acct adds the account's credentials itself; give the URL without them");
    return url;
  }
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
  const auth = app.api.auth;
  const templates = [...Object.values(app.api.headers), ...(auth.type === 'basic' ? [auth.username, auth.password] : [auth.value])];
  for (const t of templates) checkPlaceable(app, values, t);
  const credentials: Credentials = { headers: [], query: [], values: [] };
  const used = new Set(templates.flatMap((t) => templateFields(t)));
  for (const name of used) if (values[name]) credentials.values.push(values[name]!);

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(app.api.headers)) {
    headers[name] = renderTemplate(value, values);
    if (templateFields(value).length) credentials.headers.push(name);
  }
  const target = new URL(url);
  if (auth.type === 'header') {
    headers[auth.name] = renderTemplate(auth.value, values);
    credentials.headers.push(auth.name);
  } else if (auth.type === 'query') {
    target.searchParams.set(auth.name, renderTemplate(auth.value, values));
    credentials.query.push(auth.name);
  } else {
    const user = renderTemplate(auth.username, values);
    const pass = renderTemplate(auth.password, values);
    headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    credentials.headers.push('Authorization');
  }
  return { url: target, headers, credentials };
}

/** Non-secret fields with a default (a region, a site) count as set when absent. */
function withDefaults(app: AppDefinition, fields: Record<string, string>): Record<string, string> {
  if (app.auth !== 'keys') return fields;
  const out = { ...fields };
  for (const f of app.fields) if (out[f.name] === undefined && f.default !== undefined) out[f.name] = f.default;
  return out;
}
