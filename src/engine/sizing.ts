/*
 * How large a Bulk job is. Nothing here knows how many batches the org runs at once
 * (Salesforce does not publish it and it varies): the rule only keeps enough jobs for the
 * job slots the run may use, and keeps each job within one internal batch.
 *
 *   - At most 10,000 rows: Bulk API 2.0 cuts a job into internal batches of 10,000 rows,
 *     each on one thread in 200-row transactions; a job of at most one batch has no
 *     parallelism inside it, so no lock contention inside it.
 *   - At least two jobs per job slot (maxConcurrency): whatever the org's real capacity up
 *     to that bound, every worker gets work from the first minute, and the last jobs are
 *     short, so the run does not wait on a tail of long jobs (measured: README "Lock
 *     benchmark"). On loads of 2 × maxConcurrency × 10,000 rows or more this is 10,000.
 *   - Whole 200-row transactions.
 *
 * nextJobRows() is the same rule for a scheduler that sizes each job when it reads it (it
 * then knows the capacity the controller measured and the rows left): guided
 * self-scheduling, jobs shrinking as the load drains. The planner uses autoRowsPerJob().
 */

/** Rows per Bulk API internal batch: a job of at most this many rows is processed on one thread. */
export const INTERNAL_BATCH_ROWS = 10_000;
/** Rows per transaction inside an internal batch. */
export const CHUNK_ROWS = 200;
/** Jobs per job slot the auto size aims at. */
export const JOBS_PER_SLOT = 2;

export function wholeChunks(rows: number): number {
  return Math.max(CHUNK_ROWS, Math.min(INTERNAL_BATCH_ROWS, Math.ceil(rows / CHUNK_ROWS) * CHUNK_ROWS));
}

/** The planned job size of a load of `totalRows` that may have up to `maxConcurrency` jobs in flight. */
export function autoRowsPerJob(totalRows: number, maxConcurrency: number): number {
  return wholeChunks(totalRows / (JOBS_PER_SLOT * Math.max(1, maxConcurrency)));
}

/**
 * The size of the next job, for a scheduler that decides it per job: the rows left spread
 * over the measured capacity (or, before it is measured, the job slots), never more than
 * one internal batch. A partition that holds a single parent takes whole batches: its jobs
 * run one after another anyway, and fewer of them means fewer pickups on its serial path.
 */
export function nextJobRows(o: { rowsLeft: number; capacity?: number; maxConcurrency: number; singleParent?: boolean }): number {
  if (o.singleParent) return INTERNAL_BATCH_ROWS;
  const slots = Math.max(1, Math.min(o.capacity ?? o.maxConcurrency, o.maxConcurrency));
  return wholeChunks(o.rowsLeft / slots);
}
