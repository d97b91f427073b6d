/*
 * The Bulk ingest job of the emulator: its stored form (IngestJob), the records tests and
 * benchmarks read (JobRecord, DeletedJob), and the JSON views of a job the API answers with
 * (create/PATCH JobInfo, GET job info, list records). Pure functions of a job and its state.
 */
import { inflateRawSync } from 'node:zlib';
import { sfTimestamp } from '../clock.js';
import type { ColumnDelimiter, CsvLayout, LineEnding } from './csv.js';
import type { SimJob } from './lock-model.js';
import type { CommitPlan } from './rows.js';

export const OPERATIONS = ['insert', 'update', 'upsert', 'delete', 'hardDelete'] as const;
export type IngestOperation = (typeof OPERATIONS)[number];
export type JobState = 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
export type ResultKind = 'successfulResults' | 'failedResults' | 'unprocessedrecords';

/** One ingest job as the service keeps it. */
export type IngestJob = {
  id: string;
  seq: number;
  object: string;
  operation: IngestOperation;
  externalIdFieldName?: string;
  assignmentRuleId?: string;
  lineEnding: LineEnding;
  columnDelimiter: ColumnDelimiter;
  apiVersion: string;
  createdById: string;
  /** State before the simulator owns the job (Open, UploadComplete) or after a validation failure / early abort. */
  state: JobState;
  createdAt: number;
  modstamp: number;
  uploaded: boolean;
  /** The upload exactly as received, while it is not yet parsed. */
  data?: Buffer;
  /** The upload, deflated once parsed (kept until the job is deleted: result files echo it). */
  packed?: Buffer;
  uploadedBytes: number;
  uploadCompleteAt?: number;
  failedAt?: number;
  errorMessage?: string;
  header: string[];
  /** Rows of the upload (known once parsed). */
  rowCount?: number;
  /** Parsed rows, only while the simulator works on the job. */
  rows?: string[][];
  /** Where each record is in the upload text (result files are cut from it). */
  layout?: CsvLayout;
  extIdx: number;
  idIdx: number;
  sim?: SimJob;
  /** Rows handed to the simulator (fewer than rowCount when the batch allocation ran out). */
  simRows: number;
  /** ExceededQuota message when only part of the job could get internal batches. */
  quotaMessage?: string;
  plan?: CommitPlan;
  held: boolean;
  deleted: boolean;
};

/** One job as benchmarks and tests read it (virtual epoch ms; null when not reached). */
export type JobRecord = {
  id: string;
  seq: number;
  object: string;
  operation: IngestOperation;
  state: JobState;
  createdById: string;
  deleted: boolean;
  /** Closed but held by `bulk.hold` / `bulk.holdAfterJobs`. */
  held: boolean;
  uploadedBytes: number;
  rows: number;
  createdAt: number;
  uploadCompleteAt: number | null;
  firstPickupAt: number | null;
  completedAt: number | null;
  /** completedAt − uploadCompleteAt, virtual ms. */
  durationMs: number | null;
  internalBatches: number;
  batchAttempts: number;
  chunks: number;
  lockFailedChunks: number;
  /** Rows failed with UNABLE_TO_LOCK_ROW. */
  lockFailures: number;
  retries: number;
  succeeded: number;
  failed: number;
  unprocessed: number;
  processed: number;
  /** Worker occupation of this job's batch attempts, virtual ms. */
  busyMs: number;
  /** Time inside chunks (lock waits + holds), virtual ms. */
  activeMs: number;
  errorMessage: string | null;
};

/** A deleted job, for tests that check cleanup (GET /__emulator/deleted). */
export type DeletedJob = { id: string; object: string; operation: IngestOperation; createdById: string; createdDate: string; stateAtDeletion: JobState; deletedAt: string };

export function jobRecord(j: IngestJob, state: JobState, errorMessage: string | undefined): JobRecord {
  const s = j.sim;
  const completedAt = s?.completedAt ?? j.failedAt ?? null;
  const rows = j.rowCount ?? s?.input.rowCount ?? 0;
  return {
    id: j.id,
    seq: j.seq,
    object: j.object,
    operation: j.operation,
    state,
    createdById: j.createdById,
    deleted: j.deleted,
    held: j.held,
    uploadedBytes: j.uploadedBytes,
    rows,
    createdAt: j.createdAt,
    uploadCompleteAt: j.uploadCompleteAt ?? null,
    firstPickupAt: s?.firstPickupAt ?? null,
    completedAt,
    durationMs: completedAt !== null && j.uploadCompleteAt !== undefined ? completedAt - j.uploadCompleteAt : null,
    internalBatches: s?.stats.internalBatches ?? 0,
    batchAttempts: s?.stats.batchAttempts ?? 0,
    chunks: s?.stats.chunks ?? 0,
    lockFailedChunks: s?.stats.lockFailedChunks ?? 0,
    lockFailures: s?.stats.lockFailedRows ?? 0,
    retries: s?.stats.retries ?? 0,
    succeeded: s?.stats.succeeded ?? 0,
    failed: s?.stats.failed ?? 0,
    unprocessed: s ? s.stats.unprocessed + (s.terminal ? rows - j.simRows : 0) : state === 'Failed' || state === 'Aborted' ? rows : 0,
    processed: s?.processed ?? 0,
    busyMs: s?.stats.busyMs ?? 0,
    activeMs: s?.stats.activeMs ?? 0,
    errorMessage: errorMessage ?? null,
  };
}

/** JobInfo of create/PATCH answers (salesforce-api.md §2.1). */
export function baseInfo(job: IngestJob, state: JobState): Record<string, unknown> {
  const v = job.apiVersion;
  return {
    id: job.id,
    operation: job.operation,
    object: job.object,
    createdById: job.createdById,
    createdDate: sfTimestamp(job.createdAt),
    systemModstamp: sfTimestamp(job.modstamp),
    state,
    ...(job.externalIdFieldName ? { externalIdFieldName: job.externalIdFieldName } : {}),
    ...(job.assignmentRuleId ? { assignmentRuleId: job.assignmentRuleId } : {}),
    concurrencyMode: 'Parallel',
    contentType: 'CSV',
    apiVersion: Number(v),
    contentUrl: `services/data/v${v}/jobs/ingest/${job.id}/batches`,
    lineEnding: job.lineEnding,
    columnDelimiter: job.columnDelimiter,
  };
}

/** A record of GET /jobs/ingest (salesforce-api.md §2.5). */
export function listInfo(job: IngestJob, state: JobState): Record<string, unknown> {
  return {
    id: job.id,
    operation: job.operation,
    object: job.object,
    createdById: job.createdById,
    createdDate: sfTimestamp(job.createdAt),
    systemModstamp: sfTimestamp(job.modstamp),
    state,
    concurrencyMode: 'Parallel',
    contentType: 'CSV',
    apiVersion: Number(job.apiVersion),
    jobType: 'V2Ingest',
    lineEnding: job.lineEnding,
    columnDelimiter: job.columnDelimiter,
  };
}

/** GET /jobs/ingest/{id} (§2.4): JobInfo with counters and times. */
export function fullInfo(job: IngestJob, state: JobState, err: string | undefined, now: number): Record<string, unknown> {
  const s = job.sim;
  const start = s?.firstPickupAt;
  const end = s?.completedAt ?? now;
  return {
    ...baseInfo(job, state),
    jobType: 'V2Ingest',
    numberRecordsProcessed: s?.processed ?? 0,
    numberRecordsFailed: s?.stats.failed ?? 0,
    retries: s?.stats.retries ?? 0,
    totalProcessingTime: start !== undefined ? Math.round(end - start) : 0,
    apiActiveProcessingTime: Math.round(s?.stats.activeMs ?? 0),
    apexProcessingTime: 0,
    ...(err !== undefined ? { errorMessage: err } : {}),
  };
}

/** The upload text, inflated when it was packed. */
export function uploadText(job: IngestJob): string | undefined {
  if (job.data) return job.data.toString('utf8');
  return job.packed ? inflateRawSync(job.packed).toString('utf8') : undefined;
}

