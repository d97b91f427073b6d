/*
 * The org shapes of the lock benchmark (a cell each) and the workload they load.
 *
 *   workers     the org's worker pool W (concurrent internal batches): 8, 30, 60
 *   skew        light: two parents with 1 % of the rows each (calibration D's house
 *               accounts); heavy: one parent with more rows than one job can hold
 *               (12,000 > 10,000), so it needs jobs in series
 *   contention  none; traffic: other org traffic holding random Accounts for a while
 *               (transient UNABLE_TO_LOCK_ROW for rows of any job); trigger: a trigger that
 *               locks each Account's parent Account; all: both
 *
 * Ordinary parents are uniform (calibration D: ~1.25 children each, keys shuffled against
 * parents), so two concurrent 200-row transactions rarely share one; the skew carries the
 * hot parents. Contention strengths are set from the workload, not from any strategy:
 * traffic keeps one Account in 20,000 held past the lock wait at any moment (holds of
 * median 12 s, σ 0.4: an unsorted 200-row transaction meets one about 1 % of the time, and
 * meets a shorter hold, and waits, about 2.5 % of the time); the hierarchy puts 1 % of the Accounts
 * under ultimate parents of six each.
 */
import type { LockModelConfig } from '../../test/emulator/config.js';
import { defaultConfig } from '../../test/emulator/config.js';
import { generateDataset, type Dataset } from '../../test/emulator/dataset.js';

export type Skew = 'light' | 'heavy';
export type Contention = 'none' | 'traffic' | 'trigger' | 'all';
export type Cell = { workers: number; skew: Skew; contention: Contention };

export const SKEWS: Skew[] = ['light', 'heavy'];
export const CONTENTIONS: Contention[] = ['none', 'traffic', 'trigger', 'all'];

/** The matrix: every pool size, both skews, without and with all contention. */
export function matrix(workers = [8, 30, 60]): Cell[] {
  const out: Cell[] = [];
  for (const contention of ['none', 'all'] as Contention[]) for (const skew of SKEWS) for (const w of workers) out.push({ workers: w, skew, contention });
  return out;
}

export type WorkloadOptions = { rows: number; parents?: number; seed: number; hotShare?: number; hotParents?: number };

export type Workload = {
  ds: Dataset;
  /** Parent of each row, in key (source) order. */
  parentOf: string[];
  /** Key of each row, in key (source) order. */
  keyOf: string[];
  /** One cell of the source table (read column-wise: the emulator's tables stay columnar). */
  value: (row: number, column: string) => unknown;
  rows: number;
  parentCount: number;
  hotParents: Array<{ key: string; rows: number }>;
};

const cache = new Map<string, Workload>();

export function workload(skew: Skew, o: WorkloadOptions): Workload {
  const rows = o.rows;
  const hotParents = o.hotParents ?? (skew === 'light' ? 2 : 1);
  const hotShare = o.hotShare ?? (skew === 'light' ? 0.01 : 12_000 / rows);
  const parents = o.parents ?? Math.round(rows * 0.8);
  const id = JSON.stringify({ rows, hotParents, hotShare, parents, seed: o.seed });
  const hit = cache.get(id);
  if (hit) return hit;
  const ds = generateDataset({ rows, parents, seed: o.seed, shuffle: true, skew: { hotParents, hotShare, sigma: 0 } });
  const value = cellReader(ds);
  const n = tableLength(ds);
  const parentOf = Array.from({ length: n }, (_, i) => String(value(i, ds.columns.parent)));
  const keyOf = Array.from({ length: n }, (_, i) => String(value(i, ds.columns.key)));
  const w: Workload = {
    ds,
    parentOf,
    keyOf,
    value,
    rows,
    parentCount: ds.parentKeys.length,
    hotParents: ds.hotParents.map((k) => ({ key: k, rows: ds.childCounts[ds.parentKeys.indexOf(k)] })),
  };
  cache.set(id, w);
  return w;
}

type Columnar = { column?: (name: string) => { get(i: number): unknown } | undefined; length?: number };

/** Read cells column-wise when the table is columnar (touching `rows` would turn it into row objects). */
function cellReader(ds: Dataset): (row: number, column: string) => unknown {
  const t = ds.table as unknown as Columnar;
  if (typeof t.column === 'function') {
    const cache = new Map<string, { get(i: number): unknown }>();
    return (row, name) => {
      let c = cache.get(name);
      if (!c) cache.set(name, (c = t.column!(name)!));
      return c.get(row);
    };
  }
  return (row, name) => ds.table.rows[row][name];
}

function tableLength(ds: Dataset): number {
  const t = ds.table as unknown as Columnar;
  return typeof t.length === 'number' ? t.length : ds.table.rows.length;
}

/** Share of Accounts held past the lock wait by other traffic at any moment. */
const TRAFFIC_BLOCKED_SHARE = 5e-5;
const TRAFFIC_HOLD = { median: 12, sigma: 0.4 };

/** The lock model of a cell: the emulator's defaults (calibration D) with the cell's switches. */
export function lockFor(cell: Cell, w: Workload): LockModelConfig {
  const lock: LockModelConfig = { ...defaultConfig().bulk.lock, workers: cell.workers };
  if (cell.contention === 'traffic' || cell.contention === 'all') {
    // rate × E[(hold − lockTimeout)+] ÷ parents = the blocked share.
    const excess = meanExcess(TRAFFIC_HOLD.median, TRAFFIC_HOLD.sigma, lock.lockTimeout);
    lock.background = { rate: (TRAFFIC_BLOCKED_SHARE * w.parentCount) / excess, hold: TRAFFIC_HOLD.median, sigma: TRAFFIC_HOLD.sigma, keys: w.ds.parentKeys };
  }
  if (cell.contention === 'trigger' || cell.contention === 'all') {
    const share = 0.01;
    const per = 6;
    lock.hierarchy = { share, groups: Math.max(1, Math.round((share * w.parentCount) / per)) };
  }
  return lock;
}

/** E[(X − t)+] for X lognormal with this median and sigma (numerically). */
function meanExcess(median: number, sigma: number, t: number): number {
  let s = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const z = -6 + (12 * (i + 0.5)) / n;
    const x = median * Math.exp(sigma * z);
    s += Math.max(0, x - t) * Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI) * (12 / n);
  }
  return s;
}

export function cellName(c: Cell): string {
  return `W=${c.workers} ${c.skew} skew, contention ${c.contention}`;
}
