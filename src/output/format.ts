// Rendering helpers: JSON on stdout, tables, masking, colours that follow
// NO_COLOR/FORCE_COLOR and are off when stdout is not a terminal.
import { stripVTControlCharacters } from 'node:util';
import type { IO } from '../context.js';

/** Writes text to stdout, through the light path when the IO has one. */
export function out(io: IO, text: string): void {
  if (io.writeOut) io.writeOut(text);
  else io.stdout.write(text);
}

export function printJson(io: IO, value: unknown): void {
  out(io, JSON.stringify(value, null, 2) + '\n');
}

export function colorEnabled(io: IO, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return Boolean(io.stdoutIsTTY ?? io.stdout.isTTY);
}

export interface Style {
  dim: (s: string) => string;
  bold: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
}

const plain: Style = { dim: (s) => s, bold: (s) => s, green: (s) => s, yellow: (s) => s, red: (s) => s };

export async function style(io: IO, env: NodeJS.ProcessEnv): Promise<Style> {
  if (!colorEnabled(io, env)) return plain;
  const { Chalk } = await import('chalk');
  const c = new Chalk({ level: 1 });
  return { dim: c.dim, bold: c.bold, green: c.green, yellow: c.yellow, red: c.red };
}

/**
 * A table for people; scripts use --json. Borderless columns need only
 * padding, so this is written here: cli-table3 took about a second to lay out
 * the 1,000 rows of `acct list` (measured), far beyond the spec's list budget.
 * Widths ignore colour codes; every cell acct prints is single-width text.
 */
export async function printTable(io: IO, head: string[], rows: string[][], s: Style): Promise<void> {
  // Plain loops, one string per cell and padding: this runs over every cell
  // of a 10,000-account list, in code too cold for V8 to have optimized, where
  // every call and every indexed load costs. So widths are plain .length
  // unless colour is on, and a row's cells are read once each.
  const coloured = s !== plain;
  const width = (cell: string) => (coloured && cell.includes('\u001b') ? stripVTControlCharacters(cell) : cell).length;
  const last = head.length - 1;
  const widths = head.map((h) => h.length);
  for (const r of rows)
    for (let c = 0; c < last; c++) {
      const cell = r[c] ?? '';
      const w = coloured ? width(cell) : cell.length;
      if (w > widths[c]!) widths[c] = w;
    }
  const spaces: string[] = [];
  let text = '';
  const line = (cells: string[]) => {
    let l = '';
    for (let c = 0; c < last; c++) {
      const cell = cells[c] ?? '';
      const n = widths[c]! - (coloured ? width(cell) : cell.length) + 4;
      l += cell + (spaces[n] ??= ' '.repeat(n));
    }
    const end = cells[last] ?? '';
    text += `${end ? l + end : l.trimEnd()}\n`;
  };
  line(head.map((h) => s.bold(h)));
  for (const r of rows) line(r);
  out(io, text);
}

/**
 * Accounts ordered by app, then nickname, in plain code-unit order: fast
 * (localeCompare costs ~20 ms over 1,000 accounts) and the same everywhere.
 * Grouped by app first, which halves the comparisons a 1,000-account list
 * makes in JavaScript.
 */
export function sortByAppAndNickname<T extends { app: string; nickname: string }>(accounts: T[]): T[] {
  const byApp = new Map<string, T[]>();
  for (const a of accounts) {
    const group = byApp.get(a.app);
    if (group) group.push(a);
    else byApp.set(a.app, [a]);
  }
  return [...byApp.keys()].sort().flatMap((app) => byApp.get(app)!.sort((a, b) => (a.nickname < b.nickname ? -1 : a.nickname > b.nickname ? 1 : 0)));
}

/** Shows that a value is there without showing it. */
export function mask(value: string): string {
  if (value.length >= 24) return `${'•'.repeat(8)}${value.slice(-4)}`;
  return '•'.repeat(8);
}

export function relativeTime(iso: string | null, now: Date): string {
  if (!iso) return 'never';
  const diff = Math.round((Date.parse(iso) - now.getTime()) / 1000); // no Date object per cell: a 1,000-row list allocates less
  const abs = Math.abs(diff);
  if (abs < 2) return 'just now';
  const unit = abs < 90 ? `${abs}s` : abs < 5400 ? `${Math.round(abs / 60)}m` : abs < 129600 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return diff >= 0 ? `in ${unit}` : `${unit} ago`;
}
