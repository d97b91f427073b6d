/*
 * The sorted-index cache behind keyset pages: row positions sorted by an ORDER BY (cached
 * per table storage and key list), and binary searches to the bounds a WHERE implies.
 */
import { DictColumn, type TableData, type Value } from './table.js';
import { comparatorFor } from './sql-values.js';
import { comparatorAgainst, type Bound, type Typed } from './sql-compile.js';

/* ------------------------------------------------------------------ sorted index cache */

export type SortKey = { t: Typed; desc: boolean; nullsFirst: boolean; id: string };
const indexCache = new WeakMap<object, Map<string, { length: number; idx: Int32Array }>>();
const HIGH_UNITS = /[\ud800-\uffff]/;

/** Row positions sorted by `keys` (stable), cached per storage version and key list. */
export function sortedIndex(data: TableData, keys: SortKey[]): Int32Array {
  const version = data.version as object;
  let perTable = indexCache.get(version);
  if (!perTable) indexCache.set(version, (perTable = new Map()));
  const cacheKey = keys.map((k) => `${k.id}:${k.desc ? 'd' : 'a'}${k.nullsFirst ? 'f' : 'l'}`).join('|');
  const hit = perTable.get(cacheKey);
  if (hit && hit.length === data.length) return hit.idx;
  const idx = sortPositions(data.length, keys);
  perTable.set(cacheKey, { length: data.length, idx });
  return idx;
}

/**
 * Positions sorted by the keys, stable (ties keep position order). Least significant key
 * first, each pass stable: a dictionary column is a counting sort on its sorted dictionary's
 * ranks (O(n)); a column already in order along the current order is skipped (generated and
 * often real keys arrive sorted); anything else is a comparison sort on that key alone.
 */
function sortPositions(n: number, keys: SortKey[]): Int32Array {
  let order: Int32Array = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k];
    const ranks = dictRanks(key, n);
    if (ranks) {
      order = countingSort(order, ranks.rank, ranks.buckets);
      continue;
    }
    // Already in order along the current order? (Checked without holding every value.)
    const loose = valueOrder(key, false);
    let sorted = true;
    let prev = n > 0 ? key.t.get(order[0]) : null;
    for (let p = 1; p < n; p++) {
      const cur = key.t.get(order[p]);
      if (loose(prev, cur) > 0) {
        sorted = false;
        break;
      }
      prev = cur;
    }
    if (sorted) continue;
    const vals = new Array<Value>(n);
    let plain = key.t.kind === 'text';
    for (let i = 0; i < n; i++) {
      const v = key.t.get(i);
      vals[i] = v;
      if (plain && v !== null && (typeof v !== 'string' || HIGH_UNITS.test(v))) plain = false;
    }
    const cmp = valueOrder(key, plain);
    const arr = Array.from(order);
    arr.sort((a, b) => cmp(vals[a], vals[b]));
    order = Int32Array.from(arr);
  }
  return order;
}

/** Order of two values of one key (nulls first/last, desc), 0 for ties. */
function valueOrder(key: SortKey, plain: boolean): (x: Value, y: Value) => number {
  const cmp = comparatorFor(key.t.kind);
  return (x, y) => {
    if (x === y) return 0;
    if (x === null) return key.nullsFirst ? -1 : 1;
    if (y === null) return key.nullsFirst ? 1 : -1;
    const r = plain ? ((x as string) < (y as string) ? -1 : 1) : cmp(x, y);
    return key.desc ? -r : r;
  };
}

/** Per-row ranks of a dictionary column (ties share a rank), or undefined for other columns. */
function dictRanks(key: SortKey, n: number): { rank: Uint32Array; buckets: number } | undefined {
  const col = key.t.column;
  if (!(col instanceof DictColumn) || col.length !== n) return undefined;
  const dict = col.dict;
  const cmp = valueOrder(key, false);
  const byValue = Array.from(dict.keys()).sort((a, b) => cmp(dict[a], dict[b]));
  const dictRank = new Uint32Array(dict.length);
  let r = 0;
  for (let p = 0; p < byValue.length; p++) {
    if (p > 0 && cmp(dict[byValue[p - 1]], dict[byValue[p]]) !== 0) r++;
    dictRank[byValue[p]] = r;
  }
  const rank = new Uint32Array(n);
  const codes = col.codes;
  for (let i = 0; i < n; i++) rank[i] = dictRank[codes[i]];
  return { rank, buckets: r + 1 };
}

/** Stable counting sort of `order` by rank[order[p]]. */
function countingSort(order: Int32Array, rank: Uint32Array, buckets: number): Int32Array {
  const start = new Uint32Array(buckets + 1);
  for (let p = 0; p < order.length; p++) start[rank[order[p]] + 1]++;
  for (let b = 0; b < buckets; b++) start[b + 1] += start[b];
  const out = new Int32Array(order.length);
  for (let p = 0; p < order.length; p++) out[start[rank[order[p]]]++] = order[p];
  return out;
}

/** First position whose value is not before the bound (ASC, nulls last). */
export function lowerPosition(idx: Int32Array, t: Typed, b: Bound): number {
  const cmp = comparatorAgainst(t, b.v);
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.get(idx[mid]);
    const before = v !== null && (b.incl ? cmp(v, b.v as Exclude<Value, null>) < 0 : cmp(v, b.v as Exclude<Value, null>) <= 0);
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position past the upper bound (ASC, nulls last). */
export function upperPosition(idx: Int32Array, t: Typed, b: Bound): number {
  const cmp = comparatorAgainst(t, b.v);
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.get(idx[mid]);
    const within = v !== null && (b.incl ? cmp(v, b.v as Exclude<Value, null>) <= 0 : cmp(v, b.v as Exclude<Value, null>) < 0);
    if (within) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
