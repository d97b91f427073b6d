/*
 * Values of the emulator's SQL engine: comparison per column type (text by code point,
 * numbers numerically — also exact decimals beyond 2^53 given as text —, booleans), literal
 * coercion, and the wire form of a value per Data Cloud type (dates, timestamps, and
 * numbers written as raw JSON literals with every digit).
 */
import type { DcType } from '../config.js';
import { SqlError } from './sql-parse.js';
import type { Value } from './table.js';

export type Kind = 'text' | 'num' | 'bool';

const NUMERIC: ReadonlySet<DcType> = new Set(['Numeric', 'Double', 'Integer', 'BigInt']);

export function kindOf(type: DcType): Kind {
  if (NUMERIC.has(type)) return 'num';
  if (type === 'Bool') return 'bool';
  return 'text';
}

/** Code-point comparison of two strings (like a binary collation of UTF-8). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // UTF-16 → code point order: surrogates (astral) sort above U+E000..U+FFFF.
      if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      return x - y;
    }
  }
  return a.length - b.length;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/** Exact comparison of two decimals given as numbers or as text (e.g. "123456789012345678901"). */
export function compareNumbers(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = decimalParts(a);
  const y = decimalParts(b);
  if (!x || !y) return Number(a) - Number(b);
  if (x.neg !== y.neg) return x.zero && y.zero ? 0 : x.neg ? -1 : 1;
  const sign = x.neg ? -1 : 1;
  if (x.int.length !== y.int.length) return sign * (x.int.length - y.int.length);
  if (x.int !== y.int) return sign * (x.int < y.int ? -1 : 1);
  const w = Math.max(x.frac.length, y.frac.length);
  const fx = x.frac.padEnd(w, '0');
  const fy = y.frac.padEnd(w, '0');
  return fx === fy ? 0 : sign * (fx < fy ? -1 : 1);
}

function decimalParts(v: number | string): { neg: boolean; int: string; frac: string; zero: boolean } | undefined {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    s = Number.isInteger(v) ? BigInt(v).toString() : String(v);
    if (/e/i.test(s)) return undefined;
  } else s = v.trim();
  const m = DECIMAL.exec(s);
  if (!m || (m[2] === '' && !m[3])) return undefined;
  const int = m[2].replace(/^0+/, '');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return { neg: m[1] === '-', int, frac, zero: int === '' && frac === '' };
}

/** Compare two non-null values of one kind. */
export function comparatorFor(kind: Kind): (a: Exclude<Value, null>, b: Exclude<Value, null>) => number {
  if (kind === 'num') return (a, b) => compareNumbers(a as number | string, b as number | string);
  if (kind === 'bool') return (a, b) => Number(a === true || a === 'true') - Number(b === true || b === 'true');
  return (a, b) => (typeof a === 'string' && typeof b === 'string' ? compareText(a, b) : compareText(String(a), String(b)));
}

/** A literal's value as the column's kind, or a 400 for an impossible comparison. */
export function coerce(v: Value, text: string | undefined, kind: Kind, colType: DcType, colName: string): Value {
  if (v === null) return null;
  if (kind === 'num') {
    if (typeof v === 'number') return text !== undefined && !Number.isSafeInteger(v) && /^-?\d+$/.test(text) ? text : v;
    const s = typeof v === 'string' ? v.trim() : '';
    if (s === '' || !Number.isFinite(Number(s))) throw new SqlError(`Cannot compare numeric column "${colName}" with ${JSON.stringify(v)}.`);
    return Number.isSafeInteger(Number(s)) || !/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s;
  }
  if (kind === 'text') {
    if (typeof v !== 'string') throw new SqlError(`Cannot compare ${colType} column "${colName}" with ${String(v)}: quote the value as a string literal.`);
    return v;
  }
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new SqlError(`Cannot compare Bool column "${colName}" with ${JSON.stringify(v)}.`);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** 2024-01-01 00:00:00.000 UTC */
export function formatTimestamp(v: Value): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? UTC$/.test(v)) return v;
  const d = new Date(typeof v === 'number' ? v : String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} UTC`;
}

/** YYYY-MM-DD */
export function formatDate(v: Value): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' && v.length === 10 && v.charCodeAt(4) === 45 && v.charCodeAt(7) === 45) return v;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v)) return v.slice(0, 10);
  const d = new Date(typeof v === 'number' ? v : String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().slice(0, 10);
}

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

/**
 * A number cell for JSON.stringify: numbers as they are; a decimal given as text (e.g. a
 * BigInt beyond 2^53) as a raw JSON number literal with every digit (JSON.rawJSON, Node ≥ 21).
 */
export function wireNumber(v: Value | undefined): unknown {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (JSON_NUMBER.test(s)) return rawJSON ? rawJSON(s) : Number(s);
    return Number(s);
  }
  return Number(v);
}

/** The wire form of a stored value for a column type. */
export function formatterFor(type: DcType): (v: Value | undefined) => unknown {
  switch (type) {
    case 'Varchar':
      return (v) => (typeof v === 'string' ? v : v === null || v === undefined ? null : String(v));
    case 'Numeric':
    case 'Double':
    case 'Integer':
    case 'BigInt':
      return wireNumber;
    case 'Bool':
      return (v) => (v === null || v === undefined ? null : typeof v === 'boolean' ? v : v === 'true' || v === 1);
    case 'Date':
      return (v) => formatDate(v ?? null);
    case 'Timestamp':
    case 'TimestampTZ':
      return (v) => formatTimestamp(v ?? null);
    default:
      return (v) => v ?? null;
  }
}
