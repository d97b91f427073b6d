/*
 * CSV in and out for Bulk API 2.0 ingest: parsing uploads (csv-parse, any of the six
 * Salesforce column delimiters, quotes, `#N/A`), checking the declared line ending, and
 * writing result files the way Salesforce does (sf__ header cells quoted, original
 * header cells echoed, every value quoted, LF).
 */
import { parse } from 'csv-parse/sync';

export const COLUMN_DELIMITERS = {
  BACKQUOTE: '`',
  CARET: '^',
  COMMA: ',',
  PIPE: '|',
  SEMICOLON: ';',
  TAB: '\t',
} as const;

export type ColumnDelimiter = keyof typeof COLUMN_DELIMITERS;
export type LineEnding = 'LF' | 'CRLF';

/** True when the bytes use only the declared line ending (embedded newlines in quotes count too, as on Salesforce). */
export function lineEndingMatches(text: string, lineEnding: LineEnding): boolean {
  if (lineEnding === 'LF') return !text.includes('\r\n');
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (i === 0 || text.charCodeAt(i - 1) !== 13) return false;
  }
  return true;
}

export type ParsedCsv = { header: string[]; rows: string[][] };

export function parseCsv(text: string, delimiter: ColumnDelimiter): ParsedCsv {
  const records = parse(text, {
    delimiter: COLUMN_DELIMITERS[delimiter],
    bom: true,
    skip_empty_lines: true,
    relax_column_count: false,
  }) as string[][];
  const [header = [], ...rows] = records;
  return { header: header.map((h) => h.trim()), rows };
}

export function quote(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** One result file: `prefix` header cells quoted, original header echoed, every value quoted, LF line ends. */
export function writeResultCsv(delimiter: ColumnDelimiter, prefix: string[], header: string[], rows: Iterable<string[]>): string {
  const d = COLUMN_DELIMITERS[delimiter];
  const out: string[] = [[...prefix.map(quote), ...header].join(d)];
  for (const r of rows) out.push(r.map(quote).join(d));
  return out.join('\n') + '\n';
}
