/*
 * The org's daily allocations, guarded: /limits is read before the run and every 30 s,
 * and a job is started only if what is left covers it and every job already in flight
 * (the org charges a job's batches as it processes them, so jobs in flight are not in
 * /limits yet). The run stops cleanly, resumable, before an allocation runs out.
 */
import type { OrgLimits } from '../core/org-api.js';
import { LoadError } from './errors.js';
import type { Clock } from './clock.js';
import { INTERNAL_BATCH_ROWS } from './sizing.js';

export function batchesOf(rows: number): number {
  return Math.max(1, Math.ceil(rows / INTERNAL_BATCH_ROWS));
}

/** API requests kept in reserve for polling, results and a clean stop. */
const REQUEST_RESERVE = 50;
/** Requests a job takes at most, roughly (create, upload, close, polls, results, delete). */
const REQUESTS_PER_JOB = 12;

export class LimitsGuard {
  private last?: OrgLimits;
  private readAt = -Infinity;

  public constructor(private readonly read: (() => Promise<OrgLimits>) | undefined, private readonly clock: Clock, private readonly refreshMs = 30_000) {}

  public get snapshot(): Record<string, { max: number; remaining: number }> | null {
    if (!this.last) return null;
    const out: Record<string, { max: number; remaining: number }> = {};
    for (const k of ['DailyApiRequests', 'DailyBulkApiBatches']) {
      const v = this.last[k];
      if (v) out[k] = { max: v.Max, remaining: v.Remaining };
    }
    return out;
  }

  public async refresh(force = false): Promise<void> {
    if (!this.read) return;
    if (!force && this.clock.now() - this.readAt < this.refreshMs) return;
    try {
      this.last = await this.read();
      this.readAt = this.clock.now();
    } catch {
      // Keep the last reading; an org that answers nothing shows up on the next call anyway.
    }
  }

  /** Throw LimitsExhausted unless a job of `rows` fits beside the jobs in flight (their batches and count). */
  public async check(rows: number, inFlightBatches: number, inFlightJobs: number): Promise<void> {
    await this.refresh();
    const l = this.last;
    if (!l) return;
    const batches = batchesOf(rows);
    const pending = inFlightBatches;
    const b = l.DailyBulkApiBatches;
    if (b && b.Remaining < batches + pending) {
      throw new LoadError('LimitsExhausted', `The org has ${b.Remaining} Bulk API batches left today; the jobs in flight need ${pending} and the next one ${batches}.`, [
        'Wait for the rolling 24 h allocation to recover (Setup → Company Information shows it), then resume the run.',
      ]);
    }
    const r = l.DailyApiRequests;
    if (r && r.Remaining < REQUEST_RESERVE + (inFlightJobs + 1) * REQUESTS_PER_JOB) {
      throw new LoadError('LimitsExhausted', `The org has ${r.Remaining} API requests left today; the run keeps ${REQUEST_RESERVE} in reserve.`, [
        'Wait for the rolling 24 h allocation to recover, then resume the run.',
      ]);
    }
  }
}
