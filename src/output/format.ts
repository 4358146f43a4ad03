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

/** Whether stdout is a terminal, for people; otherwise the output is for a script (a pipe, a file). */
export function onTerminal(io: IO): boolean {
  return Boolean(io.stdoutIsTTY ?? io.stdout?.isTTY);
}

/** What a table must fit: a terminal's width, or undefined when stdout is no terminal (piped output is never cut). */
export function terminalWidth(io: IO, env: NodeJS.ProcessEnv): number | undefined {
  if (!onTerminal(io)) return undefined;
  const n = io.stdout.columns || Number(env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Where a table goes, and the clock its relative times are read against. */
export interface TableContext {
  io: IO;
  env: NodeJS.ProcessEnv;
  now: () => Date;
}

export interface Column {
  /** The heading; piped, a space in it is written as `_` (`LAST_USED`), so that it is one word. */
  head: string;
  /**
   * Cells that are instants, in ISO 8601 UTC as acct stores them, or a word
   * for none (`never`, `-`: anything that does not start with a digit). On a
   * terminal an instant is shown relative to now (`in 57m`, `7m ago`); piped,
   * as it is (the same text as in --json).
   */
  time?: boolean;
  /** Cells that may hold several words (a detail, a description): piped, each space is written as `_`, and an empty cell as `-`. */
  text?: boolean;
  /** May be cut, with an ellipsis, to fit a terminal: the widest of them first. */
  flexible?: boolean;
  /**
   * May be left out on a terminal too narrow for the table even with its
   * flexible columns cut as far as they go: 1 first, then 2, … . A column
   * without it is always shown.
   */
  drop?: number;
}

/**
 * A table: for people on a terminal, or, piped, for scripts (--json is the
 * whole record). On a terminal instants are relative and the table fits the
 * width, cutting and then leaving out columns. Piped, nothing is cut and every
 * cell is one word (headings, prose and instants included: see Column), so
 * awk and cut find each column in its place; this is the one place that
 * decides it. Borderless columns need only padding, so this is written here:
 * cli-table3 took about a second to lay out the 1,000 rows of `acct list`
 * (measured), far beyond the spec's list budget. Widths ignore colour codes;
 * every cell acct prints is single-width text. The cells of `rows` may be
 * rewritten in place.
 */
export async function printTable(ctx: TableContext, columns: Column[], rows: string[][], s: Style): Promise<void> {
  const terminal = onTerminal(ctx.io);
  let head = columns.map((c) => c.head);
  // One loop over the rows per column that needs it, none for the one-word columns that most are: piped
  // `acct list` (10,000 rows, in code too cold for V8 to have optimized) changes no cell.
  for (let c = 0; c < columns.length; c++) {
    if (terminal && columns[c]!.time) {
      const now = ctx.now();
      for (const r of rows) {
        const cell = r[c];
        if (cell !== undefined && cell.charCodeAt(0) >= 48 && cell.charCodeAt(0) <= 57) r[c] = relativeTime(cell, now);
      }
    } else if (!terminal && columns[c]!.text) {
      for (const r of rows) {
        const cell = r[c];
        r[c] = cell ? (cell.includes(' ') ? cell.replaceAll(' ', '_') : cell) : '-';
      }
    }
  }
  if (!terminal) head = head.map((h) => h.replaceAll(' ', '_'));
  // Plain loops, one string per cell and padding: this runs over every cell
  // of a 1,000-account list, in code too cold for V8 to have optimized.
  const width = s === plain ? (cell: string) => cell.length : (cell: string) => (cell.includes('\u001b') ? stripVTControlCharacters(cell) : cell).length;
  let last = head.length - 1;
  let widths = head.map((h) => h.length);
  for (const r of rows)
    for (let c = 0; c < last; c++) {
      const w = width(r[c] ?? '');
      if (w > widths[c]!) widths[c] = w;
    }
  let gap = 4;
  const max = terminal ? terminalWidth(ctx.io, ctx.env) : undefined;
  if (max) {
    ({ head, rows, widths, gap } = fitTo(max, columns, head, rows, widths, width));
    last = head.length - 1;
  }
  const spaces: string[] = [];
  let text = '';
  for (const cells of [head.map((h) => s.bold(h)), ...rows]) {
    let line = '';
    for (let c = 0; c < last; c++) {
      const cell = cells[c] ?? '';
      const n = widths[c]! - width(cell) + gap;
      line += cell + (spaces[n] ??= ' '.repeat(n));
    }
    const end = cells[last] ?? '';
    text += `${end ? line + end : line.trimEnd()}\n`;
  }
  out(ctx.io, text);
}

/**
 * Fits a line into `max` columns: first with two spaces between columns
 * instead of four, then narrowing the flexible columns, widest first, to
 * their heading or six characters; cells cut end in an ellipsis. When that is
 * not enough, the columns that may be left out are, in their order (Column.drop),
 * until the table fits or none is left.
 */
function fitTo(
  max: number,
  columns: Column[],
  head: string[],
  rows: string[][],
  widths: number[],
  width: (cell: string) => number,
): { head: string[]; rows: string[][]; widths: number[]; gap: number } {
  const last = head.length - 1;
  const w = [...widths];
  w[last] = Math.max(head[last]!.length, ...rows.map((r) => width(r[last] ?? '')));
  const sum = w.reduce((a, b) => a + b, 0);
  if (sum + 4 * last <= max) return { head, rows, widths, gap: 4 };
  const gap = 2;
  // No column narrower than its heading or a few characters.
  const floor = (c: number) => (columns[c]!.flexible ? Math.min(w[c]!, Math.max(head[c]!.length, 6)) : w[c]!);
  const shown = columns.map(() => true);
  const lineWidth = (of: (c: number) => number) => w.reduce((a, _, c) => (shown[c] ? a + of(c) + gap : a), -gap);
  // First the columns to leave out, in their order, while even the narrowest table of those shown is too wide.
  const droppable = columns.flatMap((col, c) => (col.drop !== undefined ? [c] : [])).sort((a, b) => columns[a]!.drop! - columns[b]!.drop!);
  for (const c of droppable) {
    if (lineWidth(floor) <= max) break;
    shown[c] = false;
  }
  // Then narrow the flexible columns shown, widest first, in the room that is left.
  let over = lineWidth((c) => w[c]!) - max;
  while (over > 0) {
    let pick = -1;
    for (let c = 0; c <= last; c++) if (shown[c] && w[c]! > floor(c) && (pick < 0 || w[c]! > w[pick]!)) pick = c;
    if (pick < 0) break;
    w[pick]!--;
    over--;
  }
  // Cut cells back to their column, and drop the columns left out; a column given back its room is not cut.
  const keep = columns.flatMap((_, c) => (shown[c] ? [c] : []));
  const lastKept = keep.at(-1)!;
  const cutCell = (cell: string, c: number) => (!columns[c]!.flexible || width(cell) <= w[c]! ? cell : `${stripVTControlCharacters(cell).slice(0, w[c]! - 1)}…`);
  return {
    head: keep.map((c) => head[c]!),
    rows: rows.map((r) => keep.map((c) => cutCell(r[c] ?? '', c))),
    // The last column shown is not padded: its own width counts for nothing.
    widths: keep.map((c) => (c === lastKept ? 0 : w[c]!)),
    gap,
  };
}

/** An account's status, coloured: ok green, the ones to act on red, the rest yellow. */
export function accountStatus(s: Style, status: string): string {
  return status === 'ok' ? s.green(status) : status === 'needs-reconnect' ? s.red(status) : s.yellow(status);
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
