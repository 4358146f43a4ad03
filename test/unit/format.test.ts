// The table and the order of acct list (and status): plain loops written for
// speed, so their output is pinned down here.
import { describe, it, expect } from 'vitest';
import { stripVTControlCharacters } from 'node:util';
import { printTable, sortByAppAndNickname, style, terminalWidth, type Style, type TableFit } from '../../src/output/format.js';
import type { IO } from '../../src/context.js';

async function table(head: string[], rows: string[][], s: Style, fit?: TableFit): Promise<string> {
  let text = '';
  const io = { writeOut: (t: string) => (text += t) } as unknown as IO;
  await printTable(io, head, rows, s, fit);
  return text;
}

const plainStyle = (): Promise<Style> => style({ stdoutIsTTY: false } as IO, {});
const colourStyle = (): Promise<Style> => style({ stdoutIsTTY: true } as IO, { FORCE_COLOR: '1' });

describe('printTable', () => {
  const head = ['ID', 'APP', 'NICKNAME', 'LAST USED'];
  const rows = [
    ['acc_1', 'github', 'me', 'never'],
    ['acc_22', 'slack', 'a-much-longer-name', '3m ago'],
  ];

  it('pads every column to its widest cell plus four spaces, with no trailing space', async () => {
    expect(await table(head, rows, await plainStyle())).toBe(
      [
        'ID        APP       NICKNAME              LAST USED',
        'acc_1     github    me                    never',
        'acc_22    slack     a-much-longer-name    3m ago',
        '',
      ].join('\n'),
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

describe('printTable fitting a width', () => {
  const head = ['ID', 'NICKNAME', 'NOTE'];
  const rows = [
    ['acc_1', 'a-rather-long-nickname', 'short'],
    ['acc_22', 'me', 'a note that goes on and on'],
  ];

  it('changes nothing when the table fits', async () => {
    const s = await plainStyle();
    expect(await table(head, rows, s, { width: 200, flexible: [1, 2] })).toBe(await table(head, rows, s));
  });

  it('first closes the gaps to two spaces, then cuts the widest flexible column with an ellipsis', async () => {
    const s = await plainStyle();
    // Four-space gaps need 64 columns; two-space ones 60.
    expect(await table(head, rows, s, { width: 60, flexible: [1, 2] })).toBe(
      ['ID      NICKNAME                NOTE', 'acc_1   a-rather-long-nickname  short', 'acc_22  me                      a note that goes on and on', ''].join('\n'),
    );
    const cut = await table(head, rows, s, { width: 40, flexible: [1, 2] });
    expect(cut).toBe(['ID      NICKNAME         NOTE', 'acc_1   a-rather-long-…  short', 'acc_22  me               a note that go…', ''].join('\n'));
    for (const line of cut.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    // Fixed columns are never cut, and no column goes below its heading (or six characters).
    const tiny = await table(head, rows, s, { width: 5, flexible: [1] });
    expect(tiny).toBe(['ID      NICKNAME  NOTE', 'acc_1   a-rathe…  short', 'acc_22  me        a note that goes on and on', ''].join('\n'));
  });

  it('a width only for terminals: piped output is never cut, whatever COLUMNS says', () => {
    expect(terminalWidth({ stdoutIsTTY: false } as IO, { COLUMNS: '40' })).toBeUndefined();
    expect(terminalWidth({ stdoutIsTTY: true, stdout: { columns: 0 } } as unknown as IO, { COLUMNS: '40' })).toBe(40);
    expect(terminalWidth({ stdoutIsTTY: true, stdout: { columns: 99 } } as unknown as IO, { COLUMNS: '40' })).toBe(99);
    expect(terminalWidth({ stdoutIsTTY: true, stdout: {} } as unknown as IO, {})).toBeUndefined();
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
