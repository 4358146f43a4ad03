// Streaming secret masking for `acct exec`. Replaces each secret with
// <acct:NAME> even when it is split across chunks: only the shortest tail that
// could still start a secret is held back, so prompts without a newline still
// reach the terminal.
import { Transform, type TransformCallback } from 'node:stream';

export interface Secret {
  name: string;
  value: string;
}

interface Needle {
  needle: Buffer;
  replacement: Buffer;
}

export class Masker extends Transform {
  private readonly secrets: Needle[];
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: Secret[]) {
    super();
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = secrets
      .filter((s) => s.value.length > 0)
      .map((s) => ({ needle: Buffer.from(s.value), replacement: Buffer.from(`<acct:${s.name}>`) }))
      .sort((a, b) => b.needle.length - a.needle.length);
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
    for (;;) {
      let best: { at: number; s: Needle } | undefined;
      for (const s of this.secrets) {
        const at = buf.indexOf(s.needle, pos);
        if (at >= 0 && (!best || at < best.at)) best = { at, s };
      }
      if (!best) break;
      // A longer secret may start at or before this match and end past the
      // buffer: wait for more input before deciding.
      if (!final && buf.length - this.heldTail(buf, pos) <= best.at) break;
      parts.push(buf.subarray(pos, best.at), best.s.replacement);
      pos = best.at + best.s.needle.length;
    }
    const hold = final ? 0 : this.heldTail(buf, pos);
    parts.push(buf.subarray(pos, buf.length - hold));
    return { out: Buffer.concat(parts), rest: Buffer.from(buf.subarray(buf.length - hold)) };
  }

  /** Length of the longest suffix of buf[from..] that is a proper prefix of some secret. */
  private heldTail(buf: Buffer, from: number): number {
    const available = buf.length - from;
    let longest = 0;
    for (const { needle } of this.secrets) {
      for (let k = Math.min(needle.length - 1, available); k > longest; k--) {
        if (buf.subarray(buf.length - k).equals(needle.subarray(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}
