// Streaming secret masking for `acct exec`. Replaces each secret with
// <acct:NAME> even when it is split across chunks: only the shortest tail that
// could still start a secret is held back, so prompts without a newline still
// reach the terminal. Where secrets overlap, the leftmost wins, and of those
// starting at one place the longest.
import { Transform, type TransformCallback } from 'node:stream';

export interface Secret {
  name: string;
  value: string;
}

interface Needle {
  needle: Buffer;
  replacement: Buffer;
}

/** Wu-Manber's window is at most this long, so its shifts fit in a byte. */
const MAX_WINDOW = 255;

/**
 * Finds every secret in one pass over the data, whatever their number
 * (Wu-Manber): a window as long as the shortest secret (at most 255 bytes) slides along the data,
 * and the last two bytes under it say how far it can move without skipping a
 * possible start. Only where they end some secret's window is anything
 * compared. Measured in Node 20 on 128 MB with 10 secrets in 64 KiB chunks
 * (CPU time, old and new in the same minute): the Masker went from 150-190
 * MB/s (one Buffer.indexOf per secret) to 700-1000 MB/s. The search alone
 * runs at 1300-1700 MB/s when the secrets share a prefix and 2900-3300 MB/s
 * when they do not; one RegExp of all of them, longest first, ran at
 * 1200-2000 and 250-340 MB/s, and a byte-by-byte Aho-Corasick automaton at
 * 150-200 MB/s.
 */
class MultiSearch {
  private readonly window: number;
  private readonly block: 1 | 2;
  private readonly shift: Uint8Array;
  /** The secrets whose window ends in a given block, longest first: at one place the first that matches wins. */
  private readonly ending = new Map<number, Needle[]>();

  constructor(needles: Needle[]) {
    let window = MAX_WINDOW;
    for (const { needle } of needles) window = Math.min(window, needle.length);
    this.window = window;
    this.block = window >= 2 ? 2 : 1;
    const b = this.block;
    this.shift = new Uint8Array(b === 2 ? 65536 : 256).fill(window - b + 1);
    for (const n of needles) {
      const s = n.needle;
      for (let j = b - 1; j < window; j++) {
        const h = b === 2 ? (s[j - 1]! << 8) | s[j]! : s[j]!;
        this.shift[h] = Math.min(this.shift[h]!, window - 1 - j);
      }
      const h = b === 2 ? (s[window - 2]! << 8) | s[window - 1]! : s[window - 1]!;
      const list = this.ending.get(h);
      if (list) list.push(n);
      else this.ending.set(h, [n]);
    }
    // Each of find's paths taken a few times on a few bytes before any
    // output, so that V8 optimizes find with feedback for all of them. Left
    // to the output alone, the first 64 KiB chunk runs long before any
    // feedback is kept, the optimized code then meets a path it has none for
    // and is thrown away and built again (--trace-deopt: "insufficient type
    // feedback"). Measured in Node 20, in process, one first pass over the
    // bench's 128 MB in 64 KiB chunks, 15 alternating runs on a loaded host:
    // median 228 ms before, 181 after (minimum 127, 100). The shortest
    // secret is the one the window is made from.
    const shortest = needles.reduce((a, b) => (b.needle.length < a.needle.length ? b : a)).needle;
    const miss = Buffer.alloc(window * 2 + 2, ' ');
    const hit = Buffer.concat([miss, shortest]);
    for (let i = 0; i < 10; i++) {
      this.find(hit, 0);
      this.find(miss, 0);
    }
  }

  /** The leftmost-longest secret that lies wholly in buf at or after from. */
  find(buf: Buffer, from: number): { at: number; s: Needle } | undefined {
    const { window, shift } = this;
    const two = this.block === 2;
    const n = buf.length;
    for (let p = from; p + window <= n; ) {
      const e = p + window - 1;
      const h = two ? (buf[e - 1]! << 8) | buf[e]! : buf[e]!;
      const d = shift[h]!;
      if (d !== 0) {
        p += d;
        continue;
      }
      for (const s of this.ending.get(h)!) if (matchesAt(buf, p, s.needle)) return { at: p, s };
      p++;
    }
    return undefined;
  }
}

/** Whether buf holds the first `length` bytes of needle at `at`. */
function matchesAt(buf: Buffer, at: number, needle: Buffer, length = needle.length): boolean {
  if (at + length > buf.length) return false;
  for (let k = 0; k < length; k++) if (buf[at + k] !== needle[k]) return false;
  return true;
}

export class Masker extends Transform {
  private readonly secrets: Needle[];
  private readonly search: MultiSearch | undefined;
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: Secret[]) {
    super();
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = secrets
      .filter((s) => s.value.length > 0)
      .map((s) => ({ needle: Buffer.from(s.value), replacement: Buffer.from(`<acct:${s.name}>`) }))
      .sort((a, b) => b.needle.length - a.needle.length);
    this.search = this.secrets.length ? new MultiSearch(this.secrets) : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const { out, rest } = this.scan(buf, false);
    this.pending = rest;
    if (out.length) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    const { out } = this.scan(this.pending, true);
    if (out.length) this.push(out);
    done();
  }

  private scan(buf: Buffer, final: boolean): { out: Buffer; rest: Buffer } {
    const parts: Buffer[] = [];
    let pos = 0;
    // Where the held-back tail starts, for the search position it was worked
    // out from; it stays right while that position has not passed it.
    let tail = -1;
    const tailFrom = (from: number) => (tail >= from ? tail : (tail = buf.length - this.heldTail(buf, from)));
    for (;;) {
      const best = this.search?.find(buf, pos);
      if (!best) break;
      // A longer secret may start at or before this match and end past the
      // buffer: wait for more input before deciding.
      if (!final && tailFrom(pos) <= best.at) break;
      parts.push(buf.subarray(pos, best.at), best.s.replacement);
      pos = best.at + best.s.needle.length;
    }
    const end = final ? buf.length : tailFrom(pos);
    const rest = Buffer.from(buf.subarray(end));
    // Nothing replaced: no copy of the data.
    if (!parts.length) return { out: buf.subarray(0, end), rest };
    parts.push(buf.subarray(pos, end));
    return { out: Buffer.concat(parts), rest };
  }

  /** Length of the longest suffix of buf[from..] that is a proper prefix of some secret. */
  private heldTail(buf: Buffer, from: number): number {
    const available = buf.length - from;
    let longest = 0;
    for (const { needle } of this.secrets) {
      for (let k = Math.min(needle.length - 1, available); k > longest; k--) {
        if (matchesAt(buf, buf.length - k, needle, k)) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}
