/*
 * A run over time, for report's charts and tables. Pure: from a RunHistory.
 *
 * Time is session time: the seconds the run was being worked on (start, resume,
 * retry-failures), with the gaps between sessions cut out and marked (a stop and the resume
 * that followed are one mark), so a run resumed the next morning still reads as one load.
 *
 * Per bucket:
 *   loaded       rows saved, each job's rows spread evenly over its time in flight (created →
 *                result), so a 10,000-row job does not read as a spike in the minute its result
 *                was recorded; Σ loaded over the buckets = Σ succeeded of the jobs
 *   failed, retriedRows, lockErrors   counted at the time of the job's result
 *   jobsInFlight the time-average of jobs in flight; peakJobsInFlight the most at any moment
 *   concurrencyLimit the limit in force at the bucket's end
 * Bucket width: the smallest "nice" width (1 s … 1 day) that gives at most 60 buckets; a last
 * bucket shorter than half a width is merged into the one before (no extrapolated tail).
 */
import type { JobSpan, RunHistory } from '../ledger/status-types.js';

export type SeriesBucket = {
  /** Wall-clock time of the bucket's start (ISO). */
  start: string;
  /** Session seconds from the run's start to the bucket's start. */
  offsetSeconds: number;
  /** Session seconds the bucket covers (the last one may differ from bucketSeconds). */
  seconds: number;
  loaded: number;
  failed: number;
  retriedRows: number;
  lockErrors: number;
  /** loaded per minute over the bucket. */
  perMinute: number;
  jobsInFlight: number;
  peakJobsInFlight: number;
  concurrencyLimit: number | null;
};

export type SeriesMark = {
  /** Session seconds from the run's start. */
  offsetSeconds: number;
  at: string;
  /** stop: a session ended before the run's end (stopped, crashed, failed, cancelled); resume: the next one began. */
  kind: 'stop' | 'resume' | 'end';
  /** The session's outcome (stopped, crashed, …) or the command that resumed (resume, retry-failures). */
  what: string;
  /** For a resume: wall seconds since the previous session ended. */
  gapSeconds: number | null;
};

export type RunSeries = {
  bucketSeconds: number;
  /** Wall-clock start of the first session. */
  startedAt: string | null;
  /** Session seconds in all. */
  activeSeconds: number;
  buckets: SeriesBucket[];
  marks: SeriesMark[];
  /** The concurrency limit as a step function of session time. */
  limit: Array<{ offsetSeconds: number; limit: number }>;
};

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
export const MAX_BUCKETS = 60;

type Session = { start: number; end: number; offset: number; command: string; outcome: string | null };

/** Maps wall time to session time (gaps between sessions collapse to a point). */
export class SessionClock {
  public readonly sessions: Session[];
  public readonly total: number;

  public constructor(history: RunHistory) {
    let offset = 0;
    const raw = history.status.timing.sessions
      .map((s) => ({ start: Date.parse(s.startedAt), seconds: s.seconds, command: s.command, outcome: s.outcome }))
      .filter((s) => Number.isFinite(s.start))
      .sort((a, b) => a.start - b.start);
    this.sessions = [];
    for (let i = 0; i < raw.length; i++) {
      const s = raw[i];
      const next = raw[i + 1]?.start ?? Infinity;
      const end = Math.min(next, s.start + Math.max(0, s.seconds) * 1000);
      this.sessions.push({ start: s.start, end: Math.max(s.start, end), offset, command: s.command, outcome: s.outcome });
      offset += Math.max(0, end - s.start) / 1000;
    }
    this.total = offset;
  }

  /** Session seconds at wall time t (epoch ms). */
  public at(t: number): number {
    let last = 0;
    for (const s of this.sessions) {
      if (t < s.start) return last;
      if (t <= s.end) return s.offset + (t - s.start) / 1000;
      last = s.offset + (s.end - s.start) / 1000;
    }
    return last;
  }

  /** Wall time (epoch ms) at session seconds x. */
  public wall(x: number): number {
    for (const s of this.sessions) {
      const len = (s.end - s.start) / 1000;
      if (x <= s.offset + len) return s.start + Math.max(0, x - s.offset) * 1000;
    }
    const last = this.sessions[this.sessions.length - 1];
    return last ? last.end : 0;
  }

  /** Where a job with no result stopped being in flight: the end of the session it was created in. */
  public sessionEnd(t: number): number {
    for (const s of this.sessions) if (t >= s.start && t <= s.end) return s.end;
    return t;
  }
}

export function bucketWidth(activeSeconds: number, maxBuckets = MAX_BUCKETS): number {
  const span = Math.max(1, activeSeconds);
  return NICE.find((b) => span / b <= maxBuckets) ?? Math.ceil(span / maxBuckets);
}

export function runSeries(history: RunHistory): RunSeries {
  const clock = new SessionClock(history);
  const total = clock.total;
  const startedAt = clock.sessions[0] ? new Date(clock.sessions[0].start).toISOString() : null;
  const marks = sessionMarks(clock, history);
  const limit = limitSteps(clock, history);
  if (total <= 0 || clock.sessions.length === 0) return { bucketSeconds: 1, startedAt, activeSeconds: 0, buckets: [], marks, limit };

  const width = bucketWidth(total);
  // Bucket edges in session seconds; a short tail joins the bucket before it.
  const edges: number[] = [];
  for (let x = 0; x < total - 1e-9; x += width) edges.push(x);
  if (edges.length > 1 && total - edges[edges.length - 1] < width / 2) edges.pop();
  edges.push(total);
  const n = edges.length - 1;
  const buckets: SeriesBucket[] = Array.from({ length: n }, (_, i) => ({
    start: new Date(clock.wall(edges[i])).toISOString(),
    offsetSeconds: round(edges[i], 3),
    seconds: round(edges[i + 1] - edges[i], 3),
    loaded: 0,
    failed: 0,
    retriedRows: 0,
    lockErrors: 0,
    perMinute: 0,
    jobsInFlight: 0,
    peakJobsInFlight: 0,
    concurrencyLimit: null,
  }));
  const index = (x: number): number => {
    if (x >= total) return n - 1;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (edges[mid] <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  const loadedExact = new Array<number>(n).fill(0);
  const inFlightTime = new Array<number>(n).fill(0);
  const sweep: Array<[number, number]> = [];
  for (const j of history.jobs) {
    const span = jobSpan(j, clock, history);
    if (j.resultAt !== null) {
      const r = index(clock.at(j.resultAt));
      buckets[r].failed += j.failed;
      buckets[r].retriedRows += j.requeued;
      buckets[r].lockErrors += j.lockErrors;
    }
    if (span) {
      const [a, b] = span;
      sweep.push([a, 1], [b, -1]);
      spread(edges, index, a, b, 1, (i, share) => (inFlightTime[i] += share));
      if (b - a <= 1e-9) loadedExact[index(a)] += j.succeeded;
      else spread(edges, index, a, b, j.succeeded / (b - a), (i, share) => (loadedExact[i] += share));
    } else if (j.succeeded > 0 && j.resultAt !== null) {
      loadedExact[index(clock.at(j.resultAt))] += j.succeeded;
    }
  }
  integerise(loadedExact).forEach((v, i) => (buckets[i].loaded = v));
  // Peak in flight: sweep the +1/−1 events (ends before starts at one instant).
  sweep.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  let live = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    let peak = live;
    while (k < sweep.length && (sweep[k][0] < edges[i + 1] || i === n - 1)) {
      live += sweep[k][1];
      if (live > peak) peak = live;
      k++;
    }
    buckets[i].peakJobsInFlight = Math.max(0, peak);
  }
  for (let i = 0; i < n; i++) {
    const b = buckets[i];
    b.perMinute = b.seconds > 0 ? round((b.loaded / b.seconds) * 60, 1) : 0;
    b.jobsInFlight = b.seconds > 0 ? round(inFlightTime[i] / b.seconds, 2) : 0;
    b.concurrencyLimit = limitAt(limit, edges[i + 1]);
  }
  return { bucketSeconds: width, startedAt, activeSeconds: round(total, 3), buckets, marks, limit };
}

/** A job's time in flight in session seconds, or null when it never reached the org. */
function jobSpan(j: JobSpan, clock: SessionClock, history: RunHistory): [number, number] | null {
  if (j.createdAt === null) return null;
  const a = clock.at(j.createdAt);
  let endWall: number;
  if (j.resultAt !== null) endWall = j.resultAt;
  else if (j.state !== null) return null;
  else endWall = history.status.runnerAlive ? Infinity : clock.sessionEnd(j.createdAt);
  const b = endWall === Infinity ? clock.total : clock.at(endWall);
  return [a, Math.max(a, b)];
}

/** Add rate × overlap of [a, b] with each bucket. */
function spread(edges: number[], index: (x: number) => number, a: number, b: number, rate: number, add: (i: number, share: number) => void): void {
  for (let i = index(a); i < edges.length - 1 && edges[i] < b; i++) {
    const overlap = Math.min(b, edges[i + 1]) - Math.max(a, edges[i]);
    if (overlap > 0) add(i, rate * overlap);
  }
}

/** Round shares to whole rows keeping the sum exact (largest remainders). */
function integerise(values: number[]): number[] {
  const total = Math.round(values.reduce((s, v) => s + v, 0));
  const floors = values.map(Math.floor);
  let rest = total - floors.reduce((s, v) => s + v, 0);
  const order = values.map((v, i) => [v - Math.floor(v), i] as const).sort((p, q) => q[0] - p[0]);
  for (const [, i] of order) {
    if (rest <= 0) break;
    floors[i]++;
    rest--;
  }
  return floors;
}

function sessionMarks(clock: SessionClock, history: RunHistory): SeriesMark[] {
  const marks: SeriesMark[] = [];
  const s = clock.sessions;
  const liveState = history.status.runnerAlive;
  for (let i = 0; i < s.length; i++) {
    const endOffset = s[i].offset + (s[i].end - s[i].start) / 1000;
    const last = i === s.length - 1;
    const outcome = s[i].outcome ?? (last && liveState ? null : 'crashed');
    if (outcome && outcome !== 'completed') {
      marks.push({ offsetSeconds: round(endOffset, 3), at: new Date(s[i].end).toISOString(), kind: last ? 'end' : 'stop', what: outcome, gapSeconds: null });
    }
    if (!last) {
      marks.push({ offsetSeconds: round(endOffset, 3), at: new Date(s[i + 1].start).toISOString(), kind: 'resume', what: s[i + 1].command, gapSeconds: round((s[i + 1].start - s[i].end) / 1000, 1) });
    }
  }
  return marks;
}

function limitSteps(clock: SessionClock, history: RunHistory): Array<{ offsetSeconds: number; limit: number }> {
  const steps: Array<{ offsetSeconds: number; limit: number }> = [];
  const lastEnd = clock.sessions.length ? clock.sessions[clock.sessions.length - 1].end : Infinity;
  for (const c of [...history.concurrency].sort((a, b) => a.at - b.at)) {
    if (c.at > lastEnd) continue;
    const x = round(clock.at(c.at), 3);
    if (steps.length && steps[steps.length - 1].offsetSeconds === x) steps[steps.length - 1].limit = c.limit;
    else if (!steps.length || steps[steps.length - 1].limit !== c.limit) steps.push({ offsetSeconds: x, limit: c.limit });
  }
  return steps;
}

function limitAt(steps: Array<{ offsetSeconds: number; limit: number }>, x: number): number | null {
  let v: number | null = null;
  for (const s of steps) if (s.offsetSeconds <= x) v = s.limit;
  return v;
}

/** Merge consecutive buckets so that at most maxBuckets remain (text tables, narrow charts). */
export function coarsen(series: RunSeries, maxBuckets: number): RunSeries {
  const k = Math.ceil(series.buckets.length / Math.max(1, maxBuckets));
  if (k <= 1) return series;
  const buckets: SeriesBucket[] = [];
  for (let i = 0; i < series.buckets.length; i += k) {
    const group = series.buckets.slice(i, i + k);
    const seconds = group.reduce((s, g) => s + g.seconds, 0);
    const b: SeriesBucket = {
      start: group[0].start,
      offsetSeconds: group[0].offsetSeconds,
      seconds: round(seconds, 3),
      loaded: 0,
      failed: 0,
      retriedRows: 0,
      lockErrors: 0,
      perMinute: 0,
      jobsInFlight: 0,
      peakJobsInFlight: 0,
      concurrencyLimit: group[group.length - 1].concurrencyLimit,
    };
    let weighted = 0;
    for (const g of group) {
      b.loaded += g.loaded;
      b.failed += g.failed;
      b.retriedRows += g.retriedRows;
      b.lockErrors += g.lockErrors;
      weighted += g.jobsInFlight * g.seconds;
      b.peakJobsInFlight = Math.max(b.peakJobsInFlight, g.peakJobsInFlight);
    }
    b.perMinute = seconds > 0 ? round((b.loaded / seconds) * 60, 1) : 0;
    b.jobsInFlight = seconds > 0 ? round(weighted / seconds, 2) : 0;
    buckets.push(b);
  }
  return { ...series, bucketSeconds: series.bucketSeconds * k, buckets };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
