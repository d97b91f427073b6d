/*
 * How many Bulk jobs the run may have in flight. The scheduler owns the count of jobs in
 * flight and asks the controller for the limit; the controller learns from what the org
 * shows: when each job was closed, when the org picked it up (InProgress), how long it
 * ran, its lock errors, and throttling (429 / REQUEST_LIMIT_EXCEEDED).
 *
 * This file is a placeholder with the interface; the adaptive controller replaces
 * `FixedController`'s use for the adaptive strategy.
 */
import type { PacingSettings } from '../state/types.js';

export type ObservedState = 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';

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
  /** A job was closed (UploadComplete) at `at` (epoch ms of the engine's clock). */
  onSubmitted(seq: number, at: number): void;
  /** A poll saw the job in `state` at `at`. */
  onObserved(seq: number, state: ObservedState, at: number): void;
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

export function createController(p: PacingSettings): ConcurrencyController {
  return new FixedController(Math.max(1, p.maxConcurrency));
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
