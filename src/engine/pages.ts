/*
 * Recording a page read from the source: its jobs' CSVs on disk first, then one fsynced
 * append of their `planned` lines, with the rows rejected at read time (their failure
 * lines first, then a `reject` job and its result) and the partition's cursor and end
 * riding on the last record. The cursor therefore never moves past rows that are not on
 * disk and in the ledger.
 */
import type { JobLogRecord } from '../state/types.js';
import type { LedgerWriter } from '../ledger/writer.js';
import { isRetryableCode } from '../sink/error-codes.js';
import type { Page } from './reader.js';
import type { QueuedJob } from './scheduler.js';

/** Write a page to the ledger; returns the jobs to queue. */
export function planPage(w: LedgerWriter, index: number, page: Page, at: string): QueuedJob[] {
  const records: JobLogRecord[] = [];
  const queued: QueuedJob[] = [];
  for (const d of page.jobs) {
    const seq = w.nextSeq();
    w.writeJobCsv(seq, d.csv);
    records.push({ t: 'planned', at, seq, kind: 'load', partition: index, rows: d.rows, freshRows: d.rows, attempt: 1, bytes: d.bytes, ...(d.dupWinners.length ? { dupWinners: d.dupWinners } : {}) });
    queued.push({ seq, partition: index, notBefore: 0, fresh: true, parents: d.parents });
  }
  if (page.rejects.length) {
    const seq = w.nextSeq();
    const batch = `r${seq}`;
    const codes: Record<string, number> = {};
    const samples: Array<{ code: string; key: string | number | null; message: string }> = [];
    for (const r of page.rejects) {
      codes[r.code] = (codes[r.code] ?? 0) + 1;
      if (codes[r.code] <= 3) samples.push({ code: r.code, key: r.key, message: r.message });
    }
    w.appendFailures(
      page.rejects.map((r, n) => ({
        status: 'failed' as const, fid: `${seq}.${n}`, batch, at, seq, partition: index, key: r.key, parent: r.parent, code: r.code, message: r.message,
        fields: [], attempts: 0, transient: false, retryable: isRetryableCode(r.code), row: r.row,
      }))
    );
    records.push(
      { t: 'planned', at, seq, kind: 'reject', partition: index, rows: page.rejects.length, freshRows: page.rejects.length, attempt: 1 },
      {
        t: 'result', at, seq, jobId: '', kind: 'reject', partition: index, state: 'LocalReject', rows: page.rejects.length, succeeded: 0, created: 0, updated: 0,
        failed: page.rejects.length, requeued: 0, lockErrors: 0, transientErrors: 0, recovered: 0, errorCodes: codes, samples, batch, apiCalls: 0, seconds: 0,
      }
    );
  }
  const lastPlanned = [...records].reverse().find((r): r is Extract<JobLogRecord, { t: 'planned' }> => r.t === 'planned');
  if (lastPlanned) {
    if (page.lastKey) lastPlanned.lastKey = page.lastKey;
    if (page.exhausted) lastPlanned.exhausted = true;
    w.appendJobLog(...records);
  } else if (page.exhausted) {
    w.appendJobLog({ t: 'exhausted', at, partition: index, ...(page.lastKey ? { lastKey: page.lastKey } : {}) });
  }
  return queued;
}
