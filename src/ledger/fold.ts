/*
 * THE fold of a run's ledger (jobs.ndjson): one set of counting rules, used by the engine
 * (live, record by record as it appends, and to rebuild on resume), by status, report,
 * cancel and the progress display. Nothing else counts rows.
 *
 * A row's life: read (a `planned` load or reject record counts it: freshRows) → in a job
 * (pending) → the job's one `result` moves each of its rows to loaded, failed (final,
 * listed in failures.ndjson) or requeued into exactly one retry job (still pending).
 * failures-retry jobs carry rows that are already counted failed; their results move
 * `recovered` rows from failed to loaded.
 *
 *   read    = Σ freshRows of load and reject records
 *   loaded  = Σ succeeded
 *   failed  = Σ failed of load, retry and reject results − Σ recovered
 *   pending = Σ rows of load and retry jobs without a result
 *
 * `problems()` checks the invariant read = loaded + failed + pending and, per job, that
 * rows = succeeded + failed + requeued and that the requeued rows are the rows of its
 * retry job. A fold never guesses: a count that does not add up is reported.
 */
import type { JobKind, JobLogRecord, KeyTuple, KeyValue } from '../state/types.js';
import { classifySfError, isRetryableCode } from '../sink/error-codes.js';
import type { FailureGroup, JobSpan, JobTotals } from './status-types.js';

type Planned = Extract<JobLogRecord, { t: 'planned' }>;
type Result = Extract<JobLogRecord, { t: 'result' }>;

export type JobEntry = {
  seq: number;
  kind: JobKind;
  partition: number;
  rows: number;
  attempt: number;
  retryOf?: number;
  notBefore?: number;
  plannedAt: number;
  /** The latest create intent, and whether no `created` followed it (an org job may exist that the log does not name). */
  intentAt?: number;
  /** The latest create intent's position in the log (see LedgerFold.records). */
  intentNo?: number;
  intentOpen: boolean;
  /** The latest org job of this seq. */
  jobId?: string;
  orgJobs: number;
  createdAt?: number;
  uploaded: boolean;
  closed: boolean;
  /** The latest org job was aborted (it must be created again). */
  aborted: boolean;
  deleted: boolean;
  result?: Result;
  resultAt?: number;
};

export type PartitionLedger = {
  index: number;
  read: number;
  loaded: number;
  failed: number;
  pending: number;
  retriedRows: number;
  jobs: number;
  inFlight: number;
  /** The cursor: the last key tuple handed to a planned job (or rejected). */
  lastKey: KeyTuple | null;
  exhausted: boolean;
  started: boolean;
};

export type LedgerTotals = {
  read: number;
  loaded: number;
  created: number;
  updated: number;
  failed: number;
  pending: number;
  retriedRows: number;
  lockErrors: number;
  firstPassRows: number;
  firstPassLoaded: number;
  apiCalls: number;
};

export class LedgerFold {
  public readonly jobs = new Map<number, JobEntry>();
  public readonly partitions: PartitionLedger[];
  /** Duplicate keys (normalised) whose loaded copy is already in a job. */
  public readonly winners = new Set<string>();
  public nextSeq = 1;
  public lastActivity = 0;
  /** Every org job id the log names. */
  public readonly orgJobIds = new Set<string>();
  /** Each `created` record: the org job id, its position in the log and its intent's, and the org's createdDate (to anchor org time to log order). */
  public readonly createdLog: Array<{ jobId: string; at: number; no: number; intentNo?: number; orgAt?: number }> = [];
  /** Records applied so far: a record's position in the log. */
  public records = 0;
  /** Retry jobs planned before their origin's result (same append); admitted when it names them. */
  private readonly provisional = new Map<number, JobEntry>();
  private readonly codes = new Map<string, { count: number; samples: Array<KeyValue | null>; message: string }>();
  private readonly problemList: string[] = [];
  private t: LedgerTotals = { read: 0, loaded: 0, created: 0, updated: 0, failed: 0, pending: 0, retriedRows: 0, lockErrors: 0, firstPassRows: 0, firstPassLoaded: 0, apiCalls: 0 };

  public constructor(partitionCount: number) {
    this.partitions = Array.from({ length: partitionCount }, (_, index) => ({
      index, read: 0, loaded: 0, failed: 0, pending: 0, retriedRows: 0, jobs: 0, inFlight: 0, lastKey: null, exhausted: false, started: false,
    }));
  }

  public get totals(): LedgerTotals {
    return { ...this.t };
  }

  private part(i: number): PartitionLedger | undefined {
    const p = this.partitions[i];
    if (!p) this.problem(`a record names partition ${i}, which the plan does not have`);
    return p;
  }

  private problem(text: string): void {
    if (this.problemList.length < 50) this.problemList.push(text);
  }

  /** Apply one ledger record, in log order. */
  public apply(rec: JobLogRecord): void {
    const at = Date.parse(rec.at);
    const no = ++this.records;
    if (at > this.lastActivity) this.lastActivity = at;
    switch (rec.t) {
      case 'planned':
        return this.onPlanned(rec, at);
      case 'exhausted': {
        const p = this.part(rec.partition);
        if (p) {
          p.exhausted = true;
          if (rec.lastKey) p.lastKey = rec.lastKey;
        }
        return;
      }
      case 'result':
        return this.onResult(rec, at);
      default:
        break;
    }
    const e = this.jobs.get(rec.seq);
    if (!e) {
      this.problem(`a ${rec.t} record for job ${rec.seq}, which was never planned`);
      return;
    }
    if (rec.t === 'intent') {
      e.intentAt = at;
      e.intentNo = no;
      e.intentOpen = true;
    } else if (rec.t === 'orphan') {
      e.intentOpen = false;
    } else if (rec.t === 'created') {
      e.intentOpen = false;
      this.orgJobIds.add(rec.jobId);
      const orgAt = orgTime(rec.orgCreatedAt);
      this.createdLog.push({ jobId: rec.jobId, at, no, ...(e.intentNo !== undefined ? { intentNo: e.intentNo } : {}), ...(orgAt !== undefined ? { orgAt } : {}) });
      if (e.result) return;
      const p = this.part(e.partition);
      if (e.orgJobs === 0 && p) p.jobs++;
      if (!this.isLive(e) && p) p.inFlight++;
      e.orgJobs++;
      e.jobId = rec.jobId;
      e.createdAt ??= at;
      e.uploaded = false;
      e.closed = false;
      e.aborted = false;
    } else if (rec.t === 'uploaded') {
      if (rec.jobId === e.jobId) e.uploaded = true;
    } else if (rec.t === 'closed') {
      if (rec.jobId === e.jobId) e.closed = true;
    } else if (rec.t === 'aborted') {
      // An abort of an older org job of this seq does not end the newer one.
      if (rec.jobId === e.jobId && !e.result && !e.aborted) {
        e.aborted = true;
        const p = this.part(e.partition);
        if (p) p.inFlight--;
      }
    } else if (rec.t === 'deleted') {
      if (rec.jobId === e.jobId) e.deleted = true;
    }
  }

  private isLive(e: JobEntry): boolean {
    return e.orgJobs > 0 && !e.aborted && !e.result;
  }

  private onPlanned(rec: Planned, at: number): void {
    if (this.jobs.has(rec.seq) || this.provisional.has(rec.seq)) {
      this.problem(`job ${rec.seq} is planned twice`);
      return;
    }
    this.nextSeq = Math.max(this.nextSeq, rec.seq + 1);
    const e: JobEntry = {
      seq: rec.seq, kind: rec.kind, partition: rec.partition, rows: rec.rows, attempt: rec.attempt ?? 1, plannedAt: at,
      orgJobs: 0, intentOpen: false, uploaded: false, closed: false, aborted: false, deleted: false,
      ...(rec.retryOf !== undefined ? { retryOf: rec.retryOf } : {}),
      ...(rec.notBefore ? { notBefore: Date.parse(rec.notBefore) } : {}),
    };
    if (rec.retryOf !== undefined) {
      // A retry job exists only once its origin's result names it (they are written in one
      // append; a torn append can leave the retry's line without the result).
      const origin = this.jobs.get(rec.retryOf);
      if (!origin) {
        this.problem(`retry job ${rec.seq} names job ${rec.retryOf} as its origin, which was never planned`);
        return;
      }
      if (!origin.result) {
        this.provisional.set(rec.seq, e);
        return;
      }
      if (origin.result.retrySeq !== rec.seq) return; // another retry job took its rows: never counted
    }
    this.admit(e, rec);
  }

  private admit(e: JobEntry, rec?: Planned): void {
    this.jobs.set(e.seq, e);
    const p = this.part(e.partition);
    if (!p) return;
    p.started = true;
    if (rec && (rec.kind === 'load' || rec.kind === 'reject')) {
      this.t.read += rec.freshRows;
      p.read += rec.freshRows;
      if (rec.lastKey) p.lastKey = rec.lastKey;
      if (rec.exhausted) p.exhausted = true;
    }
    if (e.kind === 'load' || e.kind === 'retry' || e.kind === 'reject') {
      this.t.pending += e.rows;
      p.pending += e.rows;
    }
    for (const w of rec?.dupWinners ?? []) this.winners.add(w);
  }

  private onResult(rec: Result, at: number): void {
    const e = this.jobs.get(rec.seq);
    if (!e) {
      this.problem(`a result for job ${rec.seq}, which was never planned`);
      return;
    }
    if (e.result) {
      this.problem(`job ${rec.seq} has two results`);
      return;
    }
    const p = this.part(e.partition);
    if (this.isLive(e) && p) p.inFlight--;
    e.result = rec;
    e.resultAt = at;
    if (rec.rows !== e.rows) this.problem(`job ${rec.seq} was planned with ${e.rows} rows but its result counts ${rec.rows}`);
    if (rec.succeeded + rec.failed + rec.requeued !== rec.rows) {
      this.problem(`job ${rec.seq}: ${rec.succeeded} loaded + ${rec.failed} failed + ${rec.requeued} requeued ≠ its ${rec.rows} rows`);
    }
    if (rec.retrySeq !== undefined) {
      const waiting = this.provisional.get(rec.retrySeq);
      if (waiting) {
        this.provisional.delete(rec.retrySeq);
        this.admit(waiting);
      }
    }
    if (rec.requeued > 0) {
      const retry = rec.retrySeq !== undefined ? this.jobs.get(rec.retrySeq) : undefined;
      if (!retry || retry.retryOf !== rec.seq) this.problem(`job ${rec.seq} requeued ${rec.requeued} rows but its retry job ${rec.retrySeq ?? '?'} is not in the log`);
      else if (retry.rows !== rec.requeued) this.problem(`job ${rec.seq} requeued ${rec.requeued} rows but its retry job ${retry.seq} has ${retry.rows}`);
    }
    this.t.loaded += rec.succeeded;
    this.t.created += rec.created;
    this.t.updated += rec.updated;
    this.t.retriedRows += rec.requeued;
    this.t.lockErrors += rec.lockErrors;
    this.t.apiCalls += rec.apiCalls;
    if (p) {
      p.loaded += rec.succeeded;
      p.retriedRows += rec.requeued;
    }
    const pendingKind = e.kind === 'load' || e.kind === 'retry' || e.kind === 'reject';
    if (pendingKind) {
      this.t.pending -= e.rows;
      this.t.failed += rec.failed;
      if (p) {
        p.pending -= e.rows;
        p.failed += rec.failed;
      }
    } else {
      // failures-retry: its rows were counted failed already.
      this.t.failed -= rec.recovered;
      if (p) p.failed -= rec.recovered;
    }
    if (e.kind === 'load' && e.attempt === 1) {
      this.t.firstPassRows += rec.rows;
      this.t.firstPassLoaded += rec.succeeded;
    }
    for (const [code, n] of Object.entries(rec.errorCodes ?? {})) {
      const g = this.codes.get(code) ?? { count: 0, samples: [], message: '' };
      g.count += n;
      this.codes.set(code, g);
    }
    for (const [code, n] of Object.entries(rec.supersededCodes ?? {})) {
      const g = this.codes.get(code);
      if (!g) continue;
      g.count -= n;
      // Which sample keys were among the rows sent again is not known here: start the samples
      // afresh from this result (rows that failed again), so none shows a row that loaded.
      g.samples = [];
    }
    for (const s of rec.samples ?? []) {
      const g = this.codes.get(s.code);
      if (!g) continue;
      if (!g.message) g.message = s.message;
      if (g.samples.length < 5) g.samples.push(s.key);
    }
  }

  /** Counts that do not add up, in words. Empty when the ledger is consistent. */
  public problems(): string[] {
    const out = [...this.problemList];
    const t = this.t;
    if (t.read !== t.loaded + t.failed + t.pending) {
      out.push(`rows read (${t.read}) ≠ loaded (${t.loaded}) + failed (${t.failed}) + pending (${t.pending})`);
    }
    if (t.failed < 0 || t.pending < 0) out.push(`negative counts: failed ${t.failed}, pending ${t.pending}`);
    return out;
  }

  /** Jobs without a result, oldest first. */
  public unfinished(): JobEntry[] {
    return [...this.jobs.values()].filter((e) => !e.result).sort((a, b) => a.seq - b.seq);
  }

  public jobTotals(): JobTotals {
    const j: JobTotals = { total: 0, orgJobs: 0, completed: 0, inFlight: 0, queued: 0, failedJobs: 0, retryJobs: 0 };
    for (const e of this.jobs.values()) {
      if (e.kind === 'reject') continue;
      j.orgJobs += e.orgJobs;
      if (e.orgJobs > 0) j.total++;
      if (e.result) {
        j.completed++;
        if (e.result.state === 'Failed' || e.result.state === 'Aborted') j.failedJobs++;
      } else if (this.isLive(e)) j.inFlight++;
      else j.queued++;
      if (e.attempt > 1 && e.orgJobs > 0) j.retryJobs++;
    }
    return j;
  }

  public failuresByCode(): Record<string, FailureGroup> {
    const out: Record<string, FailureGroup> = {};
    for (const [code, g] of [...this.codes.entries()].sort((a, b) => b[1].count - a[1].count)) {
      if (g.count <= 0) continue;
      out[code] = {
        count: g.count,
        sampleKeys: g.samples,
        message: g.message,
        transient: classifySfError(code, g.message) === 'transient',
        retryable: isRetryableCode(code),
      };
    }
    return out;
  }

  public spans(): JobSpan[] {
    return [...this.jobs.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((e) => ({
        seq: e.seq,
        partition: e.partition,
        kind: e.kind,
        attempt: e.attempt,
        rows: e.rows,
        createdAt: e.createdAt ?? null,
        resultAt: e.resultAt ?? null,
        succeeded: e.result?.succeeded ?? 0,
        failed: e.result?.failed ?? 0,
        requeued: e.result?.requeued ?? 0,
        lockErrors: e.result?.lockErrors ?? 0,
        state: e.result?.state ?? null,
      }));
  }

  /** Failure batch id of each seq with a result (lines of other batches are leftovers of a crash). */
  public batchOf(seq: number): string | undefined {
    return this.jobs.get(seq)?.result?.batch;
  }
}

/** A Salesforce timestamp (2024-01-03T23:52:01.000+0000) in ms, or undefined. */
export function orgTime(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const t = Date.parse(s.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isFinite(t) ? t : undefined;
}
