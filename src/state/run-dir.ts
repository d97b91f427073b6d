/*
 * A run directory on disk: where it lives, how each file is named, read and written.
 * Writers (start, resume, retry-failures) and readers (status, report, cancel) share it.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Global } from '@salesforce/core';
import { appendNdjson, ensureDir, readJson, readJsonIfExists, readNdjson, writeFileAtomic, writeJsonAtomic } from './files.js';
import {
  RUN_SCHEMA_VERSION,
  type CancelRequest,
  type EventRecord,
  type FailureRecord,
  type Heartbeat,
  type JobLogRecord,
  type JobRow,
  type PartitionCheckpoint,
  type RunManifest,
} from './types.js';

export const RUNS_DIR_ENV = 'SF_DATACLOUD_LOAD_DIR';

/** Where runs live: the flag, else $SF_DATACLOUD_LOAD_DIR, else ~/.sf/datacloud-load/runs. */
export function runsRoot(override?: string): string {
  if (override) return resolve(override);
  if (process.env[RUNS_DIR_ENV]) return resolve(process.env[RUNS_DIR_ENV]);
  return join(Global.SF_DIR, 'datacloud-load', 'runs');
}

/** Run ids sort by time: 20260105-090000-ab12. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export class RunNotFoundError extends Error {
  public constructor(public readonly runId: string, public readonly root: string) {
    super(`No run "${runId}" in ${root}.`);
    this.name = 'RunNotFoundError';
  }
}

export class NoRunsError extends Error {
  public constructor(public readonly root: string) {
    super(`No runs yet in ${root}.`);
    this.name = 'NoRunsError';
  }
}

export class RunDir {
  public constructor(public readonly dir: string, public readonly runId: string) {}

  public static create(root: string, runId = newRunId()): RunDir {
    const run = new RunDir(join(root, runId), runId);
    ensureDir(join(run.dir, 'partitions'));
    ensureDir(join(run.dir, 'jobs'));
    return run;
  }

  /** Open a run by id, or the latest run when no id is given. */
  public static open(root: string, runId?: string): RunDir {
    if (runId) {
      if (!/^[A-Za-z0-9._-]+$/.test(runId) || !existsSync(join(root, runId, 'run.json'))) throw new RunNotFoundError(runId, root);
      return new RunDir(join(root, runId), runId);
    }
    const ids = RunDir.list(root);
    if (ids.length === 0) throw new NoRunsError(root);
    const latest = ids[ids.length - 1];
    return new RunDir(join(root, latest), latest);
  }

  /** Run ids under root, oldest first. */
  public static list(root: string): string[] {
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .filter((d) => existsSync(join(root, d, 'run.json')))
      .sort((a, b) => statSync(join(root, a, 'run.json')).birthtimeMs - statSync(join(root, b, 'run.json')).birthtimeMs || a.localeCompare(b));
  }

  public get manifestFile(): string {
    return join(this.dir, 'run.json');
  }
  public get jobLogFile(): string {
    return join(this.dir, 'jobs.ndjson');
  }
  public get failuresFile(): string {
    return join(this.dir, 'failures.ndjson');
  }
  public get eventsFile(): string {
    return join(this.dir, 'events.ndjson');
  }
  public get heartbeatFile(): string {
    return join(this.dir, 'heartbeat.json');
  }
  public get cancelFile(): string {
    return join(this.dir, 'cancel.json');
  }
  public partitionFile(index: number): string {
    return join(this.dir, 'partitions', `p-${String(index).padStart(3, '0')}.json`);
  }
  public jobRowsFile(seq: number): string {
    return join(this.dir, 'jobs', `${String(seq).padStart(6, '0')}.ndjson`);
  }

  public readManifest(): RunManifest {
    return readJson<RunManifest>(this.manifestFile);
  }
  public writeManifest(m: RunManifest): void {
    writeJsonAtomic(this.manifestFile, { ...m, schemaVersion: RUN_SCHEMA_VERSION, updatedAt: new Date().toISOString() });
  }
  public updateManifest(patch: (m: RunManifest) => RunManifest): RunManifest {
    const next = patch(this.readManifest());
    this.writeManifest(next);
    return next;
  }

  public readCheckpoint(index: number): PartitionCheckpoint | undefined {
    return readJsonIfExists<PartitionCheckpoint>(this.partitionFile(index));
  }
  public writeCheckpoint(cp: PartitionCheckpoint): void {
    writeJsonAtomic(this.partitionFile(cp.index), { ...cp, schemaVersion: RUN_SCHEMA_VERSION, updatedAt: new Date().toISOString() });
  }

  public appendJobLog(...records: JobLogRecord[]): void {
    appendNdjson(this.jobLogFile, records);
  }
  public readJobLog(): JobLogRecord[] {
    return readNdjson<JobLogRecord>(this.jobLogFile);
  }

  public appendFailures(records: FailureRecord[]): void {
    appendNdjson(this.failuresFile, records);
  }
  public readFailures(): FailureRecord[] {
    return readNdjson<FailureRecord>(this.failuresFile);
  }

  public event(e: Omit<EventRecord, 'at'>): void {
    appendNdjson(this.eventsFile, [{ at: new Date().toISOString(), ...e }]);
  }
  public readEvents(): EventRecord[] {
    return readNdjson<EventRecord>(this.eventsFile);
  }

  public writeJobRows(seq: number, rows: JobRow[]): void {
    writeJsonAtomicLines(this.jobRowsFile(seq), rows);
  }
  public readJobRows(seq: number): JobRow[] {
    return readNdjson<JobRow>(this.jobRowsFile(seq));
  }
  public hasJobRows(seq: number): boolean {
    return existsSync(this.jobRowsFile(seq));
  }
  public deleteJobRows(seq: number): void {
    rmSync(this.jobRowsFile(seq), { force: true });
  }

  public writeHeartbeat(command: string): void {
    const hb: Heartbeat = { pid: process.pid, host: hostname(), at: new Date().toISOString(), command };
    writeJsonAtomic(this.heartbeatFile, hb);
  }
  public readHeartbeat(): Heartbeat | undefined {
    return readJsonIfExists<Heartbeat>(this.heartbeatFile);
  }

  /** Is a runner process alive for this run (same host: pid check; else a fresh heartbeat)? */
  public runnerAlive(staleAfterMs = 30_000): boolean {
    const hb = this.readHeartbeat();
    if (!hb) return false;
    if (hb.host === hostname()) {
      try {
        process.kill(hb.pid, 0);
        return true;
      } catch {
        return false;
      }
    }
    return Date.now() - Date.parse(hb.at) < staleAfterMs;
  }

  public requestCancel(abortJobs = true): CancelRequest {
    const req: CancelRequest = { at: new Date().toISOString(), by: { pid: process.pid, host: hostname() }, abortJobs };
    writeJsonAtomic(this.cancelFile, req);
    return req;
  }
  public readCancel(): CancelRequest | undefined {
    return readJsonIfExists<CancelRequest>(this.cancelFile);
  }
  public clearCancel(): void {
    rmSync(this.cancelFile, { force: true });
  }
}

/** One atomic write: a crash leaves either no file or the whole file. */
function writeJsonAtomicLines(file: string, rows: unknown[]): void {
  writeFileAtomic(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

export type FailedRow = Extract<FailureRecord, { status: 'failed' }>;

/**
 * The rows that are failed now: the last failure record per key (a later `loaded` record,
 * written by retry-failures, supersedes it), in the order of their latest record.
 */
export function currentFailures(records: FailureRecord[]): FailedRow[] {
  const last = new Map<string, FailureRecord>();
  for (const f of records) {
    const k = String(f.key);
    last.delete(k);
    last.set(k, f);
  }
  return [...last.values()].filter((f): f is FailedRow => f.status === 'failed');
}
