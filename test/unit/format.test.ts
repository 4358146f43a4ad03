// The table and the order of acct list (and status): plain loops written for
// speed, so their output is pinned down here.
import { describe, it, expect } from 'vitest';
import { stripVTControlCharacters } from 'node:util';
import { printTable, sortByAppAndNickname, style, terminalWidth, type Column, type Style } from '../../src/output/format.js';
import type { IO } from '../../src/context.js';

const NOW = new Date('2026-12-01T19:20:00.000Z');

/** The table printTable writes: piped, or on a terminal of `width` columns. */
async function table(columns: (string | Column)[], rows: string[][], s: Style, where: { terminal?: boolean; width?: number } = {}): Promise<string> {
  let text = '';
  const io = { writeOut: (t: string) => (text += t), stdoutIsTTY: where.terminal ?? false, stdout: { columns: where.width } } as unknown as IO;
  await printTable({ io, env: {}, now: () => NOW }, columns.map((c) => (typeof c === 'string' ? { head: c } : c)), rows.map((r) => [...r]), s);
  return text;
}

const plainStyle = (): Promise<Style> => style({ stdoutIsTTY: false } as IO, {});
const colourStyle = (): Promise<Style> => style({ stdoutIsTTY: true } as IO, { FORCE_COLOR: '1' });

describe('printTable', () => {
  const head = ['ID', 'APP', 'NICKNAME', 'NOTE'];
  const rows = [
    ['acc_1', 'github', 'me', 'never'],
    ['acc_22', 'slack', 'a-much-longer-name', 'soon'],
  ];

  it('pads every column to its widest cell plus four spaces, with no trailing space', async () => {
    expect(await table(head, rows, await plainStyle())).toBe(
      ['ID        APP       NICKNAME              NOTE', 'acc_1     github    me                    never', 'acc_22    slack     a-much-longer-name    soon', ''].join('\n'),
    );
  });

  it('leaves no trailing spaces when the last cells are empty', async () => {
    const text = await table(['A', 'B', 'C'], [['x', '', ''], ['yy', 'z', '']], await plainStyle());
    expect(text).toBe('A     B    C\nx\nyy    z\n');
  });

  it('lines up coloured cells as plain ones: colour codes take no width', async () => {
    const s = await colourStyle();
    const coloured = await table(head, rows.map((r) => [r[0]!, s.green(r[1]!), r[2]!, s.dim(r[3]!)]), s);
    expect(coloured).not.toBe(stripVTControlCharacters(coloured)); // the colours are there
    expect(stripVTControlCharacters(coloured)).toBe(await table(head, rows, await plainStyle()));
  });
});

describe('printTable: one word a cell when piped, relative times on a terminal', () => {
  const columns: Column[] = [{ head: 'ID' }, { head: 'EXPIRES', time: true }, { head: 'LAST USED', time: true }, { head: 'DETAIL', text: true }];
  const rows = [
    ['acc_1', '2026-12-01T20:17:00.000Z', '2026-12-01T19:13:00.000Z', 'refreshed on next use'],
    ['acc_2', '-', 'never', ''],
  ];

  it('piped: headings and prose with _ for spaces, an empty cell as -, instants as they are stored', async () => {
    const text = await table(columns, rows, await plainStyle());
    expect(text).toBe(
      [
        'ID       EXPIRES                     LAST_USED                   DETAIL',
        'acc_1    2026-12-01T20:17:00.000Z    2026-12-01T19:13:00.000Z    refreshed_on_next_use',
        'acc_2    -                           never                       -',
        '',
      ].join('\n'),
    );
    const counts = text.trimEnd().split('\n').map((l) => l.split(/\s+/).length);
    expect(new Set(counts)).toEqual(new Set([4]));
  });

  it('on a terminal: headings and prose as they are, instants relative to now, the words for none kept', async () => {
    expect(await table(columns, rows, await plainStyle(), { terminal: true })).toBe(
      ['ID       EXPIRES    LAST USED    DETAIL', 'acc_1    in 57m     7m ago       refreshed on next use', 'acc_2    -          never', ''].join('\n'),
    );
  });
});

describe('printTable fitting a width', () => {
  const head: Column[] = [{ head: 'ID' }, { head: 'NICKNAME', flexible: true }, { head: 'NOTE', flexible: true }];
  const rows = [
    ['acc_1', 'a-rather-long-nickname', 'short'],
    ['acc_22', 'me', 'a note that goes on and on'],
  ];

  it('changes nothing when the table fits', async () => {
    const s = await plainStyle();
    expect(await table(head, rows, s, { terminal: true, width: 200 })).toBe(await table(head, rows, s));
  });

  it('first closes the gaps to two spaces, then cuts the widest flexible column with an ellipsis', async () => {
    const s = await plainStyle();
    // Four-space gaps need 64 columns; two-space ones 60.
    expect(await table(head, rows, s, { terminal: true, width: 60 })).toBe(
      ['ID      NICKNAME                NOTE', 'acc_1   a-rather-long-nickname  short', 'acc_22  me                      a note that goes on and on', ''].join('\n'),
    );
    const cut = await table(head, rows, s, { terminal: true, width: 40 });
    expect(cut).toBe(['ID      NICKNAME         NOTE', 'acc_1   a-rather-long-…  short', 'acc_22  me               a note that go…', ''].join('\n'));
    for (const line of cut.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    // Fixed columns are never cut, and no column goes below its heading (or six characters).
    const tiny = await table([head[0]!, head[1]!, { head: 'NOTE' }], rows, s, { terminal: true, width: 5 });
    expect(tiny).toBe(['ID      NICKNAME  NOTE', 'acc_1   a-rathe…  short', 'acc_22  me        a note that goes on and on', ''].join('\n'));
  });

  it('then leaves out columns, least important first, and gives the room back to the flexible ones', async () => {
    const s = await plainStyle();
    const columns: Column[] = [{ head: 'ID' }, { head: 'NAME', flexible: true }, { head: 'KIND', drop: 2 }, { head: 'STATE', drop: 1 }, { head: 'WHEN' }];
    const rows = [
      ['acc_1', 'a-name-that-is-long', 'oauth2', 'needs-reconnect', 'never'],
      ['acc_22', 'me', 'keys', 'ok', 'in 5m'],
    ];
    // Everything, with NAME at its six-character floor: 6+6+6+15+5 and four gaps of two = 46.
    const all = await table(columns, rows, s, { terminal: true, width: 46 });
    expect(all.split('\n')[0]).toBe('ID      NAME    KIND    STATE            WHEN');
    expect(all).toContain('acc_1   a-nam…  oauth2  needs-reconnect  never');
    // One column less: STATE goes first, and NAME gets its room back.
    const less = await table(columns, rows, s, { terminal: true, width: 45 });
    expect(less).toBe(['ID      NAME                 KIND    WHEN', 'acc_1   a-name-that-is-long  oauth2  never', 'acc_22  me                   keys    in 5m', ''].join('\n'));
    // Then KIND; ID and WHEN, which may not be left out, stay however narrow the terminal.
    const narrow = await table(columns, rows, s, { terminal: true, width: 20 });
    expect(narrow.split('\n')[0]).toBe('ID      NAME    WHEN');
    for (const w of [46, 45, 30, 22]) for (const line of (await table(columns, rows, s, { terminal: true, width: w })).split('\n')) expect(line.length, `${w}: ${line}`).toBeLessThanOrEqual(w);
  });

  it('a width only for terminals: piped output is never cut, whatever COLUMNS says', async () => {
    expect(terminalWidth({ stdoutIsTTY: false } as IO, { COLUMNS: '40' })).toBeUndefined();
    expect(terminalWidth({ stdoutIsTTY: true, stdout: { columns: 0 } } as unknown as IO, { COLUMNS: '40' })).toBe(40);
    expect(terminalWidth({ stdoutIsTTY: true, stdout: { columns: 99 } } as unknown as IO, { COLUMNS: '40' })).toBe(99);
    expect(terminalWidth({ stdoutIsTTY: true, stdout: {} } as unknown as IO, {})).toBeUndefined();
    expect(await table(head, rows, await plainStyle(), { width: 20 })).toBe(await table(head, rows, await plainStyle()));
  });
});

describe('sortByAppAndNickname', () => {
  it('orders by app, then nickname, in code-unit order', () => {
    const accounts = [
      { app: 'slack', nickname: 'b' },
      { app: 'github', nickname: 'z' },
      { app: 'slack', nickname: 'A' },
      { app: 'github', nickname: 'a' },
      { app: 'git', nickname: 'q' },
      { app: 'slack', nickname: 'é' },
    ];
    expect(sortByAppAndNickname(accounts).map((a) => `${a.app}/${a.nickname}`)).toEqual(['git/q', 'github/a', 'github/z', 'slack/A', 'slack/b', 'slack/é']);
  });

  it('agrees with a plain comparison over many accounts', () => {
    const apps = ['stripe', 'github', 'slack', 'openai', 'git'];
    const accounts = Array.from({ length: 500 }, (_, i) => ({ app: apps[(i * 7) % apps.length]!, nickname: `n${(i * 7919) % 1000}` }));
    const expected = [...accounts].sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : a.nickname < b.nickname ? -1 : a.nickname > b.nickname ? 1 : 0));
    expect(sortByAppAndNickname(accounts)).toEqual(expected);
  });
});
