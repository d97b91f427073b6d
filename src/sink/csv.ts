/*
 * Upload CSV for Bulk API 2.0 and the conversion of Data Cloud values into the text form
 * a target field wants (design.md §11): dates yyyy-MM-dd, dateTimes ISO 8601 in UTC with
 * Z, booleans true/false, plain decimals, and `#N/A` to clear a field.
 */
import { plainDecimal } from '../source/sql.js';
import type { ColumnDelimiter, LineEnding } from './bulk-client.js';

/** The Bulk API token that sets a field to null (an empty cell leaves it unchanged). */
export const NULL_TOKEN = '#N/A';

export const DELIMITER_CHARS: Record<ColumnDelimiter, string> = {
  BACKQUOTE: '`',
  CARET: '^',
  COMMA: ',',
  PIPE: '|',
  SEMICOLON: ';',
  TAB: '\t',
};

/** One CSV cell: quoted when it holds the delimiter, a quote, CR, LF, or edge whitespace. */
export function csvCell(v: string, delimiter = ','): string {
  if (v === '') return '';
  const c0 = v.charCodeAt(0);
  const cn = v.charCodeAt(v.length - 1);
  if (v.includes('"')) return `"${v.replace(/"/g, '""')}"`;
  if (v.includes(delimiter) || v.includes('\n') || v.includes('\r') || c0 <= 32 || cn <= 32) return `"${v}"`;
  return v;
}

/**
 * One CSV record (no line ending) from converted values: null is the clearing token #N/A.
 * `plain[i]` marks columns whose converted text never needs quotes (numbers, dates, booleans).
 */
export function csvLine(values: Array<string | null>, delimiter = ',', plain?: boolean[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += delimiter;
    out += v === null ? NULL_TOKEN : plain?.[i] ? v : csvCell(v, delimiter);
  }
  return out;
}

/**
 * The line ending a CSV record needs, from the line breaks inside its (quoted) values: the
 * org checks every line break of an upload, embedded ones included, against the job's
 * lineEnding (salesforce-api.md §2.1), so a value with CRLF can only go in a CRLF job and a
 * value with a lone LF only in an LF job. 'any': no line break inside; 'both': CRLF and a
 * lone LF, which no job can carry. `line` is the record without its own line ending.
 */
export function recordLineEnding(line: string): LineEnding | 'any' | 'both' {
  let lf = false;
  let crlf = false;
  for (let i = line.indexOf('\n'); i >= 0; i = line.indexOf('\n', i + 1)) {
    if (i > 0 && line.charCodeAt(i - 1) === 13) crlf = true;
    else lf = true;
  }
  return crlf ? (lf ? 'both' : 'CRLF') : lf ? 'LF' : 'any';
}

/** The line ending of a job's CSV: the header's (the header holds API names, never a line break). */
export function csvLineEnding(csv: string | Buffer): LineEnding {
  const i = csv.indexOf('\n');
  return i > 0 && (typeof csv === 'string' ? csv.charCodeAt(i - 1) : csv[i - 1]) === 13 ? 'CRLF' : 'LF';
}

/** A job's CSV from its header line and records, each line ended by `lineEnding`. */
export function csvDocument(headerLine: string, lines: string[], lineEnding: LineEnding = 'LF'): string {
  const eol = lineEnding === 'CRLF' ? '\r\n' : '\n';
  return `${headerLine}${eol}${lines.join(eol)}${eol}`;
}

/** Field types whose converted text is digits, signs, '.', '-', ':', 'T', 'Z' or true/false: never quoted with a comma delimiter. */
export function isPlainType(fieldType: string): boolean {
  return ['int', 'long', 'double', 'currency', 'percent', 'date', 'datetime', 'time', 'boolean'].includes(fieldType.toLowerCase());
}

/**
 * A CSV document: header row, then rows (same length as the header). Quotes only where
 * needed; `null`/`undefined` → `#N/A`; booleans true/false; numbers without exponent.
 */
export function buildCsv(header: string[], rows: unknown[][], opts: { delimiter?: ColumnDelimiter; lineEnding?: LineEnding } = {}): string {
  if (header.length === 0) throw new Error('buildCsv: the header is empty.');
  const width = header.length;
  const d = DELIMITER_CHARS[opts.delimiter ?? 'COMMA'];
  const eol = opts.lineEnding === 'CRLF' ? '\r\n' : '\n';
  const lines = [csvLine(header.map(String), d)];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.length !== width) throw new Error(`buildCsv: row ${i + 1} has ${r.length} values for ${width} columns.`);
    lines.push(csvLine(r.map(cell), d));
  }
  return lines.join(eol) + eol;
}

function cell(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`buildCsv: cannot write ${v}.`);
    return plainDecimal(String(v));
  }
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

export type Converted = { ok: true; value: string | null } | { ok: false; reason: string; kind?: 'UNREPRESENTABLE' };

const TEXT_TYPES = new Set([
  'string',
  'textarea',
  'picklist',
  'multipicklist',
  'combobox',
  'email',
  'phone',
  'url',
  'id',
  'reference',
  'encryptedstring',
]);

/**
 * Convert one source value for a target field of describe type `fieldType`. Only what the
 * field's type requires is changed: `null` (and the empty string, which Salesforce stores
 * as null) means "clear the field" (the CSV writes `#N/A`); text, whitespace included, is
 * carried as it is. The literal text `#N/A` cannot be carried: in a Bulk CSV it clears the
 * field, so it is refused rather than silently blanked.
 */
export function convertValue(value: unknown, fieldType: string): Converted {
  const c = converterFor(fieldType)(value);
  return c instanceof Invalid ? { ok: false, reason: c.reason, ...(c.kind ? { kind: c.kind } : {}) } : { ok: true, value: c };
}

/** A value that cannot be written to its field. */
export class Invalid {
  public constructor(public readonly reason: string, public readonly kind?: 'UNREPRESENTABLE') {}
}

/** A converted cell: the text to upload, null (#N/A), or why it cannot be. */
export type Cell = string | null | Invalid;
export type Converter = (value: unknown) => Cell;

const NUMERIC = new Set(['int', 'long', 'double', 'currency', 'percent']);

/** The converter for a describe field type, chosen once per column; no allocation for the common cells. */
export function converterFor(fieldType: string): Converter {
  const type = fieldType.toLowerCase();
  let inner: (v: unknown) => Converted;
  switch (type) {
    case 'date':
      inner = toDate;
      break;
    case 'datetime':
      inner = toDateTime;
      break;
    case 'time':
      inner = toTime;
      break;
    case 'boolean':
      inner = toBoolean;
      break;
    case 'int':
    case 'long':
      inner = (v) => toNumber(v, true);
      break;
    case 'double':
    case 'currency':
    case 'percent':
      inner = (v) => toNumber(v, false);
      break;
    default:
      inner = (v) => toText(v, type);
  }
  const text = !NUMERIC.has(type) && type !== 'date' && type !== 'datetime' && type !== 'time' && type !== 'boolean';
  const integer = type === 'int' || type === 'long';
  const cell = (v: unknown): Cell => {
    if (text && typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v) && (text || NUMERIC.has(type))) {
      const t = String(v);
      if (!t.includes('e') && !(integer && !Number.isInteger(v))) return t === '-0' ? '0' : t;
    }
    const c = inner(v);
    return c.ok ? c.value : new Invalid(c.reason, c.kind);
  };
  // Dates and timestamps repeat across rows: remember the last few conversions.
  const memo = type === 'date' || type === 'datetime' ? new Map<unknown, Cell>() : undefined;
  return (value) => {
    if (value === null || value === undefined || value === '') return null;
    if (value === NULL_TOKEN) return new Invalid(`the text ${NULL_TOKEN} would clear the field in a Bulk API upload`, 'UNREPRESENTABLE');
    if (!memo) return cell(value);
    let c = memo.get(value);
    if (c === undefined) {
      c = cell(value);
      if (memo.size >= 4096) memo.clear();
      memo.set(value, c);
    }
    return c;
  };
}

function fail(reason: string, kind?: 'UNREPRESENTABLE'): Converted {
  return kind ? { ok: false, reason, kind } : { ok: false, reason };
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function toText(value: unknown, type: string): Converted {
  if (typeof value === 'string') return { ok: true, value };
  if (typeof value === 'number') return Number.isFinite(value) ? { ok: true, value: plainDecimal(String(value)) } : fail(`${value} is not a value for a ${type} field`);
  if (typeof value === 'boolean') return { ok: true, value: value ? 'true' : 'false' };
  if (typeof value === 'bigint') return { ok: true, value: value.toString() };
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? fail('invalid date') : { ok: true, value: value.toISOString() };
  if (Array.isArray(value) && type === 'multipicklist') return { ok: true, value: value.map(String).join(';') };
  if (TEXT_TYPES.has(type) || typeof value === 'object') return { ok: true, value: JSON.stringify(value) };
  return { ok: true, value: String(value) };
}

function toBoolean(value: unknown): Converted {
  if (typeof value === 'boolean') return { ok: true, value: value ? 'true' : 'false' };
  if (typeof value === 'number') {
    if (value === 1) return { ok: true, value: 'true' };
    if (value === 0) return { ok: true, value: 'false' };
    return fail(`${value} is not a boolean`);
  }
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['true', 't', '1', 'yes', 'y'].includes(v)) return { ok: true, value: 'true' };
    if (['false', 'f', '0', 'no', 'n'].includes(v)) return { ok: true, value: 'false' };
  }
  return fail(`${show(value)} is not a boolean`);
}

const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(value: unknown, integer: boolean): Converted {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return fail(`${value} is not a number`);
    text = String(value);
    // The common case: no exponent, so the text is already a plain decimal.
    if (!text.includes('e')) return integer && !Number.isInteger(value) ? fail(`${show(value)} is not a whole number`) : { ok: true, value: text === '-0' ? '0' : text };
  } else if (typeof value === 'bigint') {
    text = value.toString();
  } else if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) {
    text = value.trim();
  } else {
    return fail(`${show(value)} is not a number`);
  }
  const plain = plainDecimal(text);
  if (integer && plain.includes('.')) return fail(`${show(value)} is not a whole number`);
  return { ok: true, value: plain };
}

/*
 * Data Cloud writes dates as `YYYY-MM-DD` and timestamps as `YYYY-MM-DD HH:MM:SS.sss UTC`
 * (also seen: ISO 8601 with T and Z or an offset, fractional seconds up to microseconds).
 * A timestamp without a zone is taken as UTC.
 */
const STAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i;

type Parsed = { ms: number; hasTime: boolean; y: number; mo: number; d: number };

function parseStamp(value: unknown): Parsed | string {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) return 'invalid date';
    return { ms, hasTime: true, y: value.getUTCFullYear(), mo: value.getUTCMonth() + 1, d: value.getUTCDate() };
  }
  if (typeof value !== 'string') return `${show(value)} is not a date or timestamp`;
  const m = STAMP.exec(value.trim());
  if (!m) return `${show(value)} is not a date or timestamp (expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS[.sss] [UTC|Z|±HH:MM])`;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return `${show(value)} is out of range`;
  const dayMs = Date.UTC(y, mo - 1, d);
  const check = new Date(dayMs);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return `${show(value)} is not a calendar date`;
  let offsetMin = 0;
  const zone = m[8]?.toUpperCase();
  if (zone && zone !== 'Z' && zone !== 'UTC' && zone !== 'GMT') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) + Math.floor(frac * 1000) - offsetMin * 60_000;
  return { ms, hasTime: m[4] !== undefined, y, mo, d };
}

/** Salesforce accepts dates from 1700-01-01 to 4000-12-31. */
function inRange(ms: number): boolean {
  return ms >= Date.UTC(1700, 0, 1) && ms < Date.UTC(4001, 0, 1);
}

function toDate(value: unknown): Converted {
  const p = parseStamp(value);
  if (typeof p === 'string') return fail(p);
  if (!inRange(p.ms)) return fail(`${show(value)} is outside 1700-01-01…4000-12-31`);
  // A timestamp becomes its UTC calendar date.
  const iso = new Date(p.ms).toISOString();
  return { ok: true, value: iso.slice(0, 10) };
}

function toDateTime(value: unknown): Converted {
  const p = parseStamp(value);
  if (typeof p === 'string') return fail(p);
  if (!inRange(p.ms)) return fail(`${show(value)} is outside 1700-01-01…4000-12-31`);
  return { ok: true, value: new Date(p.ms).toISOString() };
}

function toTime(value: unknown): Converted {
  if (typeof value !== 'string') return fail(`${show(value)} is not a time`);
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|UTC)?$/i.exec(value.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) return fail(`${show(value)} is not a time (HH:MM[:SS[.sss]])`);
  const ms = (m[4] ?? '').padEnd(3, '0').slice(0, 3);
  return { ok: true, value: `${m[1]}:${m[2]}:${m[3] ?? '00'}.${ms}Z` };
}
