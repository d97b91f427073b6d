/*
 * Why a session stops, as the LoadError the user sees: what the org said for the whole run
 * (authentication, an exhausted allocation), a run file that cannot be written, another
 * runner taking the lock over, and the circuit breaker (every row of several jobs in a row
 * failing for one permanent reason). Their messages name the problem (the code, the HTTP
 * status, the call, the job) but never repeat the org's message, which can quote row values.
 */
import { toApiError, type SalesforceApiError } from '../core/errors.js';
import { RunFileWriteError } from '../state/files.js';
import { LockLostError } from '../state/run-lock.js';
import { LoadError } from './errors.js';
import { sessionExpired } from './planner.js';

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
  // The org's message is kept as the error's detail (the run's event log), not in its
  // message: it can quote a row's values. What is said names the call and the code.
  if (e.quota) {
    return new LoadError('LimitsExhausted', `The org refused more requests (${apiErrorName(e)}).`, [
      'Wait for the daily allocation to recover (rolling 24 h), then resume the run.',
    ]).withDetail(e.message);
  }
  return new LoadError('ApiError', `A call to the org failed (${apiErrorName(e)}).`, ['Resume the run to continue; nothing recorded is lost.']).withDetail(e.message);
}

/** An API error as its code and HTTP status, e.g. "INVALIDBATCH, HTTP 400": what names the problem without the org's words. */
export function apiErrorName(e: SalesforceApiError): string {
  return `${e.errorCode}${e.status !== undefined ? `, HTTP ${e.status}` : ''}`;
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

  /**
   * Feed one job's outcome, in the order jobs finish: the code every row of it failed with
   * for good, or undefined (some row loaded or will be sent again, or the failures differ),
   * which closes the breaker again. One job that fails whole (a poison job) counts one;
   * `threshold` such jobs in a row with one code open it. Returns the error, if it opens.
   */
  public feed(deadCode: string | undefined): LoadError | undefined {
    if (!deadCode) {
      this.code = '';
      this.n = 0;
      return undefined;
    }
    this.n = this.code === deadCode ? this.n + 1 : 1;
    this.code = deadCode;
    if (this.n < this.threshold) return undefined;
    // The org's message is not repeated: a validation message can quote the row's values. The rows and the message are in failures.ndjson.
    return new LoadError('CircuitBreakerOpen', `Every row of the last ${this.n} jobs failed with ${deadCode}; the org's message for each row is in the run's failures file.`, [
      'See the rows and their messages with "sf datacloud load report" for this run.',
      'Fix the cause (a validation rule, a required field, the mapping), then resume the run for the rest and run retry-failures for these rows.',
    ]);
  }
}
