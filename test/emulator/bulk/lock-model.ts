/*
 * The parent-record lock model of lock-model.md §7.2–7.4, as a pure discrete-event
 * simulation (no HTTP, no wall clock). Times are virtual epoch milliseconds; parameters
 * (LockModelConfig) are in virtual seconds, as in the doc.
 *
 *   job  → internal batches of `batchSize` rows → chunks of `chunkSize` rows (one transaction each)
 *   org  → a pool of `workers`; a FIFO queue of batch attempts (requeued batches go to the back)
 *   lock → freeAt[parent]: a chunk reserves all its parents at once, at
 *          s = max(t, max freeAt[p]); if s − t > lockTimeout the chunk fails with
 *          UNABLE_TO_LOCK_ROW and its worker waited lockTimeout; otherwise every parent is
 *          held until s + H, H = (h0 + h1·n + h2·p) · lognormal(0, σ).
 *   >requeueThreshold lock-failed rows in one attempt, or an attempt longer than
 *   batchTimeLimit → the unprocessed remainder goes back in the queue (job.retries++);
 *   a batch already requeued maxBatchAttempts times fails instead → job Failed,
 *   remaining rows unprocessed.
 *
 * Contention switches (lock-contention.ts): `background` traffic holds random parents,
 * `hierarchy` adds each parent's parent to a chunk's lock set. Every lock key's total hold
 * is kept, so a run can tell which lock was its serial bottleneck (`busiestLock`).
 *
 * Outcomes are computed when a chunk starts but committed (made visible) at the event
 * time when the chunk ends, so a caller that advances the simulation to "now" never sees
 * the future. Random hold times come from a hash of (job, batch, attempt, row position),
 * so the result only depends on the seed and on the submission times.
 */
import type { LockModelConfig } from '../config.js';
import { hashUnit } from '../random.js';
import { BackgroundStream, grandparentOf, type ContentionStats } from './lock-contention.js';

/** Row outcome codes in SimJob.outcome. */
export const ROW_PENDING = 0;
export const ROW_OK = 1;
/** Failed by a row rule or by the store (not a lock failure). */
export const ROW_REJECTED = 2;
export const ROW_LOCK_FAILED = 3;
export const ROW_UNPROCESSED = 4;

export type SimJobState = 'Queued' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';

/** The rows of one job, as the simulator needs them. */
export type SimJobInput = {
  /** Stable job number (used for deterministic random draws). */
  seq: number;
  rowCount: number;
  /** CSR layout of interned parent ids: rows i's parents are parentIds[parentStart[i] .. parentStart[i+1]). */
  parentStart: Int32Array;
  parentIds: Int32Array;
  /** Per row: an error string index (>= 0) when a row rule rejects the row before locking, else -1. */
  rejectError?: Int32Array;
  /** Error strings referenced by rejectError and by the simulator's own failures. */
  errors: string[];
};

export type SimBatch = {
  job: SimJob;
  index: number;
  from: number;
  to: number;
  /** Next row to process. */
  pos: number;
  /** Requeues so far. */
  attempts: number;
  lockFailuresThisAttempt: number;
  attemptStart: number;
  dequeuedAt: number;
  running: boolean;
  done: boolean;
  /** The chunk in flight: computed at ChunkRequest, committed at AfterChunk. */
  pending?: { from: number; to: number; ok: boolean; errorIndex: number; started: number; end: number };
};

export class SimJob {
  public readonly outcome: Uint8Array;
  /** Per row: index into input.errors for failed rows, else -1. */
  public readonly errorOf: Int32Array;
  /** Per row: virtual time the outcome was committed. */
  public readonly doneAt: Float64Array;
  public state: SimJobState = 'Queued';
  public failReason?: string;
  public batches: SimBatch[] = [];
  public submittedAt = 0;
  public firstPickupAt?: number;
  public completedAt?: number;
  public stats = {
    internalBatches: 0,
    batchAttempts: 0,
    chunks: 0,
    lockFailedChunks: 0,
    lockFailedRows: 0,
    retries: 0,
    succeeded: 0,
    failed: 0,
    unprocessed: 0,
    /** Worker time (ms) held by this job's batch attempts, pickup included. */
    busyMs: 0,
    /** Time (ms) inside chunks: lock waits plus hold times. */
    activeMs: 0,
  };

  public constructor(public readonly input: SimJobInput) {
    this.outcome = new Uint8Array(input.rowCount);
    this.errorOf = new Int32Array(input.rowCount).fill(-1);
    this.doneAt = new Float64Array(input.rowCount);
  }

  public get processed(): number {
    return this.stats.succeeded + this.stats.failed;
  }

  public get terminal(): boolean {
    return this.state === 'JobComplete' || this.state === 'Failed' || this.state === 'Aborted';
  }

  /** Whether any batch of this job still holds a worker or waits in the queue. */
  public get active(): boolean {
    return this.batches.some((b) => !b.done);
  }
}

export type SimHooks = {
  /** A job's first batch left the queue. */
  onJobStarted?(job: SimJob, at: number): void;
  /**
   * Rows [from, to) of a chunk were committed at `at`. Rows with outcome ROW_OK may be
   * turned into failures here (e.g. the store refused them) with `job.fail(row, error)`.
   */
  onRowsCommitted?(job: SimJob, from: number, to: number, at: number): void;
  /** A job reached JobComplete, Failed or Aborted. */
  onJobFinished?(job: SimJob, at: number): void;
};

type Event = { t: number; seq: number; kind: 0 | 1 | 2; batch?: SimBatch; fn?: () => void };
const EV_CHUNK = 0;
const EV_AFTER = 1;
const EV_FN = 2;

/** Binary min-heap ordered by (t, seq). */
class EventHeap {
  private readonly a: Event[] = [];
  public get size(): number {
    return this.a.length;
  }
  public peek(): Event | undefined {
    return this.a[0];
  }
  public push(e: Event): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p], a[i])) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  public pop(): Event | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l], a[m])) m = l;
        if (r < a.length && less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
function less(x: Event, y: Event): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

/** Org-wide counters: what benchmarks need for the "physical limit" (all workers busy). */
export type SimSummary = {
  jobs: number;
  rows: number;
  succeeded: number;
  failed: number;
  unprocessed: number;
  internalBatches: number;
  batchAttempts: number;
  chunks: number;
  lockFailedChunks: number;
  lockFailedRows: number;
  retries: number;
  workers: number;
  maxBusyWorkers: number;
  /** Σ worker occupation, in virtual seconds. */
  busyWorkerSeconds: number;
  /** busyWorkerSeconds / workers: the shortest span the same work could take with every worker busy. */
  physicalLimitSeconds: number;
  /** First submission (UploadComplete) to last completion, virtual seconds. */
  simulatedSpanSeconds: number;
  firstSubmittedAt: number | null;
  lastCompletedAt: number | null;
  /** Virtual time the simulation has been advanced to. */
  now: number;
  pendingEvents: number;
  queuedBatches: number;
  busyWorkers: number;
  /** Other traffic and trigger locks (zero when their switches are off). */
  contention: ContentionStats;
  /** The lock key held longest in total (its holds run in series): label and virtual seconds. */
  busiestLock: { label: string; seconds: number } | null;
};

export class LockSimulator {
  private readonly heap = new EventHeap();
  private evSeq = 0;
  private readonly queue: SimBatch[] = [];
  private queueHead = 0;
  private busy = 0;
  private maxBusy = 0;
  private busyMsTotal = 0;
  private readonly freeAt: number[] = [];
  private readonly parentIndex = new Map<string, number>();
  private readonly parentLabel: string[] = [];
  /** Label (parent value) → lock id, for locks named by value (other traffic, grandparents). */
  private readonly labelIds = new Map<string, number>();
  /** Ids created by value before any upload named them; the first upload key for the value adopts it. */
  private readonly placeholders = new Set<number>();
  /** Σ hold per lock id (ms). */
  private readonly heldMs: number[] = [];
  /** Grandparent lock id per parent id (-1: none), for the hierarchy setting in `gpFor`. */
  private gpOf: number[] = [];
  private gpFor?: LockModelConfig['hierarchy'];
  private readonly background: BackgroundStream;
  private readonly contention: ContentionStats = { backgroundTransactions: 0, backgroundGaveUp: 0, grandparentLocks: 0 };
  private readonly jobs: SimJob[] = [];
  private firstSubmittedAt?: number;
  private lastCompletedAt?: number;
  private clockNow = 0;
  private readonly salt: number;

  public constructor(private readonly params: () => LockModelConfig, seed: number, private readonly hooks: SimHooks = {}) {
    this.salt = seed >>> 0;
    this.background = new BackgroundStream(this.salt);
  }

  /** Intern a parent key; `label` is what UNABLE_TO_LOCK_ROW messages print. */
  public intern(key: string, label = key): number {
    let id = this.parentIndex.get(key);
    if (id === undefined) {
      const byLabel = this.labelIds.get(label);
      if (byLabel !== undefined && this.placeholders.has(byLabel)) {
        // Other traffic or a trigger locked this value before an upload named it.
        this.placeholders.delete(byLabel);
        this.parentIndex.set(key, byLabel);
        return byLabel;
      }
      id = this.parentLabel.length;
      this.parentIndex.set(key, id);
      this.parentLabel.push(label);
      this.freeAt.push(-Infinity);
      this.heldMs.push(0);
      if (byLabel === undefined) this.labelIds.set(label, id);
    }
    return id;
  }

  /** The lock of a parent named by value only (other traffic, grandparents). */
  private lockByLabel(label: string): number {
    const known = this.labelIds.get(label);
    if (known !== undefined) return known;
    const id = this.intern(`\u0000value\u0000${label}`, label);
    this.placeholders.add(id);
    return id;
  }

  /** The grandparent lock of parent `id` under the hierarchy switch, or -1. */
  private grandparent(p: LockModelConfig, id: number): number {
    if (p.hierarchy !== this.gpFor) {
      this.gpFor = p.hierarchy;
      this.gpOf = [];
    }
    if (!p.hierarchy) return -1;
    let gp = this.gpOf[id];
    if (gp === undefined) {
      const label = grandparentOf(this.parentLabel[id], p.hierarchy);
      gp = label === undefined ? -1 : this.lockByLabel(label);
      if (gp === id) gp = -1;
      this.gpOf[id] = gp;
    }
    return gp;
  }

  /** Run the other traffic that arrived up to t (reservations in time order, as events would). */
  private runBackground(p: LockModelConfig, t: number): void {
    if (!p.background || this.firstSubmittedAt === undefined) return;
    const timeout = p.lockTimeout * 1000;
    this.background.apply(p.background, this.firstSubmittedAt, t, (label, at, holdMs) => {
      const id = this.lockByLabel(label);
      const s = Math.max(at, this.freeAt[id]);
      if (s - at > timeout) return false;
      this.freeAt[id] = s + holdMs;
      return true;
    }, this.contention);
  }

  public get now(): number {
    return this.clockNow;
  }

  /** Queue a job (PATCH UploadComplete) at virtual time `at`. Returns the number of internal batches. */
  public submit(input: SimJobInput, at: number): SimJob {
    this.advanceTo(at);
    const job = new SimJob(input);
    job.submittedAt = at;
    this.jobs.push(job);
    this.firstSubmittedAt ??= at;
    const size = Math.max(1, Math.floor(this.params().batchSize));
    for (let from = 0, i = 0; from < input.rowCount; from += size, i++) {
      const to = Math.min(input.rowCount, from + size);
      const b: SimBatch = { job, index: i, from, to, pos: from, attempts: 0, lockFailuresThisAttempt: 0, attemptStart: 0, dequeuedAt: 0, running: false, done: false };
      job.batches.push(b);
      this.queue.push(b);
    }
    job.stats.internalBatches = job.batches.length;
    if (job.batches.length === 0) this.finishJob(job, 'JobComplete', at);
    this.dispatch(at);
    return job;
  }

  /** Abort a job: queued batches are dropped, running ones stop after their current chunk. */
  public abort(job: SimJob, at: number): void {
    this.advanceTo(at);
    if (job.terminal) return;
    this.stopJob(job, 'Aborted', at);
  }

  /** Run `fn` at virtual time `at` (in event order). */
  public schedule(at: number, fn: () => void): void {
    this.heap.push({ t: Math.max(at, this.clockNow), seq: this.evSeq++, kind: EV_FN, fn });
  }

  public nextEventTime(): number | undefined {
    return this.heap.peek()?.t;
  }

  public get pendingEvents(): number {
    return this.heap.size;
  }

  /** Process every event with time <= t. */
  public advanceTo(t: number): void {
    for (;;) {
      const e = this.heap.peek();
      if (!e || e.t > t) break;
      this.heap.pop();
      this.clockNow = Math.max(this.clockNow, e.t);
      if (e.kind === EV_CHUNK) this.chunkRequest(e.batch!, e.t);
      else if (e.kind === EV_AFTER) this.afterChunk(e.batch!, e.t);
      else e.fn!();
    }
    this.clockNow = Math.max(this.clockNow, t);
  }

  public summary(): SimSummary {
    const p = this.params();
    const s: SimSummary = {
      jobs: this.jobs.length,
      rows: 0,
      succeeded: 0,
      failed: 0,
      unprocessed: 0,
      internalBatches: 0,
      batchAttempts: 0,
      chunks: 0,
      lockFailedChunks: 0,
      lockFailedRows: 0,
      retries: 0,
      workers: p.workers,
      maxBusyWorkers: this.maxBusy,
      busyWorkerSeconds: this.busyMsTotal / 1000,
      physicalLimitSeconds: this.busyMsTotal / 1000 / Math.max(1, p.workers),
      simulatedSpanSeconds: this.firstSubmittedAt !== undefined && this.lastCompletedAt !== undefined ? (this.lastCompletedAt - this.firstSubmittedAt) / 1000 : 0,
      firstSubmittedAt: this.firstSubmittedAt ?? null,
      lastCompletedAt: this.lastCompletedAt ?? null,
      now: this.clockNow,
      pendingEvents: this.heap.size,
      queuedBatches: this.queue.length - this.queueHead,
      busyWorkers: this.busy,
      contention: { ...this.contention },
      busiestLock: null,
    };
    let best = -1;
    for (let id = 0; id < this.heldMs.length; id++) if (best < 0 || this.heldMs[id] > this.heldMs[best]) best = id;
    if (best >= 0 && this.heldMs[best] > 0) s.busiestLock = { label: this.parentLabel[best], seconds: this.heldMs[best] / 1000 };
    for (const j of this.jobs) {
      s.rows += j.input.rowCount;
      s.succeeded += j.stats.succeeded;
      s.failed += j.stats.failed;
      s.unprocessed += j.stats.unprocessed;
      s.internalBatches += j.stats.internalBatches;
      s.batchAttempts += j.stats.batchAttempts;
      s.chunks += j.stats.chunks;
      s.lockFailedChunks += j.stats.lockFailedChunks;
      s.lockFailedRows += j.stats.lockFailedRows;
      s.retries += j.stats.retries;
    }
    return s;
  }

  // ---- the algorithm of lock-model.md §7.4 ----

  private dispatch(t: number): void {
    const p = this.params();
    while (this.busy < Math.max(1, p.workers) && this.queueHead < this.queue.length) {
      const b = this.queue[this.queueHead++];
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (b.done) continue;
      this.busy++;
      this.maxBusy = Math.max(this.maxBusy, this.busy);
      b.running = true;
      b.dequeuedAt = t;
      b.attemptStart = t + p.pickup * 1000;
      b.lockFailuresThisAttempt = 0;
      const job = b.job;
      job.stats.batchAttempts++;
      if (job.state === 'Queued') {
        job.state = 'InProgress';
        job.firstPickupAt = t;
        this.hooks.onJobStarted?.(job, t);
      }
      this.push(b.attemptStart, EV_CHUNK, b);
    }
  }

  private chunkRequest(b: SimBatch, t: number): void {
    const p = this.params();
    const job = b.job;
    if (job.terminal) {
      // Aborted (or failed) between pickup and the first chunk: nothing more runs.
      this.markUnprocessed(job, b.pos, b.to, t);
      b.pos = b.to;
      this.release(b, t, true);
      this.maybeFinish(job, t);
      return;
    }
    const input = job.input;
    const from = b.pos;
    const to = Math.min(b.to, from + Math.max(1, Math.floor(p.chunkSize)));
    const reject = input.rejectError;
    // Distinct parents of the rows that reach the database (rule-rejected rows lock nothing).
    const parents: number[] = [];
    let n = 0;
    const seen = new Set<number>();
    for (let r = from; r < to; r++) {
      if (reject && reject[r] >= 0) continue;
      n++;
      for (let k = input.parentStart[r]; k < input.parentStart[r + 1]; k++) {
        const id = input.parentIds[k];
        if (!seen.has(id)) {
          seen.add(id);
          parents.push(id);
        }
      }
    }
    // Hold time counts the chunk's own parents; the trigger's grandparents are locked for it too.
    const hold = this.holdMs(p, job, b, from, n, parents.length);
    const locks = parents.slice();
    if (p.hierarchy) {
      for (const id of parents) {
        const gp = this.grandparent(p, id);
        if (gp >= 0 && !seen.has(gp)) {
          seen.add(gp);
          locks.push(gp);
          this.contention.grandparentLocks++;
        }
      }
    }
    let ok = true;
    let errorIndex = -1;
    let end: number;
    if (!p.enabled || locks.length === 0) {
      end = t + hold;
    } else {
      this.runBackground(p, t);
      let s = t;
      for (const id of locks) if (this.freeAt[id] > s) s = this.freeAt[id];
      const timeout = p.lockTimeout * 1000;
      if (s - t > timeout) {
        // Could not get every lock within the wait: the whole chunk fails (failScope 'chunk').
        const blocking = locks.filter((id) => this.freeAt[id] - t > timeout);
        if (p.failScope === 'parent') {
          this.partialChunk(b, t, from, to, locks, blocking, p);
          return;
        }
        ok = false;
        errorIndex = input.errors.length;
        input.errors.push(lockError(n, blocking.map((id) => this.parentLabel[id])));
        end = t + timeout;
      } else {
        end = s + hold;
        for (const id of locks) {
          this.freeAt[id] = end;
          this.heldMs[id] += hold;
        }
      }
    }
    b.pending = { from, to, ok, errorIndex, started: t, end };
    this.push(end, EV_AFTER, b);
  }

  /** failScope 'parent': rows of the timed-out parents fail; the rest run after the wait. */
  private partialChunk(b: SimBatch, t: number, from: number, to: number, _parents: number[], blocking: number[], p: LockModelConfig): void {
    const job = b.job;
    const input = job.input;
    const blocked = new Set(blocking);
    const reject = input.rejectError;
    const failRows: number[] = [];
    const goParents = new Set<number>();
    let goN = 0;
    const goLocks = new Set<number>();
    for (let r = from; r < to; r++) {
      if (reject && reject[r] >= 0) continue;
      let hit = false;
      for (let k = input.parentStart[r]; k < input.parentStart[r + 1]; k++) {
        const id = input.parentIds[k];
        const gp = p.hierarchy ? this.grandparent(p, id) : -1;
        if (blocked.has(id) || (gp >= 0 && blocked.has(gp))) hit = true;
      }
      if (hit) failRows.push(r);
      else {
        goN++;
        for (let k = input.parentStart[r]; k < input.parentStart[r + 1]; k++) {
          const id = input.parentIds[k];
          goParents.add(id);
          goLocks.add(id);
          const gp = p.hierarchy ? this.grandparent(p, id) : -1;
          if (gp >= 0) goLocks.add(gp);
        }
      }
    }
    const timeout = p.lockTimeout * 1000;
    let s = t + timeout;
    for (const id of goLocks) if (this.freeAt[id] > s) s = this.freeAt[id];
    const hold = goN > 0 ? this.holdMs(p, job, b, from, goN, goParents.size) : 0;
    const end = goN > 0 ? s + hold : t + timeout;
    if (goN > 0) {
      for (const id of goLocks) {
        this.freeAt[id] = end;
        this.heldMs[id] += hold;
      }
    }
    const errorIndex = input.errors.length;
    input.errors.push(lockError(failRows.length, blocking.map((id) => this.parentLabel[id])));
    // Mark the blocked rows now (committed with the chunk); the others commit as successes.
    b.pending = { from, to, ok: true, errorIndex, started: t, end };
    (b.pending as { failRows?: number[] }).failRows = failRows;
    this.push(end, EV_AFTER, b);
  }

  private afterChunk(b: SimBatch, t: number): void {
    const p = this.params();
    const job = b.job;
    const pend = b.pending!;
    b.pending = undefined;
    this.commit(b, pend, t);
    b.pos = pend.to;
    job.stats.chunks++;
    job.stats.activeMs += t - pend.started;

    if (job.terminal) {
      // Job failed or was aborted while this chunk ran: the rest is not processed.
      this.markUnprocessed(job, b.pos, b.to, t);
      b.pos = b.to;
      this.release(b, t, true);
      this.maybeFinish(job, t);
      return;
    }
    if (b.pos >= b.to) {
      this.release(b, t, true);
      this.maybeFinish(job, t);
      return;
    }
    const tooManyLocks = b.lockFailuresThisAttempt > p.requeueThreshold;
    const tooLong = t - b.attemptStart > p.batchTimeLimit * 1000;
    if (tooManyLocks || tooLong) {
      if (b.attempts >= p.maxBatchAttempts) {
        this.release(b, t, false);
        job.failReason = tooManyLocks
          ? `TooManyLockFailure : Too many lock failures while processing the current batch. Retried ${b.attempts} times.`
          : `Timeout : Batch processing time exceeded the limit of ${p.batchTimeLimit} seconds. Retried ${b.attempts} times.`;
        this.stopJob(job, 'Failed', t);
        return;
      }
      b.attempts++;
      job.stats.retries++;
      this.release(b, t, false);
      this.queue.push(b);
      this.dispatch(t);
      return;
    }
    this.push(t, EV_CHUNK, b);
  }

  private commit(b: SimBatch, pend: NonNullable<SimBatch['pending']>, t: number): void {
    const job = b.job;
    const reject = job.input.rejectError;
    const failRows = (pend as { failRows?: number[] }).failRows;
    const failSet = failRows ? new Set(failRows) : undefined;
    let lockRows = 0;
    for (let r = pend.from; r < pend.to; r++) {
      job.doneAt[r] = t;
      if (reject && reject[r] >= 0) {
        job.outcome[r] = ROW_REJECTED;
        job.errorOf[r] = reject[r];
      } else if (!pend.ok || failSet?.has(r)) {
        job.outcome[r] = ROW_LOCK_FAILED;
        job.errorOf[r] = pend.errorIndex;
        lockRows++;
      } else {
        job.outcome[r] = ROW_OK;
      }
    }
    if (lockRows > 0) {
      job.stats.lockFailedChunks++;
      job.stats.lockFailedRows += lockRows;
      b.lockFailuresThisAttempt += lockRows;
    }
    this.hooks.onRowsCommitted?.(job, pend.from, pend.to, t);
    for (let r = pend.from; r < pend.to; r++) {
      if (job.outcome[r] === ROW_OK) job.stats.succeeded++;
      else job.stats.failed++;
    }
  }

  private release(b: SimBatch, t: number, done: boolean): void {
    if (b.running) {
      this.busy--;
      b.running = false;
      const ms = t - b.dequeuedAt;
      this.busyMsTotal += ms;
      b.job.stats.busyMs += ms;
    }
    if (done) b.done = true;
    this.dispatch(t);
  }

  private stopJob(job: SimJob, state: 'Failed' | 'Aborted', t: number): void {
    for (const b of job.batches) {
      if (b.done || b.running) continue;
      // Queued (or requeued) batches never run again.
      this.markUnprocessed(job, b.pos, b.to, t);
      b.pos = b.to;
      b.done = true;
    }
    this.finishJob(job, state, t);
    this.dispatch(t);
  }

  private markUnprocessed(job: SimJob, from: number, to: number, t: number): void {
    for (let r = from; r < to; r++) {
      if (job.outcome[r] !== ROW_PENDING) continue;
      job.outcome[r] = ROW_UNPROCESSED;
      job.doneAt[r] = t;
      job.stats.unprocessed++;
    }
  }

  private maybeFinish(job: SimJob, t: number): void {
    if (job.terminal) {
      if (!job.active) this.lastCompletedAt = Math.max(this.lastCompletedAt ?? t, t);
      return;
    }
    if (job.batches.every((b) => b.done)) this.finishJob(job, 'JobComplete', t);
  }

  private finishJob(job: SimJob, state: 'JobComplete' | 'Failed' | 'Aborted', t: number): void {
    if (job.terminal) return;
    job.state = state;
    job.completedAt = t;
    this.lastCompletedAt = Math.max(this.lastCompletedAt ?? t, t);
    this.hooks.onJobFinished?.(job, t);
  }

  private holdMs(p: LockModelConfig, job: SimJob, b: SimBatch, pos: number, n: number, parents: number): number {
    const base = p.h0 + p.h1 * n + p.h2 * parents;
    if (p.sigma <= 0) return base * 1000;
    const key = `${job.input.seq}:${b.index}:${b.attempts}:${pos}`;
    const u1 = Math.max(hashUnit(key, this.salt), 1e-12);
    const u2 = hashUnit(key, this.salt ^ 0x5bd1e995);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return base * Math.exp(p.sigma * z) * 1000;
  }

  private push(t: number, kind: 0 | 1, batch: SimBatch): void {
    this.heap.push({ t, seq: this.evSeq++, kind, batch });
  }
}

/** The sf__Error of a lock timeout, e.g. `UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: 001...,001...:--`. */
export function lockError(rows: number, blockingLabels: string[]): string {
  return `UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or ${rows} records: ${blockingLabels.join(',')}:--`;
}
