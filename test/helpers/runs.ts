/*
 * Build run directories for status/report/cancel tests through the RunDir writer API (the
 * same calls the engine makes), with controllable clocks: a manifest and plan, checkpoints,
 * job-log records for whole jobs, failure records, heartbeats.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../../src/state/files.js';
import { RunDir } from '../../src/state/run-dir.js';
import type { FailureRecord, JobKind, LoadDefinition, PacingSettings, RunManifest, RunState } from '../../src/state/types.js';

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
};

export type JobSpec = {
  partition: number;
  rows: number;
  /** Seconds after the run start the job's result is recorded. */
  at: number;
  /** Seconds after the run start the job was planned and created in the org (default at − 2). */
  startedAt?: number;
  /** Rows saved; default all rows minus failures minus requeued. */
  succeeded?: number;
  /** Failed for good, by code: code → keys. */
  failures?: Record<string, Array<string | number>>;
  transientCodes?: string[];
  requeued?: number;
  /** Extra error counts in the result's errorCodes (e.g. lock errors of rows requeued). */
  errorCodes?: Record<string, number>;
  recovered?: number;
  /** Rows are retries of an earlier job (attempt > 1). */
  retry?: boolean;
  kind?: JobKind;
  state?: 'JobComplete' | 'Failed' | 'Aborted' | 'LocalReject';
  apiCalls?: number;
  /** Stop after this step: planned, created, closed (no result yet). */
  stopAfter?: 'planned' | 'created' | 'closed';
};

export class RunFixture {
  public readonly run: RunDir;
  private seq = 1;
  private readonly spec: RunSpec;
  private readonly read: number[];

  public constructor(root: string, spec: RunSpec) {
    this.spec = spec;
    this.read = spec.partitionRows.map(() => 0);
    this.run = RunDir.create(root, spec.runId);
    const total = spec.partitionRows.reduce((a, b) => a + b, 0);
    const pacing = { ...TEST_PACING, partitions: spec.partitionRows.length, ...spec.pacing };
    const definition: LoadDefinition = {
      version: 1,
      ...(spec.name ? { name: spec.name } : {}),
      source: { object: 'ExtOpportunities__dlm', keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
      target: { object: 'Opportunity', externalIdField: 'External_ID__c', operation: 'upsert', mapping: { ExternalId__c: 'External_ID__c' } },
      pacing,
    };
    const manifest: RunManifest = {
      schemaVersion: 1,
      runId: spec.runId,
      kind: 'load',
      createdAt: this.iso(-1),
      updatedAt: this.iso(-1),
      state: 'planned',
      org: { username: 'test@example.com', orgId: '00D000000000001AAA', instanceUrl: 'https://example.my.salesforce.com', apiVersion: '64.0' },
      definition,
      plan: {
        createdAt: this.iso(-1),
        totalRows: total,
        rowsPerJob: pacing.rowsPerJob === 'auto' ? 10_000 : pacing.rowsPerJob,
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
        estimates: { jobs: Math.ceil(total / (pacing.rowsPerJob === 'auto' ? 10_000 : pacing.rowsPerJob)), internalBatches: 1, apiCalls: 10, limits: {} },
        queryApi: 'query-sql',
      },
      sessions: [],
    };
    this.run.writeManifest(manifest);
  }

  public iso(seconds: number): string {
    return new Date(this.spec.start + seconds * 1000).toISOString();
  }

  public session(command: 'start' | 'resume' | 'retry-failures', startS: number, endS?: number, outcome?: RunState): this {
    this.run.updateManifest((m) => ({
      ...m,
      state: endS === undefined ? 'running' : outcome ?? 'completed',
      sessions: [...m.sessions, { command, startedAt: this.iso(startS), ...(endS !== undefined ? { endedAt: this.iso(endS), outcome: outcome ?? 'completed' } : {}) }],
      ...(endS !== undefined && (outcome ?? 'completed') === 'completed' ? { endedAt: this.iso(endS) } : {}),
    }));
    return this;
  }

  public state(state: RunState, error?: { name: string; message: string }): this {
    this.run.updateManifest((m) => ({ ...m, state, ...(error ? { error } : {}) }));
    return this;
  }

  /** Append one job's records, as the engine would; returns its seq. */
  public job(j: JobSpec): number {
    const seq = this.seq++;
    const kind = j.kind ?? 'load';
    const fresh = kind === 'load' && !j.retry ? j.rows : 0;
    const started = j.startedAt ?? j.at - 2;
    this.run.appendJobLog({
      t: 'planned', at: this.iso(started), seq, kind, partition: j.partition, rows: j.rows, freshRows: fresh,
      ...(fresh ? { lastKey: [`acct-${j.partition}`, `k-${seq}`] } : {}), retryRows: j.rows - fresh,
    });
    if (fresh) {
      this.read[j.partition] += fresh;
      this.run.writeCheckpoint({
        schemaVersion: 1, index: j.partition, state: 'running', after: [`acct-${j.partition}`, `k-${seq}`], readRows: this.read[j.partition],
        exhausted: false, startedAt: this.iso(0), updatedAt: this.iso(started),
      });
    }
    if (j.stopAfter === 'planned') return seq;
    const jobId = `750${String(seq).padStart(15, '0')}`;
    this.run.appendJobLog({ t: 'created', at: this.iso(started + 0.2), seq, jobId });
    this.run.appendJobLog({ t: 'uploaded', at: this.iso(started + 0.4), seq, jobId, bytes: j.rows * 100 });
    if (j.stopAfter === 'created') return seq;
    this.run.appendJobLog({ t: 'closed', at: this.iso(started + 0.5), seq, jobId });
    if (j.stopAfter === 'closed') return seq;
    const failures = j.failures ?? {};
    const failedFinal = Object.values(failures).reduce((n, k) => n + k.length, 0);
    const requeued = j.requeued ?? 0;
    const succeeded = j.succeeded ?? j.rows - failedFinal - requeued;
    const errorCodes: Record<string, number> = {};
    for (const [code, keys] of Object.entries(failures)) errorCodes[code] = keys.length;
    for (const [code, n] of Object.entries(j.errorCodes ?? {})) errorCodes[code] = (errorCodes[code] ?? 0) + n;
    const recs: FailureRecord[] = [];
    for (const [code, keys] of Object.entries(failures)) {
      for (const key of keys) {
        recs.push({
          status: 'failed', at: this.iso(j.at), key, partition: j.partition, seq, jobId, code, message: `${code} message`, fields: [],
          attempts: 1, transient: (j.transientCodes ?? []).includes(code), row: { External_ID__c: String(key) },
        });
      }
    }
    if (recs.length) this.run.appendFailures(recs);
    this.run.appendJobLog({
      t: 'result', at: this.iso(j.at), seq, jobId, kind, partition: j.partition, state: j.state ?? 'JobComplete', rows: j.rows,
      succeeded, created: Math.ceil(succeeded / 2), updated: succeeded - Math.ceil(succeeded / 2), failedFinal: kind === 'failures-retry' ? 0 : failedFinal,
      requeued, transientErrors: requeued, recovered: j.recovered ?? 0, apiCalls: j.apiCalls ?? 6, seconds: 2, errorCodes,
    });
    return seq;
  }

  /** Mark keys loaded by retry-failures (supersedes their failure). */
  public loadedAgain(keys: Array<string | number>, seq: number): void {
    this.run.appendFailures(keys.map((key) => ({ status: 'loaded' as const, at: this.iso(1), key, seq, jobId: 'x' })));
  }

  public finishPartitions(): this {
    this.spec.partitionRows.forEach((_, index) => {
      this.run.writeCheckpoint({
        schemaVersion: 1, index, state: 'done', after: null, readRows: this.read[index], exhausted: true, startedAt: this.iso(0), endedAt: this.iso(1), updatedAt: this.iso(1),
      });
    });
    return this;
  }

  /** A heartbeat naming pid (e.g. a pid that has exited, or a live runner's), written atomically like the engine's. */
  public heartbeat(pid: number, atS = 0, command = 'start'): this {
    writeJsonAtomic(this.run.heartbeatFile, { pid, host: hostname(), at: this.iso(atS), command });
    return this;
  }

  /** A torn last line, as a crash mid-append leaves. */
  public tearJobLog(): void {
    appendFileSync(this.run.jobLogFile, '{"t":"result","at":"2026-01-0');
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

export type Cli = { code: number | null; stdout: string; stderr: string; json?: any };

/** `node bin/run.js <args>` in a child process with an isolated HOME; parses stdout with --json. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Cli> {
  const home = mkdtempSync(join(tmpdir(), 'dcl-home-'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
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
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${args.join(' ')}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolvePromise({ code, stdout, stderr, json });
    });
  });
}
