/*
 * Throughput over time: job results bucketed by the time they were recorded, overall and
 * per partition. Pure: from RunStatus and the result points of readRun().
 */
import type { RunStatus } from '../ledger/status-types.js';

/** One job result, reduced to what time series need. */
export type ResultPoint = { at: number; partition: number; succeeded: number; failed: number; rows: number };

export type ThroughputBucket = {
  /** Bucket start, ISO time. */
  start: string;
  /** Seconds from the series start. */
  offsetSeconds: number;
  loaded: number;
  failed: number;
  /** Rows loaded per minute in this bucket. */
  perMinute: number;
  /** Rows loaded in this bucket per partition (index = partition). */
  byPartition: number[];
};

export type ThroughputSeries = {
  bucketSeconds: number;
  startedAt: string | null;
  buckets: ThroughputBucket[];
};

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];

/**
 * Buckets from the run's first start (or first result) to its last result: at most
 * maxBuckets, and by default about four job results per bucket, so that one job landing
 * in an otherwise empty bucket does not read as a spike.
 */
export function throughputSeries(status: RunStatus, points: ResultPoint[], maxBuckets = Math.max(1, Math.min(60, Math.floor(points.length / 4)))): ThroughputSeries {
  if (points.length === 0) return { bucketSeconds: 60, startedAt: status.timing.startedAt, buckets: [] };
  let first = Infinity;
  let last = -Infinity;
  for (const p of points) {
    if (p.at < first) first = p.at;
    if (p.at > last) last = p.at;
  }
  const started = status.timing.startedAt ? Date.parse(status.timing.startedAt) : NaN;
  const t0 = Number.isFinite(started) && started <= first ? started : first;
  const spanS = Math.max(1, (last - t0) / 1000);
  const bucketSeconds = NICE.find((b) => spanS / b <= maxBuckets) ?? Math.ceil(spanS / maxBuckets);
  const n = Math.floor((last - t0) / 1000 / bucketSeconds) + 1;
  const nParts = status.partitions.length;
  const buckets: ThroughputBucket[] = Array.from({ length: n }, (_, i) => ({
    start: new Date(t0 + i * bucketSeconds * 1000).toISOString(),
    offsetSeconds: i * bucketSeconds,
    loaded: 0,
    failed: 0,
    perMinute: 0,
    byPartition: new Array<number>(nParts).fill(0),
  }));
  for (const p of points) {
    const b = buckets[Math.min(n - 1, Math.floor((p.at - t0) / 1000 / bucketSeconds))];
    b.loaded += p.succeeded;
    b.failed += Math.max(0, p.failed);
    if (p.partition >= 0 && p.partition < nParts) b.byPartition[p.partition] += p.succeeded;
  }
  for (const b of buckets) b.perMinute = Math.round((b.loaded / bucketSeconds) * 60 * 10) / 10;
  return { bucketSeconds, startedAt: new Date(t0).toISOString(), buckets };
}

/** Merge consecutive buckets so that at most maxRows remain (for text tables). */
export function coarsen(series: ThroughputSeries, maxRows: number): ThroughputSeries {
  const k = Math.ceil(series.buckets.length / Math.max(1, maxRows));
  if (k <= 1) return series;
  const bucketSeconds = series.bucketSeconds * k;
  const buckets: ThroughputBucket[] = [];
  for (let i = 0; i < series.buckets.length; i += k) {
    const group = series.buckets.slice(i, i + k);
    const b: ThroughputBucket = { ...group[0], loaded: 0, failed: 0, perMinute: 0, byPartition: group[0].byPartition.map(() => 0) };
    for (const g of group) {
      b.loaded += g.loaded;
      b.failed += g.failed;
      g.byPartition.forEach((v, p) => (b.byPartition[p] += v));
    }
    b.perMinute = Math.round((b.loaded / bucketSeconds) * 60 * 10) / 10;
    buckets.push(b);
  }
  return { bucketSeconds, startedAt: series.startedAt, buckets };
}
