/*
 * The lower bound of a benchmark cell: no strategy can load the workload faster than
 *   max( busy worker time of the best plan ÷ W ,  the longest serial hold of one lock ).
 * Best plan: rows sorted by parent in full 200-row transactions (fewest distinct parents
 * per transaction), 10,000-row internal batches (fewest pickups). Serial hold of a lock
 * (a parent, or a grandparent under the hierarchy trigger): its rows in the fewest
 * transactions, each holding only that lock, one after another, after one pickup (the
 * internal batches of one job can be picked up at once; they then wait on the lock). Hold times are the model's means (lognormal mean exp(σ²/2)), so a run can
 * come in a little under the bound by luck, never by much. Other traffic is left out
 * (it only makes the bound lower, that is, harder to approach).
 */
import type { LockModelConfig } from '../../test/emulator/config.js';
import { grandparentOf } from '../../test/emulator/bulk/lock-contention.js';

export type LowerBound = {
  seconds: number;
  /** Busy worker time of the best plan ÷ W. */
  workSeconds: number;
  /** The longest serial hold of one lock, and whose. */
  serialSeconds: number;
  serialLock: string;
};

export function lowerBound(parents: string[], lock: LockModelConfig): LowerBound {
  const mean = Math.exp((lock.sigma * lock.sigma) / 2);
  const chunk = Math.max(1, Math.floor(lock.chunkSize));
  const batch = Math.max(1, Math.floor(lock.batchSize));
  const hold = (n: number, p: number): number => (lock.h0 + lock.h1 * n + lock.h2 * p) * mean;

  // Work: parent-sorted rows in full chunks.
  const sorted = [...parents].sort();
  let work = 0;
  for (let i = 0; i < sorted.length; i += chunk) {
    const end = Math.min(sorted.length, i + chunk);
    let p = 1;
    for (let k = i + 1; k < end; k++) if (sorted[k] !== sorted[k - 1]) p++;
    work += hold(end - i, p);
  }
  work += lock.pickup * Math.ceil(sorted.length / batch);

  // Serial: rows per lock key (parents, and grandparents under the trigger).
  const rowsPerLock = new Map<string, number>();
  for (const p of parents) {
    rowsPerLock.set(p, (rowsPerLock.get(p) ?? 0) + 1);
    const gp = grandparentOf(p, lock.hierarchy);
    if (gp !== undefined && gp !== p) rowsPerLock.set(`${gp}`, (rowsPerLock.get(gp) ?? 0) + 1);
  }
  let serial = 0;
  let serialLock = '';
  for (const [key, n] of rowsPerLock) {
    const full = Math.floor(n / chunk);
    const rest = n % chunk;
    const s = full * hold(chunk, 1) + (rest ? hold(rest, 1) : 0) + lock.pickup;
    if (s > serial) {
      serial = s;
      serialLock = key;
    }
  }
  const workSeconds = work / Math.max(1, lock.workers);
  return { seconds: Math.max(workSeconds, serial), workSeconds, serialSeconds: serial, serialLock };
}
