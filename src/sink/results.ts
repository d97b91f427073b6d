/*
 * Bulk API 2.0 result files: parsing the CSV with the job's own delimiter, parsing
 * `sf__Error` (salesforce-api.md §3) and classifying its code as transient (worth sending
 * the row again later) or permanent (fix the data).
 */
import { parse } from 'csv-parse/sync';
import type { ColumnDelimiter } from './bulk-client.js';
import { DELIMITER_CHARS } from './csv.js';

/**
 * Rows of a result CSV as objects keyed by header. Strict: a malformed file (unbalanced
 * quotes, a row with the wrong number of cells) throws instead of being patched up.
 */
export function parseResultCsv(text: string, delimiter: ColumnDelimiter = 'COMMA'): Array<Record<string, string>> {
  if (text.replace(/^\uFEFF/, '').trim() === '') return [];
  const delim = DELIMITER_CHARS[delimiter];
  if (!delim) throw new Error(`Unknown column delimiter ${String(delimiter)}.`);
  try {
    return parse(text, {
      columns: true,
      bom: true,
      delimiter: delim,
      quote: '"',
      escape: '"',
      skip_empty_lines: true,
      relax_quotes: false,
      relax_column_count: false,
      trim: false,
    }) as Array<Record<string, string>>;
  } catch (err) {
    throw new Error(`Could not parse a Bulk API result file: ${(err as Error).message}`, { cause: err });
  }
}

export type SfError = { code: string; message: string; fields: string[] };

/**
 * Parse an `sf__Error` value: `CODE:message:Field1, Field2 --`, `CODE:message:--`, or
 * `CODE:message` (no tail). Messages may contain colons, e.g.
 * `UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: 001a,001b:--`.
 */
export function parseSfError(s: string): SfError {
  const text = (s ?? '').trim();
  if (text === '') return { code: 'UNKNOWN', message: '', fields: [] };
  const head = /^([A-Za-z][A-Za-z0-9_]*)\s*:/.exec(text);
  if (!head) {
    return /^[A-Za-z][A-Za-z0-9_]*$/.test(text) ? { code: text, message: '', fields: [] } : { code: 'UNKNOWN', message: text, fields: [] };
  }
  const code = head[1];
  let rest = text.slice(head[0].length);
  let fields: string[] = [];
  if (/--\s*$/.test(rest)) {
    rest = rest.replace(/\s*--\s*$/, '');
    const cut = rest.lastIndexOf(':');
    if (cut >= 0) {
      const tail = rest.slice(cut + 1).trim();
      const tokens = tail === '' ? [] : tail.split(/[\s,]+/).filter(Boolean);
      if (tokens.every((t) => /^[A-Za-z][A-Za-z0-9_.]*$/.test(t))) {
        fields = tokens;
        rest = rest.slice(0, cut);
      }
    }
  }
  return { code, message: rest.trim(), fields };
}

/** sf__Error codes (and Bulk job error names) that mean "send the row again later". */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_LOCK_ROW',
  'API_TEMPORARILY_UNAVAILABLE',
  'SERVER_UNAVAILABLE',
  'UNKNOWN_EXCEPTION',
  'REQUEST_RUNNING_TOO_LONG',
  'TooManyLockFailure',
]);

const TRANSIENT_UPPER = new Set([...TRANSIENT_CODES].map((c) => c.toUpperCase()));

/**
 * transient: the row may load if sent again (lock contention, platform busy or timed out);
 * permanent: data or configuration must change. CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY
 * (a trigger failed) is transient only when the trigger hit a lock or the CPU time limit.
 */
export function classifySfError(code: string, message?: string): 'transient' | 'permanent' {
  const c = (code ?? '').trim().toUpperCase();
  if (TRANSIENT_UPPER.has(c)) return 'transient';
  if (c === 'CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY' && message && /UNABLE_TO_LOCK_ROW|unable to obtain exclusive access|CPU time/i.test(message)) {
    return 'transient';
  }
  return 'permanent';
}
