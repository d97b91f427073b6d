/*
 * The engine's scheduling policy, run directly on the lock model (no HTTP, no processes):
 * a fast, deterministic stand-in used to design and test the concurrency controller and
 * the job-size rule against many org shapes. It is NOT the benchmark (the benchmark runs
 * the plugin itself); it is the policy a scheduler implements, and with the switches that
 * mimic today's engine (round-robin order, a full page's last row in a page of its own,
 * launches only when a job ends) it reproduces the real bench within a few percent:
 *
 *   rows sorted by (parent, key), cut into parent-disjoint partitions of `partitionRows`
 *   ('partitions'), or one parent-sorted cursor with large parents as chains of their own
 *   ('cursor': what a scheduler with a parent-lock table can do);
 *   at most one job in flight per partition, so no two jobs in flight share a parent;
 *   launch while in flight < controller.limit: largest partition first, or round robin;
 *   a job = the partition's due retries, else its next `jobRows(...)` fresh rows;
 *   create + upload + close at one instant (client CPU costs no simulated time, as on the
 *   lockstep clock), poll at pollSeconds[0] growing ×1.5 to pollSeconds[1];
 *   lock-failed and unprocessed rows are sent again after retryDelaysSeconds, up to maxAttempts.
 */
import type { LockModelConfig } from '../../test/emulator/config.js';
import { defaultConfig } from '../../test/emulator/config.js';
import { LockSimulator, ROW_LOCK_FAILED, ROW_OK, ROW_UNPROCESSED, type SimJob } from '../../test/emulator/bulk/lock-model.js';
import type { ConcurrencyController, ObservedState } from '../../src/engine/concurrency.js';

export type ModelRow = { key: string; parent: string };

export type JobSizeContext = {
  /** Rows of the partition not yet handed to a job. */
  partitionLeft: number;
  /** Rows of the whole load not yet handed to a job. */
  loadLeft: number;
  totalRows: number;
  /** The partition holds one parent only. */
  singleParent: boolean;
  capacity?: number;
};

export type EngineModelOptions = {
  rows: ModelRow[];
  lock: Partial<LockModelConfig>;
  seed: number;
  controller: ConcurrencyController;
  /**
   * 'partitions': parent-disjoint partitions of partitionRows, one job in flight each (the
   * current engine). 'cursor': one parent-sorted cursor; a job never splits a parent, a
   * parent above maxJobRows is a chain of jobs run one at a time and started first (a
   * scheduler with a parent-lock table).
   */
  scheduler?: 'partitions' | 'cursor';
  partitionRows: number;
  maxJobRows?: number;
  /** 'cursor': parents with more rows than this get jobs of their own, started first (largest first). */
  soloRows?: number;
  /** Which ready partition launches next: most rows left (lpt, default) or round robin in plan order (rr, today's scheduler). */
  order?: 'lpt' | 'rr';
  /** Mimic today's reader: a full page gives up its last row to a next page of its own. */
  fullPageDropsLastRow?: boolean;
  /** Mimic today's loop: launch only when a job ends (or a backoff is due), not when a poll raised the limit. */
  launchOnlyOnFinish?: boolean;
  jobRows: (c: JobSizeContext) => number;
  pollSeconds?: [number, number];
  retryDelaysSeconds?: number[];
  maxAttempts?: number;
};

export type EngineModelResult = {
  /** First submission to the last result read, virtual seconds. */
  endToEndSeconds: number;
  /** First submission to the last job's completion (the org's schedule). */
  serverSeconds: number;
  jobs: number;
  firstPass: number;
  final: number;
  lockErrors: number;
  maxInFlight: number;
  /** Most of our jobs waiting in the org's queue at once (seen by polls). */
  maxQueued: number;
  limits: number[];
  /** Busy worker time ÷ (W × server span): how full the org was kept. */
  utilization: number;
  /** When the last first-attempt job was launched, virtual seconds. */
  lastFreshLaunchSeconds: number;
};

type Part = { rows: ModelRow[]; next: number; retry: Array<{ row: ModelRow; attempt: number }>; retryAt: number; busy: boolean; singleParent: boolean; cursor?: boolean; retryBusy?: boolean };
type Flight = { seq: number; part: Part; rows: Array<{ row: ModelRow; attempt: number }>; sim: SimJob; submittedAt: number; poll: number; queued: boolean };

export function runEngineModel(o: EngineModelOptions): EngineModelResult {
  const lock: LockModelConfig = { ...defaultConfig().bulk.lock, ...o.lock };
  const sim = new LockSimulator(() => lock, o.seed);
  const [p0, p1] = o.pollSeconds ?? [1, 10];
  const delays = o.retryDelaysSeconds ?? [5, 15, 45, 120];
  const maxAttempts = o.maxAttempts ?? 5;
  const sorted = [...o.rows].sort((a, b) => (a.parent < b.parent ? -1 : a.parent > b.parent ? 1 : a.key < b.key ? -1 : 1));
  const maxJob = o.maxJobRows ?? 10_000;
  const parts = o.scheduler === 'cursor' ? cursorParts(sorted, maxJob, o.soloRows ?? maxJob) : cut(sorted, o.partitionRows);
  const t0 = 0;
  let now = t0;
  const clientEvents: Array<{ at: number; seq: number; fn: () => unknown }> = [];
  let evSeq = 0;
  const at = (t: number, fn: () => unknown): void => {
    clientEvents.push({ at: t, seq: evSeq++, fn });
  };
  const flights = new Set<Flight>();
  const firstOk = new Set<string>();
  const failedOnce = new Set<string>();
  const loaded = new Set<string>();
  let seq = 0;
  let lastResult = t0;
  let lockErrors = 0;
  let maxInFlight = 0;
  let maxQueued = 0;
  let loadLeft = sorted.length;
  const limits: number[] = [];
  let lastFresh = 0;
  let rr = 0;

  const canLaunch = (p: Part): 'retry' | 'fresh' | undefined => {
    if (p.busy && !p.cursor) return undefined;
    if (p.retry.length > 0 && p.retryAt <= now && !p.retryBusy) return 'retry';
    if (p.next < p.rows.length) return 'fresh';
    return undefined;
  };
  const launch = (): void => {
    while (flights.size < o.controller.limit) {
      const ready = parts.filter((p) => canLaunch(p) !== undefined);
      if (ready.length === 0) break;
      let p: Part;
      if (o.order === 'rr') {
        p = ready.find((x) => parts.indexOf(x) >= rr) ?? ready[0];
        rr = (parts.indexOf(p) + 1) % parts.length;
      } else {
        // Chains (one parent) first, then the partition with most rows left.
        ready.sort((a, b) => Number(b.singleParent) - Number(a.singleParent) || b.rows.length - b.next + b.retry.length - (a.rows.length - a.next + a.retry.length));
        p = ready[0];
      }
      let rows: Array<{ row: ModelRow; attempt: number }>;
      if (canLaunch(p) === 'retry') {
        rows = p.retry.splice(0, p.retry.length);
      } else {
        const left = p.rows.length - p.next;
        const want = o.jobRows({ partitionLeft: left, loadLeft, totalRows: sorted.length, singleParent: p.singleParent, capacity: o.controller.capacity });
        let n = Math.max(1, Math.min(left, maxJob, want));
        if (o.fullPageDropsLastRow && n === want && n > 1) n--;
        if (p.cursor) while (p.next + n < p.rows.length && p.rows[p.next + n].parent === p.rows[p.next + n - 1].parent) n++;
        rows = p.rows.slice(p.next, p.next + n).map((row) => ({ row, attempt: 1 }));
        p.next += n;
        loadLeft -= n;
        lastFresh = now;
      }
      p.busy = true;
      if (p.cursor && rows[0].attempt > 1) p.retryBusy = true;
      const s = ++seq;
      const parentStart = new Int32Array(rows.length + 1);
      const ids: number[] = [];
      rows.forEach((r, i) => {
        parentStart[i] = ids.length;
        ids.push(sim.intern(r.row.parent));
      });
      parentStart[rows.length] = ids.length;
      const job = sim.submit({ seq: s, rowCount: rows.length, parentStart, parentIds: Int32Array.from(ids), errors: [] }, now);
      const f: Flight = { seq: s, part: p, rows, sim: job, submittedAt: now, poll: p0, queued: false };
      flights.add(f);
      o.controller.onSubmitted(s, now);
      maxInFlight = Math.max(maxInFlight, flights.size);
      at(now + p0 * 1000, () => poll(f));
    }
    if (limits[limits.length - 1] !== o.controller.limit) limits.push(o.controller.limit);
    const waiting = parts.filter((p) => !p.busy && p.retry.length > 0 && p.retryAt > now);
    if (flights.size < o.controller.limit && waiting.length > 0) at(Math.min(...waiting.map((p) => p.retryAt)), () => undefined);
  };

  const poll = (f: Flight): boolean => {
    const state: ObservedState = f.sim.state === 'Queued' ? 'UploadComplete' : f.sim.state;
    f.queued = state === 'UploadComplete';
    let queued = 0;
    for (const g of flights) if (g.sim.state === 'Queued') queued++;
    maxQueued = Math.max(maxQueued, queued);
    const processingMs = f.sim.firstPickupAt !== undefined ? (f.sim.completedAt ?? now) - f.sim.firstPickupAt : undefined;
    o.controller.onObserved(f.seq, state, now, { processingMs });
    if (!f.sim.terminal) {
      f.poll = Math.min(p1, f.poll * 1.5);
      at(now + f.poll * 1000, () => poll(f));
      return false;
    }
    flights.delete(f);
    f.part.busy = false;
    if (f.rows[0].attempt > 1) f.part.retryBusy = false;
    lastResult = now;
    let lockRows = 0;
    const again: Array<{ row: ModelRow; attempt: number }> = [];
    f.rows.forEach((r, i) => {
      const out = f.sim.outcome[i];
      if (out === ROW_OK) {
        loaded.add(r.row.key);
        if (r.attempt === 1) firstOk.add(r.row.key);
        return;
      }
      if (out === ROW_LOCK_FAILED) lockRows++;
      failedOnce.add(r.row.key);
      if ((out === ROW_LOCK_FAILED || out === ROW_UNPROCESSED) && r.attempt < maxAttempts) again.push({ row: r.row, attempt: r.attempt + 1 });
    });
    lockErrors += lockRows;
    if (again.length) {
      f.part.retry.push(...again);
      const d = delays[Math.min(again[0].attempt - 2, delays.length - 1)] ?? 0;
      f.part.retryAt = now + d * 1000;
    }
    o.controller.onFinished(f.seq, { at: now, rows: f.rows.length, lockErrors: lockRows, transientErrors: lockRows, state: f.sim.state as 'JobComplete', processingMs });
    return true;
  };

  launch();
  for (let guard = 0; guard < 50_000_000; guard++) {
    if (clientEvents.length === 0) break;
    let k = 0;
    for (let i = 1; i < clientEvents.length; i++) if (clientEvents[i].at < clientEvents[k].at || (clientEvents[i].at === clientEvents[k].at && clientEvents[i].seq < clientEvents[k].seq)) k = i;
    const e = clientEvents.splice(k, 1)[0];
    now = Math.max(now, e.at);
    sim.advanceTo(now);
    const ended = e.fn();
    if (!o.launchOnlyOnFinish || ended !== false) launch();
  }
  const sum = sim.summary();
  return {
    endToEndSeconds: (lastResult - t0) / 1000,
    serverSeconds: sum.simulatedSpanSeconds,
    jobs: seq,
    firstPass: firstOk.size / sorted.length,
    final: loaded.size / sorted.length,
    lockErrors,
    maxInFlight,
    maxQueued,
    limits,
    utilization: sum.busyWorkerSeconds / Math.max(1e-9, lock.workers * sum.simulatedSpanSeconds),
    lastFreshLaunchSeconds: lastFresh / 1000,
  };
}

/** One cursor over parents up to maxJob rows, and a chain per larger parent. */
function cursorParts(sorted: ModelRow[], _maxJob: number, soloRows: number): Part[] {
  const chains: Part[] = [];
  const rest: ModelRow[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j].parent === sorted[i].parent) j++;
    if (j - i > soloRows) chains.push({ rows: sorted.slice(i, j), next: 0, retry: [], retryAt: 0, busy: false, singleParent: true });
    else for (let k = i; k < j; k++) rest.push(sorted[k]);
    i = j;
  }
  return [...chains, { rows: rest, next: 0, retry: [], retryAt: 0, busy: false, singleParent: false, cursor: true }];
}

/** Parent-disjoint partitions of about `maxRows`; a parent larger than that is a partition alone. */
function cut(sorted: ModelRow[], maxRows: number): Part[] {
  const out: Part[] = [];
  let cur: ModelRow[] = [];
  let parents = 0;
  const close = (): void => {
    if (cur.length) out.push({ rows: cur, next: 0, retry: [], retryAt: 0, busy: false, singleParent: parents === 1 });
    cur = [];
    parents = 0;
  };
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j].parent === sorted[i].parent) j++;
    if (cur.length > 0 && cur.length + (j - i) > maxRows) close();
    for (let k = i; k < j; k++) cur.push(sorted[k]);
    parents++;
    if (j - i > maxRows) close();
    i = j;
  }
  close();
  return out;
}
