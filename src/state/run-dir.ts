/*
 * A run directory on disk: where it lives, how each file is named, read and written.
 * The writer (the session holding lock.json) and the readers (status, report, cancel)
 * share it. Run ids are checked so that no id can name a path outside the runs root.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Global } from '@salesforce/core';
import { AppendLog, CorruptStatusFileError, ensureDir, readJson, readJsonIfExists, readNdjson, writeFileAtomic, writeJsonAtomic } from './files.js';
import { RUN_SCHEMA_VERSION, type CancelRequest, type EventRecord, type FailureRecord, type JobLogRecord, type RunManifest } from './types.js';

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

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

/** A run id is a plain name: no path separators, no dots, not absolute. */
export function isValidRunId(id: string): boolean {
  return RUN_ID.test(id) && !isAbsolute(id);
}

export class InvalidRunIdError extends Error {
  public constructor(public readonly runId: string) {
    super(`"${runId}" is not a run id.`);
    this.name = 'InvalidRunIdError';
  }
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

/** A run written by another schema version of this plugin. */
export class RunVersionError extends Error {
  public constructor(public readonly runId: string, public readonly version: unknown) {
    super(`Run ${runId} was written with run-file schema version ${String(version)}; this plugin reads version ${RUN_SCHEMA_VERSION}.`);
    this.name = 'RunVersionError';
  }
}

export class RunDir {
  private logs = new Map<string, AppendLog>();

  public constructor(public readonly dir: string, public readonly runId: string) {}

  public static create(root: string, runId = newRunId()): RunDir {
    const run = new RunDir(join(root, runId), runId);
    ensureDir(root);
    ensureDir(join(run.dir, 'jobs'));
    return run;
  }

  /** Open a run by id, or the latest run when no id is given. */
  public static open(root: string, runId?: string): RunDir {
    if (runId !== undefined) {
      if (!isValidRunId(runId)) throw new InvalidRunIdError(runId);
      if (!existsSync(join(root, runId, 'run.json'))) throw new RunNotFoundError(runId, root);
      return new RunDir(join(root, runId), runId);
    }
    const ids = RunDir.list(root);
    if (ids.length === 0) throw new NoRunsError(root);
    const latest = ids[ids.length - 1];
    return new RunDir(join(root, latest), latest);
  }

  /** Run ids under root, oldest first (by id, which starts with the creation time). */
  public static list(root: string): string[] {
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .filter((d) => isValidRunId(d) && existsSync(join(root, d, 'run.json')))
      .sort((a, b) => a.localeCompare(b) || statSync(join(root, a, 'run.json')).mtimeMs - statSync(join(root, b, 'run.json')).mtimeMs);
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
  public get lockFile(): string {
    return join(this.dir, 'lock.json');
  }
  public get cancelFile(): string {
    return join(this.dir, 'cancel.json');
  }
  public get duplicatesFile(): string {
    return join(this.dir, 'duplicates.json');
  }
  public jobCsvFile(seq: number): string {
    return join(this.dir, 'jobs', `${String(seq).padStart(6, '0')}.csv`);
  }
  public jobFidsFile(seq: number): string {
    return join(this.dir, 'jobs', `${String(seq).padStart(6, '0')}.fids`);
  }

  public readManifest(): RunManifest {
    const m = readJson<RunManifest>(this.manifestFile);
    if (!m || typeof m !== 'object' || !m.plan || !m.definition) throw new CorruptStatusFileError(this.manifestFile, 'is not a run manifest');
    if (m.schemaVersion !== RUN_SCHEMA_VERSION) throw new RunVersionError(this.runId, m.schemaVersion);
    return m;
  }
  public writeManifest(m: RunManifest): void {
    this.writable();
    writeJsonAtomic(this.manifestFile, { ...m, schemaVersion: RUN_SCHEMA_VERSION, updatedAt: new Date().toISOString() });
  }
  public updateManifest(patch: (m: RunManifest) => RunManifest): RunManifest {
    const next = patch(this.readManifest());
    this.writeManifest(next);
    return next;
  }

  /** Set when this process lost the run lock to another runner: from then on it writes nothing. */
  private sealed?: Error;
  public seal(reason: Error): void {
    this.sealed ??= reason;
  }
  private writable(): void {
    if (this.sealed) throw this.sealed;
  }

  private log(file: string): AppendLog {
    this.writable();
    let l = this.logs.get(file);
    if (!l) {
      l = new AppendLog(file).open();
      this.logs.set(file, l);
    }
    return l;
  }

  /** Open the logs for appending (cutting torn tails); returns the bytes cut per file. */
  public openLogs(): Record<string, number> {
    const cut: Record<string, number> = {};
    for (const f of [this.jobLogFile, this.failuresFile, this.eventsFile]) {
      const l = this.log(f);
      if (l.repaired) cut[f] = l.repaired;
    }
    return cut;
  }

  public closeLogs(): void {
    for (const l of this.logs.values()) l.close();
    this.logs.clear();
  }

  /** Append ledger records; fsynced: a later step depends on them. */
  public appendJobLog(...records: JobLogRecord[]): void {
    this.log(this.jobLogFile).append(records, true);
  }
  /** Append ledger records a crash may lose without harm (created/uploaded/closed are asked of the org again). */
  public appendJobLogLazy(...records: JobLogRecord[]): void {
    this.log(this.jobLogFile).append(records, false);
  }
  public appendFailures(records: FailureRecord[]): void {
    this.log(this.failuresFile).append(records, true);
  }
  public event(e: Omit<EventRecord, 'at'>): void {
    try {
      this.log(this.eventsFile).append([{ at: new Date().toISOString(), ...e }], false);
    } catch {
      // Events are for people; a full disk shows up on the next ledger write.
    }
  }
  public readEvents(): EventRecord[] {
    return readNdjson<EventRecord>(this.eventsFile);
  }

  public writeJobCsv(seq: number, csv: string): void {
    this.writable();
    writeFileAtomic(this.jobCsvFile(seq), csv);
  }
  public readJobCsv(seq: number): string | undefined {
    const f = this.jobCsvFile(seq);
    return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
  }
  /** The CSV's bytes, for the upload (no decoding and encoding again). */
  public readJobCsvBytes(seq: number): Buffer | undefined {
    const f = this.jobCsvFile(seq);
    return existsSync(f) ? readFileSync(f) : undefined;
  }
  public writeJobFids(seq: number, fids: string[]): void {
    this.writable();
    writeFileAtomic(this.jobFidsFile(seq), fids.join('\n') + '\n');
  }
  public readJobFids(seq: number): string[] | undefined {
    const f = this.jobFidsFile(seq);
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : undefined;
  }
  /** Called after the job's result is in the ledger: a file that cannot be removed is left (it is never read again), never an error that would requeue a recorded job. */
  public deleteJobFiles(seq: number): void {
    if (this.sealed) return;
    for (const f of [this.jobCsvFile(seq), this.jobFidsFile(seq)]) {
      try {
        rmSync(f, { force: true });
      } catch {
        // read-only directory or the like: the run's writes will report it
      }
    }
  }

  public writeDuplicates(keys: string[]): void {
    this.writable();
    writeJsonAtomic(this.duplicatesFile, { keys });
  }
  public readDuplicates(): string[] {
    return readJsonIfExists<{ keys: string[] }>(this.duplicatesFile)?.keys ?? [];
  }

  public requestCancel(abortJobs = true): CancelRequest {
    const req: CancelRequest = { at: new Date().toISOString(), by: { pid: process.pid, host: hostname() }, abortJobs };
    writeJsonAtomic(this.cancelFile, req);
    return req;
  }
  public readCancel(): CancelRequest | undefined {
    try {
      return readJsonIfExists<CancelRequest>(this.cancelFile);
    } catch {
      return undefined;
    }
  }
  public clearCancel(): void {
    rmSync(this.cancelFile, { force: true });
  }
}
