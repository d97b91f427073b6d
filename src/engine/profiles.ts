/*
 * Named pacing profiles. `seed` reproduces the seed's Test8 settings exactly; `default` is
 * ours: it removes the cause of lock contention instead of slowing down (see README).
 */
import type { PacingSettings } from '../state/types.js';

export const PROFILES: Record<string, PacingSettings> = {
  /**
   * Parent-aware partitions (one parent's rows never in two jobs in flight), jobs sized
   * for the platform's 10,000-row internal batches (sizing.ts), concurrency that starts
   * small and measures the org's capacity (concurrency.ts). maxConcurrency is only a
   * bound on what the run asks of any org, not a guess of its size.
   */
  default: {
    profile: 'default',
    strategy: 'adaptive',
    partitionBy: 'parent',
    rowsPerJob: 'auto',
    partitions: 'auto',
    staggerSeconds: 0,
    delaySeconds: [0, 0],
    retryDelaysSeconds: [5, 15, 45, 120],
    maxAttempts: 5,
    maxConcurrency: 100,
    jobsInFlightPerPartition: 1,
    pollSeconds: [1, 3],
    circuitBreakerJobs: 3,
    parentLocks: true,
    maxJobBytes: 100_000_000,
    maxConcurrentQueries: 4,
    readAhead: 2,
  },
  /** The seed's Test8: 500 rows per job, 5 key-range partitions 1.5 h apart, 20–30 s between jobs, retries after 2/5/10 s. */
  seed: {
    profile: 'seed',
    strategy: 'fixed',
    partitionBy: 'key',
    rowsPerJob: 500,
    partitions: 5,
    staggerSeconds: 5400,
    delaySeconds: [20, 30],
    retryDelaysSeconds: [2, 5, 10],
    maxAttempts: 4,
    maxConcurrency: 1000,
    jobsInFlightPerPartition: 1000,
    pollSeconds: [2, 10],
    circuitBreakerJobs: 5,
    parentLocks: false,
    maxJobBytes: 100_000_000,
    maxConcurrentQueries: 4,
    readAhead: 2,
  },
};

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}
