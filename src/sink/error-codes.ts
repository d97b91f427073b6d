/*
 * Row error codes: the org's (sf__Error codes, salesforce-api.md §3) and this plugin's own,
 * for rows that cannot become a target record. Which are transient (worth sending again
 * later) and which retry-failures may send again. Facts about codes only; the retry
 * decisions that use them are in src/engine/retry-policy.ts.
 */

/** sf__Error codes (and Bulk job error names) that mean "the row may load if sent again later". */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_LOCK_ROW',
  'API_TEMPORARILY_UNAVAILABLE',
  'SERVER_UNAVAILABLE',
  'UNKNOWN_EXCEPTION',
  'REQUEST_RUNNING_TOO_LONG',
  'TooManyLockFailure',
]);

const TRANSIENT_UPPER = new Set([...TRANSIENT_CODES].map((c) => c.toUpperCase()));

/** Codes this plugin gives rows it could not send, or whose fate the org did not report. */
export const LOCAL_CODES = {
  /** The source row has no key (null or empty). */
  MISSING_KEY: 'MISSING_KEY',
  /** The key cannot identify a record as uploaded (whitespace only, or the literal #N/A). */
  INVALID_KEY: 'INVALID_KEY',
  /** Another source row has the same key (as the org compares it); that one is loaded. */
  DUPLICATE_SOURCE_KEY: 'DUPLICATE_SOURCE_KEY',
  /** A value cannot be written to its target field's type. */
  INVALID_VALUE: 'INVALID_VALUE',
  /** A value the Bulk CSV cannot carry as it is (the literal #N/A would clear the field). */
  UNREPRESENTABLE_VALUE: 'UNREPRESENTABLE_VALUE',
  /** One row is larger than a job may upload. */
  ROW_TOO_LARGE: 'ROW_TOO_LARGE',
  /** The org's result files did not list the row, attempt after attempt. */
  NOT_IN_RESULTS: 'NOT_IN_RESULTS',
  /** The job's result files could not be read, attempt after attempt. */
  RESULTS_UNREADABLE: 'RESULTS_UNREADABLE',
} as const;

/** Codes whose rows retry-failures can never load (no usable key, or the key belongs to another row). */
const NOT_RETRYABLE = new Set<string>([LOCAL_CODES.MISSING_KEY, LOCAL_CODES.INVALID_KEY, LOCAL_CODES.DUPLICATE_SOURCE_KEY]);

export function isRetryableCode(code: string): boolean {
  return !NOT_RETRYABLE.has(code);
}

/**
 * transient: the row may load if sent again (lock contention, platform busy or timed out);
 * permanent: data or configuration must change. CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY
 * (a trigger failed) is transient only when the trigger hit a lock or the CPU time limit.
 */
export function classifySfError(code: string, message?: string): 'transient' | 'permanent' {
  const c = (code ?? '').trim().toUpperCase();
  if (TRANSIENT_UPPER.has(c)) return 'transient';
  if (c === 'CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY' && message && /UNABLE_TO_LOCK_ROW|unable to obtain exclusive access|CPU time/i.test(message)) {
    return 'transient';
  }
  return 'permanent';
}

/** A lock error, counted apart in the totals. */
export function isLockError(code: string, message?: string): boolean {
  const c = code.toUpperCase();
  return c === 'UNABLE_TO_LOCK_ROW' || c === 'TOOMANYLOCKFAILURE' || (c === 'CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY' && /UNABLE_TO_LOCK_ROW/i.test(message ?? ''));
}
