/*
 * Off-heap building blocks of the target store (store.ts): growable typed arrays, an
 * append-only UTF-8 arena of 16 MB Buffers, and the string hash of its index. Millions of
 * records live here as bytes, so the JS heap (and the GC's work) stays small.
 */

export const CHUNK = 16 * 1024 * 1024;

export class Grow<T extends Float64Array | Int32Array> {
  public a: T;
  public constructor(private readonly make: (n: number) => T) {
    this.a = make(1024);
  }
  public set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = this.make(Math.max(this.a.length * 2, i + 1));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

/** FNV-1a over UTF-16 units. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export type Slicer = { utf8Slice(start: number, end: number): string };

/** Append-only UTF-8 storage of entries (a key, then its fields); an entry is a position and byte lengths. */
export class Arena {
  private readonly chunks: Buffer[] = [];
  private used = CHUNK;
  public bytes = 0;
  /** Byte lengths of the last put: key part, whole entry. */
  public keyLen = 0;
  public len = 0;

  /** Store key + fields; returns the position (chunk * CHUNK + offset), lengths in keyLen/len. */
  public put(key: string, fields: string): number {
    const max = (key.length + fields.length) * 3;
    if (max > CHUNK) throw new Error(`record of ${key.length + fields.length} characters is too large for the target store`);
    if (this.used + max > CHUNK) {
      this.chunks.push(Buffer.allocUnsafe(CHUNK));
      this.used = 0;
    }
    const c = this.chunks.length - 1;
    const b = this.chunks[c];
    this.keyLen = b.write(key, this.used, 'utf8');
    this.len = this.keyLen + b.write(fields, this.used + this.keyLen, 'utf8');
    const at = c * CHUNK + this.used;
    this.used += this.len;
    this.bytes += this.len;
    return at;
  }

  public get allocated(): number {
    return this.chunks.length * CHUNK;
  }

  public get(at: number, from: number, to: number): string {
    const c = Math.floor(at / CHUNK);
    const off = at - c * CHUNK;
    return (this.chunks[c] as unknown as Slicer).utf8Slice(off + from, off + to);
  }
}

