/*
 * The load engine: runs a planned load in-process. Partitions read keyset pages from Data
 * Cloud, each page becomes a Bulk API 2.0 upsert job, every job's results are read and
 * every row is accounted for: loaded, failed for good (failure file), or sent again in a
 * later job of the same partition after a backoff. Everything it does is recorded in the
 * run directory first, so a crash at any moment can be resumed without losing or
 * double-counting a row. It knows no terminal: progress goes to a callback.
 */
import { hostname } from 'node:os';
import pRetry from 'p-retry';
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import { buildCsv, convertValue } from '../sink/csv.js';
import { classifySfError, parseResultCsv, parseSfError } from '../sink/results.js';
import type { DataCloudClient } from '../source/datacloud-client.js';
import { keysetAfter, quoteIdent, quoteLiteral } from '../source/sql.js';
import { toApiError, type SalesforceApiError } from '../core/errors.js';
import type { RunDir } from '../state/run-dir.js';
import type {
  FailureRecord,
  JobKind,
  JobLogRecord,
  JobRow,
  KeyTuple,
  KeyValue,
  LoadDefinition,
  PartitionCheckpoint,
  PlanPartition,
  RunManifest,
  RunState,
} from '../state/types.js';
import { sourceColumns } from './definition.js';
import { ConcurrencyGate } from './concurrency.js';
import { LoadError } from './errors.js';
import { INTERNAL_BATCH_ROWS, sessionExpired, where } from './planner.js';

export type EngineDeps = {
  dc: DataCloudClient;
  bulk: BulkIngestClient;
  /** The org's limits (GET /limits); optional. */
  limits?: () => Promise<Record<string, { Max: number; Remaining: number }>>;
};

export type EngineOptions = {
  run: RunDir;
  command: 'start' | 'resume' | 'retry-failures';
  /** Target field → type, from describe, to convert values. */
  fieldTypes: Record<string, string>;
  /** Aborting it (Ctrl-C) stops the run cleanly: no new jobs; in-flight jobs stay recorded. */
  signal?: AbortSignal;
  onProgress?: (p: ProgressSnapshot) => void;
  /** retry-failures: rows to upsert again, grouped by the partition they failed in. */
  failureRows?: Array<{ partition: number; rows: JobRow[] }>;
};

export type PartitionProgress = {
  index: number;
  state: PartitionCheckpoint['state'] | 'waiting';
  plannedRows: number;
  read: number;
  loaded: number;
  failed: number;
  retried: number;
  jobs: number;
  inFlight: number;
};

export type ProgressSnapshot = {
  runId: string;
  state: RunState;
  elapsedSeconds: number;
  concurrency: number;
  totals: { sourceRows: number; read: number; loaded: number; failed: number; retried: number; pending: number; jobs: number; inFlight: number; apiCalls: number };
  etaSeconds?: number;
  partitions: PartitionProgress[];
};

export type EngineOutcome = { state: RunState; error?: LoadError; snapshot: ProgressSnapshot };

type Planned = Extract<JobLogRecord, { t: 'planned' }>;
type Result = Extract<JobLogRecord, { t: 'result' }>;

type SeqState = {
  planned: Planned;
  jobId?: string;
  closed: boolean;
  aborted: boolean;
  result?: Result;
  submitted: boolean;
};

type PartState = {
  plan: PlanPartition;
  after: KeyTuple | null;
  read: number;
  exhausted: boolean;
  done: boolean;
  startedBefore: boolean;
  /** Planned seqs waiting to be submitted, oldest first. */
  queue: number[];
  progress: PartitionProgress;
};

const JOB_LEVEL_PERMANENT = /^(InvalidBatch|ClientInputError|InvalidJob|InvalidOperation|FeatureNotEnabled|InvalidUser|InvalidSessionId)\b/i;

export class LoadEngine {
  private readonly def: LoadDefinition;
  private manifest: RunManifest;
  private readonly seqs = new Map<number, SeqState>();
  private readonly parts: PartState[] = [];
  private readonly gate: ConcurrencyGate;
  private nextSeq = 1;
  private stopping: 'interrupted' | 'cancelled' | 'error' | undefined;
  private fatal?: LoadError;
  private readonly stopWaiters = new Set<() => void>();
  private readonly started = Date.now();
  private apiCalls = 0;
  private consecutiveDeadJobs = 0;
  private lastDeadCode = '';
  private limitsCheckedAt = 0;
  private limitsCache?: Record<string, { Max: number; Remaining: number }>;
  private readonly rowsCache = new Map<number, JobRow[]>();
  private readonly timers: NodeJS.Timeout[] = [];

  public constructor(private readonly deps: EngineDeps, private readonly opts: EngineOptions) {
    this.manifest = opts.run.readManifest();
    this.def = this.manifest.definition;
    const p = this.def.pacing;
    // Parent-aware partitions share no parent, so jobs in flight don't contend for locks:
    // start at the bound and let the org's signals (lock bursts, 429, queueing) bring it down.
    this.gate = new ConcurrencyGate(p.maxConcurrency, p.maxConcurrency, p.strategy === 'adaptive');
  }

  public async run(): Promise<EngineOutcome> {
    const { run } = this.opts;
    this.rebuild();
    run.clearCancel(); // a request left from an earlier session is not for this one
    this.manifest = run.updateManifest((m) => ({
      ...m,
      state: 'running',
      endedAt: undefined,
      error: undefined,
      sessions: [...m.sessions, { command: this.opts.command, startedAt: new Date().toISOString() }],
    }));
    run.event({ level: 'info', type: 'session-start', message: `${this.opts.command} on ${hostname()} (pid ${process.pid})` });
    run.writeHeartbeat(this.opts.command);
    this.timers.push(setInterval(() => run.writeHeartbeat(this.opts.command), 2000));
    this.timers.push(setInterval(() => this.watchCancel(), 500));
    const onAbort = (): void => this.stop('interrupted');
    this.opts.signal?.addEventListener('abort', onAbort);
    if (this.opts.failureRows) this.planFailureRetries(this.opts.failureRows);

    try {
      await Promise.all(this.parts.map((ps) => this.runPartition(ps)));
    } catch (err) {
      this.onJobError(err); // same mapping for source errors: expired session, limits, API errors
    } finally {
      for (const t of this.timers) clearInterval(t);
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
    if (this.stopping === 'cancelled' && this.cancelAbortsJobs) await this.abortInFlight('cancelled by sf datacloud load cancel');

    const allDone = this.parts.every((ps) => ps.done);
    const state: RunState = this.fatal ? 'failed' : this.stopping === 'cancelled' ? 'cancelled' : this.stopping || !allDone ? 'stopped' : 'completed';
    const endedAt = new Date().toISOString();
    this.manifest = run.updateManifest((m) => {
      const sessions = [...m.sessions];
      sessions[sessions.length - 1] = { ...sessions[sessions.length - 1], endedAt, outcome: state };
      return {
        ...m,
        state,
        sessions,
        ...(state === 'completed' ? { endedAt } : {}),
        ...(this.fatal ? { error: { name: this.fatal.code, message: this.fatal.message } } : {}),
      };
    });
    run.event({ level: this.fatal ? 'error' : 'info', type: 'session-end', message: `${this.opts.command} ended: ${state}${this.fatal ? ` (${this.fatal.message})` : ''}` });
    const snapshot = this.snapshot(state);
    this.opts.onProgress?.(snapshot);
    return { state, error: this.fatal, snapshot };
  }

  // ---------------------------------------------------------------- rebuild from files

  /** Rebuild partitions, cursors, counters and unfinished jobs from the run directory. */
  private rebuild(): void {
    const { run } = this.opts;
    for (const plan of this.manifest.plan.partitions) {
      const cp = run.readCheckpoint(plan.index);
      this.parts.push({
        plan,
        after: cp?.after ?? null,
        read: cp?.readRows ?? 0,
        exhausted: cp?.exhausted ?? false,
        done: cp?.state === 'done',
        startedBefore: cp !== undefined && cp.state !== 'pending',
        queue: [],
        progress: { index: plan.index, state: cp?.state ?? 'pending', plannedRows: plan.rows, read: 0, loaded: 0, failed: 0, retried: 0, jobs: 0, inFlight: 0 },
      });
    }
    const freshBySeq: Array<{ part: number; lastKey: KeyTuple; seq: number }> = [];
    for (const rec of run.readJobLog()) {
      this.nextSeq = Math.max(this.nextSeq, rec.seq + 1);
      if (rec.t === 'planned') {
        this.seqs.set(rec.seq, { planned: rec, closed: false, aborted: false, submitted: false });
        if (rec.kind === 'load' && rec.freshRows > 0) {
          this.parts[rec.partition].progress.read += rec.freshRows;
          if (rec.lastKey) freshBySeq.push({ part: rec.partition, lastKey: rec.lastKey, seq: rec.seq });
        }
        continue;
      }
      const st = this.seqs.get(rec.seq);
      if (!st) continue;
      if (rec.t === 'created') {
        st.jobId = rec.jobId;
        st.closed = false;
        st.aborted = false;
        this.parts[st.planned.partition].progress.jobs++;
      } else if (rec.t === 'closed') st.closed = true;
      else if (rec.t === 'aborted') st.aborted = true;
      else if (rec.t === 'result' && !st.result) {
        st.result = rec;
        this.applyResultCounters(rec);
      }
    }
    // The cursor is the last key handed to a planned job, even if the checkpoint lagged.
    for (const f of freshBySeq) {
      const ps = this.parts[f.part];
      ps.after = f.lastKey;
      ps.read = Math.max(ps.read, ps.progress.read);
    }
    for (const [seq, st] of this.seqs) {
      if (st.result) continue;
      const ps = this.parts[st.planned.partition];
      ps.queue.push(seq);
      ps.done = false;
    }
    for (const ps of this.parts) ps.queue.sort((a, b) => a - b);
  }

  private applyResultCounters(rec: Result): void {
    const pp = this.parts[rec.partition].progress;
    pp.loaded += rec.succeeded;
    pp.failed += rec.failedFinal - rec.recovered;
    pp.retried += rec.requeued;
  }

  // ---------------------------------------------------------------- partitions

  private async runPartition(ps: PartState): Promise<void> {
    if (ps.done && ps.queue.length === 0) {
      ps.progress.state = 'done';
      return;
    }
    if (!ps.startedBefore && this.opts.command === 'start' && ps.plan.startOffsetSeconds > 0) {
      ps.progress.state = 'waiting';
      this.emit();
      await this.sleep(ps.plan.startOffsetSeconds * 1000 - (Date.now() - this.started));
    }
    if (this.stopping) return;
    ps.progress.state = 'running';
    this.checkpoint(ps, 'running');
    const p = this.def.pacing;
    const inflight = new Set<Promise<void>>();
    let prefetch: Promise<SourcePage> | undefined;

    while (!this.stopping) {
      let seq = this.takeDue(ps);
      if (seq === undefined && !ps.exhausted && this.opts.command !== 'retry-failures') {
        const page = await (prefetch ?? this.readPage(ps));
        prefetch = undefined;
        if (this.stopping) break;
        if (page.rows.length === 0 && page.rejects.length === 0) {
          ps.exhausted = true;
          this.checkpoint(ps, 'running');
          continue;
        }
        seq = this.planFresh(ps, page);
        if (seq === undefined) continue;
        if (p.jobsInFlightPerPartition === 1 && p.delaySeconds[1] === 0) {
          prefetch = this.readPage(ps);
          // Its error surfaces where it is awaited; until then it must not count as unhandled.
          prefetch.catch(() => undefined);
        }
      }
      if (seq === undefined) {
        if (inflight.size > 0) await Promise.race([...inflight, this.untilStop()]);
        else if (ps.queue.length > 0) await this.sleep(this.msUntilDue(ps));
        else break;
        continue;
      }
      while (inflight.size >= p.jobsInFlightPerPartition && !this.stopping) await Promise.race([...inflight, this.untilStop()]);
      if (this.stopping) {
        ps.queue.unshift(seq);
        break;
      }
      await this.gate.acquire();
      if (this.stopping) {
        this.gate.release();
        ps.queue.unshift(seq);
        break;
      }
      const task: Promise<void> = this.execJob(seq)
        .catch((err) => this.onJobError(err))
        .finally(() => {
          this.gate.release();
          inflight.delete(task);
          this.emit();
        });
      inflight.add(task);
      const [dmin, dmax] = p.delaySeconds;
      if (dmax > 0) await this.sleep((dmin + Math.random() * (dmax - dmin)) * 1000);
    }
    if (prefetch) await prefetch.catch(() => undefined);
    await Promise.allSettled([...inflight]);
    if (!this.stopping && ps.exhausted && ps.queue.length === 0) {
      ps.done = true;
      ps.progress.state = 'done';
      this.checkpoint(ps, 'done');
      this.opts.run.event({ level: 'info', type: 'partition-done', partition: ps.plan.index, message: `Partition ${ps.plan.index} done` });
      this.emit();
    }
  }

  private takeDue(ps: PartState): number | undefined {
    const now = Date.now();
    const i = ps.queue.findIndex((seq) => {
      const nb = this.seqs.get(seq)?.planned.notBefore;
      return !nb || Date.parse(nb) <= now;
    });
    return i >= 0 ? ps.queue.splice(i, 1)[0] : undefined;
  }

  private msUntilDue(ps: PartState): number {
    const now = Date.now();
    let min = 5000;
    for (const seq of ps.queue) {
      const nb = this.seqs.get(seq)?.planned.notBefore;
      min = Math.min(min, nb ? Math.max(0, Date.parse(nb) - now) : 0);
    }
    return min;
  }

  private checkpoint(ps: PartState, state: PartitionCheckpoint['state']): void {
    this.opts.run.writeCheckpoint({
      schemaVersion: 1,
      index: ps.plan.index,
      state,
      after: ps.after,
      readRows: ps.read,
      exhausted: ps.exhausted,
      updatedAt: new Date().toISOString(),
    });
  }

  // ---------------------------------------------------------------- source pages

  private async readPage(ps: PartState): Promise<SourcePage> {
    const def = this.def;
    const plan = this.manifest.plan;
    const pc = plan.partitionColumn;
    const preds: Array<string | undefined> = [def.source.filter];
    if (ps.plan.lowerExclusive !== null) preds.push(`${quoteIdent(pc)} > ${quoteLiteral(ps.plan.lowerExclusive)}`);
    if (ps.plan.upperInclusive !== null) preds.push(`${quoteIdent(pc)} <= ${quoteLiteral(ps.plan.upperInclusive)}`);
    if (ps.after) preds.push(keysetAfter(plan.keyColumns, ps.after));
    const sql =
      `SELECT ${sourceColumns(def).map(quoteIdent).join(', ')} FROM ${quoteIdent(def.source.object)}${where(preds)}` +
      ` ORDER BY ${plan.keyColumns.map(quoteIdent).join(', ')} LIMIT ${plan.rowsPerJob}`;
    const res = await this.withRetry(() => this.deps.dc.query(sql), 'Data Cloud query');
    const rows: JobRow[] = [];
    const rejects: Array<{ row: JobRow; code: string; message: string }> = [];
    for (const r of res.rows) {
      const key = r[def.source.keyColumn] as KeyValue | null;
      const parent = def.source.parentColumn ? (r[def.source.parentColumn] as KeyValue | null) : undefined;
      const values: Record<string, string | null> = {};
      let problem: string | undefined;
      for (const [src, target] of Object.entries(def.target.mapping)) {
        const conv = convertValue(r[src], this.opts.fieldTypes[target] ?? 'string');
        if (conv.ok) values[target] = conv.value;
        else problem ??= `${src} → ${target}: ${conv.reason}`;
      }
      const row: JobRow = { key: key ?? '', ...(parent !== undefined && parent !== null ? { parent } : {}), attempt: 1, values };
      if (key === null || key === undefined || key === '') rejects.push({ row, code: 'MISSING_KEY', message: `The row has no ${def.source.keyColumn} value.` });
      else if (problem) rejects.push({ row, code: 'INVALID_VALUE', message: problem });
      else rows.push(row);
    }
    const last = res.rows[res.rows.length - 1];
    return { rows, rejects, lastKey: last ? plan.keyColumns.map((c) => last[c] as KeyValue) : undefined, count: res.rows.length };
  }

  /** Record a fresh page: its rows on disk and a planned job, then advance the cursor. */
  private planFresh(ps: PartState, page: SourcePage): number | undefined {
    const { run } = this.opts;
    const at = new Date().toISOString();
    const records: JobLogRecord[] = [];
    let jobSeq: number | undefined;
    if (page.rejects.length) {
      run.appendFailures(
        page.rejects.map((r) => ({
          status: 'failed',
          at,
          key: r.row.key,
          ...(r.row.parent !== undefined ? { parent: r.row.parent } : {}),
          partition: ps.plan.index,
          seq: 0,
          code: r.code,
          message: r.message,
          fields: [],
          attempts: 0,
          transient: false,
          row: r.row.values,
        }))
      );
    }
    if (page.rows.length) {
      jobSeq = this.nextSeq++;
      run.writeJobRows(jobSeq, page.rows);
      this.rowsCache.set(jobSeq, page.rows);
      records.push({ t: 'planned', at, seq: jobSeq, kind: 'load', partition: ps.plan.index, rows: page.rows.length, freshRows: page.rows.length, lastKey: page.lastKey, retryRows: 0 });
    }
    if (page.rejects.length) {
      const rs = this.nextSeq++;
      records.push(
        { t: 'planned', at, seq: rs, kind: 'load', partition: ps.plan.index, rows: 0, freshRows: page.rejects.length, ...(jobSeq ? {} : { lastKey: page.lastKey }), retryRows: 0 },
        this.localRejectResult(rs, ps.plan.index, page.rejects.length, page.rejects.map((r) => r.code))
      );
    }
    run.appendJobLog(...records);
    for (const rec of records) {
      if (rec.t === 'planned') this.seqs.set(rec.seq, { planned: rec, closed: false, aborted: false, submitted: false });
      if (rec.t === 'result') {
        this.seqs.get(rec.seq)!.result = rec;
        this.applyResultCounters(rec);
      }
    }
    ps.after = page.lastKey ?? ps.after;
    ps.read += page.count;
    ps.progress.read += page.count;
    this.checkpoint(ps, 'running');
    this.emit();
    return jobSeq;
  }

  private localRejectResult(seq: number, partition: number, n: number, codes: string[]): Result {
    const errorCodes: Record<string, number> = {};
    for (const c of codes) errorCodes[c] = (errorCodes[c] ?? 0) + 1;
    return {
      t: 'result', at: new Date().toISOString(), seq, jobId: '', kind: 'load', partition, state: 'LocalReject', rows: n,
      succeeded: 0, created: 0, updated: 0, failedFinal: n, requeued: 0, transientErrors: 0, recovered: 0, apiCalls: 0, seconds: 0, errorCodes,
    };
  }

  /** retry-failures: plan one job per chunk of previously failed rows. */
  private planFailureRetries(groups: Array<{ partition: number; rows: JobRow[] }>): void {
    const at = new Date().toISOString();
    for (const { rows, partition: p } of groups) {
      if (!rows.length) continue;
      const partition = Math.min(this.parts.length - 1, Math.max(0, p));
      const size = this.manifest.plan.rowsPerJob;
      for (let i = 0; i < rows.length; i += size) {
        const chunk = rows.slice(i, i + size);
        const seq = this.nextSeq++;
        this.opts.run.writeJobRows(seq, chunk);
        this.rowsCache.set(seq, chunk);
        const planned: Planned = { t: 'planned', at, seq, kind: 'failures-retry', partition, rows: chunk.length, freshRows: 0, retryRows: chunk.length };
        this.opts.run.appendJobLog(planned);
        this.seqs.set(seq, { planned, closed: false, aborted: false, submitted: false });
        const ps = this.parts[partition];
        ps.queue.push(seq);
        ps.done = false;
        ps.exhausted = true;
      }
    }
  }


  // ---------------------------------------------------------------- one job

  private async execJob(seq: number): Promise<void> {
    const st = this.seqs.get(seq)!;
    const ps = this.parts[st.planned.partition];
    const { run } = this.opts;
    const { bulk } = this.deps;
    const rows = this.rowsCache.get(seq) ?? run.readJobRows(seq);
    const t0 = Date.now();
    let calls = 0;
    const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      calls++;
      this.apiCalls++;
      return this.withRetry(fn, what);
    };
    ps.progress.inFlight++;
    this.emit();
    try {
      let info: JobInfo | undefined;
      if (st.jobId && !st.aborted) {
        // A job from before a crash or stop: ask the org where it stands.
        try {
          info = await call('get job', () => bulk.getJob(st.jobId!));
        } catch (err) {
          if (toApiError(err).errorCode !== 'NOT_FOUND') throw err;
          info = undefined;
          st.jobId = undefined;
        }
        if (info?.state === 'Open') {
          info = await call('abort job', () => bulk.abort(st.jobId!));
          run.appendJobLog({ t: 'aborted', at: new Date().toISOString(), seq, jobId: st.jobId!, reason: 'never closed before the run stopped' });
          st.aborted = true;
        }
      } else if (st.jobId && st.aborted) {
        info = await call('get job', () => bulk.getJob(st.jobId!));
      }
      if (!st.jobId) {
        if (rows.length === 0) throw new LoadError('MissingJobRows', `The rows of job ${seq} are missing from ${run.jobRowsFile(seq)}.`);
        await this.checkLimits(rows.length);
        const csv = this.toCsv(rows);
        const created = await call('create job', () =>
          bulk.createJob({ object: this.def.target.object, operation: 'upsert', externalIdFieldName: this.def.target.externalIdField, lineEnding: 'LF', columnDelimiter: 'COMMA' })
        );
        st.jobId = created.id;
        st.closed = false;
        st.aborted = false;
        run.appendJobLog({ t: 'created', at: new Date().toISOString(), seq, jobId: created.id });
        ps.progress.jobs++;
        await call('upload', () => bulk.upload(created.id, csv));
        run.appendJobLog({ t: 'uploaded', at: new Date().toISOString(), seq, jobId: created.id, bytes: Buffer.byteLength(csv) });
        info = await call('close job', () => bulk.close(created.id));
        st.closed = true;
        run.appendJobLog({ t: 'closed', at: new Date().toISOString(), seq, jobId: created.id });
      }
      const jobId = st.jobId!;
      // Poll with a growing interval until the job ends, noting when the org picked it up.
      const closedAt = Date.now();
      let pickedUpAt: number | undefined;
      let interval = this.def.pacing.pollSeconds[0] * 1000;
      while (!info || !['JobComplete', 'Failed', 'Aborted'].includes(info.state)) {
        await this.sleep(interval);
        if (this.stopping) return;
        interval = Math.min(interval * 1.5, this.def.pacing.pollSeconds[1] * 1000);
        info = await call('poll job', () => bulk.getJob(jobId));
        if (info.state === 'InProgress' && pickedUpAt === undefined) pickedUpAt = Date.now();
      }
      // A job that waited in the org's queue longer than it ran means the org is saturated.
      if (pickedUpAt !== undefined && pickedUpAt - closedAt > Date.now() - pickedUpAt) this.gate.onCongestion();
      // Rows in neither result file (unprocessed by a Failed or Aborted job) are sent again.
      const okCsv = await call('successful results', () => bulk.successfulResults(jobId));
      const failCsv = await call('failed results', () => bulk.failedResults(jobId));
      this.recordResult(st, rows, info, okCsv, failCsv, calls, (Date.now() - t0) / 1000);
    } finally {
      ps.progress.inFlight--;
    }
  }

  private toCsv(rows: JobRow[]): string {
    const header = Object.values(this.def.target.mapping);
    return buildCsv(
      header,
      rows.map((r) => header.map((h) => r.values[h] ?? null))
    );
  }

  private recordResult(st: SeqState, rows: JobRow[], info: JobInfo, okCsv: string, failCsv: string, calls: number, seconds: number): void {
    const { run } = this.opts;
    const p = this.def.pacing;
    const seq = st.planned.seq;
    const ext = this.def.target.externalIdField;
    const extHeader = Object.keys(rows[0]?.values ?? {}).find((k) => k.toLowerCase() === ext.toLowerCase()) ?? ext;
    const byKey = new Map(rows.map((r) => [String(r.values[extHeader] ?? r.key), r]));
    const done = new Set<string>();
    const delimiter = info.columnDelimiter ?? 'COMMA';
    let created = 0;
    const succeededKeys: JobRow[] = [];
    for (const r of parseResultCsv(okCsv, delimiter)) {
      const key = resultKey(r, extHeader);
      const row = byKey.get(key);
      if (!row || done.has(key)) continue;
      done.add(key);
      succeededKeys.push(row);
      if (r.sf__Created === 'true') created++;
    }
    const at = new Date().toISOString();
    const failures: Array<Extract<FailureRecord, { status: 'failed' }>> = [];
    const requeue: JobRow[] = [];
    const errorCodes: Record<string, number> = {};
    let transientErrors = 0;
    for (const r of parseResultCsv(failCsv, delimiter)) {
      const key = resultKey(r, extHeader);
      const row = byKey.get(key);
      if (!row || done.has(key)) continue;
      done.add(key);
      const e = parseSfError(r.sf__Error ?? '');
      errorCodes[e.code] = (errorCodes[e.code] ?? 0) + 1;
      const transient = classifySfError(e.code, e.message) === 'transient';
      if (transient) transientErrors++;
      if (transient && row.attempt < p.maxAttempts) {
        requeue.push({ ...row, attempt: row.attempt + 1, lastError: { code: e.code, message: e.message } });
      } else {
        failures.push({
          status: 'failed', at, key: row.key, ...(row.parent !== undefined ? { parent: row.parent } : {}), partition: st.planned.partition,
          seq, jobId: info.id, code: e.code, message: e.message, fields: e.fields, attempts: row.attempt, transient, row: row.values,
        });
      }
    }
    // Rows the org did not process (Failed/Aborted jobs, or missing from both result files).
    const jobLevel = info.state === 'Failed' && JOB_LEVEL_PERMANENT.test(info.errorMessage ?? '');
    for (const row of rows) {
      const key = String(row.values[extHeader] ?? row.key);
      if (!done.has(key)) requeue.push(row);
    }
    const kind: JobKind = st.planned.kind;
    // 1. Rows to send again: a new planned job of the same partition (once per seq).
    const alreadyPlanned = [...this.seqs.values()].some((s) => s.planned.retryOf === seq);
    let retrySeq: number | undefined;
    if (requeue.length && !alreadyPlanned) {
      retrySeq = this.nextSeq++;
      const maxAttempt = Math.max(...requeue.map((r) => r.attempt));
      const backoff = requeue.some((r) => r.lastError) ? p.retryDelaysSeconds[Math.min(maxAttempt - 2, p.retryDelaysSeconds.length - 1)] ?? 0 : 0;
      const notBefore = new Date(Date.now() + backoff * 1000 * (1 + Math.random() * 0.25)).toISOString();
      run.writeJobRows(retrySeq, requeue);
      this.rowsCache.set(retrySeq, requeue);
      const planned: Planned = { t: 'planned', at, seq: retrySeq, kind, partition: st.planned.partition, rows: requeue.length, freshRows: 0, retryRows: requeue.length, retryOf: seq, notBefore };
      run.appendJobLog(planned);
      this.seqs.set(retrySeq, { planned, closed: false, aborted: false, submitted: false });
    }
    // 2. Failures, and rows recovered by retry-failures.
    const recovered = kind === 'failures-retry' ? succeededKeys.length : 0;
    run.appendFailures([
      ...failures,
      ...(kind === 'failures-retry' ? succeededKeys.map((r) => ({ status: 'loaded' as const, at, key: r.key, seq, jobId: info.id })) : []),
    ]);
    // 3. The result: from here on the job counts, exactly once.
    const result: Result = {
      t: 'result', at, seq, jobId: info.id, kind, partition: st.planned.partition, state: info.state as Result['state'], rows: rows.length,
      succeeded: succeededKeys.length, created, updated: succeededKeys.length - created, failedFinal: kind === 'failures-retry' ? 0 : failures.length,
      requeued: requeue.length, transientErrors, recovered, ...(info.errorMessage ? { errorMessage: info.errorMessage } : {}),
      apiCalls: calls, seconds, ...(info.totalProcessingTime !== undefined ? { orgProcessingMs: info.totalProcessingTime } : {}),
      ...(info.retries !== undefined ? { retries: info.retries } : {}), errorCodes,
    };
    run.appendJobLog(result);
    st.result = result;
    this.applyResultCounters(result);
    run.deleteJobRows(seq);
    this.rowsCache.delete(seq);
    if (retrySeq !== undefined) this.parts[st.planned.partition].queue.push(retrySeq);
    if (failures.length || transientErrors) {
      run.event({
        level: 'warn', type: 'job-errors', seq, jobId: info.id, partition: st.planned.partition,
        message: `Job ${info.id}: ${succeededKeys.length} loaded, ${failures.length} failed, ${requeue.length} to retry (${Object.entries(errorCodes).map(([c, n]) => `${c} ×${n}`).join(', ')})`,
      });
    }

    // Feedback: concurrency, circuit breaker, job-level failures.
    if (transientErrors > Math.max(1, rows.length * 0.01)) this.gate.onCongestion();
    else if (info.state === 'JobComplete') this.gate.onClean();
    if (jobLevel) {
      this.fatal = new LoadError('JobFailed', `Bulk job ${info.id} failed: ${info.errorMessage}.`, [
        'Fix the definition (target.mapping, field names) or the org, then run "sf datacloud load resume"; the job\'s rows are kept and will be sent again.',
        `See the job in the org: Setup → Bulk Data Load Jobs → ${info.id}.`,
      ], { jobId: info.id });
      this.stop('error');
      return;
    }
    const codes = Object.keys(errorCodes);
    if (succeededKeys.length === 0 && rows.length > 0 && failures.length === rows.length && codes.length === 1) {
      this.consecutiveDeadJobs = codes[0] === this.lastDeadCode ? this.consecutiveDeadJobs + 1 : 1;
      this.lastDeadCode = codes[0];
      if (this.consecutiveDeadJobs >= p.circuitBreakerJobs) {
        const sample = failures[0];
        this.fatal = new LoadError('CircuitBreakerOpen', `Every row of the last ${this.consecutiveDeadJobs} jobs failed with ${sample.code}: ${sample.message}`, [
          'Fix the cause (a validation rule, a required field, the mapping), then run "sf datacloud load resume" for the rest and "sf datacloud load retry-failures" for these rows.',
        ]);
        this.stop('error');
      }
    } else {
      this.consecutiveDeadJobs = 0;
    }
  }

  private onJobError(err: unknown): void {
    if (err instanceof LoadError) {
      this.fatal ??= err;
      this.stop('error');
      return;
    }
    const e = toApiError(err);
    if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') this.fatal ??= sessionExpired();
    else if (e.errorCode === 'REQUEST_LIMIT_EXCEEDED') {
      this.fatal ??= new LoadError('LimitsExhausted', `The org refused more API requests (${e.message}).`, [
        'Wait for the daily allocation to recover (rolling 24 h), then run "sf datacloud load resume".',
      ]);
    } else {
      this.fatal ??= new LoadError('ApiError', `A call to the org failed: ${e.message}`, ['Run "sf datacloud load resume" to continue; nothing recorded is lost.']);
    }
    this.stop('error');
  }

  // ---------------------------------------------------------------- limits, retries, stop

  private async checkLimits(rows: number): Promise<void> {
    if (!this.deps.limits) return;
    if (!this.limitsCache || Date.now() - this.limitsCheckedAt > 30_000) {
      try {
        this.limitsCache = await this.deps.limits();
        this.limitsCheckedAt = Date.now();
      } catch {
        return;
      }
    }
    const l = this.limitsCache;
    const batches = Math.ceil(rows / INTERNAL_BATCH_ROWS);
    if (l.DailyBulkApiBatches && l.DailyBulkApiBatches.Remaining < batches) {
      throw new LoadError('LimitsExhausted', `The org has ${l.DailyBulkApiBatches.Remaining} Bulk API batches left today; the next job needs ${batches}.`, [
        'Wait for the rolling 24 h allocation to recover, then run "sf datacloud load resume".',
      ]);
    }
    if (l.DailyApiRequests && l.DailyApiRequests.Remaining < 20) {
      throw new LoadError('LimitsExhausted', `The org has ${l.DailyApiRequests.Remaining} API requests left today.`, [
        'Wait for the rolling 24 h allocation to recover, then run "sf datacloud load resume".',
      ]);
    }
    l.DailyBulkApiBatches && (l.DailyBulkApiBatches.Remaining -= batches);
    l.DailyApiRequests && (l.DailyApiRequests.Remaining -= 8);
  }

  /** Retry transient HTTP failures (5xx, 429, dropped connections) with backoff and jitter. */
  private withRetry<T>(fn: () => Promise<T>, what: string): Promise<T> {
    return pRetry(fn, {
      retries: 6,
      minTimeout: 500,
      maxTimeout: 15_000,
      factor: 2,
      randomize: true,
      shouldRetry: ({ error }) => {
        if (error instanceof LoadError) return false;
        const e = toApiError(error);
        if (e.status === 429 || e.errorCode === 'REQUEST_LIMIT_EXCEEDED') this.gate.onCongestion();
        return e.transient && !this.stopping;
      },
      onFailedAttempt: ({ error, attemptNumber }) => {
        const e: SalesforceApiError = toApiError(error);
        if (e.transient) this.opts.run.event({ level: 'warn', type: 'http-retry', message: `${what}: ${e.message} (attempt ${attemptNumber})` });
      },
    });
  }

  private cancelAbortsJobs = true;

  private watchCancel(): void {
    if (this.stopping) return;
    const req = this.opts.run.readCancel();
    if (!req) return;
    this.cancelAbortsJobs = req.abortJobs !== false;
    this.stop('cancelled');
  }

  private stop(reason: 'interrupted' | 'cancelled' | 'error'): void {
    if (this.stopping) return;
    this.stopping = reason;
    this.opts.run.event({ level: reason === 'error' ? 'error' : 'info', type: 'stopping', message: `Stopping: ${reason}` });
    for (const w of this.stopWaiters) w();
    this.stopWaiters.clear();
    this.emit();
  }

  private untilStop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) resolve();
      else this.stopWaiters.add(resolve);
    });
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.stopWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.stopWaiters.add(done);
    });
  }

  /** cancel: abort the org jobs this run has in flight, and record it. */
  private async abortInFlight(reason: string): Promise<void> {
    for (const [seq, st] of this.seqs) {
      if (st.result || !st.jobId || st.aborted) continue;
      try {
        await this.deps.bulk.abort(st.jobId);
        this.opts.run.appendJobLog({ t: 'aborted', at: new Date().toISOString(), seq, jobId: st.jobId, reason });
        st.aborted = true;
      } catch {
        // A job that already ended can't be aborted; resume collects its results.
      }
    }
  }

  // ---------------------------------------------------------------- progress

  private lastEmit = 0;
  private emit(): void {
    if (!this.opts.onProgress) return;
    const now = Date.now();
    if (now - this.lastEmit < 200) return;
    this.lastEmit = now;
    this.opts.onProgress(this.snapshot(this.stopping ? 'stopping' : 'running'));
  }

  public snapshot(state: RunState): ProgressSnapshot {
    const parts = this.parts.map((ps) => ({ ...ps.progress }));
    const sum = (k: keyof PartitionProgress): number => parts.reduce((n, p) => n + (p[k] as number), 0);
    const sourceRows = this.manifest.plan.totalRows;
    const loaded = sum('loaded');
    const failed = sum('failed');
    const elapsedSeconds = (Date.now() - this.started) / 1000;
    const pending = Math.max(0, sourceRows - loaded - failed);
    const rate = loaded / Math.max(1, elapsedSeconds);
    return {
      runId: this.opts.run.runId,
      state,
      elapsedSeconds,
      concurrency: this.gate.limit,
      totals: { sourceRows, read: sum('read'), loaded, failed, retried: sum('retried'), pending, jobs: sum('jobs'), inFlight: sum('inFlight'), apiCalls: this.apiCalls },
      ...(rate > 0 && pending > 0 ? { etaSeconds: pending / rate } : {}),
      partitions: parts,
    };
  }
}

type SourcePage = { rows: JobRow[]; rejects: Array<{ row: JobRow; code: string; message: string }>; lastKey?: KeyTuple; count: number };

function resultKey(r: Record<string, string>, extHeader: string): string {
  if (r[extHeader] !== undefined) return r[extHeader];
  const k = Object.keys(r).find((h) => h.toLowerCase() === extHeader.toLowerCase());
  return k ? r[k] : '';
}

