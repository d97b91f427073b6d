/*
 * Bulk API 2.0 result files: parsing the CSV with the job's own delimiter, parsing
 * `sf__Error` (salesforce-api.md §3) and classifying its code as transient (worth sending
 * the row again later) or permanent (fix the data).
 */
import { parse } from 'csv-parse/sync';
import type { ColumnDelimiter } from './bulk-client.js';
import { DELIMITER_CHARS } from './csv.js';
import { headerIndex, scanCsv } from './csv-scan.js';

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

export { TRANSIENT_CODES, classifySfError } from './error-codes.js';

export type ResultRow = {
  /** The key column's value as the org echoed it. */
  key: string;
  /** successfulResults: sf__Created is "true". */
  created: boolean;
  /** failedResults: the raw sf__Error. */
  error: string;
};

/**
 * The rows of a successfulResults or failedResults file, reduced to what accounting needs
 * (key, created, error); every other echoed column is skipped, not built.
 */
export function readResultRows(text: string, keyField: string, delimiter: ColumnDelimiter = 'COMMA'): ResultRow[] {
  if (text.replace(/^\uFEFF/, '').trim() === '') return [];
  const delim = DELIMITER_CHARS[delimiter];
  if (!delim) throw new Error(`Unknown column delimiter ${String(delimiter)}.`);
  const out: ResultRow[] = [];
  let missing = false;
  try {
    scanCsv(
      text,
      delim,
      (header) => {
        const k = headerIndex(header, keyField);
        if (k < 0) missing = true;
        return [k, headerIndex(header, 'sf__Created'), headerIndex(header, 'sf__Error')];
      },
      (r) => out.push({ key: r.fields[0] ?? '', created: r.fields[1] === 'true', error: r.fields[2] ?? '' })
    );
  } catch (err) {
    throw new Error(`Could not parse a Bulk API result file: ${(err as Error).message}`, { cause: err });
  }
  if (missing) throw new Error(`A Bulk API result file has no ${keyField} column.`);
  return out;
}
