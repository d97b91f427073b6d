/*
 * One session of a run (start, resume or retry-failures): take the run's lock, rebuild the
 * ledger's fold from the log, then let the scheduler pick jobs and reads until the run is
 * done or stops, and record how it ended. The session knows no terminal: progress goes to
 * a callback; and no row counting happens here: the fold (src/ledger/fold.ts) counts.
 *
 *   scheduler.ts  which job runs next, which partition reads next
 *   reader.ts     source pages → CSV lines, rows rejected at read time
 *   job.ts        one Bulk job's life against the org
 *   recorder.ts   a job's results → the ledger (retry decisions in retry-policy.ts)
 *
 * Stops: Ctrl-C (stopped), `cancel` (cancelled, the run's open jobs aborted), an error the
 * org gives for the whole run (authentication, limits: failed or stopped), the circuit
 * breaker, a run file that cannot be written. A job's own failure is contained to that job.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { toApiError, type SalesforceApiError } from '../core/errors.js';
import type { BulkIngestClient, JobInfo } from '../sink/bulk-client.js';
import { scanCsv } from '../sink/csv-scan.js';
import type { DataCloudClient } from '../source/datacloud-client.js';
import type { OrgLimits } from '../core/org-api.js';
import type { RunDir } from '../state/run-dir.js';
import { LockLostError, RunLockHandle, RunLockedError, HEARTBEAT_MS } from '../state/run-lock.js';
import type { RunManifest, RunState, SessionCommand } from '../state/types.js';
import type { JobEntry, LedgerFold } from '../ledger/fold.js';
import { readLedger } from '../ledger/read.js';
import { LedgerWriter } from '../ledger/writer.js';
import type { ProgressSnapshot } from '../ledger/status-types.js';
import { systemClock, type Clock } from './clock.js';
import { createController, type ConcurrencyController } from './concurrency.js';
import { LoadError } from './errors.js';
import { httpRetry, type Retrying } from './http-retry.js';
import { abortOpenJobs, driveJob, dropFinishedJob, stepOf, type Drive, type JobContext } from './job.js';
import { batchesOf, LimitsGuard, type InFlightJob } from './limits.js';
import { OrphanFinder } from './orphans.js';
import { countRows } from './planner.js';
import { planPage } from './pages.js';
import { apiErrorName, CircuitBreaker, fatalOf, stopsTheRun } from './stops.js';
import { jobErrorCode } from './retry-policy.js';
import { parentLocks, SourceReader, targetLayout, type Page, type TargetLayout } from './reader.js';
import { recordJob, type RetryOrigin } from './recorder.js';
import { Scheduler, type QueuedJob } from './scheduler.js';
import type { TargetInfo } from './planner.js';
import { snapshotOf } from './progress.js';

export type EngineDeps = {
  dc: DataCloudClient;
  bulk: BulkIngestClient;
  limits?: () => Promise<OrgLimits>;
  clock?: Clock;
  /** The org user the run's jobs are created as (to recognise its unrecorded jobs). */
  userId?: () => Promise<string | undefined>;
  /** Requests sent to the org so far (for the DailyApiRequests guard); without it, only the jobs' calls are counted. */
  requestsSent?: () => number;
};

export type EngineOptions = {
  run: RunDir;
  command: SessionCommand;
  target: Pick<TargetInfo, 'fieldTypes' | 'keyCaseSensitive' | 'parentFields'>;
  /** Aborting it (Ctrl-C) stops the run cleanly: no new jobs; jobs in flight stay recorded. */
  signal?: AbortSignal;
  onProgress?: (p: ProgressSnapshot) => void;
  /** Told what the session found in the ledger, before its first job. */
  onFound?: (found: EngineOutcome['resumed']) => void;
  /** retry-failures: plan these failures-retry jobs before the loop. */
  prepare?: (ctx: { writer: LedgerWriter; layout: TargetLayout; manifest: RunManifest }) => void;
};

export type EngineOutcome = { state: RunState; error?: LoadError; snapshot: ProgressSnapshot; resumed: { inFlight: number; queued: number; orphansAborted: number } };

/** Failures of one job's task (not its rows: its calls), each after its HTTP retries, before the run stops. */
const MAX_TASK_FAILURES = 3;
/** Refusals (a 4xx) of one job's task before its rows are listed as failed: one more try, in a new org job. */
const MAX_REFUSALS = 2;

export class LoadSession {
  private readonly clock: Clock;
  private manifest: RunManifest;
  private fold!: LedgerFold;
  private writer!: LedgerWriter;
  private layout!: TargetLayout;
  private scheduler!: Scheduler;
  private reader!: SourceReader;
  private controller!: ConcurrencyController;
  private limits!: LimitsGuard;
  private retry!: Retrying;
  private lock?: RunLockHandle;
  private readonly stopCtl = new AbortController();
  private stopping: 'interrupted' | 'cancelled' | 'error' | 'limits' | undefined;
  private fatal?: LoadError;
  private abortOnCancel = true;
  private readonly tasks = new Set<Promise<void>>();
  private wake?: () => void;
  /** Bulk API calls of this session's jobs that have no result yet (the ledger counts the rest). */
  private apiCalls = 0;
  /** Every Bulk call of this session's jobs (never decremented), and per job without a result. */
  private jobCallsMade = 0;
  private readonly jobCalls = new Map<number, number>();
  private readonly taskFailures = new Map<number, number>();
  private breaker!: CircuitBreaker;
  private lastLimit = 0;
  private startedAt = 0;
  /** Rows the ledger counted loaded when this session began: the session's speed counts only its own. */
  private loadedBefore = 0;
  /** The ledger's record count when this session read it. */
  private sessionStartNo = 0;
  private readonly resumed = { inFlight: 0, queued: 0, orphansAborted: 0 };

  public constructor(private readonly deps: EngineDeps, private readonly opts: EngineOptions) {
    this.clock = deps.clock ?? systemClock;
    // Every job's polls and retries listen on the stop signal (up to maxConcurrency of them at once).
    setMaxListeners(100_000, this.stopCtl.signal);
    this.manifest = opts.run.readManifest();
  }

  private get run(): RunDir {
    return this.opts.run;
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  public async runSession(): Promise<EngineOutcome> {
    const { run } = this;
    try {
      this.lock = RunLockHandle.acquire(run.lockFile, this.opts.command); // real time: the lock is about processes
    } catch (err) {
      if (err instanceof RunLockedError) {
        throw new LoadError('RunInProgress', `Run ${run.runId} is being written by ${err.lock.command} (pid ${err.lock.pid} on ${err.lock.host}); its heartbeat is ${Math.round((Date.now() - Date.parse(err.lock.heartbeatAt)) / 1000)} s old.`, [
          `Follow it with "sf datacloud load status --run-id ${run.runId} --wait", or stop it with "sf datacloud load cancel --run-id ${run.runId}".`,
        ]);
      }
      throw err;
    }
    try {
      return await this.session();
    } finally {
      this.lock.release();
      run.closeLogs();
    }
  }

  private async session(): Promise<EngineOutcome> {
    const { run, opts } = this;
    this.startedAt = this.clock.now();
    if (this.lock!.tookOver) {
      const t = this.lock!.tookOver;
      run.event({ level: 'warn', type: 'lock-takeover', message: `Took over the run from ${t.command} (pid ${t.pid} on ${t.host}), whose heartbeat stopped at ${t.heartbeatAt}.` });
    }
    for (const [file, bytes] of Object.entries(run.openLogs())) {
      run.event({ level: 'warn', type: 'log-repaired', message: `Cut a torn last line (${bytes} bytes) off ${file}: a crash or a full disk interrupted an append.` });
    }
    this.manifest = run.readManifest();
    const { fold } = readLedger(run, this.manifest);
    this.fold = fold;
    this.sessionStartNo = fold.records;
    this.writer = new LedgerWriter(run, fold);
    for (const p of fold.problems()) run.event({ level: 'warn', type: 'ledger-problem', message: `The job log does not add up: ${p}. This session reads again what it does not account for.` });
    const pacing = this.manifest.definition.pacing;
    this.layout = targetLayout(this.manifest.definition, opts.target);
    this.controller = createController(pacing);
    this.breaker = new CircuitBreaker(pacing.circuitBreakerJobs);
    this.lastLimit = this.controller.limit;
    this.retry = httpRetry({
      clock: this.clock,
      onRetry: (what, e, attempt) => run.event({ level: 'warn', type: 'http-retry', message: `${what}: ${e.message.slice(0, 200)} (attempt ${attempt})` }),
      onThrottle: () => this.controller.onThrottled(this.clock.now()),
    });
    this.limits = new LimitsGuard({
      read: this.deps.limits,
      clock: this.clock,
      inFlight: () => this.inFlightJobs(),
      sent: this.deps.requestsSent ?? (() => this.jobCallsMade),
    });
    this.reader = new SourceReader({
      def: this.manifest.definition,
      plan: this.manifest.plan,
      layout: this.layout,
      dc: this.deps.dc,
      dupKeys: new Set(run.readDuplicates()),
      winners: fold.winners,
      maxJobBytes: pacing.maxJobBytes ?? 100_000_000,
    });
    this.scheduler = new Scheduler({
      partitions: this.manifest.plan.partitions,
      pacing,
      parentLocks: pacing.parentLocks ?? pacing.strategy === 'adaptive',
      reads: opts.command !== 'retry-failures',
    });
    run.clearCancel(); // a request left from an earlier session is not for this one
    this.manifest = run.updateManifest((m) => ({
      ...m,
      state: 'running',
      endedAt: undefined,
      error: undefined,
      sessions: [...m.sessions, { command: opts.command, startedAt: this.iso(), host: hostname(), pid: process.pid }],
    }));
    run.event({ level: 'info', type: 'session-start', message: `${opts.command} on ${hostname()} (pid ${process.pid})` });

    this.loadedBefore = fold.totals.loaded;
    // What the ledger says is unfinished: queued again (jobs in flight are asked of the org first).
    Object.assign(this.resumed, this.scheduler.restore(fold, this.manifest.plan.partitions, opts.command === 'start' ? this.startedAt : undefined));
    if (opts.prepare) {
      const before = new Set(fold.unfinished().map((e) => e.seq));
      opts.prepare({ writer: this.writer, layout: this.layout, manifest: this.manifest });
      for (const e of fold.unfinished()) if (!before.has(e.seq)) this.scheduler.enqueue({ seq: e.seq, partition: e.partition, notBefore: 0, fresh: false });
    }
    const onAbort = (): void => this.stop('interrupted');
    opts.signal?.addEventListener('abort', onAbort);
    const heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    try {
      this.beat();
      await this.limits.refresh(true);
      this.resumed.orphansAborted = await this.orphanFinder().sweep(fold.unfinished());
      opts.onFound?.(this.resumed);
      await this.loop();
    } catch (err) {
      this.onError(err);
    } finally {
      clearInterval(heartbeat);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    await Promise.allSettled([...this.tasks]);
    await Promise.allSettled([...this.cleanups]);
    if (this.stopping === 'cancelled' && this.abortOnCancel) await abortOpenJobs(this.jobContext(), this.fold.unfinished(), 'cancelled by sf datacloud load cancel');
    return this.end();
  }

  private orphans?: OrphanFinder;
  private orphanFinder(): OrphanFinder {
    this.orphans ??= new OrphanFinder({
      bulk: this.deps.bulk,
      run: this.writer,
      retry: this.retry,
      clock: this.clock,
      object: this.manifest.definition.target.object,
      externalIdField: this.manifest.definition.target.externalIdField,
      userId: this.deps.userId ?? (async () => undefined),
      fold: this.fold,
    });
    return this.orphans;
  }

  // ---------------------------------------------------------------- the loop

  private async loop(): Promise<void> {
    const pacing = this.manifest.definition.pacing;
    const maxQueries = pacing.maxConcurrentQueries ?? 4;
    let idle = 0;
    for (;;) {
      if (this.stopping) return;
      const now = this.clock.now();
      const limit = this.controller.limit;
      this.noteLimit(limit);
      for (let j = this.scheduler.nextLaunch(now, limit, (seq) => this.parentsOf(seq)); j; j = this.scheduler.nextLaunch(now, limit, (seq) => this.parentsOf(seq))) {
        this.spawn(this.jobTask(j));
      }
      for (let p = this.scheduler.nextRead(now, limit, maxQueries); p !== undefined; p = this.scheduler.nextRead(now, limit, maxQueries)) {
        this.spawn(this.readTask(p));
      }
      this.emit();
      if (this.tasks.size === 0 && this.scheduler.done) return;
      const due = this.scheduler.nextDue(now);
      // Nothing running, nothing due, nothing startable: a state the scheduler should never reach.
      // Say so and stop rather than wait forever.
      idle = this.tasks.size === 0 && due === undefined ? idle + 1 : 0;
      if (idle > 3) {
        throw new LoadError('NoProgress', `The run cannot go on: no job can start and no page can be read (${this.scheduler.counts().queued} partitions not done).`, [
          'Resume the run; if it stops the same way, report it with the run directory.',
        ]);
      }
      // Each wait has its own signal, cancelled when a task or a stop wakes the loop early: no timer outlives its wait.
      const wait = new AbortController();
      await new Promise<void>((resolve) => {
        this.wake = (): void => {
          wait.abort();
          resolve();
        };
        if (this.stopping) this.wake();
        if (due !== undefined) void this.clock.sleep(Math.max(1, due - now), wait.signal).then(resolve);
        else if (this.tasks.size === 0) void this.clock.sleep(1000, wait.signal).then(resolve);
      });
      wait.abort();
      this.wake = undefined;
    }
  }

  /** Deletes of finished org jobs: awaited before the session ends (they append to the ledger). */
  private readonly cleanups = new Set<Promise<unknown>>();
  private track(p: Promise<unknown>): void {
    const t = p.catch(() => undefined).finally(() => this.cleanups.delete(t));
    this.cleanups.add(t);
  }

  private spawn(p: Promise<void>): void {
    const t = p
      .catch((err) => this.onError(err))
      .finally(() => {
        this.tasks.delete(t);
        this.wake?.();
      });
    this.tasks.add(t);
  }

  private parentsOf(seq: number): string[] {
    const csv = this.run.readJobCsv(seq);
    if (!csv) return [];
    const set = new Set<string>();
    scanCsv(csv, ',', (h) => h.map((_, i) => i), (r) => parentLocks(this.layout, r.fields.map((v) => v ?? null), set));
    return [...set];
  }

  // ---------------------------------------------------------------- reads

  private async readTask(index: number): Promise<void> {
    const part = this.manifest.plan.partitions[index];
    const fp = this.fold.partitions[index];
    let page: Page;
    try {
      page = await this.reader.read(part, fp.lastKey, this.stopCtl.signal);
    } catch (err) {
      this.scheduler.finishRead(index);
      if (this.stopping) return;
      const e = toApiError(err);
      if (err instanceof LoadError || e.status === 401 || e.quota || !e.transient) throw err;
      // A source that keeps failing: back off, then stop after a few tries.
      const n = (this.taskFailures.get(-1 - index) ?? 0) + 1;
      this.taskFailures.set(-1 - index, n);
      if (n >= MAX_TASK_FAILURES) throw err;
      this.scheduler.holdUntil(index, this.clock.now() + 15_000 * n);
      return;
    }
    this.scheduler.finishRead(index);
    this.taskFailures.delete(-1 - index); // a good read forgives the earlier failures
    if (this.stopping && page.jobs.length === 0 && page.rejects.length === 0) return;
    for (const q of planPage(this.writer, index, page, this.iso())) this.scheduler.enqueue(q);
    if (page.exhausted) this.scheduler.setExhausted(index);
  }

  // ---------------------------------------------------------------- jobs

  private jobContext(seq?: number): JobContext {
    return {
      bulk: this.deps.bulk,
      run: this.writer,
      retry: this.retry,
      clock: this.clock,
      controller: this.controller,
      def: this.manifest.definition,
      pacing: this.manifest.definition.pacing,
      orphans: this.orphanFinder(),
      signal: this.stopCtl.signal,
      onCall: () => {
        this.apiCalls++;
        this.jobCallsMade++;
        if (seq !== undefined) this.jobCalls.set(seq, (this.jobCalls.get(seq) ?? 0) + 1);
      },
    };
  }

  /** Jobs with an org job and no result (those of earlier sessions included), for the limits guard. */
  private inFlightJobs(): InFlightJob[] {
    const out: InFlightJob[] = [];
    for (const e of this.fold.jobs.values()) {
      if (e.orgJobs > 0 && !e.aborted && !e.result) out.push({ seq: e.seq, batches: batchesOf(e.rows), calls: this.jobCalls.get(e.seq) ?? 0 });
    }
    return out;
  }

  private async jobTask(q: QueuedJob): Promise<void> {
    const e = this.fold.jobs.get(q.seq) as JobEntry;
    let released = false;
    const release = (): void => {
      if (!released) this.scheduler.finish(q.seq);
      released = true;
    };
    try {
      // The CSV is read from disk when it is uploaded and again when the results come: a job in flight holds no rows in memory.
      const bytes = (): Buffer => this.run.readJobCsvBytes(q.seq) ?? (() => { throw this.missingRows(q.seq); })();
      const createsHere = !e.jobId || e.aborted;
      // An org job created before this session (its `created` line is older than the session's first record).
      const fromEarlierSession = !createsHere && this.fold.createdLog.some((c) => c.jobId === e.jobId && c.no <= this.sessionStartNo);
      if (createsHere) await this.limits.check(q.seq, e.rows);
      const drive = await driveJob(this.jobContext(q.seq), e, bytes);
      if (drive.kind === 'stopped') return;
      await this.record(e, drive, release, fromEarlierSession);
      this.taskFailures.delete(q.seq);
    } catch (err) {
      release();
      if (this.stopping) return;
      await this.contain(q, err);
    } finally {
      release();
      this.emit();
    }
  }

  /** A job of an earlier session that ended ExceededQuota: does the allocation, read again now, cover its rows? */
  private async quotaRecovered(seq: number, rows: number): Promise<boolean> {
    try {
      await this.limits.refresh(true);
      await this.limits.check(seq, rows);
      return true;
    } catch {
      return false;
    }
  }

  private missingRows(seq: number): LoadError {
    return new LoadError('MissingJobRows', `The rows of job ${seq} are missing from ${this.run.jobCsvFile(seq)}, and its result is not recorded.`, [
      'Restore the file from a backup, or start a new run: upserts by external ID do not duplicate what is already loaded.',
    ]);
  }

  /** Record a job's outcome in the ledger (then `release` its place in the scheduler), and act on it: its retry job, the controller, quota, the circuit breaker. */
  private async record(e: JobEntry, drive: Exclude<Drive, { kind: 'stopped' }>, release: () => void, fromEarlierSession = false): Promise<void> {
    const csv = (): string => this.run.readJobCsv(e.seq) ?? (() => { throw this.missingRows(e.seq); })();
    const origins: RetryOrigin[] | undefined =
      e.kind === 'failures-retry'
        ? (this.run.readJobFids(e.seq) ?? []).map((l) => {
            const [fid, code] = l.split('\t');
            return { fid, code: code ?? 'UNKNOWN' };
          })
        : undefined;
    const rec = recordJob(
      { run: this.writer, pacing: this.manifest.definition.pacing, layout: this.layout, now: () => this.clock.now(), nextSeq: () => this.writer.nextSeq() },
      e,
      csv,
      drive,
      origins
    );
    release();
    this.apiCalls -= rec.result.apiCalls; // now counted by the ledger
    this.jobCalls.delete(e.seq);
    this.controller.onFinished(e.seq, {
      at: this.clock.now(),
      rows: rec.result.rows,
      lockErrors: rec.result.lockErrors,
      transientErrors: rec.result.transientErrors,
      state: drive.info.state === 'Failed' ? 'Failed' : drive.info.state === 'Aborted' ? 'Aborted' : 'JobComplete',
      ...(drive.info.totalProcessingTime !== undefined ? { processingMs: drive.info.totalProcessingTime } : {}),
    });
    if (rec.retry) this.scheduler.enqueue({ seq: rec.retry.planned.seq, partition: e.partition, notBefore: Date.parse(rec.retry.planned.notBefore!), fresh: false, parents: rec.retry.parents });
    const r = rec.result;
    if (r.failed || r.transientErrors) {
      this.writer.event({
        level: 'warn', type: 'job-errors', seq: e.seq, jobId: r.jobId, partition: e.partition,
        message: `Job ${r.jobId || e.seq}: ${r.succeeded} loaded, ${r.failed} failed, ${r.requeued} to retry (${Object.entries(r.errorCodes).map(([c, n]) => `${c} ×${n}`).join(', ') || `${r.transientErrors} transient`})`,
      });
    }
    this.track(dropFinishedJob(this.jobContext(), e.seq, r.jobId));
    if (rec.quota && fromEarlierSession && (await this.quotaRecovered(rec.retry?.planned.seq ?? e.seq, rec.retry?.planned.rows ?? e.rows))) {
      this.writer.event({ level: 'info', type: 'limits', seq: e.seq, jobId: r.jobId, message: `Job ${r.jobId} ended ${jobErrorCode(drive.info.errorMessage)} before this session; the allocation is back, so its rows are loaded again.` });
    } else if (rec.quota) {
      this.fatal ??= new LoadError('LimitsExhausted', `The org stopped job ${r.jobId} (${jobErrorCode(drive.info.errorMessage)}): an allocation is exhausted.`, [
        'Wait for the rolling 24 h allocation to recover, then resume the run; its unprocessed rows are kept.',
      ]).withDetail(drive.info.errorMessage ?? '');
      this.stop('limits');
    }
    const open = this.breaker.feed(rec.deadCode);
    if (open) {
      this.fatal ??= open;
      this.stop('error');
    }
  }

  /**
   * A job's task failed (its calls, not its rows): back off and try it again, a few times.
   * Then a job the org keeps refusing (a 4xx: its data or its size) is given up: its org job
   * aborted, its rows listed as failed with the org's code, and the run goes on (the circuit
   * breaker counts it). An org that keeps failing on the way (5xx, timeouts: every job would)
   * stops the run, resumable.
   */
  private async contain(q: QueuedJob, err: unknown): Promise<void> {
    if (stopsTheRun(err)) throw err;
    if (this.fold.jobs.get(q.seq)?.result) {
      // It failed after its result was recorded: the job is done; never drive it again.
      this.writer.event({ level: 'warn', type: 'job-after-result', seq: q.seq, message: `After job ${q.seq}'s result was recorded: ${toApiError(err).errorCode}` });
      return;
    }
    const e = toApiError(err);
    const step = stepOf(err) ?? 'a call';
    const n = (this.taskFailures.get(q.seq) ?? 0) + 1;
    this.taskFailures.set(q.seq, n);
    const what = `${step} of job ${q.seq} (partition ${q.partition}) failed: ${apiErrorName(e)}`;
    // Only the org refusing the job (a 4xx answer) gives its rows up; our own failures (a result file we cannot parse) stop the run below.
    const refused = !e.transient && e.status !== undefined && e.status >= 400 && e.status < 500;
    if (refused && n >= MAX_REFUSALS) {
      this.taskFailures.delete(q.seq);
      await this.giveUp(q, e, step);
      return;
    }
    if (n >= MAX_TASK_FAILURES) {
      throw new LoadError('JobKeepsFailing', `The ${what}, ${n} times in a row (each after its own retries).`, [
        'The org or the network is having trouble: check the org (Setup → Bulk Data Load Jobs), then resume the run; its rows are kept.',
      ]).withDetail(e.message);
    }
    this.writer.event({ level: 'warn', type: 'job-retry', seq: q.seq, message: `The ${what}; it will be tried again (${e.message.slice(0, 200)})` });
    this.scheduler.enqueue({ ...q, notBefore: this.clock.now() + 10_000 * n });
  }

  /** List a refused job's rows as failed (the org's code and message, in failures.ndjson), after aborting its org job. */
  private async giveUp(q: QueuedJob, err: SalesforceApiError, step: string): Promise<void> {
    const e = this.fold.jobs.get(q.seq) as JobEntry;
    const t0 = this.clock.now();
    const ctx = this.jobContext();
    if (e.jobId && !e.aborted) {
      try {
        await ctx.retry(() => this.deps.bulk.abort(e.jobId!), 'abort job', this.stopCtl.signal);
        this.writer.appendJobLog({ t: 'aborted', at: this.iso(), seq: e.seq, jobId: e.jobId, reason: `the org refused its ${step}` });
      } catch {
        // ended meanwhile, or already gone: its rows are recorded below either way
      }
    }
    if (this.stopping) return;
    const code = jobErrorCode(err.message) !== 'JOB_FAILED' ? jobErrorCode(err.message) : err.errorCode;
    const info: JobInfo = { id: e.jobId ?? '', state: 'Failed', object: this.manifest.definition.target.object, operation: 'upsert', errorMessage: `${code} : ${err.message}` };
    this.writer.event({ level: 'warn', type: 'job-refused', seq: e.seq, message: `The org refused the ${step} of job ${e.seq} (${apiErrorName(err)}) attempt after attempt: its ${e.rows} rows are listed as failed (${code}).` });
    await this.record(e, { kind: 'refused', info, code, error: `${step}: ${apiErrorName(err)}: ${err.message}`, calls: 0, seconds: (this.clock.now() - t0) / 1000 }, () => undefined);
  }

  // ---------------------------------------------------------------- stop, errors, heartbeat

  private onError(err: unknown): void {
    this.fatal ??= fatalOf(err);
    this.stop(this.fatal.code === 'LimitsExhausted' ? 'limits' : 'error');
  }

  private stop(reason: NonNullable<LoadSession['stopping']>): void {
    if (this.stopping) return;
    this.stopping = reason;
    // The org's own words go to the run's event log (a private run file) only: they can quote row values.
    const detail = this.fatal?.detail ? ` The org said: ${this.fatal.detail.slice(0, 1000)}` : '';
    this.run.event({ level: reason === 'error' ? 'error' : 'info', type: 'stopping', message: `Stopping: ${reason}${this.fatal ? ` (${this.fatal.message})` : ''}${detail}` });
    this.stopCtl.abort();
    this.wake?.();
    this.emit(true);
  }

  private beat(): void {
    try {
      this.lock?.beat({ limit: this.controller.limit, inFlight: this.scheduler.jobsInFlight });
    } catch (err) {
      // Another runner holds the run now: this one writes nothing more (its tasks end on their next write).
      if (err instanceof LockLostError) this.run.seal(err);
      this.onError(err);
      return;
    }
    const req = this.stopping ? undefined : this.run.readCancel();
    if (req) {
      this.abortOnCancel = req.abortJobs !== false;
      this.stop('cancelled');
    }
    void this.limits.refresh();
  }

  private noteLimit(limit: number): void {
    if (limit === this.lastLimit) return;
    this.lastLimit = limit;
    this.run.event({ level: 'info', type: 'concurrency', message: `Concurrency limit ${limit}`, data: { limit } });
  }

  // ---------------------------------------------------------------- the end

  private async end(): Promise<EngineOutcome> {
    const { run } = this;
    const fold = this.fold;
    const finished = this.scheduler.done && fold.partitions.every((p) => p.exhausted) && fold.totals.pending === 0;
    let state: RunState;
    let recount: RunManifest['recount'];
    if (this.fatal) state = this.stopping === 'limits' ? 'stopped' : 'failed';
    else if (this.stopping === 'cancelled') state = 'cancelled';
    else if (this.stopping || !finished) state = 'stopped';
    else {
      state = 'completed';
      recount = await this.recount();
      if (recount && recount.rows !== fold.totals.read) {
        state = 'incomplete';
        run.event({ level: 'warn', type: 'recount', message: `The source has ${recount.rows} rows now; the run read ${fold.totals.read}: it changed during the run.` });
      }
    }
    const endedAt = this.iso();
    try {
      this.manifest = run.updateManifest((m) => {
        const sessions = [...m.sessions];
        sessions[sessions.length - 1] = { ...sessions[sessions.length - 1], endedAt, outcome: state };
        return {
          ...m,
          state,
          sessions,
          ...(recount ? { recount } : {}),
          ...(state === 'completed' || state === 'incomplete' ? { endedAt } : {}),
          ...(this.fatal ? { error: { name: this.fatal.code, message: this.fatal.message } } : {}),
        };
      });
    } catch (err) {
      // The run directory cannot be written (full disk, read-only): the ledger already holds
      // everything that counts; run.json keeps "running", so status shows the run crashed, resumable.
      this.fatal ??= fatalOf(err);
      state = 'failed';
    }
    run.event({ level: this.fatal ? 'error' : 'info', type: 'session-end', message: `${this.opts.command} ended: ${state}${this.fatal ? ` (${this.fatal.message})` : ''}` });
    const snapshot = this.snapshot(state);
    this.opts.onProgress?.(snapshot);
    return { state, ...(this.fatal ? { error: this.fatal } : {}), snapshot, resumed: this.resumed };
  }

  /** Count the source again at the end: rows read must equal the rows there are. */
  private async recount(): Promise<RunManifest['recount']> {
    try {
      return { at: this.iso(), rows: await this.retry(() => countRows({ dc: this.deps.dc }, this.manifest.definition), 'recount') };
    } catch (err) {
      this.run.event({ level: 'warn', type: 'recount', message: `Could not count the source again at the end (${(err as Error).message}); the plan's count stands.` });
      return undefined;
    }
  }

  // ---------------------------------------------------------------- progress

  private lastEmit = 0;
  private emit(force = false): void {
    if (!this.opts.onProgress) return;
    const now = this.clock.now();
    if (!force && now - this.lastEmit < 250) return;
    this.lastEmit = now;
    this.opts.onProgress(this.snapshot(this.stopping ? 'stopping' : 'running'));
  }

  public snapshot(state: RunState): ProgressSnapshot {
    return snapshotOf({
      runId: this.run.runId,
      state,
      manifest: this.manifest,
      fold: this.fold,
      scheduler: this.scheduler,
      limit: this.controller?.limit ?? 0,
      apiCalls: this.apiCalls,
      orgLimits: this.limits?.snapshot ?? null,
      elapsedSeconds: (this.clock.now() - this.startedAt) / 1000,
      loadedBefore: this.loadedBefore,
    });
  }
}

