// The streaming masker must give the same output however the input is cut
// into chunks, and that output must be the leftmost-longest replacement of
// every secret, computed here independently of the masker.
import { describe, it, expect } from 'vitest';
import { Masker, type Secret } from '../../src/output/masker.js';

/**
 * Feeds the UTF-8 bytes of text cut at the given byte offsets, and records what
 * came out after each chunk (the masker transforms synchronously).
 */
function feedAt(secrets: Secret[], text: string, cuts: number[]): { after: string[]; all: string } {
  const bytes = Buffer.from(text, 'utf8');
  const bounds = [0, ...cuts, bytes.length];
  return feed(secrets, bounds.slice(1).map((end, i) => bytes.subarray(bounds[i], end)));
}

function feed(secrets: Secret[], chunks: (string | Buffer)[]): { after: string[]; all: string } {
  const m = new Masker(secrets);
  const after: string[] = [];
  const all: Buffer[] = [];
  const drain = () => {
    const out: Buffer[] = [];
    for (let b: Buffer | null; (b = m.read()) !== null; ) out.push(b);
    all.push(...out);
    return Buffer.concat(out).toString('utf8');
  };
  for (const c of chunks) {
    m.write(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    after.push(drain());
  }
  m.end();
  drain();
  return { after, all: Buffer.concat(all).toString('utf8') };
}

/** Reference: scan left to right; at each position replace the longest secret starting there. */
function reference(secrets: Secret[], text: string): string {
  const sorted = secrets.filter((s) => s.value).sort((a, b) => b.value.length - a.value.length);
  let out = '';
  for (let i = 0; i < text.length; ) {
    const hit = sorted.find((s) => text.startsWith(s.value, i));
    if (hit) {
      out += `<acct:${hit.name}>`;
      i += hit.value.length;
    } else out += text[i++];
  }
  return out;
}

const CASES: { name: string; secrets: Secret[]; texts: string[] }[] = [
  {
    name: 'one secret',
    secrets: [{ name: 'TOKEN', value: 'ghp_s3cr3t' }],
    texts: ['token=ghp_s3cr3t\n', 'ghp_s3cr3tghp_s3cr3t', 'ghp_ghp_s3cr3t ghp_s3cr', 'gghp_s3cr3t3t', 'nothing here'],
  },
  {
    name: 'a secret that is a prefix of another',
    secrets: [
      { name: 'SHORT', value: 'tok' },
      { name: 'LONG', value: 'token123' },
    ],
    texts: ['token123', 'tokenX', 'tok tok', 'toktoken123tok', 'token12', 'ttoken123'],
  },
  {
    name: 'overlapping secrets',
    secrets: [
      { name: 'A', value: 'abcd' },
      { name: 'B', value: 'cdef' },
      { name: 'C', value: 'bc' },
    ],
    texts: ['abcdef', 'xcdefabcd', 'abcabcdef', 'bcdef', 'ababcdcdef'],
  },
  {
    name: 'a short secret inside a long one',
    secrets: [
      { name: 'LONG', value: 'abcdef' },
      { name: 'INNER', value: 'cd' },
    ],
    texts: ['abcdef', 'abcdeX', 'abcd', 'xxabcdefcdab'],
  },
  {
    name: 'self-overlapping secret',
    secrets: [{ name: 'S', value: 'aab' }],
    texts: ['aaab', 'aaaab', 'aabaab', 'aaa'],
  },
  {
    name: 'a one-byte secret beside a longer one starting with it',
    secrets: [
      { name: 'X', value: 'x' },
      { name: 'XYX', value: 'xyx' },
    ],
    texts: ['axbxyxc', 'xxyxx', 'xyxyx', 'yyy'],
  },
  {
    name: 'multi-byte secret',
    secrets: [{ name: 'U', value: 'pässwörd✓' }],
    texts: ['say pässwörd✓ now', 'pässwö pässwörd✓'],
  },
];

describe('Masker', () => {
  for (const c of CASES) {
    it(`${c.name}: every split into two and three chunks gives the whole-text result`, () => {
      for (const text of c.texts) {
        const expected = reference(c.secrets, text);
        const size = Buffer.byteLength(text);
        expect(feedAt(c.secrets, text, []).all, text).toBe(expected);
        for (let i = 0; i <= size; i++) {
          expect(feedAt(c.secrets, text, [i]).all, `${text} split at ${i}`).toBe(expected);
          for (let j = i; j <= size; j++) expect(feedAt(c.secrets, text, [i, j]).all, `${text} split at ${i},${j}`).toBe(expected);
        }
        // One byte at a time.
        expect(feedAt(c.secrets, text, Array.from({ length: size }, (_, i) => i)).all, `${text} byte by byte`).toBe(expected);
      }
    });
  }

  it('random texts over a small alphabet match the reference for every split point', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const secrets: Secret[] = [
      { name: 'A', value: 'aba' },
      { name: 'B', value: 'ab' },
      { name: 'C', value: 'bab' },
      { name: 'D', value: 'abab' },
    ];
    for (let n = 0; n < 300; n++) {
      const text = Array.from({ length: Math.floor(next() * 12) }, () => 'abc'[Math.floor(next() * 3)]).join('');
      const expected = reference(secrets, text);
      for (let i = 0; i <= text.length; i++) expect(feed(secrets, [text.slice(0, i), text.slice(i)]).all, `${text} at ${i}`).toBe(expected);
    }
  });

  it('tells apart long secrets that share their first 280 bytes, and finds many secrets in one text', () => {
    const base = Array.from({ length: 300 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(i * 7) % 36]).join('');
    const secrets: Secret[] = [
      { name: 'A', value: base },
      { name: 'B', value: `${base.slice(0, 280)}${'Z'.repeat(40)}` },
      ...Array.from({ length: 20 }, (_, i) => ({ name: `K${i}`, value: `key-${i}-${'q'.repeat(i)}` })),
    ];
    const text = `x${base}y${secrets[1]!.value}z${base.slice(0, 299)}!` + Array.from({ length: 20 }, (_, i) => ` key-${i}-${'q'.repeat(i + 1)}`).join('');
    const expected = reference(secrets, text);
    expect(expected).toContain('x<acct:A>y<acct:B>z');
    expect(expected).toContain(' <acct:K19>q');
    for (let i = 0; i <= text.length; i += 7) expect(feed(secrets, [text.slice(0, i), text.slice(i)]).all, `split at ${i}`).toBe(expected);
  });

  it('never lets a whole secret through, whatever the chunking', () => {
    const secrets: Secret[] = [
      { name: 'TOKEN', value: 'sk-live-1234567890' },
      { name: 'OTHER', value: 'sk-live-12' },
    ];
    const text = 'a sk-live-1234567890 b sk-live-12 c sk-live-123456789 d';
    for (let i = 0; i <= text.length; i++) {
      const { all } = feed(secrets, [text.slice(0, i), text.slice(i)]);
      expect(all).not.toContain('sk-live-1234567890');
      expect(all).toBe('a <acct:TOKEN> b <acct:OTHER> c <acct:OTHER>3456789 d');
    }
  });

  it('holds back only the tail that could start a secret, so prompts reach the terminal', () => {
    const secrets: Secret[] = [{ name: 'TOKEN', value: 'hunter2-secret' }];
    const r = feed(secrets, ['Password: ', 'enter hunt', 'er2-secret!', ' done']);
    expect(r.after).toEqual(['Password: ', 'enter ', '<acct:TOKEN>!', ' done']);
  });

  it('emits a held partial secret at the end of the stream when it never completes', () => {
    const secrets: Secret[] = [{ name: 'TOKEN', value: 'hunter2-secret' }];
    const r = feed(secrets, ['last words: hunter2']);
    expect(r.after).toEqual(['last words: ']);
    expect(r.all).toBe('last words: hunter2');
  });

  it('ignores empty secrets and passes text without secrets through unchanged', () => {
    const r = feed([{ name: 'EMPTY', value: '' }], ['plain ', 'text\n']);
    expect(r.after).toEqual(['plain ', 'text\n']);
  });
});
