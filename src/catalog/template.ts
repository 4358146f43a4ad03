import { AcctError, ExitCode } from '../errors.js';

/** C0 controls and DEL: nothing a header, a query value or a host may carry (CR, LF and NUL among them). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
/** The same, less the tab a header value may hold (RFC 9110 field-value). */
// eslint-disable-next-line no-control-regex
export const HEADER_VALUE_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/**
 * Whether a header can carry this value as is: no control character but tab
 * (RFC 9110 field-value) and nothing outside Latin-1, which undici refuses
 * (quoting the value in its error). The one test, made before a request is
 * sent (src/http.ts) and when a value the app puts in a header comes in
 * (src/accounts/field-value.ts).
 */
export function headerCanCarry(value: string): boolean {
  return !HEADER_VALUE_CONTROL.test(value) && !/[^\u0000-\u00ff]/.test(value);
}
/** An HTTP token (RFC 9110): what a header name or a method is. */
export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Fills {field} placeholders from an account's fields. */
export function renderTemplate(template: string, fields: Record<string, string | undefined>): string {
  return template.replace(/\{([a-z][a-z0-9_]*)\}/g, (_, name: string) => {
    const value = fields[name];
    if (value === undefined)
      throw new AcctError('unexpected', `the account has no field "${name}" that the app's request template needs`, {
        hint: 'reconnect the account to store it',
      });
    return value;
  });
}

/** The {field} names a template refers to. */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/\{([a-z][a-z0-9_]*)\}/g)].map((m) => m[1]!);
}
