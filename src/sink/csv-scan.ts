/*
 * A strict, single-pass CSV scanner (RFC 4180: quoted fields, "" escapes, CR LF or LF)
 * that materialises only the columns asked for and reports where each record starts and
 * ends in the text. Result files echo every uploaded column, but a job's accounting needs
 * the key, sf__Created and sf__Error only: parsing every cell of every result file was a
 * quarter of the plugin's CPU at 2M rows (issue 9), so this reads the others without
 * building them. Malformed input (an unclosed quote, text after a closing quote, a record
 * with the wrong number of cells) throws instead of being patched up.
 */

export class CsvFormatError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'CsvFormatError';
  }
}

export type ScannedRecord = {
  /** The wanted fields, in the order asked (undefined when the record is shorter). */
  fields: Array<string | undefined>;
  /** Offsets of the record in the text: [start, end) without its line ending. */
  start: number;
  end: number;
};

/**
 * Scan `text`. The first record is the header: it is returned whole (all cells). Then
 * `onRecord` is called for every data record with the cells at `wanted` indices.
 */
export function scanCsv(text: string, delimiter: string, wanted: (header: string[]) => number[], onRecord: (r: ScannedRecord) => void): string[] {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const d = delimiter.charCodeAt(0);
  let header: string[] | undefined;
  let want: number[] = [];
  let slot = new Map<number, number>();
  let recNo = 0;
  while (i < n) {
    const start = i;
    const cells: Array<string | undefined> = header ? new Array(want.length) : [];
    let col = 0;
    // one record
    for (;;) {
      const keepAll = header === undefined;
      const k = keepAll ? col : slot.get(col);
      let value: string | undefined;
      if (text.charCodeAt(i) === 34 /* " */) {
        let j = i + 1;
        let buf = '';
        let from = j;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) throw new CsvFormatError(`record ${recNo + 1}: a quoted field is not closed`);
          if (text.charCodeAt(q + 1) === 34) {
            if (k !== undefined) buf += text.slice(from, q + 1);
            j = q + 2;
            from = j;
            continue;
          }
          if (k !== undefined) value = buf + text.slice(from, q);
          i = q + 1;
          break;
        }
        const c = text.charCodeAt(i);
        if (i < n && c !== d && c !== 10 && c !== 13) throw new CsvFormatError(`record ${recNo + 1}: text after a closing quote`);
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === d || c === 10 || c === 13) break;
          if (c === 34) throw new CsvFormatError(`record ${recNo + 1}: a quote inside an unquoted field`);
          j++;
        }
        if (k !== undefined) value = text.slice(i, j);
        i = j;
      }
      if (keepAll) cells.push(value ?? '');
      else if (k !== undefined) cells[k] = value;
      col++;
      const c = text.charCodeAt(i);
      if (i < n && c === d) {
        i++;
        continue;
      }
      break;
    }
    const end = i;
    if (text.charCodeAt(i) === 13) i++;
    if (text.charCodeAt(i) === 10) i++;
    else if (i < n) throw new CsvFormatError(`record ${recNo + 1}: a bare CR outside quotes`);
    if (end === start && col === 1) continue; // an empty line
    if (!header) {
      header = cells as string[];
      want = wanted(header);
      slot = new Map(want.map((c, idx) => [c, idx]));
    } else {
      if (col !== header.length) throw new CsvFormatError(`record ${recNo + 1} has ${col} cells for ${header.length} columns`);
      onRecord({ fields: cells, start, end });
    }
    recNo++;
  }
  return header ?? [];
}

/** Index of a header cell, exactly, else case-insensitively; -1 when absent. */
export function headerIndex(header: string[], name: string): number {
  const exact = header.indexOf(name);
  if (exact >= 0) return exact;
  const lower = name.toLowerCase();
  return header.findIndex((h) => h.toLowerCase() === lower);
}
