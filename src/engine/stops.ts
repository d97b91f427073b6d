/*
 * Why a session stops, as the LoadError the user sees: what the org said for the whole run
 * (authentication, an exhausted allocation), a run file that cannot be written, another
 * runner taking the lock over, and the circuit breaker (every row of several jobs in a row
 * failing for one permanent reason).
 */
import { toApiError } from '../core/errors.js';
import { RunFileWriteError } from '../state/files.js';
import { LockLostError } from '../state/run-lock.js';
import { LoadError } from './errors.js';
import { sessionExpired, withoutValues } from './planner.js';

export function fatalOf(err: unknown): LoadError {
  if (err instanceof LoadError) return err;
  if (err instanceof LockLostError) return new LoadError('LockLost', err.message, ['This session stopped writing; the other runner continues the run.']);
  if (err instanceof RunFileWriteError) {
    return new LoadError('RunFilesUnwritable', `A run file could not be written: ${err.message}.`, [
      'Free disk space or make the runs directory writable, then resume the run; what was recorded before is intact.',
    ]);
  }
  const e = toApiError(err);
  if (e.status === 401 || e.errorCode === 'INVALID_SESSION_ID') return sessionExpired();
  if (e.quota) {
    return new LoadError('LimitsExhausted', `The org refused more requests (${e.errorCode}: ${e.message.slice(0, 200)}).`, [
      'Wait for the daily allocation to recover (rolling 24 h), then resume the run.',
    ]);
  }
  return new LoadError('ApiError', `A call to the org failed: ${withoutValues(e.message).slice(0, 300)}`, ['Resume the run to continue; nothing recorded is lost.']);
}

/** Errors that stop the run rather than one job. */
export function stopsTheRun(err: unknown): boolean {
  const e = toApiError(err);
  return err instanceof LoadError || err instanceof RunFileWriteError || err instanceof LockLostError || e.status === 401 || e.errorCode === 'INVALID_SESSION_ID' || e.quota;
}

/** Counts jobs in a row whose every row failed for the same permanent code. */
export class CircuitBreaker {
  private code = '';
  private n = 0;

  public constructor(private readonly threshold: number) {}

  /** Feed one job's outcome; returns the error that opens the breaker, if it does. */
  public feed(deadCode: string | undefined, message: string | undefined): LoadError | undefined {
    if (!deadCode) {
      this.code = '';
      this.n = 0;
      return undefined;
    }
    this.n = this.code === deadCode ? this.n + 1 : 1;
    this.code = deadCode;
    if (this.n < this.threshold) return undefined;
    return new LoadError('CircuitBreakerOpen', `Every row of the last ${this.n} jobs failed with ${deadCode}: ${message ?? ''}`, [
      'Fix the cause (a validation rule, a required field, the mapping), then resume the run for the rest and run retry-failures for these rows.',
    ]);
  }
}
