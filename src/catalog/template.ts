import { AcctError, ExitCode } from '../errors.js';

/** C0 controls and DEL: nothing a header, a query value or a host may carry (CR, LF and NUL among them). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

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
