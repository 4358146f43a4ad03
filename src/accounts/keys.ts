// Collecting and checking the fields of an API-key app: from stdin (a bare
// value or a JSON object), from named environment variables, or from prompts.
import type { KeysApp, KeyField } from '../catalog/schema.js';
import type { Prompter } from '../ui/prompt.js';
import { usageError, AcctError, ExitCode } from '../errors.js';
import { isObject } from '../store/files.js';
import { MAX_FIELD_BYTES, MAX_FIELD_TEXT, fieldPlacement, valueProblem } from './field-value.js';

export interface KeySources {
  /** Everything read from stdin, when --stdin was given. */
  stdin?: string;
  /** field=VAR pairs from --from-env. */
  fromEnv: string[];
  env: NodeJS.ProcessEnv;
  prompter: Prompter;
  /** --no-check: skip the app's shape checks (empty values are still refused). */
  checkShapes: boolean;
}

/**
 * The most bytes `--stdin` reads for an app before giving up: every field at
 * its limit in a JSON object, with room for escapes (a PEM key's \n) and names.
 * Each value is then held to MAX_FIELD_BYTES on its own.
 */
export function stdinLimit(app: KeysApp): number {
  return app.fields.length * 2 * MAX_FIELD_BYTES + 4096;
}

/** The hint when stdin holds more than stdinLimit. */
export const STDIN_TOO_LARGE_HINT = `nothing was stored; a field value is at most ${MAX_FIELD_TEXT}: check that you piped the key itself`;

export function primaryField(app: KeysApp): KeyField {
  const name = app.primary ?? app.fields.find((f) => f.secret)?.name ?? app.fields[0]!.name;
  return app.fields.find((f) => f.name === name)!;
}

export async function collectKeyFields(app: KeysApp, src: KeySources): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  /** Where each value came from, for the hint when it is refused. */
  const from: Record<string, string> = {};
  const known = new Map(app.fields.map((f) => [f.name, f]));
  const unknownField = (name: string, where: string) =>
    usageError(`${app.slug} has no field "${name}" (${where})`, `its fields are: ${app.fields.map((f) => f.name).join(', ')}`);

  if (src.stdin !== undefined) {
    const text = src.stdin.replace(/\r?\n$/, '');
    if (text.trimStart().startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        // The parser's message quotes the text around the error, which is a secret here: keep only the position.
        const at = /position (\d+)/.exec((err as Error).message)?.[1];
        throw usageError(`stdin is not valid JSON${at ? ` (at position ${at})` : ''}`, 'pass a JSON object of fields, e.g. {"api_key":"…"}, or a bare value');
      }
      if (!isObject(parsed)) throw usageError('stdin JSON must be an object of field names to values');
      for (const [name, value] of Object.entries(parsed)) {
        if (!known.has(name)) throw unknownField(name, 'in the stdin JSON');
        if (typeof value !== 'string') throw usageError(`field "${name}" in the stdin JSON must be a string`);
        values[name] = value;
        from[name] = 'what you piped in (a JSON object of fields)';
      }
    } else {
      const needed = app.fields.filter((f) => !f.optional && f.default === undefined);
      const primary = primaryField(app);
      if (needed.length > 1 || (needed.length === 1 && needed[0]!.name !== primary.name))
        throw usageError(
          `${app.slug} needs ${needed.map((f) => f.name).join(' and ')}; a bare value on stdin cannot fill them all`,
          `pass a JSON object on stdin: {${needed.map((f) => `"${f.name}":"…"`).join(',')}}`,
        );
      values[primary.name] = text;
      from[primary.name] = 'what you piped in (one value, or a JSON object of fields)';
    }
  }

  for (const pair of src.fromEnv) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--from-env takes field=VAR, not "${pair}"`);
    const name = pair.slice(0, eq);
    const variable = pair.slice(eq + 1);
    if (!known.has(name)) throw unknownField(name, '--from-env');
    const value = src.env[variable];
    if (value === undefined) throw usageError(`the environment variable ${variable} is not set (--from-env ${name}=${variable})`);
    values[name] = value;
    from[name] = `the environment variable ${variable}`;
  }

  for (const f of app.fields) {
    if (values[f.name] !== undefined) continue;
    if (f.default !== undefined && !(src.prompter.interactive && src.stdin === undefined && !src.fromEnv.length)) {
      values[f.name] = f.default;
      continue;
    }
    if (f.optional && !src.prompter.interactive) continue;
    const instead = `--stdin (a JSON object of fields) or --from-env ${f.name}=VAR`;
    const where = f.createUrl ? ` (create one at ${f.createUrl})` : '';
    const message = `${f.label}${where}${f.optional ? ' (optional, Enter to skip)' : ''}`;
    const value = f.secret ? await src.prompter.secret(message, instead) : await src.prompter.input(message, instead, f.default);
    if (value === '' && (f.optional || f.default !== undefined)) {
      if (f.default !== undefined) values[f.name] = f.default;
      continue;
    }
    values[f.name] = value;
    from[f.name] = 'what you pasted';
  }

  const placement = fieldPlacement(app);
  for (const f of app.fields) {
    const v = values[f.name];
    if (v === undefined) continue;
    // Not a shape check (--no-check does not skip it): no request or command could use such a value.
    const bad = valueProblem(v, placement(f.name), app.name);
    if (bad) throw usageError(`${f.label} ${bad.problem}`, `nothing was stored; check ${from[f.name] ?? 'the value'}: ${bad.why}`);
    if (src.checkShapes) checkShape(app, f, v);
    else if (!v) throw usageError(`${f.label} is empty`);
  }
  return values;
}

/** Empty values and values that do not fit the app's declared shape are rejected before anything is stored. */
export function checkShape(app: KeysApp, f: KeyField, raw: string): void {
  const v = raw.trim();
  if (v !== raw)
    throw usageError(`${f.label} has leading or trailing whitespace`, 'check what you pasted; acct does not trim secrets silently');
  if (!v) throw usageError(`${f.label} is empty`, f.createUrl ? `create one at ${f.createUrl}` : undefined);
  const bad = (why: string) =>
    new AcctError('usage', `${f.label} does not look like a ${app.name} ${f.label.toLowerCase()}: ${why}`, {
      hint: `check that you copied the whole value${f.createUrl ? ` (${f.createUrl})` : ''}; pass --no-check to store it anyway`,
    });
  if (f.prefix && !v.startsWith(f.prefix)) throw bad(`it should start with "${f.prefix}"`);
  if (f.pattern && !new RegExp(`^(?:${f.pattern})$`).test(v)) throw bad('it does not have the expected format');
  if (f.minLength && v.length < f.minLength) throw bad(`it should be at least ${f.minLength} characters`);
  if (f.maxLength && v.length > f.maxLength) throw bad(`it should be at most ${f.maxLength} characters`);
}
