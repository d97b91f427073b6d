/*
 * The org's daily allocations, guarded: /limits is read before the run and every 30 s, and
 * a job is started only if what is left, less what the run has spent or committed since that
 * reading, covers it with a margin. A reading is a snapshot; between two readings the guard
 * counts for itself:
 *   DailyBulkApiBatches  the org charges a job's batches when it processes them, after the
 *                        reading or before it (unknown): every job in flight at the reading
 *                        and every job started since counts in full until the next reading;
 *   DailyApiRequests     every request the run sent since the reading, plus what each job in
 *                        flight will still send (create, upload, close, polls, the result
 *                        files, delete: REQUESTS_PER_JOB, less what it sent already).
 * The run stops cleanly, resumable, before an allocation runs out, not when the org refuses.
 */
import type { OrgLimits } from '../core/org-api.js';
import { LoadError } from './errors.js';
import type { Clock } from './clock.js';
import { INTERNAL_BATCH_ROWS } from './sizing.js';

export function batchesOf(rows: number): number {
  return Math.max(1, Math.ceil(rows / INTERNAL_BATCH_ROWS));
}

/** API requests kept in reserve for page reads, retries and a clean stop. */
export const REQUEST_RESERVE = 50;
/** Requests a job takes, roughly: create, upload, close, ~4 polls, 3 result files, delete, one retried call. */
export const REQUESTS_PER_JOB = 12;
/** Requests a job in flight sends at least from here on (a poll, two result files, delete). */
const REQUESTS_LEFT_MIN = 4;
/** Bulk batches kept in reserve (other clients of the org spend them too; /limits lags). */
export const BATCH_RESERVE = 2;

/** A job that has an org job and no recorded result: what it costs, and what it has sent in this session. */
export type InFlightJob = { seq: number; batches: number; calls: number };

export type LimitsGuardOptions = {
  read?: () => Promise<OrgLimits>;
  clock: Clock;
  /** The jobs in flight now. */
  inFlight: () => InFlightJob[];
  /** Requests the session has sent so far (every endpoint, attempts included). */
  sent: () => number;
  refreshMs?: number;
};

export class LimitsGuard {
  private last?: OrgLimits;
  private readAt = -Infinity;
  private reading?: Promise<void>;
  /** Requests sent before the last reading was asked for. */
  private sentAtRead = 0;
  /** Batches that may not be in the last reading: jobs in flight then, and jobs started since. */
  private readonly charged = new Map<number, number>();

  public constructor(private readonly o: LimitsGuardOptions) {}

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
    if (!this.o.read) return;
    if (!force && this.o.clock.now() - this.readAt < (this.o.refreshMs ?? 30_000)) return;
    this.reading ??= this.readNow().finally(() => (this.reading = undefined));
    await this.reading;
  }

  private async readNow(): Promise<void> {
    const sentBefore = this.o.sent();
    const before = this.o.inFlight();
    try {
      const l = await this.o.read!();
      // A job in flight on either side of the reading may or may not be charged in it: count it.
      this.charged.clear();
      for (const j of [...before, ...this.o.inFlight()]) this.charged.set(j.seq, j.batches);
      this.last = l;
      this.sentAtRead = sentBefore;
      this.readAt = this.o.clock.now();
    } catch {
      // Keep the last reading (and what was counted since); an org that answers nothing shows up on the next call anyway.
    }
  }

  /** Throw LimitsExhausted unless job `seq` of `rows` fits beside the jobs in flight; counts it as started when it does. */
  public async check(seq: number, rows: number): Promise<void> {
    await this.refresh();
    const l = this.last;
    if (!l) return;
    const batches = batchesOf(rows);
    const inFlight = this.o.inFlight().filter((j) => j.seq !== seq);
    const b = l.DailyBulkApiBatches;
    if (b) {
      let committed = 0;
      for (const [s, n] of this.charged) if (s !== seq) committed += n;
      if (b.Remaining - committed < batches + BATCH_RESERVE) {
        throw new LoadError(
          'LimitsExhausted',
          `The org has ${b.Remaining} Bulk API batches left today (as last read); the jobs started since or in flight need up to ${committed}, the next one ${batches}, and the run keeps ${BATCH_RESERVE} in reserve.`,
          ['Wait for the rolling 24 h allocation to recover (Setup → Company Information shows it), then resume the run.']
        );
      }
    }
    const r = l.DailyApiRequests;
    if (r) {
      const spent = Math.max(0, this.o.sent() - this.sentAtRead);
      const owed = inFlight.reduce((n, j) => n + Math.max(REQUESTS_LEFT_MIN, REQUESTS_PER_JOB - j.calls), 0);
      if (r.Remaining - spent - owed < REQUESTS_PER_JOB + REQUEST_RESERVE) {
        throw new LoadError(
          'LimitsExhausted',
          `The org has about ${Math.max(0, r.Remaining - spent)} API requests left today (${r.Remaining} as last read, ${spent} sent since); the ${inFlight.length} job(s) in flight need about ${owed}, the next one ${REQUESTS_PER_JOB}, and the run keeps ${REQUEST_RESERVE} in reserve.`,
          ['Wait for the rolling 24 h allocation to recover, then resume the run.']
        );
      }
    }
    this.charged.set(seq, batches);
  }
}
