/*
 * What the benchmark reads off a finished strategy run: figures from the emulator's own
 * job records (virtual times, lock errors, jobs waiting in the org's queue), and the
 * workload as CSV lines for the strategies that upload files themselves.
 */
import type { JobRecord } from '../../test/emulator/bulk/service.js';
import { opportunityDefinition } from '../../test/emulator/dataset.js';
import type { Workload } from './cells.js';

export type StrategyResult = {
  name: string;
  firstPassSuccessRate: number;
  finalSuccessRate: number;
  /** End to end on the simulated clock: the strategy's start to its end (results read). */
  simulatedSeconds: number;
  /** The org's schedule: first job closed to last job done. */
  serverSeconds: number;
  jobs: number;
  /** Rows that failed with UNABLE_TO_LOCK_ROW, every attempt counted. */
  lockErrors: number;
  internalBatches: number;
  /** Most of the strategy's jobs waiting in the org's queue at one moment. */
  maxJobsQueued: number;
  apiCalls: number;
  wallSeconds: number;
};

export type JobFigures = { jobs: number; serverSeconds: number; lockErrors: number; succeeded: number; internalBatches: number; maxJobsQueued: number; firstClosedAt: number | null; lastDoneAt: number | null };

export function jobFigures(all: JobRecord[]): JobFigures {
  const jobs = all.filter((j) => j.uploadCompleteAt !== null);
  const first = jobs.length ? Math.min(...jobs.map((j) => j.uploadCompleteAt!)) : null;
  const last = jobs.length ? Math.max(...jobs.map((j) => j.completedAt ?? j.uploadCompleteAt!)) : null;
  // Jobs in the org's queue: from UploadComplete to the first pickup (or the end, if never picked).
  const ev: Array<[number, number]> = [];
  for (const j of jobs) {
    ev.push([j.uploadCompleteAt!, 1]);
    ev.push([j.firstPickupAt ?? j.completedAt ?? j.uploadCompleteAt!, -1]);
  }
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let q = 0;
  let maxQ = 0;
  for (const [, d] of ev) {
    q += d;
    maxQ = Math.max(maxQ, q);
  }
  return {
    jobs: all.length,
    serverSeconds: first !== null && last !== null ? (last - first) / 1000 : 0,
    lockErrors: all.reduce((n, j) => n + j.lockFailures, 0),
    succeeded: all.reduce((n, j) => n + j.succeeded, 0),
    internalBatches: all.reduce((n, j) => n + j.internalBatches, 0),
    maxJobsQueued: maxQ,
    firstClosedAt: first,
    lastDoneAt: last,
  };
}

/** Bulk and Data Cloud calls a client made (login and inspection excluded). */
export function apiCalls(requests: Array<{ path: string }>, from = 0): number {
  let n = 0;
  for (let i = from; i < requests.length; i++) if (/^\/services\/data\/v\d+\.\d\/(jobs|ssot|limits|sobjects\/[^/]+\/describe)/.test(requests[i].path)) n++;
  return n;
}

const MAPPING = (opportunityDefinition() as { target: { mapping: Record<string, string> } }).target.mapping;

/** The workload as an Opportunity CSV: the target header and one line per row, in source (key) order or sorted by parent. */
export function csvLines(w: Workload, order: 'source' | 'parent'): { header: string; lines: string[]; parents: string[] } {
  const cols = Object.keys(MAPPING);
  const header = Object.values(MAPPING).join(',');
  const idx = w.parentOf.map((_, i) => i);
  if (order === 'parent') idx.sort((a, b) => (w.parentOf[a] < w.parentOf[b] ? -1 : w.parentOf[a] > w.parentOf[b] ? 1 : a - b));
  const q = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return { header, lines: idx.map((i) => cols.map((c) => q(w.value(i, c))).join(',')), parents: idx.map((i) => w.parentOf[i]) };
}
