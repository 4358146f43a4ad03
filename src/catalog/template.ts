import { AcctError, ExitCode } from '../errors.js';

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
