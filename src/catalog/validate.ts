import { appDefinition, type AppDefinition } from './schema.js';
import { usageError } from '../errors.js';

/** Validates an app definition (built-in or user-added) and fills in defaults. */
export function parseApp(input: unknown, source: string): AppDefinition {
  const result = appDefinition.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n');
  throw usageError(`the app definition in ${source} is invalid:\n${problems}`, 'fix it and try again; `acct apps show github --json` shows a complete example');
}
