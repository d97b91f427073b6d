/*
 * Reading the source, one keyset page at a time, and turning each row into the CSV line it
 * will be uploaded as: one pass per row, with each column's converter chosen once from
 * describe. A page becomes one or more job drafts (split so that no upload passes the
 * byte cap) and the rows that cannot become a record, each with a code:
 *   MISSING_KEY / INVALID_KEY   no key, or one that cannot identify a record as uploaded
 *   DUPLICATE_SOURCE_KEY        another row has the key (as the org compares it); one loads
 *   INVALID_VALUE / UNREPRESENTABLE_VALUE / ROW_TOO_LARGE
 * A full page never ends inside a run of rows with the same cursor tuple (`key > last`
 * would skip the rest of them): the run is left for the next page, or, when it fills the
 * page, read whole.
 */
import type { KeyTuple, KeyValue, LoadDefinition, LoadPlan, PlanPartition } from '../state/types.js';
import type { DataCloudClient } from '../source/datacloud-client.js';
import { keysetAfter, keysetEqual, quoteIdent } from '../source/sql.js';
import { converterFor, csvLine, Invalid, isPlainType, NULL_TOKEN, type Converter } from '../sink/csv.js';
import { LOCAL_CODES } from '../sink/error-codes.js';
import { sourceColumns } from './definition.js';
import { basePredicates, keysetColumns, where } from './predicates.js';
import { dcQuery, type TargetInfo } from './planner.js';

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

  /** The next page of a partition after `after` (null: from its start). */
  public async read(part: PlanPartition, after: KeyTuple | null, signal?: AbortSignal): Promise<Page> {
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
    let lines: string[] = [];
    let bytes = this.header;
    let parents = new Set<string>();
    let won: string[] = [];
    const flush = (): void => {
      if (!lines.length) return;
      jobs.push({ csv: `${layout.headerLine}\n${lines.join('\n')}\n`, rows: lines.length, bytes, parents: [...parents], dupWinners: won });
      lines = [];
      bytes = this.header;
      parents = new Set();
      won = [];
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
      for (let i = 0; i < layout.columns.length; i++) {
        const v = r[srcIdx[i]];
        if (typeof v === 'string' && v.includes('\0')) {
          problem ??= { code: LOCAL_CODES.UNREPRESENTABLE_VALUE, message: `${layout.columns[i].source} holds a NUL character, which a Bulk API upload cannot carry.` };
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
      const lineBytes = Buffer.byteLength(line) + 1;
      if (this.header + lineBytes > maxJobBytes) {
        reject(LOCAL_CODES.ROW_TOO_LARGE, `The row takes ${lineBytes.toLocaleString('en-US')} bytes of CSV, more than a job may upload (${maxJobBytes.toLocaleString('en-US')}).`);
        continue;
      }
      if (bytes + lineBytes > maxJobBytes) flush();
      if (dupKeys.has(nk)) {
        winners.add(nk);
        won.push(nk);
      }
      lines.push(line);
      bytes += lineBytes;
      parentLocks(layout, cells, parents);
    }
    flush();
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
