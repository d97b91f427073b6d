/*
 * Scheduling: which job runs next, and which partition reads its next page. It decides;
 * the session runs what it decides.
 *
 *   - Slots: jobs in flight never exceed the controller's limit.
 *   - Parents: no two jobs in flight reference the same parent record (the parent-lock
 *     table, keyed as the org compares parent keys). Parent-aware partitions make a
 *     conflict rare; this makes it impossible, whatever the data (a parent that differs
 *     only in case, a retry, retry-failures).
 *   - Partitions: at most `jobsInFlightPerPartition` of a partition's jobs in flight, the
 *     seed profile's stagger and delays between jobs, retries not before their backoff.
 *   - Reading on demand: a page is read only when a slot is about to need it: pages read
 *     but not yet in a job stay under limit + readAhead, and Data Cloud queries under
 *     maxConcurrentQueries, whatever the size of the load.
 */
import type { PacingSettings, PlanPartition } from '../state/types.js';
import type { LedgerFold } from '../ledger/fold.js';

export type QueuedJob = {
  seq: number;
  partition: number;
  /** Epoch ms before which it may not start (a retry's backoff). */
  notBefore: number;
  /** Read fresh from the source (counts against the read-ahead). */
  fresh: boolean;
  /** The parent locks its rows take; loaded lazily for jobs left from an earlier session. */
  parents?: string[];
};

type Part = {
  plan: PlanPartition;
  exhausted: boolean;
  reading: boolean;
  inFlight: number;
  /** Not before this (stagger, delay between jobs, a failed read's backoff). */
  nextStartAt: number;
  queued: QueuedJob[];
};

export type SchedulerOptions = {
  partitions: PlanPartition[];
  pacing: PacingSettings;
  /** Parent locks enforced (default profile); the seed's fixed strategy does without. */
  parentLocks: boolean;
  /** Reads allowed at all (retry-failures reads none). */
  reads: boolean;
  random?: () => number;
};

export class Scheduler {
  private readonly parts: Part[];
  private readonly inFlight = new Map<number, QueuedJob>();
  private readonly holds = new Map<string, number>();
  private readsInFlight = 0;
  private rr = 0;
  private readonly random: () => number;

  public constructor(private readonly o: SchedulerOptions) {
    this.random = o.random ?? Math.random;
    this.parts = o.partitions.map((plan) => ({ plan, exhausted: !o.reads, reading: false, inFlight: 0, nextStartAt: 0, queued: [] }));
  }

  public get jobsInFlight(): number {
    return this.inFlight.size;
  }
  public get reads(): number {
    return this.readsInFlight;
  }

  public partition(i: number): { exhausted: boolean; reading: boolean; inFlight: number; queued: number } {
    const p = this.parts[i];
    return { exhausted: p.exhausted, reading: p.reading, inFlight: p.inFlight, queued: p.queued.length };
  }

  /** A partition's pages are all read (from the ledger, or a short last page). */
  public setExhausted(i: number): void {
    this.parts[i].exhausted = true;
  }

  /** Hold a partition back until `at` (its stagger, or after a failed read). */
  public holdUntil(i: number, at: number): void {
    this.parts[i].nextStartAt = Math.max(this.parts[i].nextStartAt, at);
  }

  /**
   * Take up what the ledger says is unfinished: partitions read to the end, jobs to send
   * (those in flight are asked of the org first), the stagger of partitions not started
   * (from `staggerFrom`, a start session's first moment). Returns what it found.
   */
  public restore(fold: LedgerFold, partitions: PlanPartition[], staggerFrom?: number): { inFlight: number; queued: number } {
    const found = { inFlight: 0, queued: 0 };
    for (const p of fold.partitions) if (p.exhausted) this.setExhausted(p.index);
    for (const e of fold.unfinished()) {
      if (e.kind === 'reject') continue;
      if (e.jobId && !e.aborted) found.inFlight++;
      else found.queued++;
      this.enqueue({ seq: e.seq, partition: e.partition, notBefore: e.notBefore ?? 0, fresh: e.kind === 'load' && !e.jobId });
    }
    if (staggerFrom !== undefined) {
      for (const part of partitions) {
        if (part.startOffsetSeconds > 0 && !fold.partitions[part.index].started) this.holdUntil(part.index, staggerFrom + part.startOffsetSeconds * 1000);
      }
    }
    return found;
  }

  public enqueue(j: QueuedJob): void {
    const q = this.parts[j.partition].queued;
    q.push(j);
    q.sort((a, b) => a.seq - b.seq);
  }

  /** The next job to start now, if any; it is then in flight and holds its parents. */
  public nextLaunch(now: number, limit: number, parentsOf: (seq: number) => string[]): QueuedJob | undefined {
    if (this.inFlight.size >= limit) return undefined;
    const n = this.parts.length;
    for (let k = 0; k < n; k++) {
      const i = (this.rr + k) % n;
      const p = this.parts[i];
      if (p.inFlight >= this.o.pacing.jobsInFlightPerPartition || now < p.nextStartAt) continue;
      for (let qi = 0; qi < p.queued.length; qi++) {
        const j = p.queued[qi];
        if (j.notBefore > now) continue;
        if (this.o.parentLocks) {
          j.parents ??= parentsOf(j.seq);
          if (j.parents.some((x) => this.holds.has(x))) continue;
          for (const x of j.parents) this.holds.set(x, (this.holds.get(x) ?? 0) + 1);
        }
        p.queued.splice(qi, 1);
        p.inFlight++;
        this.inFlight.set(j.seq, j);
        const [dmin, dmax] = this.o.pacing.delaySeconds;
        if (dmax > 0) p.nextStartAt = now + (dmin + this.random() * (dmax - dmin)) * 1000;
        this.rr = (i + 1) % n;
        return j;
      }
    }
    return undefined;
  }

  /** A job left flight (result recorded, stopped, or put back). */
  public finish(seq: number): void {
    const j = this.inFlight.get(seq);
    if (!j) return;
    this.inFlight.delete(seq);
    this.parts[j.partition].inFlight--;
    for (const x of j.parents ?? []) {
      const c = (this.holds.get(x) ?? 1) - 1;
      if (c <= 0) this.holds.delete(x);
      else this.holds.set(x, c);
    }
  }

  /** The next partition to read a page of, if reading is due; it is then reading. */
  public nextRead(now: number, limit: number, maxQueries: number): number | undefined {
    if (this.readsInFlight >= maxQueries) return undefined;
    const buffered = this.parts.reduce((s, p) => s + p.queued.filter((j) => j.fresh).length, 0) + this.readsInFlight;
    if (buffered >= limit - this.inFlight.size + (this.o.pacing.readAhead ?? 2)) return undefined;
    let best: number | undefined;
    let bestScore = Infinity;
    const n = this.parts.length;
    for (let k = 0; k < n; k++) {
      const i = (this.rr + k) % n;
      const p = this.parts[i];
      if (p.exhausted || p.reading || now < p.nextStartAt || p.queued.some((j) => j.fresh)) continue;
      if (p.inFlight >= this.o.pacing.jobsInFlightPerPartition + 1) continue;
      // Idle partitions first (they have nothing to do), then read-ahead for busy ones.
      const score = p.inFlight + p.queued.length;
      if (score < bestScore) {
        best = i;
        bestScore = score;
        if (score === 0) break;
      }
    }
    if (best === undefined) return undefined;
    this.parts[best].reading = true;
    this.readsInFlight++;
    return best;
  }

  public finishRead(i: number): void {
    this.parts[i].reading = false;
    this.readsInFlight--;
  }

  /** Nothing left: every partition read to the end, nothing queued, nothing running. */
  public get done(): boolean {
    return this.inFlight.size === 0 && this.readsInFlight === 0 && this.parts.every((p) => p.exhausted && p.queued.length === 0);
  }

  /** The earliest future moment something becomes due (a backoff, a stagger), if any. */
  public nextDue(now: number): number | undefined {
    let t: number | undefined;
    for (const p of this.parts) {
      const gate = p.nextStartAt > now ? p.nextStartAt : undefined;
      for (const j of p.queued) {
        const at = Math.max(j.notBefore, gate ?? 0);
        if (at > now && (t === undefined || at < t)) t = at;
      }
      if (gate !== undefined && !p.exhausted && (t === undefined || gate < t)) t = gate;
    }
    return t;
  }

  public counts(): { total: number; done: number; running: number; queued: number } {
    let done = 0;
    let running = 0;
    for (const p of this.parts) {
      if (p.exhausted && p.queued.length === 0 && p.inFlight === 0 && !p.reading) done++;
      else if (p.inFlight > 0 || p.reading) running++;
    }
    return { total: this.parts.length, done, running, queued: this.parts.length - done - running };
  }

  /** Partitions with a job in flight or a read under way, busiest first. */
  public active(): number[] {
    return this.parts
      .map((p, i) => ({ i, w: p.inFlight * 2 + (p.reading ? 1 : 0) }))
      .filter((x) => x.w > 0)
      .sort((a, b) => b.w - a.w || a.i - b.i)
      .map((x) => x.i);
  }
}
