/*
 * Recording one job's outcome in the ledger: every row of the job's CSV gets exactly one
 * fate, decided by retry-policy.ts: loaded, failed for good (a line in failures.ndjson),
 * or requeued into one retry job, one attempt further and after a backoff.
 *
 * Result rows are matched to the uploaded rows by the key exactly as uploaded (then, if
 * unique, as the org compares keys), never by position. A row that neither result file
 * lists is requeued like any other, attempts counted, so no row can stay "unprocessed"
 * forever.
 *
 * Order on disk (each step fsynced before the next): the failures → the retry job's CSV
 * → [the retry job's `planned`, this job's `result`] in one append. A crash before the
 * result leaves the job unfinished (its results are read again on resume; failure lines
 * of a batch without its result are ignored); after it, nothing is counted twice.
 */
import { randomBytes } from 'node:crypto';
import type { JobInfo } from '../sink/bulk-client.js';
import { headerIndex, scanCsv } from '../sink/csv-scan.js';
import { csvDocument, csvLineEnding, NULL_TOKEN } from '../sink/csv.js';
import { parseSfError, readResultRows } from '../sink/results.js';
import { isRetryableCode, isLockError, LOCAL_CODES } from '../sink/error-codes.js';
import type { LedgerSink } from '../ledger/writer.js';
import type { FailureRecord, JobLogRecord, PacingSettings, ResultState } from '../state/types.js';
import type { JobEntry } from '../ledger/fold.js';
import type { Drive } from './job.js';
import { backoffMs, classifyJobFailure, decideRowError, decideUnprocessed, unprocessedCode, type JobFailureKind } from './retry-policy.js';
import { normKey, parentLocks, type TargetLayout } from './reader.js';
import { crashArmed, crashNow, crashPoint } from './crash-points.js';

type Planned = Extract<JobLogRecord, { t: 'planned' }>;
type Result = Extract<JobLogRecord, { t: 'result' }>;

export type RecorderContext = {
  run: LedgerSink;
  pacing: PacingSettings;
  layout: TargetLayout;
  now: () => number;
  nextSeq: () => number;
  random?: () => number;
};

export type RetryPlan = { planned: Planned; parents: string[] };

export type Recorded = {
  result: Result;
  retry?: RetryPlan;
  /** The org ran out of an allocation (the run must stop). */
  quota: boolean;
  /** Every row failed for good with this one permanent code (for the circuit breaker). */
  deadCode?: string;
};

/** A failures-retry job's rows: the failure each CSV record retries (fid and its code). */
export type RetryOrigin = { fid: string; code: string };

type Outcome = { kind: 'ok'; created: boolean } | { kind: 'fail'; code: string; message: string; fields: string[]; transient: boolean } | { kind: 'requeue'; sameAttempt: boolean };

export function recordJob(ctx: RecorderContext, e: JobEntry, readCsv: () => string, drive: Exclude<Drive, { kind: 'stopped' }>, origins?: RetryOrigin[]): Recorded {
  const clean = origins ? undefined : cleanJob(ctx, e, drive);
  if (clean) return clean;
  const { layout, pacing } = ctx;
  const info: JobInfo = drive.info;
  const csv = readCsv();
  // The job's own rows, as uploaded: key and where each record sits in the text.
  const recs: Array<{ key: string; start: number; end: number }> = [];
  let keyCol = -1;
  scanCsv(
    csv,
    ',',
    (h) => {
      keyCol = headerIndex(h, layout.keyField);
      return [keyCol];
    },
    (r) => recs.push({ key: r.fields[0] ?? '', start: r.start, end: r.end })
  );
  if (keyCol < 0) throw new Error(`Job ${e.seq}'s CSV has no ${layout.keyField} column.`);
  const exact = new Map<string, number>();
  recs.forEach((r, i) => {
    if (!exact.has(r.key)) exact.set(r.key, i);
  });
  // The org may echo a key in another case; that map is built only if a key is not found as uploaded.
  let folded: Map<string, number> | undefined;
  const find = (key: string): number | undefined => {
    const i = exact.get(key);
    if (i !== undefined) return i;
    if (!folded) {
      folded = new Map();
      recs.forEach((r, j) => {
        const f = normKey(r.key, false);
        folded!.set(f, folded!.has(f) ? -1 : j);
      });
    }
    const f = folded.get(normKey(key, false));
    return f === undefined || f < 0 ? undefined : f;
  };

  const out: Array<Outcome | undefined> = new Array(recs.length);
  let lockErrors = 0;
  let transientErrors = 0;
  if (drive.kind === 'results') {
    for (const r of readResultRows(drive.okCsv, layout.keyField, info.columnDelimiter ?? 'COMMA')) {
      const i = find(r.key);
      if (i !== undefined && !out[i]) out[i] = { kind: 'ok', created: r.created };
    }
    for (const r of readResultRows(drive.failCsv, layout.keyField, info.columnDelimiter ?? 'COMMA')) {
      const i = find(r.key);
      if (i === undefined || out[i]) continue;
      const err = parseSfError(r.error);
      if (isLockError(err.code, err.message)) lockErrors++;
      const d = decideRowError(err.code, err.message, e.attempt, pacing);
      if (d.retry) {
        transientErrors++;
        out[i] = { kind: 'requeue', sameAttempt: false };
      } else {
        if (d.transient) transientErrors++;
        out[i] = { kind: 'fail', code: err.code, message: err.message, fields: err.fields, transient: d.transient };
      }
    }
  }
  // Rows neither result file lists: the job did not process them (or its results can't be read).
  let jobKind: JobFailureKind | 'missing';
  if (drive.kind === 'unreadable') jobKind = 'transient';
  else if (drive.kind === 'refused') jobKind = 'permanent'; // already tried again by the runner
  else if (info.state === 'Failed') jobKind = classifyJobFailure(info.errorMessage);
  else if (info.state === 'Aborted') jobKind = 'transient';
  else jobKind = 'missing';
  const jobMessage =
    drive.kind === 'unreadable'
      ? `The job's result files could not be read: ${drive.error}`
      : drive.kind === 'refused'
        ? `The org refused the job, attempt after attempt: ${drive.error}`
        : info.state === 'JobComplete'
        ? 'The org reported the job complete, but neither of its result files lists this row.'
        : `The job ended ${info.state}${info.errorMessage ? `: ${info.errorMessage}` : ''}; the org did not process this row.`;
  let quota = false;
  for (let i = 0; i < recs.length; i++) {
    if (out[i]) continue;
    const d = decideUnprocessed(jobKind, e.attempt, pacing);
    if (jobKind === 'quota') quota = true;
    if (d.retry) out[i] = { kind: 'requeue', sameAttempt: d.sameAttempt };
    else {
      const code = drive.kind === 'unreadable' ? LOCAL_CODES.RESULTS_UNREADABLE : drive.kind === 'refused' ? drive.code : unprocessedCode(jobKind, info.errorMessage);
      out[i] = { kind: 'fail', code, message: jobMessage, fields: [], transient: jobKind !== 'permanent' };
    }
  }

  // The ledger lines.
  const at = new Date(ctx.now()).toISOString();
  const batch = randomBytes(6).toString('hex');
  const failures: FailureRecord[] = [];
  const errorCodes: Record<string, number> = {};
  const supersededCodes: Record<string, number> = {};
  const samples: NonNullable<Result['samples']> = [];
  const perCode = new Map<string, number>();
  const requeue: number[] = [];
  let sameAttempt = true;
  let succeeded = 0;
  let created = 0;
  let failed = 0;
  let n = 0;
  for (let i = 0; i < recs.length; i++) {
    const o = out[i]!;
    const origin = origins?.[i];
    if (o.kind === 'ok') {
      succeeded++;
      if (o.created) created++;
      if (origin) {
        failures.push({ status: 'loaded', batch, at, seq: e.seq, fid: origin.fid, key: recs[i].key, jobId: info.id });
        supersededCodes[origin.code] = (supersededCodes[origin.code] ?? 0) + 1;
      }
    } else if (o.kind === 'requeue') {
      requeue.push(i);
      if (!o.sameAttempt) sameAttempt = false;
    } else {
      failed++;
      errorCodes[o.code] = (errorCodes[o.code] ?? 0) + 1;
      const k = perCode.get(o.code) ?? 0;
      perCode.set(o.code, k + 1);
      if (k < 3) samples.push({ code: o.code, key: recs[i].key, message: o.message });
      const row = rowOf(layout, csv.slice(recs[i].start, recs[i].end));
      const parentField = layout.parents[0]?.field;
      failures.push({
        status: 'failed', fid: `${e.seq}.${n++}`, batch, at, seq: e.seq, partition: e.partition, key: recs[i].key,
        ...(parentField ? { parent: row[parentField] ?? null } : {}),
        code: o.code, message: o.message, fields: o.fields, attempts: e.attempt, transient: o.transient, retryable: isRetryableCode(o.code),
        ...(origin ? { supersedes: origin.fid } : {}), jobId: info.id, row,
      });
      if (origin) supersededCodes[origin.code] = (supersededCodes[origin.code] ?? 0) + 1;
    }
  }
  if (failures.length) ctx.run.appendFailures(failures);
  crashPoint('after-failures');

  let retry: RetryPlan | undefined;
  const records: JobLogRecord[] = [];
  if (requeue.length) {
    const seq = ctx.nextSeq();
    const attempt = sameAttempt ? e.attempt : e.attempt + 1;
    const lines = requeue.map((i) => csv.slice(recs[i].start, recs[i].end));
    const body = csvDocument(layout.headerLine, lines, csvLineEnding(csv)); // the retry job keeps the line ending its rows need
    ctx.run.writeJobCsv(seq, body);
    if (origins) ctx.run.writeJobFids(seq, requeue.map((i) => `${origins[i].fid}\t${origins[i].code}`));
    const parents = new Set<string>();
    for (const i of requeue) parentLocks(layout, cellsOf(layout, csv.slice(recs[i].start, recs[i].end)), parents);
    const wait = backoffMs(attempt, pacing, ctx.random);
    const planned: Planned = {
      t: 'planned', at, seq, kind: e.kind === 'failures-retry' ? 'failures-retry' : 'retry', partition: e.partition, rows: requeue.length, freshRows: 0,
      attempt, retryOf: e.seq, notBefore: new Date(ctx.now() + wait).toISOString(), bytes: Buffer.byteLength(body),
    };
    records.push(planned);
    retry = { planned, parents: [...parents] };
  }
  const state = info.state as ResultState;
  const result: Result = {
    t: 'result', at, seq: e.seq, jobId: info.id, kind: e.kind, partition: e.partition, state, rows: recs.length,
    succeeded, created, updated: succeeded - created, failed, requeued: requeue.length,
    ...(retry ? { retrySeq: retry.planned.seq } : {}),
    lockErrors, transientErrors, recovered: e.kind === 'failures-retry' ? succeeded : 0,
    errorCodes, ...(origins ? { supersededCodes } : {}), samples, batch,
    ...(info.errorMessage ? { errorMessage: info.errorMessage } : {}),
    apiCalls: drive.calls, seconds: Math.round(drive.seconds * 10) / 10,
    ...(info.totalProcessingTime !== undefined ? { orgProcessingMs: info.totalProcessingTime } : {}),
    ...(info.retries !== undefined ? { retries: info.retries } : {}),
  };
  records.push(result);
  if (records.length > 1 && crashArmed('torn-result')) {
    ctx.run.appendJobLog(records[0]);
    crashNow();
  }
  ctx.run.appendJobLog(...records);
  crashPoint('after-result');
  ctx.run.deleteJobFiles(e.seq);

  const codes = Object.keys(errorCodes);
  const dead = recs.length > 0 && succeeded === 0 && failed === recs.length && codes.length === 1 && !failures.some((f) => f.status === 'failed' && f.transient);
  return {
    result,
    ...(retry ? { retry } : {}),
    quota,
    ...(dead ? { deadCode: codes[0] } : {}),
  };
}

/**
 * The common case, without reading the job's CSV back: the job completed, no row failed,
 * and the successful results list exactly the job's rows, each key once (the job's keys are
 * distinct by construction). Otherwise undefined, and the full accounting runs.
 */
function cleanJob(ctx: RecorderContext, e: JobEntry, drive: Exclude<Drive, { kind: 'stopped' }>): Recorded | undefined {
  if (drive.kind !== 'results' || drive.info.state !== 'JobComplete') return undefined;
  const delimiter = drive.info.columnDelimiter ?? 'COMMA';
  if (readResultRows(drive.failCsv, ctx.layout.keyField, delimiter).length > 0) return undefined;
  const ok = readResultRows(drive.okCsv, ctx.layout.keyField, delimiter);
  if (ok.length !== e.rows) return undefined;
  const keys = new Set<string>();
  let created = 0;
  for (const r of ok) {
    keys.add(r.key);
    if (r.created) created++;
  }
  if (keys.size !== e.rows) return undefined;
  const info = drive.info;
  const result: Result = {
    t: 'result', at: new Date(ctx.now()).toISOString(), seq: e.seq, jobId: info.id, kind: e.kind, partition: e.partition, state: 'JobComplete', rows: e.rows,
    succeeded: e.rows, created, updated: e.rows - created, failed: 0, requeued: 0, lockErrors: 0, transientErrors: 0, recovered: 0,
    errorCodes: {}, samples: [], batch: randomBytes(6).toString('hex'), apiCalls: drive.calls, seconds: Math.round(drive.seconds * 10) / 10,
    ...(info.totalProcessingTime !== undefined ? { orgProcessingMs: info.totalProcessingTime } : {}),
    ...(info.retries !== undefined ? { retries: info.retries } : {}),
  };
  ctx.run.appendJobLog(result);
  crashPoint('after-result');
  ctx.run.deleteJobFiles(e.seq);
  return { result, quota: false };
}

/** A record's cells (null for #N/A). */
function cellsOf(layout: TargetLayout, line: string): Array<string | null> {
  let cells: Array<string | null> = [];
  scanCsv(`${layout.headerLine}\n${line}\n`, ',', (h) => h.map((_, i) => i), (r) => (cells = r.fields.map((v) => (v === undefined || v === NULL_TOKEN ? null : v))));
  return cells;
}

/** A record as field → value, the way the failure file keeps it. */
function rowOf(layout: TargetLayout, line: string): Record<string, string | null> {
  const cells = cellsOf(layout, line);
  const row: Record<string, string | null> = {};
  layout.header.forEach((h, i) => (row[h] = cells[i] ?? null));
  return row;
}
