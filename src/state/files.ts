/*
 * Crash-safe file primitives for the run directory: atomic JSON writes (temp file, fsync,
 * rename) and append-only NDJSON logs whose readers tolerate a torn last line.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export class CorruptStatusFileError extends Error {
  public constructor(public readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'CorruptStatusFileError';
  }
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

/** Write a whole file so that readers see either the old or the new content, never a mix. */
export function writeFileAtomic(file: string, content: string | Buffer): void {
  ensureDir(dirname(file));
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
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

/** Append records as NDJSON in one write, so a crash leaves at most one torn last line. */
export function appendNdjson(file: string, records: unknown[]): void {
  if (records.length === 0) return;
  appendFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/**
 * Read an NDJSON log. A torn last line (a crash mid-append) is ignored; a bad line
 * anywhere else means the file was damaged, and is reported with its line number.
 */
export function readNdjson<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      const isLast = lines.slice(i + 1).every((l) => l.trim() === '');
      if (isLast) break;
      throw new CorruptStatusFileError(file, `line ${i + 1} is not valid JSON`);
    }
  }
  return out;
}
