/*
 * Build run directories (schema version 2) for status/report/cancel tests through the same
 * RunDir calls the engine makes, in the engine's order (src/engine/runner.ts, job.ts,
 * recorder.ts): a job's `planned` line (its CSV on disk first), `intent`, `created`,
 * `uploaded`, `closed`, then its failures (fid, batch) and one append of [the retry job's
 * `planned`, its `result`]; rows rejected at read time as a `reject` job (planned + result
 * LocalReject, failures batch `r<seq>`); failures-retry jobs whose results supersede or
 * recover earlier failures; lock.json for a live, stale, dead or reused-pid runner.
 *
 * Times are seconds after the spec's `start` (ms since epoch), so tests choose their clock.
 * Also here: `cli` (node bin/run.js with an isolated HOME), `deadPid`, and `standInRunner`,
 * a separate process that holds a run's lock until told to stop (see stand-in-runner.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeJsonAtomic, readNdjson } from '../../src/state/files.js';
import { RunDir } from '../../src/state/run-dir.js';
import { isRetryableCode } from '../../src/sink/error-codes.js';
import type {
  FailureRecord,
  JobLogRecord,
  KeyValue,
  LoadDefinition,
  LoadPlan,
  PacingSettings,
  ResultState,
  RunLock,
  RunManifest,
  RunState,
  SessionCommand,
} from '../../src/state/types.js';

type Result = Extract<JobLogRecord, { t: 'result' }>;
type Planned = Extract<JobLogRecord, { t: 'planned' }>;

export const TEST_PACING: PacingSettings = {
  profile: 'default',
  strategy: 'adaptive',
  partitionBy: 'parent',
  rowsPerJob: 1000,
  partitions: 2,
  staggerSeconds: 0,
  delaySeconds: [0, 0],
  retryDelaysSeconds: [5, 15, 45],
  maxAttempts: 4,
  maxConcurrency: 8,
  jobsInFlightPerPartition: 1,
  pollSeconds: [1, 10],
  circuitBreakerJobs: 3,
};

export type RunSpec = {
  runId: string;
  name?: string;
  /** Rows per partition at plan time. */
  partitionRows: number[];
  pacing?: Partial<PacingSettings>;
  /** Run start, ms since epoch. */
  start: number;
  /** The run's org (default test@example.com, no alias). */
  org?: Partial<RunManifest['org']>;
  /** The plan's duplicate source keys (also written to duplicates.json). */
  duplicates?: { keys: number; extraRows: number; examples: KeyValue[] };
};

export type JobSpec = {
  partition: number;
  /** Rows in the job's CSV. */
  rows: number;
  /** Seconds after the run start the job's result is recorded (it is created 2 s before, or at startedAt). */
  at: number;
  /** Seconds after the run start the job is created in the org (its intent; planned 1 s before); default at − 2. */
  startedAt?: number;
  /** Rows saved; default: rows minus failures minus requeued. */
  succeeded?: number;
  /** Failed for good, by code: code → keys (each gets a failures.ndjson line in the result's batch). */
  failures?: Record<string, KeyValue[]>;
  /** Codes of `failures` that are transient (ran out of attempts). */
  transientCodes?: string[];
  /** Rows sent again: the result plans one retry job with them. */
  requeued?: number;
  /** What becomes of the requeued rows: a retry job recorded 10 s later, all loaded (default), or left planned (pending; finish it with job({ retryOf })). */
  retryOutcome?: 'loaded' | 'pending';
  /** Rows that came back UNABLE_TO_LOCK_ROW (default: the requeued rows). */
  lockErrors?: number;
  /** Record the life of the retry job the result of this seq planned, instead of planning a new load job. */
  retryOf?: number;
  state?: ResultState;
  apiCalls?: number;
  /** Stop after this step (no result yet): the job is pending. */
  stopAfter?: 'planned' | 'intent' | 'created' | 'uploaded' | 'closed';
  /** This job's page is the partition's last (`exhausted` rides on its planned line). */
  last?: boolean;
};

export type LockSpec = {
  pid: number;
  /** Heartbeat, seconds after the run start (default 0), or `heartbeatAt` in ms since epoch. */
  atS?: number;
  heartbeatAt?: number;
  command?: RunLock['command'];
  host?: string;
  concurrency?: { limit: number; inFlight: number };
};

const HEADER = 'External_ID__c,Account.External_ID__c';

export class RunFixture {
  public readonly run: RunDir;
  private readonly spec: RunSpec;
  private seq = 1;
  /** Keys handed out per partition (the cursor). */
  private readonly cursor: number[];
  /** Retry jobs planned by a result and not recorded yet: seq → planned line. */
  private readonly plannedRetries = new Map<number, Planned>();
  /** The failure of each key as it stands now (for failures-retry jobs). */
  private readonly failedNow = new Map<string, { fid: string; code: string; partition: number; key: KeyValue }>();

  public constructor(root: string, spec: RunSpec) {
    this.spec = spec;
    this.cursor = spec.partitionRows.map(() => 0);
    this.run = RunDir.create(root, spec.runId);
    const total = spec.partitionRows.reduce((a, b) => a + b, 0);
    const pacing: PacingSettings = { ...TEST_PACING, partitions: spec.partitionRows.length, ...spec.pacing };
    const rowsPerJob = pacing.rowsPerJob === 'auto' ? 10_000 : pacing.rowsPerJob;
    const definition: LoadDefinition = {
      version: 1,
      ...(spec.name ? { name: spec.name } : {}),
      source: { object: 'ExtOpportunities__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
      target: {
        object: 'Opportunity',
        externalIdField: 'External_ID__c',
        operation: 'upsert',
        mapping: { ExternalId__c: 'External_ID__c', AccountExternalId__c: 'Account.External_ID__c' },
      },
      pacing,
    };
    const duplicates = spec.duplicates ?? { keys: 0, extraRows: 0, examples: [] };
    const plan: LoadPlan = {
      createdAt: this.iso(-1),
      totalRows: total,
      rowsPerJob,
      keyColumns: ['AccountExternalId__c', 'ExternalId__c'],
      partitionColumn: 'AccountExternalId__c',
      partitions: spec.partitionRows.map((rows, index) => ({
        index,
        lowerExclusive: index === 0 ? null : `acct-${index}`,
        upperInclusive: index === spec.partitionRows.length - 1 ? null : `acct-${index + 1}`,
        rows,
        startOffsetSeconds: index * pacing.staggerSeconds,
      })),
      skewedParents: [],
      warnings: [],
      estimates: { jobs: Math.ceil(total / rowsPerJob), internalBatches: Math.ceil(total / rowsPerJob), apiCalls: 10, limits: {} },
      queryApi: 'query-sql',
      columnTypes: { ExternalId__c: 'Varchar', AccountExternalId__c: 'Varchar' },
      keyCaseSensitive: false,
      parentCaseSensitive: false,
      nullKeys: 0,
      nullParents: 0,
      duplicates,
    };
    const manifest: RunManifest = {
      schemaVersion: 2,
      runId: spec.runId,
      kind: 'load',
      createdAt: this.iso(-1),
      updatedAt: this.iso(-1),
      state: 'planned',
      org: { username: 'test@example.com', orgId: '00D000000000001AAA', instanceUrl: 'https://example.my.salesforce.com', apiVersion: '64.0', ...spec.org },
      definition,
      plan,
      sessions: [],
    };
    this.run.writeManifest(manifest);
    if (duplicates.keys > 0) this.run.writeDuplicates(duplicates.examples.map((k) => String(k).toLowerCase()));
  }

  public iso(seconds: number): string {
    return new Date(this.spec.start + seconds * 1000).toISOString();
  }

  /** A session: running while endS is undefined, else ended with outcome (default completed). */
  public session(command: SessionCommand, startS: number, endS?: number, outcome?: RunState): this {
    const ended = endS !== undefined;
    const out = outcome ?? 'completed';
    this.run.updateManifest((m) => ({
      ...m,
      state: ended ? out : 'running',
      sessions: [...m.sessions, { command, startedAt: this.iso(startS), host: hostname(), pid: process.pid, ...(ended ? { endedAt: this.iso(endS), outcome: out } : {}) }],
      ...(ended && (out === 'completed' || out === 'incomplete') ? { endedAt: this.iso(endS) } : {}),
    }));
    return this;
  }

  /** End the last session as the engine does: state, outcome, endedAt (completed/incomplete), recount, error. */
  public end(endS: number, state: RunState, opts: { recount?: number; error?: { name: string; message: string } } = {}): this {
    this.run.updateManifest((m) => {
      const sessions = [...m.sessions];
      if (sessions.length) sessions[sessions.length - 1] = { ...sessions[sessions.length - 1], endedAt: this.iso(endS), outcome: state };
      return {
        ...m,
        state,
        sessions,
        ...(opts.recount !== undefined ? { recount: { at: this.iso(endS), rows: opts.recount } } : {}),
        ...(state === 'completed' || state === 'incomplete' ? { endedAt: this.iso(endS) } : {}),
        ...(opts.error ? { error: opts.error } : {}),
      };
    });
    return this;
  }

  public state(state: RunState, error?: { name: string; message: string }): this {
    this.run.updateManifest((m) => ({ ...m, state, ...(error ? { error } : {}) }));
    return this;
  }

  private static jobId(seq: number, n = 0): string {
    return `750${String(n).padStart(3, '0')}${String(seq).padStart(12, '0')}`;
  }

  private static batch(seq: number): string {
    return seq.toString(16).padStart(12, '0');
  }

  /** The next `n` keys of a partition and the cursor after them. */
  private take(partition: number, n: number): { keys: string[]; lastKey: KeyValue[] } {
    const from = this.cursor[partition];
    this.cursor[partition] += n;
    const keys = Array.from({ length: n }, (_, i) => `k-${partition}-${String(from + i).padStart(7, '0')}`);
    return { keys, lastKey: [`acct-${partition}`, keys.at(-1) ?? `k-${partition}-${String(from).padStart(7, '0')}`] };
  }

  /** One job: planned (or the retry job `retryOf` planned), then its life up to `stopAfter` or its result. Returns its seq. */
  public job(j: JobSpec): number {
    let planned: Planned;
    let keys: string[];
    if (j.retryOf !== undefined) {
      const p = [...this.plannedRetries.values()].find((x) => x.retryOf === j.retryOf);
      if (!p) throw new Error(`no retry job planned by job ${j.retryOf}`);
      this.plannedRetries.delete(p.seq);
      planned = p;
      keys = Array.from({ length: p.rows }, (_, i) => `r-${p.seq}-${i}`);
    } else {
      const seq = this.seq++;
      const t = this.take(j.partition, j.rows);
      keys = t.keys;
      planned = {
        t: 'planned', at: this.iso((j.startedAt ?? j.at - 2) - 1), seq, kind: 'load', partition: j.partition, rows: j.rows, freshRows: j.rows,
        lastKey: t.lastKey, attempt: 1, bytes: j.rows * 40, ...(j.last ? { exhausted: true } : {}),
      };
      this.run.writeJobCsv(seq, `${HEADER}\n${keys.map((k) => `${k},acct-${j.partition}`).join('\n')}\n`);
      this.run.appendJobLog(planned);
    }
    if (j.stopAfter === 'planned') return planned.seq;
    this.life(planned, j.at, j, keys);
    return planned.seq;
  }

  /** intent → created → uploaded → closed → failures → [retry planned, result] → CSV deleted → deleted. */
  private life(p: Planned, at: number, j: Partial<JobSpec>, keys: string[]): Result | undefined {
    const seq = p.seq;
    const jobId = RunFixture.jobId(seq);
    const start = j.startedAt ?? at - 2;
    this.run.appendJobLog({ t: 'intent', at: this.iso(start), seq });
    if (j.stopAfter === 'intent') return undefined;
    this.run.appendJobLog({ t: 'created', at: this.iso(start + 0.2), seq, jobId });
    if (j.stopAfter === 'created') return undefined;
    this.run.appendJobLogLazy({ t: 'uploaded', at: this.iso(start + 0.4), seq, jobId, bytes: p.bytes ?? p.rows * 40 });
    if (j.stopAfter === 'uploaded') return undefined;
    this.run.appendJobLogLazy({ t: 'closed', at: this.iso(start + 0.5), seq, jobId });
    if (j.stopAfter === 'closed') return undefined;

    const batch = RunFixture.batch(seq);
    const failures = j.failures ?? {};
    const failed = Object.values(failures).reduce((n, k) => n + k.length, 0);
    const requeued = j.requeued ?? 0;
    const succeeded = j.succeeded ?? p.rows - failed - requeued;
    const created = Math.ceil(succeeded / 2);
    const errorCodes: Record<string, number> = {};
    const samples: NonNullable<Result['samples']> = [];
    const recs: FailureRecord[] = [];
    let n = 0;
    for (const [code, ks] of Object.entries(failures)) {
      errorCodes[code] = ks.length;
      const transient = (j.transientCodes ?? []).includes(code);
      for (const key of ks) {
        if (samples.filter((s) => s.code === code).length < 3) samples.push({ code, key, message: `${code} message` });
        const fid = `${seq}.${n++}`;
        recs.push({
          status: 'failed', fid, batch, at: this.iso(at), seq, partition: p.partition, key, parent: `acct-${p.partition}`, code, message: `${code} message`,
          fields: [], attempts: p.attempt, transient, retryable: isRetryableCode(code), jobId, row: { External_ID__c: String(key), 'Account.External_ID__c': `acct-${p.partition}` },
        });
        this.failedNow.set(String(key), { fid, code, partition: p.partition, key });
      }
    }
    if (recs.length) this.run.appendFailures(recs);
    const records: JobLogRecord[] = [];
    let retry: Planned | undefined;
    if (requeued > 0) {
      retry = {
        t: 'planned', at: this.iso(at), seq: this.seq++, kind: 'retry', partition: p.partition, rows: requeued, freshRows: 0,
        attempt: p.attempt + 1, retryOf: seq, notBefore: this.iso(at + 5), bytes: requeued * 40,
      };
      this.run.writeJobCsv(retry.seq, `${HEADER}\n${keys.slice(0, requeued).map((k) => `${k},acct-${p.partition}`).join('\n')}\n`);
      records.push(retry);
    }
    const result: Result = {
      t: 'result', at: this.iso(at), seq, jobId, kind: p.kind, partition: p.partition, state: j.state ?? 'JobComplete', rows: p.rows,
      succeeded, created, updated: succeeded - created, failed, requeued, ...(retry ? { retrySeq: retry.seq } : {}),
      lockErrors: j.lockErrors ?? requeued, transientErrors: requeued, recovered: 0, errorCodes, samples, batch,
      apiCalls: j.apiCalls ?? 6, seconds: 2,
    };
    records.push(result);
    this.run.appendJobLog(...records);
    this.run.deleteJobFiles(seq);
    this.run.appendJobLogLazy({ t: 'deleted', at: this.iso(at + 0.1), seq, jobId });
    if (retry) {
      if ((j.retryOutcome ?? 'loaded') === 'loaded') this.life(retry, at + 10, {}, keys.slice(0, requeued));
      else this.plannedRetries.set(retry.seq, retry);
    }
    return result;
  }

  /** Rows rejected at read time (e.g. DUPLICATE_SOURCE_KEY, MISSING_KEY): a reject job, planned + result LocalReject. Returns its seq. */
  public reject(r: { partition: number; at: number; rejects: Record<string, KeyValue[]>; last?: boolean }): number {
    const seq = this.seq++;
    const batch = `r${seq}`;
    const at = this.iso(r.at);
    const rows = Object.values(r.rejects).reduce((n, k) => n + k.length, 0);
    const t = this.take(r.partition, rows);
    const codes: Record<string, number> = {};
    const samples: NonNullable<Result['samples']> = [];
    const recs: FailureRecord[] = [];
    let n = 0;
    for (const [code, keys] of Object.entries(r.rejects)) {
      codes[code] = keys.length;
      for (const key of keys) {
        if (samples.filter((s) => s.code === code).length < 3) samples.push({ code, key, message: `${code} message` });
        const fid = `${seq}.${n++}`;
        recs.push({
          status: 'failed', fid, batch, at, seq, partition: r.partition, key, parent: `acct-${r.partition}`, code, message: `${code} message`,
          fields: [], attempts: 0, transient: false, retryable: isRetryableCode(code), row: { ExternalId__c: String(key), AccountExternalId__c: `acct-${r.partition}` },
        });
        this.failedNow.set(String(key), { fid, code, partition: r.partition, key });
      }
    }
    this.run.appendFailures(recs);
    this.run.appendJobLog(
      { t: 'planned', at, seq, kind: 'reject', partition: r.partition, rows, freshRows: rows, attempt: 1, lastKey: t.lastKey, ...(r.last ? { exhausted: true } : {}) },
      {
        t: 'result', at, seq, jobId: '', kind: 'reject', partition: r.partition, state: 'LocalReject', rows, succeeded: 0, created: 0, updated: 0,
        failed: rows, requeued: 0, lockErrors: 0, transientErrors: 0, recovered: 0, errorCodes: codes, samples, batch, apiCalls: 0, seconds: 0,
      }
    );
    return seq;
  }

  /**
   * A retry-failures job (per partition): the failed rows of `recover` load now (a `loaded`
   * line supersedes each failure), those of `failAgain` fail again with the given code (a
   * new failure line that supersedes the old). Returns the seqs.
   */
  public failuresRetry(r: { at: number; recover: KeyValue[]; failAgain?: Record<string, KeyValue[]> }): number[] {
    const rows: Array<{ key: KeyValue; origin: { fid: string; code: string; partition: number }; code?: string }> = [];
    for (const key of r.recover) rows.push({ key, origin: this.origin(key) });
    for (const [code, keys] of Object.entries(r.failAgain ?? {})) for (const key of keys) rows.push({ key, origin: this.origin(key), code });
    const byPart = new Map<number, typeof rows>();
    for (const x of rows) byPart.set(x.origin.partition, [...(byPart.get(x.origin.partition) ?? []), x]);
    const seqs: number[] = [];
    for (const [partition, group] of byPart) {
      const seq = this.seq++;
      const jobId = RunFixture.jobId(seq);
      const batch = RunFixture.batch(seq);
      const at = this.iso(r.at);
      this.run.writeJobCsv(seq, `${HEADER}\n${group.map((x) => `${String(x.key)},acct-${partition}`).join('\n')}\n`);
      this.run.writeJobFids(seq, group.map((x) => `${x.origin.fid}\t${x.origin.code}`));
      this.run.appendJobLog({ t: 'planned', at: this.iso(r.at - 3), seq, kind: 'failures-retry', partition, rows: group.length, freshRows: 0, attempt: 1, bytes: group.length * 40 });
      this.run.appendJobLog({ t: 'intent', at: this.iso(r.at - 2), seq });
      this.run.appendJobLog({ t: 'created', at: this.iso(r.at - 1.8), seq, jobId });
      this.run.appendJobLogLazy({ t: 'uploaded', at: this.iso(r.at - 1.6), seq, jobId, bytes: group.length * 40 }, { t: 'closed', at: this.iso(r.at - 1.5), seq, jobId });
      const recs: FailureRecord[] = [];
      const errorCodes: Record<string, number> = {};
      const supersededCodes: Record<string, number> = {};
      const samples: NonNullable<Result['samples']> = [];
      let n = 0;
      let succeeded = 0;
      for (const x of group) {
        supersededCodes[x.origin.code] = (supersededCodes[x.origin.code] ?? 0) + 1;
        if (x.code === undefined) {
          succeeded++;
          recs.push({ status: 'loaded', batch, at, seq, fid: x.origin.fid, key: x.key, jobId });
          this.failedNow.delete(String(x.key));
        } else {
          errorCodes[x.code] = (errorCodes[x.code] ?? 0) + 1;
          if (samples.filter((s) => s.code === x.code).length < 3) samples.push({ code: x.code, key: x.key, message: `${x.code} message` });
          const fid = `${seq}.${n++}`;
          recs.push({
            status: 'failed', fid, batch, at, seq, partition, key: x.key, parent: `acct-${partition}`, code: x.code, message: `${x.code} message`, fields: [],
            attempts: 1, transient: false, retryable: isRetryableCode(x.code), supersedes: x.origin.fid, jobId, row: { External_ID__c: String(x.key), 'Account.External_ID__c': `acct-${partition}` },
          });
          this.failedNow.set(String(x.key), { fid, code: x.code, partition, key: x.key });
        }
      }
      this.run.appendFailures(recs);
      const created = Math.ceil(succeeded / 2);
      this.run.appendJobLog({
        t: 'result', at, seq, jobId, kind: 'failures-retry', partition, state: 'JobComplete', rows: group.length, succeeded, created, updated: succeeded - created,
        failed: group.length - succeeded, requeued: 0, lockErrors: 0, transientErrors: 0, recovered: succeeded, errorCodes, supersededCodes, samples, batch, apiCalls: 6, seconds: 2,
      });
      this.run.deleteJobFiles(seq);
      seqs.push(seq);
    }
    return seqs;
  }

  private origin(key: KeyValue): { fid: string; code: string; partition: number } {
    const f = this.failedNow.get(String(key));
    if (!f) throw new Error(`key ${String(key)} has not failed`);
    return f;
  }

  /** Partitions read to the end: an `exhausted` line for each one that is not yet (as when the last page comes back empty). */
  public finishPartitions(): this {
    const fold = new Set<number>();
    for (const r of this.jobLog()) {
      if ((r.t === 'planned' && r.exhausted) || r.t === 'exhausted') fold.add(r.partition);
    }
    this.spec.partitionRows.forEach((_, partition) => {
      if (fold.has(partition)) return;
      const last = this.cursor[partition] - 1;
      this.run.appendJobLog({ t: 'exhausted', at: this.iso(1), partition, ...(last >= 0 ? { lastKey: [`acct-${partition}`, `k-${partition}-${String(last).padStart(7, '0')}`] } : {}) });
    });
    return this;
  }

  /** An org job of `seq` aborted (e.g. by resume before it creates the job again). */
  public aborted(seq: number, atS: number, reason = 'cancelled'): this {
    const jobId = [...this.jobLog()].reverse().find((r) => r.t === 'created' && r.seq === seq) as { jobId: string } | undefined;
    if (!jobId) throw new Error(`job ${seq} was never created`);
    this.run.appendJobLog({ t: 'aborted', at: this.iso(atS), seq, jobId: jobId.jobId, reason });
    return this;
  }

  /** lock.json as a runner wrote it: its pid, host and heartbeat (fresh, stale, of a dead pid, of a reused pid). */
  public lock(l: LockSpec): RunLock {
    const beat = l.heartbeatAt ?? this.spec.start + (l.atS ?? 0) * 1000;
    const lock: RunLock = {
      token: `fixture${l.pid}`,
      host: l.host ?? hostname(),
      pid: l.pid,
      command: l.command ?? 'start',
      startedAt: this.iso(0),
      heartbeatAt: new Date(beat).toISOString(),
      ...(l.concurrency ? { concurrency: l.concurrency } : {}),
    };
    writeJsonAtomic(this.run.lockFile, lock);
    return lock;
  }

  /** lock.json naming pid with its heartbeat at atS (compatible with the version-1 fixture's heartbeat()). */
  public heartbeat(pid: number, atS = 0, command: RunLock['command'] = 'start'): this {
    this.lock({ pid, atS, command });
    return this;
  }

  /** Every record of jobs.ndjson (torn tail skipped, as readers do). */
  public jobLog(): JobLogRecord[] {
    return readNdjson<JobLogRecord>(this.run.jobLogFile);
  }

  /** Every line of failures.ndjson. */
  public failureLog(): FailureRecord[] {
    return readNdjson<FailureRecord>(this.run.failuresFile);
  }

  /** A torn last line, as a crash mid-append leaves (no newline). */
  public tearJobLog(text = '{"t":"result","at":"2026-01-0'): this {
    appendFileSync(this.run.jobLogFile, text);
    return this;
  }

  /** Keep only the first `lines` lines of jobs.ndjson (a log cut short: a restored backup, a lost write). */
  public truncateJobLog(lines: number): this {
    const all = readFileSync(this.run.jobLogFile, 'utf8').split('\n').filter((l) => l !== '');
    writeFileSync(this.run.jobLogFile, all.slice(0, lines).map((l) => `${l}\n`).join(''));
    return this;
  }

  /** Close the append handles (the engine does at the end of a session). */
  public close(): this {
    this.run.closeLogs();
    return this;
  }
}

/** The pid of a process that has exited (for crashed runs). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((r) => child.once('exit', r));
  return pid;
}

export const ROOT = resolve(import.meta.dirname, '..', '..');

export type StandIn = {
  pid: number;
  child: ChildProcess;
  /** Tell it to release the lock and exit; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Resolves when it exits (after stop(), or by itself after honouring a cancel request). */
  exited: Promise<number | null>;
};

/**
 * A stand-in runner in its own process: takes the run's lock with RunLockHandle (as the
 * engine does), heartbeats every 200 ms, and holds it until stop() (or its stdin closes).
 * With onCancel 'cancel' it does what the engine does on cancel.json: aborts the open jobs
 * in the ledger, records the run cancelled, releases the lock and exits; with 'ignore' it
 * never stops by itself. Resolves once the lock is taken.
 */
export async function standInRunner(run: RunDir, opts: { onCancel?: 'cancel' | 'ignore'; concurrency?: { limit: number; inFlight: number } } = {}): Promise<StandIn> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/helpers/stand-in-runner.ts'), run.dir, run.runId, opts.onCancel ?? 'ignore', JSON.stringify(opts.concurrency ?? { limit: 4, inFlight: 2 })],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] }
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolveReady, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the stand-in runner did not take the lock within 60 s')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the stand-in runner exited (${code}) before taking the lock: ${out}`));
    });
  });
  return {
    pid: child.pid!,
    child,
    exited,
    stop: async () => {
      child.stdin!.end('stop\n');
      return exited;
    },
  };
}

export type Cli = { code: number | null; stdout: string; stderr: string; json?: any; ms: number };

/** `node bin/run.js <args>` in a child process with an isolated HOME; parses stdout with --json. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Cli> {
  return spawnCli(args, env, opts).done;
}

export type RunningCli = {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves when the output so far matches `re` (rejects if the command ends first). */
  waitFor(re: RegExp): Promise<void>;
  done: Promise<Cli>;
};

/** cli() that returns at once, to watch a command's output while it runs (status --wait, cancel). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; timeoutMs?: number } = {}): RunningCli {
  const home = mkdtempSync(join(tmpdir(), 'dcl-home-'));
  const t0 = Date.now();
  let stdout = '';
  let stderr = '';
  const watchers: Array<() => void> = [];
  let child!: ChildProcess;
  const done = new Promise<Cli>((resolvePromise, reject) => {
    child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {
        ...process.env,
        HOME: home,
        USERPROFILE: home,
        SF_DISABLE_TELEMETRY: 'true',
        SF_AUTOUPDATE_DISABLE: 'true',
        SF_DISABLE_AUTOUPDATE: 'true',
        SF_USE_GENERIC_UNIX_KEYCHAIN: 'true',
        FORCE_COLOR: '0',
        SF_DATACLOUD_LOAD_DIR: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seen = (): void => watchers.forEach((w) => w());
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      seen();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      seen();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${args.join(' ')}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      seen();
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolvePromise({ code, stdout, stderr, json, ms: Date.now() - t0 });
    });
  });
  let ended = false;
  void done.then(
    () => (ended = true),
    () => (ended = true)
  );
  return {
    child,
    output: () => stdout + stderr,
    done,
    waitFor: (re) =>
      new Promise<void>((resolveSeen, reject) => {
        const check = (): void => {
          if (re.test(stdout + stderr)) resolveSeen();
          else if (ended || child.exitCode !== null) reject(new Error(`the command ended without printing ${String(re)}:\n${stdout}\n${stderr}`));
        };
        watchers.push(check);
        check();
      }),
  };
}

/** Split a printed command line (as `next` prints it: words, '…' quoting) into argv. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]);
  return out;
}
