/*
 * How large a Bulk job is: one internal batch at most (10,000 rows), and, for `auto`,
 * small enough that the load spreads over the job slots it may use, in whole 200-row
 * transactions. (The benchmark owner tunes this rule; see README "Lock benchmark".)
 */

/** Rows per Bulk API internal batch: a job of at most this many rows is processed on one thread. */
export const INTERNAL_BATCH_ROWS = 10_000;
/** Rows per transaction inside an internal batch. */
export const CHUNK_ROWS = 200;

export function autoRowsPerJob(totalRows: number, maxConcurrency: number): number {
  const spread = Math.ceil(totalRows / Math.max(1, maxConcurrency) / CHUNK_ROWS) * CHUNK_ROWS;
  return Math.max(CHUNK_ROWS, Math.min(INTERNAL_BATCH_ROWS, spread));
}
