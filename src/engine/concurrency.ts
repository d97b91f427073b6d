/*
 * How many Bulk jobs the run may have in flight. The scheduler owns the count of jobs in
 * flight and asks the controller for the limit before each launch; the controller learns
 * from what the org shows: when each job was closed, when the org picked it up
 * (InProgress), its lock errors, and throttling (429 / REQUEST_LIMIT_EXCEEDED).
 *
 * AdaptiveController (the `adaptive` strategy) knows nothing of the org's size. Salesforce
 * does not publish how many batches an org runs at once, and it varies with the org's
 * other work, so the controller measures it:
 *   1. Start small (`initial` jobs) and grow by one for every job the org picks up
 *      promptly (slow start: the limit doubles per round of pickups, a round takes one poll).
 *   2. The first job that waits in the org's queue shows the org is full: the jobs ahead
 *      of it (earlier submissions still in flight) are what the org runs for us. The limit
 *      becomes that capacity plus a small headroom (a job waiting for the next free worker,
 *      so no worker idles while we notice a job ended), and stays tied to it: every later
 *      queue observation measures it again, so the limit follows the org up and down.
 *   3. While nothing queues, the limit creeps up by one per `limit` finished jobs, to find
 *      capacity the org frees later.
 *   4. Lock errors caused by our own concurrency (triggers, roll-ups on shared ancestors)
 *      grow with it: when lock-failed rows pass `lockErrorShare` (10 %) of the rows of the
 *      last jobs, the limit shrinks by a quarter. Errors from other traffic do not fall
 *      when we slow down (one failed 200-row transaction is 10 % of a 2,000-row job), so
 *      the guard looks at many jobs and sits well above what such traffic gives: those
 *      rows are retried, not avoided.
 *   5. 429 / REQUEST_LIMIT_EXCEEDED halves the limit.
 * Growth stops for `limit` finished jobs after any decrease. The limit never leaves
 * [1, max]. Nothing here knows the emulator's worker pool or hold times.
 */
import type { PacingSettings } from '../state/types.js';

export type ObservedState = 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';

/** Optional details of a poll (compatible extension of onObserved). */
export type ObservedInfo = {
  /** The org's totalProcessingTime so far, ms: lets the controller date the pickup exactly. */
  processingMs?: number;
};

export type JobFinished = {
  at: number;
  rows: number;
  /** Rows of the job that failed with UNABLE_TO_LOCK_ROW (or another lock error). */
  lockErrors: number;
  /** Rows that failed with any transient error (locks included). */
  transientErrors: number;
  state: 'JobComplete' | 'Failed' | 'Aborted';
  /** The org's totalProcessingTime for the job, ms, when reported. */
  processingMs?: number;
};

export interface ConcurrencyController {
  /** Jobs the scheduler may have in flight now (>= 1). */
  readonly limit: number;
  /** What the controller has measured of the org (for sizing jobs and for events); optional. */
  readonly capacity?: number;
  /** A job was closed (UploadComplete) at `at` (epoch ms of the engine's clock). */
  onSubmitted(seq: number, at: number): void;
  /** A poll saw the job in `state` at `at`. */
  onObserved(seq: number, state: ObservedState, at: number, info?: ObservedInfo): void;
  /** The job ended and its results were read. */
  onFinished(seq: number, r: JobFinished): void;
  /** The org throttled a call (429, REQUEST_LIMIT_EXCEEDED for concurrency). */
  onThrottled(at: number): void;
}

/** A constant limit (the seed's fixed strategy, or a user's exact choice). */
export class FixedController implements ConcurrencyController {
  public constructor(public readonly limit: number) {}
  public onSubmitted(): void {}
  public onObserved(): void {}
  public onFinished(): void {}
  public onThrottled(): void {}
}

export type AdaptiveOptions = {
  /** Jobs in flight before the org has shown anything. */
  initial: number;
  /** Upper bound (the profile's maxConcurrency). */
  max: number;
  /** Queue waits up to this much longer than the shortest seen count as prompt (poll resolution, org latency). */
  queueSlackMs?: number;
  /** Share of lock-failed rows over the last jobs (about one limit's worth) above which the limit shrinks. */
  lockErrorShare?: number;
  /** Jobs added per job seen picked up promptly while growing (1 + growth per round). */
  growth?: number;
};

type Track = {
  seq: number;
  submittedAt: number;
  /** When the org picked it up: exact when it reported processing time, else the poll that first saw it running. */
  pickedAt?: number;
  /** The last poll that saw it still queued. */
  queuedSeenAt?: number;
  /** When it ended (pickup + processing time), once its end was seen. */
  endAt?: number;
  done: boolean;
};

export class AdaptiveController implements ConcurrencyController {
  /** Limit changes, for events and tests. */
  public readonly history: Array<{ at: number; limit: number; reason: string }> = [];
  private cap: number;
  private measured?: number;
  private readonly inflight = new Map<number, Track>();
  /** Jobs that ended recently (for measuring how many ran at once). */
  private readonly ended: Track[] = [];
  /** Shortest queue wait seen (ms): the org's latency when a worker is free. */
  private baselineWaitMs = Infinity;
  private growing = true;
  /** Finished jobs to wait before growing again after a decrease. */
  private cooldown = 0;
  /** A job queued since the last probe step. */
  private queuedSinceProbe = false;
  /** Rows and lock-failed rows of the last jobs that finished (about one limit's worth). */
  private readonly recent: Array<{ rows: number; lockErrors: number }> = [];
  /** Mean time a job runs (pickup to end), ms. */
  private runMs?: number;
  /** Mean and longest time from a job's end to our seeing it, ms. */
  private noticeMs?: number;
  private noticeMaxMs?: number;
  private readonly slackMs: number;
  private readonly lockLimit: number;
  private readonly growth: number;

  public constructor(private readonly o: AdaptiveOptions) {
    this.cap = clamp(o.initial, 1, o.max);
    this.growth = o.growth ?? 1;
    this.slackMs = o.queueSlackMs ?? 2_000;
    this.lockLimit = o.lockErrorShare ?? 0.1;
  }

  public get limit(): number {
    return Math.max(1, Math.floor(this.cap));
  }

  public get capacity(): number | undefined {
    return this.measured;
  }

  public onSubmitted(seq: number, at: number): void {
    this.inflight.set(seq, { seq, submittedAt: at, done: false });
  }

  public onObserved(seq: number, state: ObservedState, at: number, info?: ObservedInfo): void {
    const t = this.inflight.get(seq);
    if (!t) return;
    if (state === 'UploadComplete') {
      t.queuedSeenAt = at;
      if (at - t.submittedAt > this.promptWithinMs()) this.onQueueing(t, at);
      return;
    }
    if (t.pickedAt !== undefined) return;
    // Picked up between the last poll that saw it queued and this one; exactly, when the org says how long it ran.
    const ran = info?.processingMs;
    const exact = ran !== undefined && ran > 0;
    t.pickedAt = exact ? Math.max(t.submittedAt, at - ran) : at;
    const wait = t.pickedAt - t.submittedAt;
    // Only an exact pickup time tells the org's latency; a poll only bounds it.
    if (exact) this.baselineWaitMs = Math.min(this.baselineWaitMs, wait);
    if (wait <= this.promptWithinMs()) this.onPrompt(at);
    else this.onQueueing(t, at);
  }

  public onFinished(seq: number, r: JobFinished): void {
    const t = this.inflight.get(seq);
    if (!t) return;
    if (t.pickedAt === undefined) this.onObserved(seq, r.state, r.at, { processingMs: r.processingMs });
    this.inflight.delete(seq);
    t.done = true;
    const ran = r.processingMs !== undefined && r.processingMs > 0 ? r.processingMs : undefined;
    t.endAt = ran !== undefined && t.pickedAt !== undefined ? Math.min(r.at, t.pickedAt + ran) : r.at;
    if (ran !== undefined) this.runMs = ewma(this.runMs, ran);
    const notice = r.at - t.endAt;
    this.noticeMs = ewma(this.noticeMs, notice);
    this.noticeMaxMs = Math.max(this.noticeMaxMs ?? 0, notice);
    this.ended.push(t);
    const keep = Math.max(16, 4 * this.limit);
    if (this.ended.length > keep) this.ended.splice(0, this.ended.length - keep);

    this.recent.push({ rows: r.rows, lockErrors: r.lockErrors });
    while (this.recent.length > Math.max(10, this.limit)) this.recent.shift();
    if (this.cooldown > 0) this.cooldown--;
    const share = this.recentLockShare();
    if (share > this.lockLimit && this.cooldown === 0 && this.limit > 1) {
      this.decrease(r.at, this.cap * 0.75, `lock errors on ${(100 * share).toFixed(1)} % of recent rows`);
      return;
    }
    if (!this.growing && this.cooldown === 0 && !this.queuedSinceProbe && this.inflight.size + 1 >= this.limit) {
      // Nothing queued while we used the whole allowance: probe for more, one job per `limit` finishes.
      this.set(r.at, this.cap + 1 / this.limit, 'nothing queued: probe');
    }
    if (!this.growing) this.queuedSinceProbe = false;
  }

  public onThrottled(at: number): void {
    this.decrease(at, this.cap / 2, 'throttled (429 / REQUEST_LIMIT_EXCEEDED)');
  }

  private recentLockShare(): number {
    let rows = 0;
    let locks = 0;
    for (const x of this.recent) {
      rows += x.rows;
      locks += x.lockErrors;
    }
    return rows > 0 ? locks / rows : 0;
  }

  private promptWithinMs(): number {
    const b = Number.isFinite(this.baselineWaitMs) ? this.baselineWaitMs : 0;
    return 2 * b + this.slackMs;
  }

  private onPrompt(at: number): void {
    if (!this.growing || this.cooldown > 0) return;
    // A job seen waiting, even within the slack, may mean the org is full: wait for it.
    for (const t of this.inflight.values()) if (t.pickedAt === undefined && t.queuedSeenAt !== undefined) return;
    // Slow start: a job seen picked up promptly keeps its slot and brings `growth` more, so
    // each round of polls multiplies the jobs launched by 1 + growth (2: doubling).
    this.set(at, this.cap + this.growth, 'picked up promptly: grow');
  }

  /** A job waits in the org's queue: the org is full. Measure what it runs for us; keep that plus headroom in flight. */
  private onQueueing(queued: Track, at: number): void {
    const capacity = Math.max(1, this.runningAtBusiest(at) ?? this.ahead(queued));
    this.measured = capacity;
    this.growing = false;
    this.queuedSinceProbe = true;
    this.set(at, capacity + this.headroom(capacity), `a job waits in the org's queue: capacity ${capacity}`);
  }

  /**
   * How many of our jobs ran at once at the busiest recent pickup. Only moments long enough
   * ago that every job that ended before them has been seen ended (the longest notice
   * delay) are counted, so a job that ended unseen is never counted as running; a pickup in
   * a full org is a moment when every worker runs one of ours.
   */
  private runningAtBusiest(now: number): number | undefined {
    if (this.noticeMaxMs === undefined) return undefined;
    const to = now - this.noticeMaxMs;
    const from = to - Math.max(this.runMs ?? 0, 5_000);
    const jobs = [...this.ended, ...this.inflight.values()];
    let best: number | undefined;
    for (const p of jobs) {
      const t = p.pickedAt;
      if (t === undefined || t < from || t > to) continue;
      let running = 0;
      for (const j of jobs) if (j.pickedAt !== undefined && j.pickedAt <= t && (j.endAt === undefined || j.endAt > t)) running++;
      best = Math.max(best ?? 0, running);
    }
    return best;
  }

  /** Early on (nothing ended yet): the jobs submitted before the queued one and not seen waiting themselves run. */
  private ahead(queued: Track): number {
    let n = 0;
    for (const t of this.inflight.values()) {
      if (t === queued || t.submittedAt > queued.submittedAt || (t.submittedAt === queued.submittedAt && t.seq > queued.seq)) continue;
      if (t.pickedAt === undefined && t.queuedSeenAt !== undefined) continue;
      n++;
    }
    return n;
  }

  /**
   * Jobs kept beyond the capacity, waiting for the next free worker: as many as end while
   * we have not noticed yet (capacity × notice delay ÷ run time), at least one.
   */
  private headroom(capacity: number): number {
    if (this.runMs === undefined || this.noticeMs === undefined || this.runMs <= 0) return 1;
    return Math.max(1, Math.ceil((capacity * this.noticeMs) / this.runMs));
  }

  private decrease(at: number, to: number, reason: string): void {
    this.growing = false;
    this.set(at, to, reason);
    this.cooldown = Math.max(1, this.limit);
  }

  private set(at: number, cap: number, reason: string): void {
    const before = this.limit;
    this.cap = clamp(cap, 1, this.o.max);
    if (this.limit !== before) this.history.push({ at, limit: this.limit, reason });
  }
}

function ewma(prev: number | undefined, x: number): number {
  return prev === undefined ? x : 0.8 * prev + 0.2 * x;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

/** Jobs in flight before the org has shown anything: few enough for any org. */
export const INITIAL_CONCURRENCY = 4;

export function createController(p: PacingSettings): ConcurrencyController {
  if (p.strategy !== 'adaptive') return new FixedController(Math.max(1, p.maxConcurrency));
  return new AdaptiveController({ initial: Math.min(INITIAL_CONCURRENCY, p.maxConcurrency), max: Math.max(1, p.maxConcurrency) });
}

/** The old semaphore-with-AIMD, until the scheduler takes over (removed with runner.ts). */
export class ConcurrencyGate {
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];
  private cap: number;

  public constructor(
    private readonly max: number,
    initial: number,
    private readonly adaptive: boolean
  ) {
    this.cap = Math.max(1, Math.min(max, initial));
  }

  public get limit(): number {
    return Math.floor(this.cap);
  }

  public get active(): number {
    return this.inFlight;
  }

  public async acquire(): Promise<void> {
    while (this.inFlight >= this.limit) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inFlight++;
  }

  public release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.wake();
  }

  /** A job came back without transient errors: additive increase. */
  public onClean(): void {
    if (!this.adaptive) return;
    this.cap = Math.min(this.max, this.cap + 1);
    this.wake();
  }

  /** Lock-error burst or throttling: multiplicative decrease. */
  public onCongestion(): void {
    if (!this.adaptive) return;
    this.cap = Math.max(1, this.cap / 2);
  }

  /** Lower the bound, e.g. from the org's limits. */
  public clamp(max: number): void {
    this.cap = Math.max(1, Math.min(this.cap, max));
  }

  private wake(): void {
    let free = this.limit - this.inFlight;
    while (this.waiters.length && free-- > 0) this.waiters.shift()!();
  }
}
