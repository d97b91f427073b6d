/*
 * Reading the source, one keyset page at a time, and turning each row into the CSV line it
 * will be uploaded as: one pass per row, with each column's converter chosen once from
 * describe. A page becomes one or more job drafts (split so that no upload passes the
 * byte cap; a row whose values hold CRLF goes to a CRLF job, since the org checks embedded
 * line breaks against the job's lineEnding too) and the rows that cannot become a record:
 *   MISSING_KEY / INVALID_KEY   no key, or one that cannot identify a record as uploaded
 *   DUPLICATE_SOURCE_KEY        another row has the key (as the org compares it); one loads
 *   INVALID_VALUE / UNREPRESENTABLE_VALUE / ROW_TOO_LARGE
 * A full page never ends inside a run of rows with the same cursor tuple (`key > last`
 * would skip the rest of them): the run is left for the next page, or, when it fills the
 * page, read whole. A cursor that does not move stops the run (it would read forever).
 */
import type { KeyTuple, KeyValue, LoadDefinition, LoadPlan, PlanPartition } from '../state/types.js';
import type { DataCloudClient } from '../source/datacloud-client.js';
import { keysetAfter, keysetEqual, quoteIdent } from '../source/sql.js';
import { converterFor, csvDocument, csvLine, Invalid, isPlainType, NULL_TOKEN, recordLineEnding, type Converter } from '../sink/csv.js';
import type { LineEnding } from '../sink/bulk-client.js';
import { LOCAL_CODES } from '../sink/error-codes.js';
import { sourceColumns } from './definition.js';
import { basePredicates, keysetColumns, where } from './predicates.js';
import { dcQuery, type TargetInfo } from './planner.js';
import { LoadError } from './errors.js';

/** The upload's columns, fixed for the run. */
export type TargetLayout = {
  header: string[];
  headerLine: string;
  keyField: string;
  keyIndex: number;
  keyCaseSensitive: boolean;
  /** Header positions of the fields that name a parent the org locks. */
  parents: Array<{ index: number; field: string; caseSensitive: boolean }>;
  columns: Array<{ source: string; target: string; convert: Converter }>;
  /** Per column: its converted text never needs CSV quotes. */
  plain: boolean[];
};

export function targetLayout(def: LoadDefinition, target: Pick<TargetInfo, 'fieldTypes' | 'keyCaseSensitive' | 'parentFields'>): TargetLayout {
  const entries = Object.entries(def.target.mapping);
  const header = entries.map(([, t]) => t);
  const keyIndex = entries.findIndex(([s, t]) => s === def.source.keyColumn && t.toLowerCase() === def.target.externalIdField.toLowerCase());
  return {
    header,
    headerLine: csvLine(header),
    keyField: header[keyIndex],
    keyIndex,
    keyCaseSensitive: target.keyCaseSensitive,
    parents: target.parentFields.map((p) => ({ index: header.indexOf(p.field), field: p.field, caseSensitive: p.caseSensitive })).filter((p) => p.index >= 0),
    columns: entries.map(([source, t]) => ({ source, target: t, convert: converterFor(target.fieldTypes[t] ?? 'string') })),
    plain: entries.map(([, t]) => isPlainType(target.fieldTypes[t] ?? 'string')),
  };
}

/** A key as the org compares it. */
export function normKey(key: string, caseSensitive: boolean): string {
  return caseSensitive ? key : key.toLowerCase();
}

/** The parent locks a CSV record takes, as `field:value` in the org's case rule. */
export function parentLocks(layout: TargetLayout, cells: Array<string | null | undefined>, into: Set<string>): void {
  const one = layout.parents.length === 1;
  for (const p of layout.parents) {
    const v = cells[p.index];
    if (v === null || v === undefined || v === '' || v === NULL_TOKEN) continue;
    const k = p.caseSensitive ? v : v.toLowerCase();
    into.add(one ? k : `${p.field}:${k}`);
  }
}

export type JobDraft = { csv: string; rows: number; bytes: number; parents: string[]; dupWinners: string[] };
export type Reject = { key: KeyValue | null; parent: KeyValue | null; code: string; message: string; row: Record<string, string | null> };
export type Page = { jobs: JobDraft[]; rejects: Reject[]; count: number; lastKey?: KeyTuple; exhausted: boolean };

export type ReaderOptions = {
  def: LoadDefinition;
  plan: LoadPlan;
  layout: TargetLayout;
  dc: DataCloudClient;
  /** Duplicate keys from the plan (normalised). */
  dupKeys: ReadonlySet<string>;
  /** Duplicate keys whose copy is already in a job (normalised); the reader adds the ones it picks. */
  winners: Set<string>;
  maxJobBytes: number;
};

export class SourceReader {
  private readonly cols: string[];
  private readonly header: number;

  public constructor(private readonly o: ReaderOptions) {
    this.cols = sourceColumns(o.def);
    this.header = Buffer.byteLength(o.layout.headerLine) + 1;
  }

  /**
   * The next page of a partition after `after` (null: from its start). A page whose cursor
   * does not move past `after` would be read again and again (e.g. a key the source
   * answered inexactly): the read stops the run with a LoadError instead.
   */
  public async read(part: PlanPartition, after: KeyTuple | null, signal?: AbortSignal): Promise<Page> {
    const page = await this.readPage(part, after, signal);
    if (after && page.lastKey && sameTuple(page.lastKey, after)) {
      const cols = keysetColumns(this.o.def, this.o.plan, part).join(', ');
      throw new LoadError(
        'CursorStuck',
        `Reading partition ${part.index} of ${this.o.def.source.object} cannot move on: the rows after the last ${cols} read came back with that same ${cols}, so the next page would be the same rows again (this page was not sent).`,
        ['Check that source.keyColumn (and source.parentColumn) compare exactly in the source (no rounding, no collation that folds values), then resume the run; if it stops the same way, report it with the run directory.']
      );
    }
    return page;
  }

  private async readPage(part: PlanPartition, after: KeyTuple | null, signal?: AbortSignal): Promise<Page> {
    const { def, plan } = this.o;
    const keyCols = keysetColumns(def, plan, part);
    const types = keyCols.map((c) => plan.columnTypes[c]);
    const preds = basePredicates(def, plan, part);
    const select = `SELECT ${this.cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(def.source.object)}`;
    if (part.nullKeys) {
      const res = await dcQuery(this.o, `${select}${where(preds)}`, def, signal);
      return this.toPage(res.columns.map((c) => c.name), res.rows, res.rows.length, true, undefined);
    }
    // One row more than a job: a page of at most `limit` rows is the last (no empty query
    // after it), and the extra row shows whether the page ends inside a run of equal cursor
    // tuples (duplicate keys), which must not be split across pages (`key > last` would skip it).
    const limit = plan.rowsPerJob;
    const page = await dcQuery(this.o, `${select}${where([...preds, after ? keysetAfter(keyCols, after, types) : undefined])} ORDER BY ${keyCols.map(quoteIdent).join(', ')} LIMIT ${limit + 1}`, def, signal);
    const names = page.columns.map((c) => c.name);
    const idx = keyCols.map((c) => names.indexOf(c));
    const tuple = (r: unknown[]): KeyTuple => idx.map((i) => r[i] as KeyValue);
    let rows = page.rows;
    if (rows.length <= limit) return this.toPage(names, rows, rows.length, true, rows.length ? tuple(rows[rows.length - 1]) : undefined);
    const last = tuple(rows[limit]);
    let cut = limit;
    while (cut > 0 && sameTuple(tuple(rows[cut - 1]), last)) cut--;
    // A key with a NUL cannot be written as an SQL literal, so it cannot be the cursor: the page
    // ends before it (its row opens the next page, where it is failed UNREPRESENTABLE_VALUE).
    const full = cut;
    while (cut > 0 && hasNul(tuple(rows[cut - 1]))) cut--;
    if (cut === 0 && full > 0) {
      throw new LoadError(
        'CursorUnrepresentable',
        `Reading partition ${part.index} of ${def.source.object} cannot move on: ${full} keys in a row contain a NUL character (U+0000), and a key with a NUL cannot be the next query's cursor.`,
        ['Remove the NUL characters from the keys in the source (or leave those rows out with --filter), then resume the run.']
      );
    }
    if (cut > 0) {
      rows = rows.slice(0, cut);
      return this.toPage(names, rows, rows.length, false, tuple(rows[rows.length - 1]));
    }
    const all = await dcQuery(this.o, `${select}${where([...preds, keysetEqual(keyCols, last, types)])}`, def, signal);
    return this.toPage(all.columns.map((c) => c.name), all.rows, all.rows.length, false, last);
  }

  private toPage(names: string[], rows: unknown[][], count: number, exhausted: boolean, lastKey: KeyTuple | undefined): Page {
    const { layout, dupKeys, winners, maxJobBytes } = this.o;
    const { def } = this.o;
    const srcIdx = layout.columns.map((c) => names.indexOf(c.source));
    const keyIdx = names.indexOf(def.source.keyColumn);
    const parentIdx = def.source.parentColumn ? names.indexOf(def.source.parentColumn) : -1;
    const jobs: JobDraft[] = [];
    const rejects: Reject[] = [];
    const seen = new Set<string>();
    // Rows go to a job of the line ending their values need (an LF job by default); each job is cut at the byte cap.
    type Open = { lineEnding: LineEnding; eol: number; lines: string[]; bytes: number; parents: Set<string>; won: string[] };
    const open = (lineEnding: LineEnding): Open => ({ lineEnding, eol: lineEnding === 'CRLF' ? 2 : 1, lines: [], bytes: this.header - 1 + (lineEnding === 'CRLF' ? 2 : 1), parents: new Set(), won: [] });
    const drafts: Record<LineEnding, Open> = { LF: open('LF'), CRLF: open('CRLF') };
    const flush = (d: Open): void => {
      if (!d.lines.length) return;
      jobs.push({ csv: csvDocument(layout.headerLine, d.lines, d.lineEnding), rows: d.lines.length, bytes: d.bytes, parents: [...d.parents], dupWinners: d.won });
      drafts[d.lineEnding] = open(d.lineEnding);
    };
    const cells: Array<string | null> = new Array(layout.columns.length);
    for (const r of rows) {
      const rawKey = r[keyIdx];
      const parent = parentIdx >= 0 ? ((r[parentIdx] ?? null) as KeyValue | null) : null;
      const reject = (code: string, message: string): void => {
        rejects.push(rejectOf(layout, srcIdx, r, rawKey, parent, code, message));
      };
      if (rawKey === null || rawKey === undefined || rawKey === '') {
        reject(LOCAL_CODES.MISSING_KEY, `The row has no ${def.source.keyColumn} value.`);
        continue;
      }
      let problem: { code: string; message: string } | undefined;
      let keyNul = false;
      for (let i = 0; i < layout.columns.length; i++) {
        const v = r[srcIdx[i]];
        if (typeof v === 'string' && v.includes('\0')) {
          const nul = { code: LOCAL_CODES.UNREPRESENTABLE_VALUE, message: `${layout.columns[i].source} contains a NUL character (U+0000), which a Bulk API upload cannot carry.` };
          // A NUL in the key is the row's problem, before any other (the key cannot be sent at all).
          if (i === layout.keyIndex) {
            problem = nul;
            keyNul = true;
          } else problem ??= nul;
          cells[i] = null;
          continue;
        }
        const c = layout.columns[i].convert(v);
        if (!(c instanceof Invalid)) cells[i] = c;
        else {
          cells[i] = null;
          problem ??= {
            code: c.kind === 'UNREPRESENTABLE' ? LOCAL_CODES.UNREPRESENTABLE_VALUE : LOCAL_CODES.INVALID_VALUE,
            message: `${layout.columns[i].source} → ${layout.columns[i].target}: ${c.reason}`,
          };
        }
      }
      const key = cells[layout.keyIndex];
      if (keyNul && problem) {
        reject(problem.code, problem.message);
        continue;
      }
      if (key === null || key.trim() === '' || rawKey === NULL_TOKEN) {
        reject(LOCAL_CODES.INVALID_KEY, `${def.source.keyColumn} ${JSON.stringify(String(rawKey))} cannot identify a record (${rawKey === NULL_TOKEN ? 'the Bulk API reads #N/A as "no value"' : 'it is blank'}).`);
        continue;
      }
      if (problem) {
        reject(problem.code, problem.message);
        continue;
      }
      const nk = normKey(key, layout.keyCaseSensitive);
      if (seen.has(nk) || (dupKeys.has(nk) && winners.has(nk))) {
        reject(LOCAL_CODES.DUPLICATE_SOURCE_KEY, `Another source row has ${def.source.keyColumn} ${JSON.stringify(key)}${layout.keyCaseSensitive ? '' : ' (compared case-insensitively, as the org does)'}; that row is the one loaded.`);
        continue;
      }
      seen.add(nk);
      const line = csvLine(cells, ',', layout.plain);
      const ending = line.includes('\n') ? recordLineEnding(line) : 'any';
      if (ending === 'both') {
        reject(LOCAL_CODES.UNREPRESENTABLE_VALUE, 'The row holds both a CRLF line break and a lone LF line break in its values; a Bulk API job takes one line ending (LF or CRLF) for all of its data, so no job can carry this row as it is.');
        continue;
      }
      let d = drafts[ending === 'CRLF' ? 'CRLF' : 'LF'];
      const lineBytes = Buffer.byteLength(line) + d.eol;
      if (this.header - 1 + d.eol + lineBytes > maxJobBytes) {
        reject(LOCAL_CODES.ROW_TOO_LARGE, `The row takes ${lineBytes.toLocaleString('en-US')} bytes of CSV, more than a job may upload (${maxJobBytes.toLocaleString('en-US')}).`);
        continue;
      }
      if (d.bytes + lineBytes > maxJobBytes) {
        flush(d);
        d = drafts[d.lineEnding];
      }
      if (dupKeys.has(nk)) {
        winners.add(nk);
        d.won.push(nk);
      }
      d.lines.push(line);
      d.bytes += lineBytes;
      parentLocks(layout, cells, d.parents);
    }
    flush(drafts.LF);
    flush(drafts.CRLF);
    return { jobs, rejects, count, ...(lastKey ? { lastKey } : {}), exhausted };
  }
}

/** A row that cannot be sent, with its values as read (they were never converted or uploaded). */
function rejectOf(layout: TargetLayout, srcIdx: number[], r: unknown[], rawKey: unknown, parent: KeyValue | null, code: string, message: string): Reject {
  const row: Record<string, string | null> = {};
  layout.columns.forEach((c, i) => (row[c.target] = r[srcIdx[i]] === null || r[srcIdx[i]] === undefined ? null : String(r[srcIdx[i]])));
  return { key: rawKey === null || rawKey === undefined ? null : (rawKey as KeyValue), parent, code, message, row };
}

function sameTuple(a: KeyTuple, b: KeyTuple): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hasNul(t: KeyTuple): boolean {
  return t.some((v) => typeof v === 'string' && v.includes('\0'));
}
