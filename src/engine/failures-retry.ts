/*
 * retry-failures: which rows are failed now, how they are read again, and the jobs that
 * send them. A failure counts only when its job's result is in the ledger (lines of a
 * batch whose result never got written are leftovers of a crash); a later `loaded` line or
 * a failure that `supersedes` it ends it. Rows are read again from Data Cloud by key (the
 * source's current values), or taken from the failure file with --use-stored-rows. A row
 * whose value still cannot be converted is not sent, and stays failed as it was: a value
 * is never blanked to make a row go through.
 */
import { readNdjsonFrom } from '../state/files.js';
import type { RunDir } from '../state/run-dir.js';
import type { FailureRecord, JobLogRecord, KeyValue, LoadDefinition, LoadPlan, RunManifest } from '../state/types.js';
import type { LedgerFold } from '../ledger/fold.js';
import type { LedgerWriter } from '../ledger/writer.js';
import { buildInQuery } from '../source/sql.js';
import { csvDocument, csvLine, Invalid, recordLineEnding } from '../sink/csv.js';
import type { LineEnding } from '../sink/bulk-client.js';
import { LOCAL_CODES } from '../sink/error-codes.js';
import { sourceColumns } from './definition.js';
import { dcQuery, type TargetInfo } from './planner.js';
import { normKey, parentLocks, targetLayout, type TargetLayout } from './reader.js';
import type { EngineDeps } from './runner.js';

export type FailedRow = Extract<FailureRecord, { status: 'failed' }>;

/** The rows that are failed now, oldest first. */
export function currentFailures(run: RunDir, fold: LedgerFold): FailedRow[] {
  const live = new Map<string, FailedRow>();
  readNdjsonFrom<FailureRecord>(run.failuresFile, 0, (f) => {
    if (fold.batchOf(f.seq) !== f.batch) return; // a crash's leftover: its result was never recorded
    if (f.status === 'loaded') live.delete(f.fid);
    else {
      if (f.supersedes) live.delete(f.supersedes);
      live.set(f.fid, f);
    }
  });
  return [...live.values()];
}

export type RetryRow = { fid: string; code: string; partition: number; line: string; parents: string[]; lineEnding: LineEnding };

/** Codes of rows rejected at read time, whose stored row holds the source values (not yet converted). */
const READ_TIME = new Set<string>([LOCAL_CODES.INVALID_VALUE, LOCAL_CODES.UNREPRESENTABLE_VALUE, LOCAL_CODES.ROW_TOO_LARGE]);

export async function selectRows(o: {
  deps: EngineDeps;
  def: LoadDefinition;
  plan: LoadPlan;
  target: Pick<TargetInfo, 'fieldTypes' | 'keyCaseSensitive' | 'parentFields'>;
  failed: FailedRow[];
  useStoredRows: boolean;
  chunk: number;
}): Promise<{ rows: RetryRow[] }> {
  const layout = targetLayout(o.def, o.target);
  const seen = new Set<string>();
  const unique = o.failed.filter((f) => {
    if (f.key === null) return false;
    const k = normKey(String(f.key), layout.keyCaseSensitive);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const rows: RetryRow[] = [];
  const toRow = (f: FailedRow, values: (i: number) => unknown, convert: boolean): void => {
    const cells: Array<string | null> = [];
    for (let i = 0; i < layout.columns.length; i++) {
      const v = values(i);
      if (!convert) {
        cells.push((v as string | null) ?? null);
        continue;
      }
      const c = layout.columns[i].convert(v);
      if (c instanceof Invalid) return; // still not convertible: it stays failed, unchanged
      cells.push(c);
    }
    if (cells[layout.keyIndex] !== String(f.key)) return;
    const line = csvLine(cells);
    const ending = recordLineEnding(line);
    if (ending === 'both') return; // CRLF and a lone LF: no job can carry it; it stays failed
    const parents = new Set<string>();
    parentLocks(layout, cells, parents);
    rows.push({ fid: f.fid, code: f.code, partition: f.partition, line, parents: [...parents], lineEnding: ending === 'CRLF' ? 'CRLF' : 'LF' });
  };
  if (o.useStoredRows) {
    for (const f of unique) toRow(f, (i) => f.row[layout.columns[i].target] ?? null, READ_TIME.has(f.code));
    return { rows };
  }
  const cols = sourceColumns(o.def);
  const byKey = new Map(unique.map((f) => [String(f.key), f]));
  for (let i = 0; i < unique.length; i += o.chunk) {
    const keys = unique.slice(i, i + o.chunk).map((f) => f.key as KeyValue);
    const sql = buildInQuery({ table: o.def.source.object, columns: cols, keyColumn: o.def.source.keyColumn, keys, keyType: o.plan.columnTypes[o.def.source.keyColumn], filter: o.def.source.filter });
    const res = await dcQuery({ dc: o.deps.dc }, sql, o.def);
    const names = res.columns.map((c) => c.name);
    const idx = layout.columns.map((c) => names.indexOf(c.source));
    for (const r of res.rows) {
      const keyCell = layout.columns[layout.keyIndex].convert(r[idx[layout.keyIndex]]);
      const key = keyCell instanceof Invalid ? null : keyCell;
      const f = key !== null ? byKey.get(key) : undefined;
      if (!f || key === null) continue;
      byKey.delete(key);
      toRow(f, (c) => r[idx[c]], true);
    }
  }
  return { rows };
}

/** Plan the failures-retry jobs (CSV, failure ids, `planned` lines), per partition and line ending, in jobs of the run's size. */
export function planFailureRetries(writer: LedgerWriter, layout: TargetLayout, m: RunManifest, rows: RetryRow[]): void {
  const size = m.plan.rowsPerJob;
  const maxBytes = m.definition.pacing.maxJobBytes ?? 100_000_000;
  const at = new Date().toISOString();
  const byPart = new Map<string, { partition: number; lineEnding: LineEnding; rows: RetryRow[] }>();
  for (const r of rows) {
    const p = Math.min(m.plan.partitions.length - 1, Math.max(0, r.partition));
    const k = `${p}:${r.lineEnding}`;
    if (!byPart.has(k)) byPart.set(k, { partition: p, lineEnding: r.lineEnding, rows: [] });
    byPart.get(k)!.rows.push(r);
  }
  const records: JobLogRecord[] = [];
  for (const { partition, lineEnding, rows: group } of byPart.values()) {
    const eol = lineEnding === 'CRLF' ? 2 : 1;
    const header = Buffer.byteLength(layout.headerLine) + eol;
    let chunk: RetryRow[] = [];
    let bytes = header;
    const flush = (): void => {
      if (!chunk.length) return;
      const seq = writer.nextSeq();
      writer.writeJobCsv(seq, csvDocument(layout.headerLine, chunk.map((r) => r.line), lineEnding));
      writer.writeJobFids(seq, chunk.map((r) => `${r.fid}\t${r.code}`));
      records.push({ t: 'planned', at, seq, kind: 'failures-retry', partition, rows: chunk.length, freshRows: 0, attempt: 1, bytes });
      chunk = [];
      bytes = header;
    };
    for (const r of group) {
      const b = Buffer.byteLength(r.line) + eol;
      if (chunk.length >= size || bytes + b > maxBytes) flush();
      chunk.push(r);
      bytes += b;
    }
    flush();
  }
  if (records.length) writer.appendJobLog(...records);
}
