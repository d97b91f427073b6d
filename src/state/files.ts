/*
 * Crash-safe file primitives for the run directory.
 *
 * - Atomic JSON writes: temporary file, fsync, rename, fsync of the directory (so the
 *   rename itself survives a power loss).
 * - Append-only NDJSON logs whose every append is one write of whole lines, fsynced when
 *   a later step depends on it. A torn last line (a crash or a full disk mid-append) is cut
 *   off when the log is opened for appending, before anything new is written, so the next
 *   append never joins onto it. Readers skip a torn last line.
 * - Private modes: directories 0700, files 0600, whatever the umask (run files hold
 *   customer rows).
 * - Streaming line reads, so no log is ever read into one string.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
  chmodSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export class CorruptStatusFileError extends Error {
  public constructor(public readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'CorruptStatusFileError';
  }
}

/** Disk full, read-only file system, permissions: a run file could not be written. */
export class RunFileWriteError extends Error {
  public constructor(public readonly file: string, public readonly code: string, cause: unknown) {
    super(`${file} could not be written (${code})`, { cause });
    this.name = 'RunFileWriteError';
  }
}

function writeError(file: string, err: unknown): RunFileWriteError {
  return new RunFileWriteError(file, (err as NodeJS.ErrnoException).code ?? 'EIO', err);
}

export function ensureDir(dir: string): void {
  if (existsSync(dir)) return;
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    chmodSync(dir, DIR_MODE); // the umask may have narrowed or (for recursive parents) not applied
  } catch (err) {
    throw writeError(dir, err);
  }
}

/** fsync a directory so that renames and new files in it survive a power loss. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse to fsync a directory; nothing more can be done there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Write a whole file so that readers see either the old or the new content, never a mix;
 * with `durable` (the default), fsynced with its directory so it survives a power loss.
 */
export function writeFileAtomic(file: string, content: string | Buffer, durable = true): void {
  const dir = dirname(file);
  ensureDir(dir);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = openSync(tmp, 'w', FILE_MODE);
    try {
      writeAll(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    throw writeError(file, err);
  }
  if (durable) fsyncDir(dir);
}

export function writeJsonAtomic(file: string, value: unknown, durable = true): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', durable);
}

export function readJson<T>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CorruptStatusFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CorruptStatusFileError(file, 'is not valid JSON');
  }
}

export function readJsonIfExists<T>(file: string): T | undefined {
  return existsSync(file) ? readJson<T>(file) : undefined;
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * An NDJSON log open for appending by the one runner that holds the run's lock. Opening
 * it cuts a torn last line off (anything after the last newline), so every record that
 * follows starts on a line of its own.
 */
export class AppendLog {
  private fd: number | undefined;

  public constructor(public readonly file: string) {}

  /** Bytes cut off a torn tail when the log was opened (0 when it was whole). */
  public repaired = 0;

  public open(): this {
    if (this.fd !== undefined) return this;
    try {
      ensureDir(dirname(this.file));
      const existed = existsSync(this.file);
      this.fd = openSync(this.file, 'a+', FILE_MODE);
      if (!existed) fsyncDir(dirname(this.file));
      const size = fstatSync(this.fd).size;
      if (size > 0) {
        const keep = lastNewlineEnd(this.fd, size);
        if (keep < size) {
          ftruncateSync(this.fd, keep);
          fsyncSync(this.fd);
          this.repaired = size - keep;
        }
      }
    } catch (err) {
      throw writeError(this.file, err);
    }
    return this;
  }

  /** Append records as whole lines in one write; with `sync`, fsync before returning. */
  public append(records: unknown[], sync: boolean): void {
    if (records.length === 0) return;
    this.open();
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    let size: number | undefined;
    try {
      size = fstatSync(this.fd!).size;
      writeAll(this.fd!, Buffer.from(text, 'utf8'));
      if (sync) fsyncSync(this.fd!);
    } catch (err) {
      // A write cut short (full disk, I/O error) must not leave half a line for the next append to join onto.
      if (size !== undefined) {
        try {
          ftruncateSync(this.fd!, size);
        } catch {
          // cannot even truncate: the next open cuts the torn line
        }
      }
      throw writeError(this.file, err);
    }
  }

  public close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }
}

/** Offset just past the last '\n' of an open file of `size` bytes (0 if there is none). */
function lastNewlineEnd(fd: number, size: number): number {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = readSync(fd, chunk, 0, end - start, start);
    for (let i = n - 1; i >= 0; i--) if (chunk[i] === 0x0a) return start + i + 1;
    end = start;
  }
  return 0;
}

/**
 * Read an NDJSON file line by line from `offset`, without holding it whole. Calls `onRecord`
 * for each parsed record; returns the offset just past the last whole line read. A torn
 * last line (no newline yet, or not JSON and last) is left for a later read; a bad line
 * anywhere else means the file was damaged and is reported with its line number.
 */
export function readNdjsonFrom<T>(file: string, offset: number, onRecord: (rec: T) => void, firstLine = 1): { offset: number; lines: number } {
  if (!existsSync(file)) return { offset, lines: 0 };
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new CorruptStatusFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const buf = Buffer.alloc(1024 * 1024);
  let carry = Buffer.alloc(0);
  let pos = offset;
  let consumed = offset;
  let lineNo = firstLine;
  let lines = 0;
  let pendingBad: number | undefined;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      const dataStart = pos - carry.length;
      pos += n;
      const data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== 0x0a) continue;
        const line = data.toString('utf8', start, i);
        if (line.trim() !== '') {
          if (pendingBad !== undefined) throw new CorruptStatusFileError(file, `line ${pendingBad} is not valid JSON`);
          try {
            onRecord(JSON.parse(line) as T);
          } catch (err) {
            if (err instanceof SyntaxError) pendingBad = lineNo;
            else throw err;
          }
        }
        if (pendingBad === undefined) {
          consumed = dataStart + i + 1;
          lines++;
        }
        lineNo++;
        start = i + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
  } finally {
    closeSync(fd);
  }
  // A bad line followed only by whitespace is a torn tail: the caller reads it again later.
  return { offset: consumed, lines };
}

/** Every record of an NDJSON file (for small files: events, tests). */
export function readNdjson<T>(file: string): T[] {
  const out: T[] = [];
  readNdjsonFrom<T>(file, 0, (r) => out.push(r));
  return out;
}
