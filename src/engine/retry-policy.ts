/*
 * Every retry decision of the engine, in one place:
 *   - a row that came back with an error: send it again later, or fail it for good;
 *   - a row the org did not process (a Failed or Aborted job, or missing from both result
 *     files): send it again, or fail it with the job's error;
 *   - a job that ended Failed: what its error means for the run;
 *   - how long to wait before a retry.
 * Every requeue is one attempt more than the last, and attempts are bounded
 * (pacing.maxAttempts), so no row can be sent forever.
 */
import type { PacingSettings } from '../state/types.js';
import { classifySfError, isLockError, LOCAL_CODES } from '../sink/error-codes.js';

export type RowDecision = { retry: true } | { retry: false; transient: boolean };

/** A row that failed with `code` on its `attempt`-th attempt. */
export function decideRowError(code: string, message: string, attempt: number, p: PacingSettings): RowDecision {
  const transient = classifySfError(code, message) === 'transient';
  if (transient && attempt < p.maxAttempts) return { retry: true };
  return { retry: false, transient };
}

export type JobFailureKind =
  /** The job's data or configuration is wrong (a field name, the line ending): its rows fail with the job's error. */
  | 'permanent'
  /** The org ran out of an allocation: the run stops (resumable); the rows are kept for later. */
  | 'quota'
  /** The org could not finish it (lock failures, timeouts, an internal error): its rows are sent again. */
  | 'transient';

const PERMANENT_JOB = /^(InvalidBatch|ClientInputError|InvalidJob|InvalidOperation|FeatureNotEnabled|InvalidUser|InvalidUrl|InvalidSessionId)\b/i;
const QUOTA_JOB = /^(ExceededQuota)\b|exceeded.*(quota|limit)/i;

export function classifyJobFailure(errorMessage: string | undefined): JobFailureKind {
  const m = (errorMessage ?? '').trim();
  if (QUOTA_JOB.test(m)) return 'quota';
  if (PERMANENT_JOB.test(m)) return 'permanent';
  return 'transient';
}

/** The code a job-level failure gives its rows: the errorMessage's leading name, e.g. InvalidBatch. */
export function jobErrorCode(errorMessage: string | undefined): string {
  return /^([A-Za-z][A-Za-z0-9_]*)\s*:/.exec((errorMessage ?? '').trim())?.[1] ?? 'JOB_FAILED';
}

/** A row the org did not process (its job Failed/Aborted, or it is missing from both result files). */
export function decideUnprocessed(jobKind: JobFailureKind | 'missing', attempt: number, p: PacingSettings): { retry: true; sameAttempt: boolean } | { retry: false } {
  if (jobKind === 'quota') return { retry: true, sameAttempt: true }; // not the row's fault; the run stops anyway
  if (jobKind === 'permanent') return { retry: false };
  return attempt < p.maxAttempts ? { retry: true, sameAttempt: false } : { retry: false };
}

/** The code of a row that ran out of attempts without a result of its own. */
export function unprocessedCode(jobKind: JobFailureKind | 'missing', errorMessage?: string): string {
  return jobKind === 'missing' ? LOCAL_CODES.NOT_IN_RESULTS : jobErrorCode(errorMessage);
}

/** Wait before sending rows again for their `attempt`-th time (2 = the first retry), with jitter. */
export function backoffMs(attempt: number, p: PacingSettings, random = Math.random): number {
  const d = p.retryDelaysSeconds;
  if (d.length === 0) return 0;
  const base = d[Math.min(Math.max(0, attempt - 2), d.length - 1)] * 1000;
  return Math.round(base * (1 + random() * 0.25));
}

export { isLockError };
